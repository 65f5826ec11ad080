"""Judges of the chat benchmarks: the made-up world's oracle, an API model (OpenAI-compatible endpoint), or a local
Hugging Face model. One interface, three questions a benchmark asks:

- `alpaca_preference(instruction, output_1, output_2)` -> preference in [1, 2] (AlpacaEval: 2 = output_2 better);
- `mt_bench_score(questions, answers, references)` -> score of the last answer in the conversation (MT-Bench);
- `arena_verdict(question, answer_a, answer_b, layout)` -> a verdict label such as A>>B (Arena-Hard).

LLM judges use each benchmark's published judge prompt: AlpacaEval's own template file from the installed package
(`alpaca_eval_clf_gpt4_turbo`, read with its ChatML helper) scored as `weighted_alpaca_eval_gpt4_turbo` does, from the
judge's probabilities of the tokens "m" and "M"; FastChat's `single-v1` / `single-v1-multi-turn` prompts, and
`single-math-v1` / `single-math-v1-multi-turn` with the reference answers for math, reasoning and coding; and
arena-hard-auto's v0.1 system prompt. The request settings (max tokens, temperature, attempts when no verdict
parses) are the originals', in JUDGE_SETTINGS. An answer the parser cannot read comes back as None and is counted,
never guessed. API keys are read from the environment variable the config names, and never logged or written.

We use our own adapters instead of alpaca_eval's decoders because its local Hugging Face decoder passes
`load_in_8bit`, which transformers 5 rejects.
"""

from __future__ import annotations

import math
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path

from online_rlhf.world.task import oracle_reward

# ---- the originals' judge settings, one place ------------------------------------------------------------------

ARENA_CONTINUE = "continue your judgment and finish by outputting a final verdict label"
JUDGE_SETTINGS = {
    # alpaca_eval 0.6.6 evaluators_configs/weighted_alpaca_eval_gpt4_turbo/configs.yaml: one token, its log-probs.
    "alpaca_eval": {"max_tokens": 1, "temperature": 1.0, "top_logprobs": 5, "attempts": 1,
                    "source": "alpaca_eval 0.6.6 weighted_alpaca_eval_gpt4_turbo/configs.yaml"},
    # FastChat fastchat/llm_judge/common.py run_judge_single: OpenAI judges at temperature 0, 2048 tokens, one call.
    "mt_bench": {"max_tokens": 2048, "temperature": 0.0, "attempts": 1, "source": "FastChat fastchat/llm_judge/common.py"},
    # arena-hard-auto 2024 (commit 3071ef9) config/judge_config.yaml: temperature 0, max_tokens 4096 (the judge writes
    # its own answer before the verdict), number_of_judgment_attempts 2: gen_judgment.py asks the judge to continue
    # when no [[label]] parsed at all.
    "arena_hard:2024": {"max_tokens": 4096, "temperature": 0.0, "attempts": 2, "continue_prompt": ARENA_CONTINUE,
                        "source": "arena-hard-auto@3071ef9 config/judge_config.yaml, gen_judgment.py"},
    # arena-hard-auto 2025 (commit 196f6b8) config/arena-hard-v0.1.yaml: temperature 0, max_tokens 4096, one call.
    "arena_hard:2025": {"max_tokens": 4096, "temperature": 0.0, "attempts": 1,
                        "source": "arena-hard-auto@196f6b8 config/arena-hard-v0.1.yaml, gen_judgment.py"},
}


def judge_settings(benchmark: str, layout: str | None = None) -> dict:
    """The request settings of a benchmark's original judge (Arena-Hard: of the configured layout's version)."""
    key = f"{benchmark}:{layout}" if benchmark == "arena_hard" else benchmark
    if key not in JUDGE_SETTINGS:
        raise ValueError(f"no judge settings for {key!r}; known: {sorted(JUDGE_SETTINGS)}")
    return JUDGE_SETTINGS[key]


# ---- prompts (the originals' texts) ----------------------------------------------------------------------------

MT_BENCH_SYSTEM = "You are a helpful assistant."
_RATE = (
    'After providing your explanation, you must rate the response on a scale of 1 to 10 by strictly following this '
    'format: "[[rating]]", for example: "Rating: [[5]]".'
)
_GENERAL = (
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user "
    "question displayed below. Your evaluation should consider factors such as the helpfulness, relevance, accuracy, "
    "depth, creativity, and level of detail of the response. {focus}Begin your evaluation by providing a short "
    "explanation. Be as objective as possible. " + _RATE
)
_MATH = (
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user "
    "question{shown}. Your evaluation should consider correctness and helpfulness. You will be given a reference answer "
    "and the assistant's answer. {focus}Begin your evaluation by comparing the assistant's answer with the reference "
    "answer. Identify and correct any mistakes. Be as objective as possible. " + _RATE
)
# FastChat data/judge_prompts.jsonl: single-v1, single-math-v1 (system prompt, user template) and the multi-turn ones.
MT_BENCH_SINGLE = (
    "[Instruction]\n" + _GENERAL.format(focus="") + "\n\n[Question]\n{question}\n\n"
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
MT_BENCH_MATH = (
    "[Instruction]\n" + _MATH.format(shown=" displayed below", focus="") + "\n\n[Question]\n{question}\n\n"
    "[The Start of Reference Answer]\n{ref_answer_1}\n[The End of Reference Answer]\n\n"
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
MT_BENCH_MULTI_SYSTEM = _GENERAL.format(focus="You evaluation should focus on the assistant's answer to the second user question. ") + "\n\n"
MT_BENCH_MATH_MULTI_SYSTEM = _MATH.format(shown="", focus="You evaluation should focus on the assistant's answer to the second question. ") + "\n\n"
_CONVERSATION = (
    "<|The Start of Assistant A's Conversation with User|>\n\n### User:\n{question_1}\n\n### Assistant A:\n{answer_1}\n\n"
    "### User:\n{question_2}\n\n### Assistant A:\n{answer_2}\n\n<|The End of Assistant A's Conversation with User|>"
)
MT_BENCH_MULTI = _CONVERSATION
MT_BENCH_MATH_MULTI = (
    "<|The Start of Reference Answer|>\n\n### User:\n{question_1}\n\n### Reference answer:\n{ref_answer_1}\n\n"
    "### User:\n{question_2}\n\n### Reference answer:\n{ref_answer_2}\n\n<|The End of Reference Answer|>\n\n\n" + _CONVERSATION
)

ARENA_SYSTEM = (
    "Please act as an impartial judge and evaluate the quality of the responses provided by two AI assistants to the "
    "user prompt displayed below. You will be given assistant A's answer and assistant B's answer. Your job is to "
    "evaluate which assistant's answer is better.\n\nBegin your evaluation by generating your own answer to the prompt. "
    "You must provide your answers before judging any answers.\n\nWhen evaluating the assistants' answers, compare both "
    "assistants' answers with your answer. You must identify and correct any mistakes or inaccurate information.\n\n"
    "Then consider if the assistant's answers are helpful, relevant, and concise. Helpful means the answer correctly "
    "responds to the prompt or follows the instructions. Note when user prompt has any ambiguity or more than one "
    "interpretation, it is more helpful and appropriate to ask for clarifications or more information from the user "
    "than providing an answer based on assumptions. Relevant means all parts of the response closely connect or are "
    "appropriate to what is being asked. Concise means the response is clear and not verbose or excessive.\n\nThen "
    "consider the creativity and novelty of the assistant's answers when needed. Finally, identify any missing "
    "important information in the assistants' answers that would be beneficial to include when responding to the user "
    "prompt.\n\nAfter providing your explanation, you must output only one of the following choices as your final "
    "verdict with a label:\n\n1. Assistant A is significantly better: [[A>>B]]\n2. Assistant A is slightly better: "
    "[[A>B]]\n3. Tie, relatively the same: [[A=B]]\n4. Assistant B is slightly better: [[B>A]]\n5. Assistant B is "
    'significantly better: [[B>>A]]\n\nExample output: "My final verdict is tie: [[A=B]]".'
)
ARENA_USER = (
    "<|User Prompt|>\n{question}\n\n<|The Start of Assistant A's Answer|>\n{answer_a}\n<|The End of Assistant A's "
    "Answer|>\n\n<|The Start of Assistant B's Answer|>\n{answer_b}\n<|The End of Assistant B's Answer|>"
)


ALPACA_TEMPLATE = "alpaca_eval_clf_gpt4_turbo/alpaca_eval_clf.txt"
# Oracle -> Arena-Hard verdict: a reward margin of at least this is "significantly better".
ORACLE_STRONG_MARGIN = 0.5


# ---- parsers: the originals' rules, edge cases included (docs/benchmarks.md) ------------------------------------

def parse_rating(text: str) -> float | None:
    """FastChat's run_judge_single: the FIRST `[[x]]` in the judgment (re.search), else the first `[x]`; the value is
    kept whatever its range (FastChat keeps 0 or 11 too; mt_bench_summary counts them). None where FastChat writes
    -1 (no rating)."""
    for pattern in (r"\[\[(\d+\.?\d*)\]\]", r"\[(\d+\.?\d*)\]"):
        found = re.search(pattern, text)
        if found:
            return float(found.group(1))
    return None


_ARENA_PATTERNS = (r"\[\[([AB<>=]+)\]\]", r"\[([AB<>=]+)\]")


def parse_verdict(text: str, layout: str) -> tuple[str | None, bool]:
    """arena-hard-auto's verdict parser of the given version: (label or None, whether no label was found at all).

    2024 (gen_judgment.py get_score): the `[[label]]` matches of the text as written (case-sensitive); one distinct
    label -> it; several distinct labels -> None, no retry; none -> None and the judge is asked to continue.
    2025 (gen_judgment.py get_score): the text upper-cased; the LAST `[[label]]`, else the last `[label]`.
    Neither allows spaces inside the brackets. A label may still be one the version does not score (2024: B<A);
    arena_outcomes counts those."""
    if layout == "2024":
        found = re.findall(_ARENA_PATTERNS[0], text)
        if not found:
            return None, True
        return (found[0], False) if len(set(found)) == 1 else (None, False)
    if layout == "2025":
        upper = text.upper()
        for pattern in _ARENA_PATTERNS:
            found = re.findall(pattern, upper)
            if found:
                return found[-1], False
        return None, True
    raise ValueError(f"unknown Arena-Hard layout {layout!r}; expected 2024 or 2025")


def alpaca_messages(instruction: str, output_1: str, output_2: str) -> list[dict]:
    """AlpacaEval's classifier prompt (from the installed package) as chat messages."""
    from importlib.resources import files

    from alpaca_eval.utils import prompt_to_chatml

    template = (files("alpaca_eval") / "evaluators_configs" / ALPACA_TEMPLATE).read_text()
    # str.format would choke on the template's literal JSON braces: substitute the three fields only.
    prompt = template.replace("{instruction}", instruction).replace("{output_1}", output_1).replace("{output_2}", output_2)
    return prompt_to_chatml(prompt)


def preference_from_logprobs(logprob_m: float | None, logprob_big_m: float | None) -> float | None:
    """weighted AlpacaEval: 1 + P(M) / (P(m) + P(M)); a token the judge never offered has probability 0."""
    if logprob_m is None and logprob_big_m is None:
        return None
    pm = math.exp(logprob_m) if logprob_m is not None else 0.0
    pbig = math.exp(logprob_big_m) if logprob_big_m is not None else 0.0
    return 1.0 + pbig / (pm + pbig) if pm + pbig > 0 else None


def mt_bench_messages(questions: list[str], answers: list[str], references: list[str] | None = None) -> list[dict]:
    """FastChat's single-answer grading chat for turn 1 or 2 (with references: the math prompts)."""
    if len(questions) == 1:
        if references:
            user = MT_BENCH_MATH.format(question=questions[0], answer=answers[0], ref_answer_1=references[0])
        else:
            user = MT_BENCH_SINGLE.format(question=questions[0], answer=answers[0])
        return [{"role": "system", "content": MT_BENCH_SYSTEM}, {"role": "user", "content": user}]
    if len(questions) == 2:
        fields = {"question_1": questions[0], "answer_1": answers[0], "question_2": questions[1], "answer_2": answers[1]}
        if references:
            body = MT_BENCH_MATH_MULTI.format(**fields, ref_answer_1=references[0], ref_answer_2=references[1])
            return [{"role": "system", "content": MT_BENCH_MATH_MULTI_SYSTEM}, {"role": "user", "content": body}]
        return [{"role": "system", "content": MT_BENCH_MULTI_SYSTEM}, {"role": "user", "content": MT_BENCH_MULTI.format(**fields)}]
    raise ValueError(f"MT-Bench judges one or two turns, got {len(questions)}")


def arena_messages(question: str, answer_a: str, answer_b: str) -> list[dict]:
    return [{"role": "system", "content": ARENA_SYSTEM}, {"role": "user", "content": ARENA_USER.format(question=question, answer_a=answer_a, answer_b=answer_b)}]


class OracleJudge:
    """The made-up world's ground truth as the judge. Mappings (docs/benchmarks.md):
    AlpacaEval preference 1 / 1.5 / 2 by comparing oracle rewards; MT-Bench score = 1 + 9 * reward of the judged turn
    (10 only for the exact answer; the oracle knows the right answer, so reference answers add nothing to it);
    Arena-Hard verdict from the reward margin, strong when it is >= 0.5 (labels both versions score)."""

    name = "oracle"

    def alpaca_preference(self, instruction: str, output_1: str, output_2: str) -> tuple[float | None, str]:
        r1, r2 = oracle_reward(instruction, output_1), oracle_reward(instruction, output_2)
        return (1.0 if r1 > r2 else 2.0 if r2 > r1 else 1.5), f"oracle {r1:.3f} vs {r2:.3f}"

    def mt_bench_score(self, questions: list[str], answers: list[str], references: list[str] | None = None) -> tuple[float | None, str]:
        r = oracle_reward(questions[-1], answers[-1])
        return 1.0 + 9.0 * r, f"oracle reward {r:.3f}"

    def arena_verdict(self, question: str, answer_a: str, answer_b: str, layout: str) -> tuple[str | None, str, int]:
        ra, rb = oracle_reward(question, answer_a), oracle_reward(question, answer_b)
        d = ra - rb
        strong = abs(d) >= ORACLE_STRONG_MARGIN
        verdict = "A=B" if d == 0 else ("A>>B" if strong else "A>B") if d > 0 else ("B>>A" if strong else "B>A")
        return verdict, f"oracle {ra:.3f} vs {rb:.3f}", 1


class _LLMJudge(ABC):
    """The prompts, settings and parsing shared by the API and local judges; subclasses provide `chat` and
    `token_logprobs`."""

    @abstractmethod
    def chat(self, messages: list[dict], max_tokens: int, temperature: float) -> str:
        """The judge's reply to a conversation (temperature 0: greedy)."""

    @abstractmethod
    def token_logprobs(self, messages: list[dict], tokens: list[str], temperature: float, top_logprobs: int) -> dict[str, float | None]:
        """Log-probability of each single-token label as the judge's next token (None: not offered)."""

    def alpaca_preference(self, instruction: str, output_1: str, output_2: str) -> tuple[float | None, str]:
        s = judge_settings("alpaca_eval")
        lp = self.token_logprobs(alpaca_messages(instruction, output_1, output_2), ["m", "M"], s["temperature"], s["top_logprobs"])
        return preference_from_logprobs(lp["m"], lp["M"]), f"logprob m={lp['m']} M={lp['M']}"

    def mt_bench_score(self, questions: list[str], answers: list[str], references: list[str] | None = None) -> tuple[float | None, str]:
        s = judge_settings("mt_bench")
        text = self.chat(mt_bench_messages(questions, answers, references), s["max_tokens"], s["temperature"])
        return parse_rating(text), text

    def arena_verdict(self, question: str, answer_a: str, answer_b: str, layout: str) -> tuple[str | None, str, int]:
        """The verdict, the whole judgment and the number of calls. As in the 2024 gen_judgment.py, a judgment with
        no label at all is continued in the same conversation (up to `attempts` calls) and the replies are parsed
        together; the 2025 version makes one call."""
        s = judge_settings("arena_hard", layout)
        conv = arena_messages(question, answer_a, answer_b)
        judgment, verdict = "", None
        for attempt in range(1, s["attempts"] + 1):
            reply = self.chat(conv, s["max_tokens"], s["temperature"])
            judgment += "\n" + reply
            verdict, none_found = parse_verdict(judgment, layout)
            if not none_found or attempt == s["attempts"]:
                return verdict, judgment, attempt
            conv = [*conv, {"role": "assistant", "content": reply}, {"role": "user", "content": s["continue_prompt"]}]
        raise AssertionError("unreachable: attempts >= 1")


class APIJudge(_LLMJudge):
    """An OpenAI-compatible chat endpoint (OpenAI, Azure, a vLLM server, ...). The key comes only from the
    environment variable named by `api_key_env`; it is handed to the client and nowhere else."""

    def __init__(self, model: str, api_key_env: str, base_url: str | None = None, http_client=None):
        from openai import OpenAI

        key = os.environ.get(api_key_env)
        if not key:
            raise RuntimeError(f"judge kind 'api' needs an API key in the environment variable {api_key_env} (it is never read from the config)")
        self.name = model
        self.model = model
        self.client = OpenAI(api_key=key, base_url=base_url, max_retries=5, http_client=http_client)

    def chat(self, messages: list[dict], max_tokens: int, temperature: float) -> str:
        resp = self.client.chat.completions.create(model=self.model, messages=messages, temperature=temperature, max_tokens=max_tokens)
        return resp.choices[0].message.content or ""

    def token_logprobs(self, messages: list[dict], tokens: list[str], temperature: float, top_logprobs: int) -> dict[str, float | None]:
        resp = self.client.chat.completions.create(
            model=self.model, messages=messages, temperature=temperature, max_tokens=1, logprobs=True, top_logprobs=top_logprobs
        )
        logprobs = resp.choices[0].logprobs
        if logprobs is None or not logprobs.content:
            raise RuntimeError(
                f"judge {self.model}: the endpoint returned no token log-probabilities, which AlpacaEval's weighted "
                "judgment needs; use an endpoint/model that supports logprobs"
            )
        seen = {t.token: t.logprob for t in logprobs.content[0].top_logprobs}
        return {t: seen.get(t) for t in tokens}


class LocalJudge(_LLMJudge):
    """A local Hugging Face causal LM (e.g. a prefetched Llama-3-70B-Instruct) with its own chat template: generation
    for MT-Bench and Arena-Hard (greedy at temperature 0), next-token log-probabilities for AlpacaEval."""

    def __init__(self, path: str | Path, dtype: str = "bfloat16", pad_token: str | None = None):
        from online_rlhf.train.models import default_device, load_policy, load_tokenizer

        self.name = str(path)
        self.device = default_device()
        self.tok = load_tokenizer(path, pad_token=pad_token, training=False)
        self.model = load_policy(path, dtype=dtype, device=self.device)

    def _encode(self, messages: list[dict]):
        text = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tok(text, return_tensors="pt", add_special_tokens=False).to(self.device)

    def chat(self, messages: list[dict], max_tokens: int, temperature: float) -> str:
        import torch

        enc = self._encode(messages)
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=max_tokens, pad_token_id=self.tok.pad_token_id, **sampling)
        return self.tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    def token_logprobs(self, messages: list[dict], tokens: list[str], temperature: float, top_logprobs: int) -> dict[str, float | None]:
        import torch

        enc = self._encode(messages)
        with torch.no_grad():
            logits = self.model(**enc).logits[0, -1].float()
        logp = torch.log_softmax(logits / temperature if temperature > 0 else logits, dim=-1)
        # As from an API: only the top_logprobs most likely tokens have a log-probability.
        top = set(torch.topk(logp, min(top_logprobs, logp.numel())).indices.tolist())
        out = {}
        for t in tokens:
            ids = self.tok(t, add_special_tokens=False)["input_ids"]
            # A label the tokenizer cannot write as one token has no next-token probability: report it as absent.
            one = len(ids) == 1 and ids[0] != self.tok.unk_token_id
            out[t] = float(logp[ids[0]]) if one and ids[0] in top else None
        return out


def make_judge(spec: dict, model_dir: str | None = None, http_client=None):
    """The judge a config's `benchmarks.judge` section describes (model_dir: the local judge's folder)."""
    kind = spec["kind"]
    if kind == "oracle":
        return OracleJudge()
    if kind == "api":
        return APIJudge(spec["model"], spec.get("api_key_env", "OPENAI_API_KEY"), spec.get("base_url"), http_client)
    if kind == "local":
        if not model_dir:
            raise ValueError("judge kind 'local' needs the judge model folder (models.judge)")
        return LocalJudge(model_dir, spec.get("dtype", "bfloat16"), spec.get("pad_token"))
    raise ValueError(f"unknown judge kind {kind!r}; expected oracle, api or local")
