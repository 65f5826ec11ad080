"""PKU-Alignment/PKU-SafeRLHF(-30K): two responses per prompt with a helpfulness label (`better_response_id`), a
harmlessness label (`safer_response_id`) and a safety flag per response.

`preference` picks the label: `safe_then_better` (default: when exactly one response is safe it is chosen, otherwise
the more helpful one), `better` or `safer`. Scores are 2*safe + better, so the chosen one always scores higher and the
margin says whether safety or helpfulness decided. A row whose safer response is flagged unsafe while the other is
flagged safe contradicts itself and is dropped."""

from __future__ import annotations

from online_rlhf.data.sources.common import Pair, RowError, require, user_prompt

DEFAULTS = {"preference": "safe_then_better"}
COMPLETION, ANNOTATOR = "LLM (Alpaca-7B)", "human"


def _index(data: dict, key: str) -> int:
    value = require(data, key, int)
    if value not in (0, 1):
        raise RowError("wrong_type", f"{key} should be 0 or 1, got {value}")
    return value


def adapt(data: dict, opts: dict):
    prompt = user_prompt(require(data, "prompt", str), "prompt")
    responses = [require(data, "response_0", str), require(data, "response_1", str)]
    safe = [require(data, "is_response_0_safe", bool), require(data, "is_response_1_safe", bool)]
    better, safer = _index(data, "better_response_id"), _index(data, "safer_response_id")
    if safe[safer] is False and safe[1 - safer] is True:
        raise RowError("label_contradicts_scores", f"safer_response_id={safer} but only response {1 - safer} is flagged safe")
    mode = opts["preference"]
    if mode == "better":
        chosen = better
    elif mode == "safer":
        chosen = safer
    elif mode == "safe_then_better":
        chosen = safe.index(True) if safe[0] != safe[1] else better
    else:
        raise ValueError(f"pku_saferlhf preference must be safe_then_better, better or safer, got {mode!r}")
    score = [2.0 * s + (i == better) for i, s in enumerate(safe)]
    if mode != "safe_then_better":
        score = [1.0 if i == chosen else 0.0 for i in range(2)]
    meta = {"better_response_id": better, "safer_response_id": safer, "safe": safe, "chosen_index": chosen}
    yield Pair(prompt, responses[chosen], responses[1 - chosen], score[chosen], score[1 - chosen], meta)
