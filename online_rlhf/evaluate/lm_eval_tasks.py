"""Academic benchmarks through lm-eval (EleutherAI lm-evaluation-harness 0.4.13), in two modes.

- offline: task configs over local files (`dataset_path: json` + `data_files`), written here as plain dicts:
  the made-up world's tasks, and GSM8K as lm-eval's own built-in task (its prompt, 8-shot split and the standard
  "strict-match" / "flexible-extract" answer filters, read from the installed package) pointed at a local test.jsonl
  in the real {question, answer "... #### N"} format.
- hub: lm-eval's built-in task (or group, e.g. mmlu) by name, with `dataset_path` overridden to a snapshot of the
  Hub dataset prefetched on the login node at a pinned revision, so compute nodes never reach the Hub.

Tasks that execute model-written code (HumanEval, MBPP) run only when the config allows it explicitly.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import yaml

# The made-up world's stand-ins: a generative exact-answer task (the shape of GSM8K: generate, extract, compare) and
# a multiple-choice log-likelihood task (the shape of MMLU / ARC / TruthfulQA-MC: pick the most likely option).
WORLD_TEMPLATES = {
    "world_reverse": {
        "output_type": "generate_until",
        "doc_to_text": "{{query}}",
        "doc_to_target": "{{target}}",
        "target_delimiter": "",
        "generation_kwargs": {"until": [], "do_sample": False},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
    },
    "world_choice": {
        "output_type": "multiple_choice",
        "doc_to_text": "{{query}}",
        "doc_to_choice": "{{choices}}",
        "doc_to_target": "{{label}}",
        "target_delimiter": "",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
    },
}
OFFLINE_TEMPLATES = (*WORLD_TEMPLATES, "gsm8k")
# The number each task's table cell shows (lm-eval's "<metric>,<filter>" keys).
DEFAULT_METRICS = {
    "world_reverse": "exact_match,none",
    "world_choice": "acc,none",
    "gsm8k": "exact_match,strict-match",
    "mmlu": "acc,none",
    "humaneval": "pass@1,create_test",
    "mbpp": "pass_at_1,none",
    "truthfulqa_mc2": "acc,none",
    "arc_challenge": "acc_norm,none",
}


def builtin_task_config(name: str) -> dict:
    """A built-in task's YAML from the installed lm-eval (only for configs without !function tags)."""
    import lm_eval

    path = Path(lm_eval.__file__).parent / "tasks" / name / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"lm-eval has no built-in task file {path}")
    return yaml.safe_load(path.read_text())


def offline_task_config(name: str, template: str, files: dict[str, str]) -> dict:
    """lm-eval task config over local JSON-lines files: `files` maps split -> path ('test' required; 'train' gives
    GSM8K its few-shot examples, otherwise they come from the test file, lm-eval leaving the current doc out)."""
    if "test" not in files:
        raise ValueError(f"lm-eval task {name}: files must name a 'test' file, got {sorted(files)}")
    for split, path in files.items():
        if not Path(path).is_file():
            raise FileNotFoundError(f"lm-eval task {name}: {split} file {path} does not exist")
    if template in WORLD_TEMPLATES:
        cfg = dict(WORLD_TEMPLATES[template])
    elif template == "gsm8k":
        cfg = {k: v for k, v in builtin_task_config("gsm8k").items() if k not in ("tag", "dataset_name")}
    else:
        raise ValueError(f"lm-eval task {name}: unknown offline template {template!r}; expected one of {OFFLINE_TEMPLATES}")
    few = "train" if "train" in files else "test"
    cfg.update(
        task=name,
        dataset_path="json",
        dataset_kwargs={"data_files": {split: str(Path(p).resolve()) for split, p in files.items()}},
        test_split="test",
        training_split="train" if "train" in files else None,
        fewshot_split=few,
    )
    cfg.pop("validation_split", None)
    return cfg


def hub_task_config(task: str, snapshot: str | Path) -> dict:
    """A built-in task or group by name with its dataset read from a local snapshot of the Hub repository.

    lm-eval reads a top-level dict as a new inline task, not as overrides of a registered one; overrides of a
    registered task or group are given as a member of a group, and a group hands them down to all its members
    (mmlu -> every subject). So: a one-member wrapper group, which adds no metrics of its own.
    """
    return {"group": f"{task}_snapshot", "task": [{"task": task, "dataset_path": str(Path(snapshot).resolve())}]}


def headline(results: dict, task: str, metric: str | None) -> tuple[str, float]:
    """The number a table shows for a task: the configured "<metric>,<filter>" key, else the task's default."""
    entry = results["results"].get(task)
    if entry is None:
        raise KeyError(f"lm-eval results have no task {task!r}; have {sorted(results['results'])}")
    key = metric or DEFAULT_METRICS.get(task)
    if key is None:
        key = next(k for k, v in entry.items() if "," in k and "stderr" not in k and isinstance(v, (int, float)))
    if key not in entry:
        raise KeyError(f"lm-eval results of {task!r} have no metric {key!r}; have {sorted(k for k in entry if ',' in k)}")
    return key, float(entry[key])


def plain(obj):
    """lm-eval's results as JSON-safe values (numpy scalars, NaN, dtypes and callables made plain)."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, (str, bool)) or obj is None:
        return obj
    if isinstance(obj, (int, float)):
        return obj if not (isinstance(obj, float) and not math.isfinite(obj)) else None
    if hasattr(obj, "item"):
        return plain(obj.item())
    return str(obj)


GSM8K_ANSWER = re.compile(r"#### (\-?[0-9\.\,]+)")


def gold_answer(answer: str) -> str:
    """The number after '#### ' in a GSM8K answer (what the strict-match filter extracts from a model's output)."""
    m = GSM8K_ANSWER.search(answer)
    if not m:
        raise ValueError(f"GSM8K answer without '#### N': {answer[-80:]!r}")
    return m.group(1)
