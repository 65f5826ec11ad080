"""Judges: the originals' parsers on their edge cases, the originals' prompts and request settings, the Arena-Hard
retry, the oracle's documented mappings, the API judge up to (and including) the HTTP request without a network, the
local Hugging Face judge on a tiny model."""

import hashlib
import json

import pytest

from online_rlhf.evaluate import chat_judges as bj
from online_rlhf.evaluate.chat_benchmarks import arena_summary, judge_alpaca, judge_arena, judge_mt_bench
from online_rlhf.evaluate.chat_judges import (
    APIJudge,
    LocalJudge,
    OracleJudge,
    alpaca_messages,
    judge_settings,
    make_judge,
    parse_rating,
    parse_verdict,
    preference_from_logprobs,
)

# ---- MT-Bench rating: FastChat common.py run_judge_single (re.search, ast.literal_eval, -1 when absent) -------

def test_rating_parser_takes_the_first_rating_and_keeps_its_value():
    assert parse_rating("Good answer. Rating: [[8]]") == 8.0
    assert parse_rating("Rating: [[7]]. On reflection, Rating: [[3]]") == 7.0  # several: the first (re.search)
    assert parse_rating("[5] is a citation; Rating: [[9]]") == 9.0  # [[x]] anywhere wins over an earlier [x]
    assert parse_rating("Rating: [7.5]") == 7.5 and parse_rating("[[8.5]]") == 8.5  # the single-bracket backup
    assert parse_rating("[[0]]") == 0.0 and parse_rating("[[11]]") == 11.0  # out of range: kept, as FastChat keeps it
    assert parse_rating("no rating") is None and parse_rating("[[ 8 ]]") is None  # none (FastChat: -1)


# ---- Arena-Hard verdicts: arena-hard-auto gen_judgment.py get_score, 2024 (3071ef9) and 2025 (196f6b8) ---------

@pytest.mark.parametrize(("text", "v2024", "v2025"), [
    ("My final verdict is tie: [[A=B]]", ("A=B", False), ("A=B", False)),
    ("[[A>B]] ... no, [[B>A]]", (None, False), ("B>A", False)),  # several verdicts: 2024 none (no retry), 2025 the last
    ("[[A>B]] and again [[A>B]]", ("A>B", False), ("A>B", False)),  # the same verdict twice is one verdict
    ("final verdict: [[a>>b]]", (None, True), ("A>>B", False)),  # lower case: only 2025 upper-cases the judgment
    ("[[A > B]]", (None, True), (None, True)),  # spaces inside the brackets: neither version reads them
    ("[[B<A]]", ("B<A", False), ("B<A", False)),  # reversed form: parsed by both, scored only by 2025 (see below)
    ("[A>B]", (None, True), ("A>B", False)),  # single brackets: 2025's backup pattern
    ("[[A>>B]] then [B>A]", ("A>>B", False), ("A>>B", False)),  # 2025: a [[label]] wins over later [label]
    ("A is better", (None, True), (None, True)),
])
def test_verdict_parsers_match_each_version(text, v2024, v2025):
    assert parse_verdict(text, "2024") == v2024
    assert parse_verdict(text, "2025") == v2025


def test_reversed_forms_score_only_where_the_version_scores_them():
    # game 2 shows the model as A: [[B<A]] = A better = the model wins (2025's label_to_score); 2024 gives it weight 0.
    games = [{"question_id": "q", "model_is_a": True, "verdict": "B<A"}, {"question_id": "q", "model_is_a": False, "verdict": "A<<B"}]
    assert arena_summary(games, "2025", bootstrap=10)["win_rate"] == pytest.approx(100 * (1 + 3) / 4)
    old = arena_summary(games, "2024", bootstrap=10)
    assert old["questions"] == 0 and old["unscored_label"] == 2


class ScriptedJudge(bj._LLMJudge):
    """An LLM judge whose replies are scripted; records every request."""

    name = "scripted"

    def __init__(self, replies):
        self.replies, self.requests = list(replies), []

    def chat(self, messages, max_tokens, temperature):
        self.requests.append({"messages": messages, "max_tokens": max_tokens, "temperature": temperature})
        return self.replies.pop(0)

    def token_logprobs(self, messages, tokens, temperature, top_logprobs):
        raise NotImplementedError


def test_arena_2024_asks_the_judge_to_continue_once_when_no_verdict_parses():
    judge = ScriptedJudge(["My own answer is ... (cut off)", "My final verdict is: [[B>A]]"])
    verdict, judgment, attempts = judge.arena_verdict("q", "a", "b", "2024")
    assert (verdict, attempts) == ("B>A", 2) and judgment == "\nMy own answer is ... (cut off)\nMy final verdict is: [[B>A]]"
    second = judge.requests[1]["messages"]
    assert second[-2] == {"role": "assistant", "content": "My own answer is ... (cut off)"}
    assert second[-1] == {"role": "user", "content": "continue your judgment and finish by outputting a final verdict label"}
    assert {(r["max_tokens"], r["temperature"]) for r in judge.requests} == {(4096, 0.0)}
    # two attempts at most, then no verdict (counted by arena_summary)
    judge = ScriptedJudge(["nothing", "still nothing"])
    assert judge.arena_verdict("q", "a", "b", "2024")[0::2] == (None, 2)
    # contradictory verdicts are not retried (the original retries only when no label is found)
    judge = ScriptedJudge(["[[A>B]] [[B>A]]"])
    assert judge.arena_verdict("q", "a", "b", "2024")[0::2] == (None, 1)


def test_arena_2025_makes_one_call():
    judge = ScriptedJudge(["no label here"])
    assert judge.arena_verdict("q", "a", "b", "2025") == (None, "\nno label here", 1) and len(judge.requests) == 1
    rows = judge_arena(ScriptedJudge(["[[A>B]]", "[[a>b]]"]), [{"id": "q", "turns": ["x"]}], {"q": ["m"]}, {"q": ["b"]}, "2025")
    assert [(r["game"], r["verdict"], r["attempts"]) for r in rows] == [(1, "A>B", 1), (2, "A>B", 1)]


def test_judge_settings_are_the_originals():
    assert judge_settings("arena_hard", "2024")["max_tokens"] == 4096 and judge_settings("arena_hard", "2024")["attempts"] == 2
    assert judge_settings("arena_hard", "2025")["max_tokens"] == 4096 and judge_settings("arena_hard", "2025")["attempts"] == 1
    assert (judge_settings("mt_bench")["max_tokens"], judge_settings("mt_bench")["temperature"]) == (2048, 0.0)
    assert judge_settings("alpaca_eval")["max_tokens"] == 1 and judge_settings("alpaca_eval")["top_logprobs"] == 5
    with pytest.raises(ValueError, match="no judge settings for 'arena_hard:v2'"):
        judge_settings("arena_hard", "v2")


def _sha(*parts):
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def test_prompts_are_the_originals_texts():
    """sha256 of FastChat data/judge_prompts.jsonl (commit 0e6d3e4) system_prompt + NUL + prompt_template, and of
    arena-hard-auto's system prompt (config/judge_config.yaml at 3071ef9 = utils/judge_utils.py at 196f6b8)."""
    assert _sha(bj.MT_BENCH_SYSTEM, bj.MT_BENCH_SINGLE) == "7d276fe1d4b3f18f09cee44c27895d39be8ee425fdb364476fa66171dc5c5180"
    assert _sha(bj.MT_BENCH_SYSTEM, bj.MT_BENCH_MATH) == "226191a3df0fe7a9bc4c09ff94caefec3a8dc2ee418df85210c1080932bb0122"
    assert _sha(bj.MT_BENCH_MULTI_SYSTEM, bj.MT_BENCH_MULTI) == "a91a5b4266b4e3774f6408c1b0b05de1202843b72b58925710a9efa56b3fa636"
    assert _sha(bj.MT_BENCH_MATH_MULTI_SYSTEM, bj.MT_BENCH_MATH_MULTI) == "572e5843611206971e4b74650e66420ea57fef99e1f59d180c5e64e8442eb9b3"
    assert _sha(bj.ARENA_SYSTEM) == "03f68010febd7a6405102ef882b4dd5a9700c56b2e1ff286d3b38f5d3a929bbf"


def test_mt_bench_messages_carry_the_references_for_the_math_prompts():
    msgs = bj.mt_bench_messages(["What is 2+2?"], ["5"], ["4"])
    assert "[The Start of Reference Answer]\n4\n[The End of Reference Answer]" in msgs[1]["content"]
    multi = bj.mt_bench_messages(["q1", "q2"], ["a1", "a2"], ["r1", "r2"])
    assert multi[0]["content"] == bj.MT_BENCH_MATH_MULTI_SYSTEM and "### Reference answer:\nr2" in multi[1]["content"]
    assert "Reference" not in bj.mt_bench_messages(["q1", "q2"], ["a1", "a2"])[1]["content"]


# ---- the oracle, the API judge and the local judge -----------------------------------------------------------

def test_oracle_mappings():
    judge = OracleJudge()
    assert judge.alpaca_preference("abcd", "dcba", "abcd")[0] == 1.0
    assert judge.alpaca_preference("abcd", "abcd", "dcba")[0] == 2.0
    assert judge.alpaca_preference("abcd", "dcbx", "dcbx")[0] == 1.5
    assert judge.mt_bench_score(["abcd"], ["dcba"])[0] == 10.0 and judge.mt_bench_score(["abcd"], ["wxyz"])[0] == 1.0
    assert judge.mt_bench_score(["abcd", "efgh"], ["dcba", "hgfx"])[0] == pytest.approx(1 + 9 * 0.75)  # judges the last turn
    assert judge.arena_verdict("abcd", "dcba", "wxyz", "2025")[0] == "A>>B"
    assert judge.arena_verdict("abcd", "dcbx", "dcba", "2024")[0] == "B>A"
    assert judge.arena_verdict("abcd", "x", "x", "2025")[0] == "A=B"


def test_alpaca_prompt_is_the_librarys_template():
    msgs = alpaca_messages("Say {hi}", "first {x}", "second")
    assert msgs[0]["role"] == "system" and "leaderboard" in msgs[1]["content"]
    assert '"""Say {hi}"""' in msgs[1]["content"] and '"""first {x}"""' in msgs[1]["content"]
    assert '"model_identifier": "M"' in msgs[1]["content"]
    assert preference_from_logprobs(0.0, None) == 1.0 and preference_from_logprobs(None, -1.0) == 2.0
    assert preference_from_logprobs(-0.6931, -0.6931) == pytest.approx(1.5)


def _fake_openai(captured, content="Rating: [[7]]", top=(("m", -2.0), ("M", -0.2))):
    import httpx2 as httpx  # the HTTP library openai 3 is built on

    def handler(request):
        body = json.loads(request.content)
        captured.append({"url": str(request.url), "auth": request.headers["authorization"], "body": body})
        logprobs = None
        if body.get("logprobs"):
            logprobs = {"content": [{"token": top[0][0], "logprob": top[0][1], "bytes": None,
                                     "top_logprobs": [{"token": t, "logprob": lp, "bytes": None} for t, lp in top]}]}
        return httpx.Response(200, json={
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": logprobs, "message": {"role": "assistant", "content": content}}],
        })

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_api_judge_sends_the_originals_settings_and_keeps_the_key_out_of_outputs(monkeypatch):
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-secret-123")
    captured = []
    spec = {"kind": "api", "model": "gpt-4-1106-preview", "api_key_env": "JUDGE_TEST_KEY", "base_url": "https://judge.invalid/v1"}
    judge = make_judge(spec, http_client=_fake_openai(captured))
    rows = judge_mt_bench(judge, [{"id": "81", "turns": ["q1", "q2"], "category": "writing"}], {"81": ["a1", "a2"]})
    assert [r["score"] for r in rows] == [7.0, 7.0] and [r["judge_prompt"] for r in rows] == ["single-v1", "single-v1-multi-turn"]
    first = captured[0]
    assert first["url"] == "https://judge.invalid/v1/chat/completions" and first["auth"] == "Bearer sk-secret-123"
    assert first["body"]["model"] == "gpt-4-1106-preview" and first["body"]["temperature"] == 0.0 and first["body"]["max_tokens"] == 2048
    assert "[Question]\nq1" in first["body"]["messages"][1]["content"]
    assert "focus on the assistant's answer to the second" in captured[1]["body"]["messages"][0]["content"]
    judge_arena(judge, [{"id": "1", "turns": ["q"]}], {"1": ["a"]}, {"1": ["b"]}, "2024")
    assert captured[-1]["body"]["max_tokens"] == 4096 and len(captured) == 2 + 4  # no verdict: each game retried once
    alpaca = judge_alpaca(judge, [{"id": "0", "turns": ["i"], "category": "c", "reference": "r", "reference_generator": "g"}], {"0": ["o"]}, "m", seed=0)
    assert captured[-1]["body"]["logprobs"] is True and captured[-1]["body"]["max_tokens"] == 1 and captured[-1]["body"]["top_logprobs"] == 5
    assert 1.0 <= alpaca[0]["preference"] <= 2.0
    assert "sk-secret-123" not in json.dumps(rows + alpaca) + json.dumps(spec) + repr(vars(judge))


def test_api_judge_needs_the_key_in_the_environment(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(RuntimeError, match="environment variable NO_SUCH_KEY"):
        APIJudge("gpt-4", "NO_SUCH_KEY")


def test_local_judge_on_a_tiny_model_counts_what_it_cannot_parse(tmp_path, monkeypatch):
    from online_rlhf.train.models import build_base_model, build_tokenizer

    tok = build_tokenizer(["mMabcd[]0123456789 "], "tiny")
    # A judge model brings its own chat template; the tiny world's has no system role.
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    arch = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 4096}
    build_base_model(tok, arch, seed=0).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    judge = LocalJudge(tmp_path, dtype="float32")
    # The original 2048 judge tokens would take long on a random tiny model: the test shortens the budget.
    monkeypatch.setitem(bj.JUDGE_SETTINGS, "mt_bench", {**bj.JUDGE_SETTINGS["mt_bench"], "max_tokens": 4})
    pref, raw = judge.alpaca_preference("ab", "ba", "ab")
    assert raw.startswith("logprob m=") and (pref is None or 1.0 <= pref <= 2.0)
    rows = judge_mt_bench(judge, [{"id": "1", "turns": ["ab", "cd"], "category": "math"}], {"1": ["ba", "dc"]}, {"1": ["ba", "dc"]})
    assert len(rows) == 2 and all(r["score"] is None or r["score"] >= 0 for r in rows)
    assert [r["judge_prompt"] for r in rows] == ["single-math-v1", "single-math-v1-multi-turn"]
