"""Judges of the chat benchmarks: the made-up world's oracle, an API model (OpenAI-compatible endpoint), or a local
Hugging Face model. One interface, three questions a benchmark asks:

- `alpaca_preference(instruction, output_1, output_2)` -> preference in [1, 2] (AlpacaEval: 2 = output_2 better);
- `mt_bench_score(questions, answers)` -> score 1-10 of the last answer in the conversation (MT-Bench);
- `arena_verdict(question, answer_a, answer_b)` -> one of A>>B, A>B, A=B, B>A, B>>A (Arena-Hard).

LLM judges use each benchmark's published judge prompt: AlpacaEval's own template file from the installed package
(`alpaca_eval_clf_gpt4_turbo`, read with its ChatML helper) scored as `weighted_alpaca_eval_gpt4_turbo` does, from the
judge's probabilities of the tokens "m" and "M"; FastChat's `single-v1` / `single-v1-multi-turn` prompts; and
arena-hard-auto's v0.1 system prompt. An answer the parser cannot read comes back as None and is counted, never
guessed. API keys are read from the environment variable the config names, and never logged or written.

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

MT_BENCH_SYSTEM = "You are a helpful assistant."
_MT_BENCH_RUBRIC = (
    "Please act as an impartial judge and evaluate the quality of the response provided by an AI assistant to the user "
    "question displayed below. Your evaluation should consider factors such as the helpfulness, relevance, accuracy, "
    "depth, creativity, and level of detail of the response. {focus}Begin your evaluation by providing a short "
    "explanation. Be as objective as possible. After providing your explanation, you must rate the response on a scale "
    'of 1 to 10 by strictly following this format: "[[rating]]", for example: "Rating: [[5]]".'
)
MT_BENCH_SINGLE = (
    "[Instruction]\n" + _MT_BENCH_RUBRIC.format(focus="") + "\n\n[Question]\n{question}\n\n"
    "[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]"
)
MT_BENCH_MULTI_SYSTEM = _MT_BENCH_RUBRIC.format(focus="You evaluation should focus on the assistant's answer to the second user question. ") + "\n\n"
MT_BENCH_MULTI = (
    "<|The Start of Assistant A's Conversation with User|>\n\n### User:\n{question_1}\n\n### Assistant A:\n{answer_1}\n\n"
    "### User:\n{question_2}\n\n### Assistant A:\n{answer_2}\n\n<|The End of Assistant A's Conversation with User|>"
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


def parse_rating(text: str) -> float | None:
    """FastChat's parser: the last `[[x]]` (or `[x]`) rating in 1..10, else None."""
    for pattern in (r"\[\[(\d+\.?\d*)\]\]", r"\[(\d+\.?\d*)\]"):
        found = re.findall(pattern, text)
        if found:
            value = float(found[-1])
            return value if 1 <= value <= 10 else None
    return None


def parse_verdict(text: str) -> str | None:
    """arena-hard-auto's parser: the `[[label]]` verdicts in the text; None when absent or contradictory."""
    found = {m.replace(" ", "") for m in re.findall(r"\[\[([AB<>=\s]+)\]\]", text)}
    found = {v for v in found if v in ("A>>B", "A>B", "A=B", "B>A", "B>>A")}
    return found.pop() if len(found) == 1 else None


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


def mt_bench_messages(questions: list[str], answers: list[str]) -> list[dict]:
    if len(questions) == 1:
        return [{"role": "system", "content": MT_BENCH_SYSTEM}, {"role": "user", "content": MT_BENCH_SINGLE.format(question=questions[0], answer=answers[0])}]
    if len(questions) == 2:
        body = MT_BENCH_MULTI.format(question_1=questions[0], answer_1=answers[0], question_2=questions[1], answer_2=answers[1])
        return [{"role": "system", "content": MT_BENCH_MULTI_SYSTEM}, {"role": "user", "content": body}]
    raise ValueError(f"MT-Bench judges one or two turns, got {len(questions)}")


def arena_messages(question: str, answer_a: str, answer_b: str) -> list[dict]:
    return [{"role": "system", "content": ARENA_SYSTEM}, {"role": "user", "content": ARENA_USER.format(question=question, answer_a=answer_a, answer_b=answer_b)}]


class OracleJudge:
    """The made-up world's ground truth as the judge. Mappings (documented in the README):
    AlpacaEval preference 1 / 1.5 / 2 by comparing oracle rewards; MT-Bench score = 1 + 9 * reward of the judged turn
    (10 only for the exact answer); Arena-Hard verdict from the reward margin, strong when it is >= 0.5."""

    name = "oracle"

    def alpaca_preference(self, instruction: str, output_1: str, output_2: str) -> tuple[float | None, str]:
        r1, r2 = oracle_reward(instruction, output_1), oracle_reward(instruction, output_2)
        return (1.0 if r1 > r2 else 2.0 if r2 > r1 else 1.5), f"oracle {r1:.3f} vs {r2:.3f}"

    def mt_bench_score(self, questions: list[str], answers: list[str]) -> tuple[float | None, str]:
        r = oracle_reward(questions[-1], answers[-1])
        return 1.0 + 9.0 * r, f"oracle reward {r:.3f}"

    def arena_verdict(self, question: str, answer_a: str, answer_b: str) -> tuple[str | None, str]:
        ra, rb = oracle_reward(question, answer_a), oracle_reward(question, answer_b)
        d = ra - rb
        strong = abs(d) >= ORACLE_STRONG_MARGIN
        verdict = "A=B" if d == 0 else ("A>>B" if strong else "A>B") if d > 0 else ("B>>A" if strong else "B>A")
        return verdict, f"oracle {ra:.3f} vs {rb:.3f}"


class _LLMJudge(ABC):
    """The prompts and parsing shared by the API and local judges; subclasses provide `chat` and `token_logprobs`."""

    @abstractmethod
    def chat(self, messages: list[dict]) -> str:
        """The judge's reply to a conversation (greedy)."""

    @abstractmethod
    def token_logprobs(self, messages: list[dict], tokens: list[str]) -> dict[str, float | None]:
        """Log-probability of each single-token label as the judge's next token (None: not offered)."""

    def alpaca_preference(self, instruction: str, output_1: str, output_2: str) -> tuple[float | None, str]:
        lp = self.token_logprobs(alpaca_messages(instruction, output_1, output_2), ["m", "M"])
        return preference_from_logprobs(lp["m"], lp["M"]), f"logprob m={lp['m']} M={lp['M']}"

    def mt_bench_score(self, questions: list[str], answers: list[str]) -> tuple[float | None, str]:
        text = self.chat(mt_bench_messages(questions, answers))
        return parse_rating(text), text

    def arena_verdict(self, question: str, answer_a: str, answer_b: str) -> tuple[str | None, str]:
        text = self.chat(arena_messages(question, answer_a, answer_b))
        return parse_verdict(text), text


class APIJudge(_LLMJudge):
    """An OpenAI-compatible chat endpoint (OpenAI, Azure, a vLLM server, ...). The key comes only from the
    environment variable named by `api_key_env`; it is handed to the client and nowhere else."""

    def __init__(self, model: str, api_key_env: str, base_url: str | None = None, max_tokens: int = 1024, http_client=None):
        from openai import OpenAI

        key = os.environ.get(api_key_env)
        if not key:
            raise RuntimeError(f"judge kind 'api' needs an API key in the environment variable {api_key_env} (it is never read from the config)")
        self.name = model
        self.model = model
        self.max_tokens = max_tokens
        self.client = OpenAI(api_key=key, base_url=base_url, max_retries=5, http_client=http_client)

    def chat(self, messages: list[dict]) -> str:
        resp = self.client.chat.completions.create(model=self.model, messages=messages, temperature=0.0, max_tokens=self.max_tokens)
        return resp.choices[0].message.content or ""

    def token_logprobs(self, messages: list[dict], tokens: list[str]) -> dict[str, float | None]:
        resp = self.client.chat.completions.create(
            model=self.model, messages=messages, temperature=0.0, max_tokens=1, logprobs=True, top_logprobs=5
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
    """A local Hugging Face causal LM (e.g. a prefetched Llama-3-70B-Instruct) with its own chat template: greedy
    generation for MT-Bench and Arena-Hard, next-token log-probabilities for AlpacaEval."""

    def __init__(self, path: str | Path, max_new_tokens: int = 1024, dtype: str = "bfloat16", pad_token: str | None = None):
        from online_rlhf.train.models import default_device, load_policy, load_tokenizer

        self.name = str(path)
        self.device = default_device()
        self.tok = load_tokenizer(path, pad_token=pad_token)
        self.model = load_policy(path, dtype=dtype, device=self.device)
        self.max_new_tokens = max_new_tokens

    def _encode(self, messages: list[dict]):
        text = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return self.tok(text, return_tensors="pt", add_special_tokens=False).to(self.device)

    def chat(self, messages: list[dict]) -> str:
        import torch

        enc = self._encode(messages)
        with torch.no_grad():
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=self.tok.pad_token_id)
        return self.tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    def token_logprobs(self, messages: list[dict], tokens: list[str]) -> dict[str, float | None]:
        import torch

        enc = self._encode(messages)
        with torch.no_grad():
            logits = self.model(**enc).logits[0, -1].float()
        logp = torch.log_softmax(logits, dim=-1)
        out = {}
        for t in tokens:
            ids = self.tok(t, add_special_tokens=False)["input_ids"]
            # A label the tokenizer cannot write as one token has no next-token probability: report it as absent.
            out[t] = float(logp[ids[0]]) if len(ids) == 1 and ids[0] != self.tok.unk_token_id else None
        return out


def make_judge(spec: dict, model_dir: str | None = None, http_client=None):
    """The judge a config's `benchmarks.judge` section describes (model_dir: the local judge's folder)."""
    kind = spec["kind"]
    if kind == "oracle":
        return OracleJudge()
    if kind == "api":
        return APIJudge(spec["model"], spec.get("api_key_env", "OPENAI_API_KEY"), spec.get("base_url"), spec.get("max_new_tokens", 1024), http_client)
    if kind == "local":
        if not model_dir:
            raise ValueError("judge kind 'local' needs the judge model folder (models.judge)")
        return LocalJudge(model_dir, spec.get("max_new_tokens", 1024), spec.get("dtype", "bfloat16"), spec.get("pad_token"))
    raise ValueError(f"unknown judge kind {kind!r}; expected oracle, api or local")
