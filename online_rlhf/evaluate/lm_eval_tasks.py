"""Academic benchmarks through lm-eval (EleutherAI lm-evaluation-harness 0.4.13), in two modes.

- offline: task configs over local files (`dataset_path: json` + `data_files`), written here as plain dicts:
  the made-up world's tasks, and GSM8K as lm-eval's own built-in task (its prompt, 8-shot split and the standard
  "strict-match" / "flexible-extract" answer filters, read from the installed package) pointed at a local test.jsonl
  in the real {question, answer "... #### N"} format.
- hub: lm-eval's built-in task (or group, e.g. mmlu) by name, from a copy of its task folder whose `dataset_path`
  points at a snapshot of the Hub dataset prefetched on the login node at a pinned revision, so compute nodes never
  reach the Hub.

Tasks that execute model-written code (HumanEval, MBPP) run only when the config allows it explicitly.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import yaml

# The made-up world's stand-ins: a generative exact-answer task (the shape of GSM8K: generate, extract, compare) and
# a multiple-choice log-likelihood task (the shape of MMLU / ARC / TruthfulQA-MC: pick the most likely option).
# The doc_to_* entries name the row's fields: lm-eval reads a named field directly and would otherwise compile a
# Jinja template per document ("{{query}}": the same strings, 0.7 s more of a 6.6 s job, measured at 9c1065b).
WORLD_TEMPLATES = {
    "world_reverse": {
        "output_type": "generate_until",
        "doc_to_text": "query",
        "doc_to_target": "target",
        "target_delimiter": "",
        "generation_kwargs": {"until": [], "do_sample": False},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
    },
    "world_choice": {
        "output_type": "multiple_choice",
        "doc_to_text": "query",
        "doc_to_choice": "choices",
        "doc_to_target": "label",
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


def snapshot_task_dir(task: str, snapshot: str | Path, num_fewshot: int, dest: str | Path, index=None) -> Path:
    """A built-in task or group (e.g. mmlu: 4 subgroups, 57 subjects) by name, with its dataset read from a local
    snapshot of the Hub repository: a copy of the task's folder from the installed lm-eval in `dest`, every
    `dataset_path` in it pointing at the snapshot and `num_fewshot` set where the dataset is named (members inherit
    it through `include`). A TaskManager given `include_path=dest` prefers these files to the built-in ones.

    Not a dict override: lm-eval 0.4.13 reads a top-level dict as a new inline task (mmlu without a dataset_name), and
    a one-member wrapper group around a group task builds a cycle in the group tree (mmlu -> mmlu_stem -> mmlu ...,
    RecursionError in simple_evaluate); the paper config's mmlu failed that way.
    """
    if index is None:
        from lm_eval.tasks import TaskManager

        index = TaskManager().task_index
    entry = index.get(task)
    if entry is None:
        raise ValueError(f"lm-eval {_lm_eval_version()} has no built-in task or group {task!r}")
    src, dest = Path(entry.yaml_path).parent, Path(dest)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    snapshot = str(Path(snapshot).resolve())
    named = 0
    for path in sorted(p for p in dest.rglob("*") if p.is_file() and (p.suffix == ".yaml" or p.name.endswith("_yaml"))):
        text = path.read_text()
        if not DATASET_PATH.search(text):
            continue
        text = DATASET_PATH.sub(f"dataset_path: {snapshot}", NUM_FEWSHOT.sub("", text))
        path.write_text(text.rstrip("\n") + f"\nnum_fewshot: {num_fewshot}\n")
        named += 1
    if not named:
        raise ValueError(f"lm-eval task {task!r}: no dataset_path in {src} to point at the snapshot {snapshot}")
    return dest


DATASET_PATH = re.compile(r"^dataset_path:.*$", re.MULTILINE)
NUM_FEWSHOT = re.compile(r"^num_fewshot:.*\n?", re.MULTILINE)


def _lm_eval_version() -> str:
    import lm_eval

    return lm_eval.__version__


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
