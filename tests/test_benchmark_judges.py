"""Judges: verdict parsers, the oracle's documented mappings, the API judge up to (and including) the HTTP request
without a network, the local Hugging Face judge on a tiny model."""

import json

import pytest

from online_rlhf.evaluate.chat_benchmarks import judge_alpaca, judge_mt_bench
from online_rlhf.evaluate.chat_judges import (
    APIJudge,
    LocalJudge,
    OracleJudge,
    alpaca_messages,
    make_judge,
    parse_rating,
    parse_verdict,
    preference_from_logprobs,
)


def test_parsers_read_the_published_formats_and_refuse_the_rest():
    assert parse_rating("Good answer. Rating: [[8]]") == 8.0 and parse_rating("Rating: [7.5]") == 7.5
    assert parse_rating("no rating") is None and parse_rating("[[11]]") is None
    assert parse_verdict("My final verdict is tie: [[A=B]]") == "A=B" and parse_verdict("[[B>>A]]") == "B>>A"
    assert parse_verdict("[[A>B]] ... no, [[B>A]]") is None and parse_verdict("A is better") is None


def test_oracle_mappings():
    judge = OracleJudge()
    assert judge.alpaca_preference("abcd", "dcba", "abcd")[0] == 1.0
    assert judge.alpaca_preference("abcd", "abcd", "dcba")[0] == 2.0
    assert judge.alpaca_preference("abcd", "dcbx", "dcbx")[0] == 1.5
    assert judge.mt_bench_score(["abcd"], ["dcba"])[0] == 10.0 and judge.mt_bench_score(["abcd"], ["wxyz"])[0] == 1.0
    assert judge.mt_bench_score(["abcd", "efgh"], ["dcba", "hgfx"])[0] == pytest.approx(1 + 9 * 0.75)  # judges the last turn
    assert judge.arena_verdict("abcd", "dcba", "wxyz")[0] == "A>>B"
    assert judge.arena_verdict("abcd", "dcbx", "dcba")[0] == "B>A"
    assert judge.arena_verdict("abcd", "x", "x")[0] == "A=B"


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


def test_api_judge_sends_the_request_and_keeps_the_key_out_of_outputs(monkeypatch):
    monkeypatch.setenv("JUDGE_TEST_KEY", "sk-secret-123")
    captured = []
    spec = {"kind": "api", "model": "gpt-4-1106-preview", "api_key_env": "JUDGE_TEST_KEY", "base_url": "https://judge.invalid/v1"}
    judge = make_judge(spec, http_client=_fake_openai(captured))
    rows = judge_mt_bench(judge, [{"id": "81", "turns": ["q1", "q2"], "category": "c"}], {"81": ["a1", "a2"]})
    assert [r["score"] for r in rows] == [7.0, 7.0]
    first = captured[0]
    assert first["url"] == "https://judge.invalid/v1/chat/completions" and first["auth"] == "Bearer sk-secret-123"
    assert first["body"]["model"] == "gpt-4-1106-preview" and first["body"]["temperature"] == 0.0
    assert "[Question]\nq1" in first["body"]["messages"][1]["content"]
    assert "focus on the assistant's answer to the second" in captured[1]["body"]["messages"][0]["content"]
    alpaca = judge_alpaca(judge, [{"id": "0", "turns": ["i"], "category": "c", "reference": "r", "reference_generator": "g"}], {"0": ["o"]}, "m", seed=0)
    assert captured[-1]["body"]["logprobs"] is True and captured[-1]["body"]["max_tokens"] == 1
    assert 1.0 <= alpaca[0]["preference"] <= 2.0
    assert "sk-secret-123" not in json.dumps(rows + alpaca) + json.dumps(spec) + repr(vars(judge))


def test_api_judge_needs_the_key_in_the_environment(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    with pytest.raises(RuntimeError, match="environment variable NO_SUCH_KEY"):
        APIJudge("gpt-4", "NO_SUCH_KEY")


def test_local_judge_on_a_tiny_model_counts_what_it_cannot_parse(tmp_path):
    from online_rlhf.train.models import build_base_model, build_tokenizer

    tok = build_tokenizer(["mMabcd[]0123456789 "], "tiny")
    # A judge model brings its own chat template; the tiny world's has no system role.
    tok.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"
    arch = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 4096}
    build_base_model(tok, arch, seed=0).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    judge = LocalJudge(tmp_path, max_new_tokens=4, dtype="float32")
    pref, raw = judge.alpaca_preference("ab", "ba", "ab")
    assert 1.0 < pref < 2.0 and raw.startswith("logprob m=")  # both labels are single tokens of this vocabulary
    rows = judge_mt_bench(judge, [{"id": "1", "turns": ["ab", "cd"], "category": "c"}], {"1": ["ba", "dc"]})
    assert len(rows) == 2 and all(r["score"] is None or 1 <= r["score"] <= 10 for r in rows)
