"""Run lm-eval tasks on one model in one pass: offline task configs over local files, or built-in tasks (and groups)
over dataset snapshots prefetched at pinned revisions. Per task: the headline number with lm-eval's full results, and
every sample (document, prompt, response, score) as JSON lines."""

import json
import os
import tempfile
from pathlib import Path

import _bootstrap  # noqa: F401

from online_rlhf.core.cli import json_arg, logger, parser
from online_rlhf.core.records import write_jsonl
from online_rlhf.core.tables import write_json
from online_rlhf.evaluate.lm_eval_tasks import headline, offline_task_config, plain, snapshot_task_dir
from online_rlhf.train.models import seed_everything

log = logger("run_lm_eval")


def group_members(subtasks: dict[str, list[str]], name: str) -> set[str]:
    """A task, or a group with every task and subgroup below it (mmlu -> mmlu_stem -> mmlu_anatomy, ...)."""
    out, todo = set(), [name]
    while todo:
        n = todo.pop()
        out.add(n)
        todo.extend(c for c in subtasks.get(n, []) if c not in out)
    return out


TASKS_HELP = (
    'JSON list, one object per task: {"name", "num_fewshot", "output", "samples", "metric"?} plus either '
    '{"template", "files": {"test", "train"?}} (offline) or {"task", "snapshot"} (hub)'
)

def workflow_relative(cfg: dict) -> dict:
    """The task config as recorded: lm-eval reads data files by absolute path, but a result must not depend on where
    the workflow was checked out (the reproducibility audit compares results bytewise across folders)."""
    root = str(Path.cwd().resolve()) + os.sep
    return json.loads(json.dumps(cfg, default=str).replace(root, ""))


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--model", required=True)
    p.add_argument("--model-name", required=True)
    p.add_argument("--tasks", type=json_arg, required=True, help=TASKS_HELP)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-gen-toks", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="first N documents per task only (smoke tests)")
    p.add_argument("--apply-chat-template", action="store_true")
    p.add_argument("--allow-code-execution", action="store_true", help="the config allows running model-written code")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    seed_everything(a.seed, a.threads)
    if a.allow_code_execution:
        os.environ["HF_ALLOW_CODE_EVAL"] = "1"  # the `code_eval` metric refuses to run without it
    import lm_eval
    import torch
    from lm_eval.tasks import TaskManager

    configs, recorded, copies = [], [], []
    # Built-in tasks over snapshots: copies of their task folders, the only task files the evaluation's TaskManager
    # reads (include_defaults=False). Indexing lm-eval's ~15,000 built-in task files takes ~11 s on one core, so it
    # is done once, and only to find the folders of built-in tasks; offline task configs need no index at all.
    scratch = tempfile.TemporaryDirectory(prefix="lm_eval_tasks_")
    index = TaskManager().task_index if any("snapshot" in t for t in a.tasks) else {}
    folders = [Path(index[t["task"]].yaml_path).parent for t in a.tasks if "snapshot" in t and t["task"] in index]
    shared = sorted({str(f) for f in folders if folders.count(f) > 1})
    if shared:
        # Both copies would define the same task names with different snapshots or shot counts.
        raise SystemExit(f"lm-eval tasks from one built-in folder ({', '.join(shared)}) need one job each")
    for i, t in enumerate(a.tasks):
        if "snapshot" in t:
            copies.append(snapshot_task_dir(t["task"], t["snapshot"], t["num_fewshot"], Path(scratch.name) / str(i), index))
            configs.append(t["task"])
            recorded.append({"task": t["task"], "snapshot": t["snapshot"], "num_fewshot": t["num_fewshot"], "task_folder": "lm_eval built-in"})
        else:
            cfg = {**offline_task_config(t["name"], t["template"], t["files"]), "num_fewshot": t["num_fewshot"]}
            configs.append(cfg)
            recorded.append(cfg)
    results = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": a.model, "dtype": a.dtype},
        tasks=configs,
        batch_size=a.batch_size,
        device="cuda" if torch.cuda.is_available() else "cpu",
        limit=a.limit,
        apply_chat_template=a.apply_chat_template,
        gen_kwargs={"max_gen_toks": a.max_gen_toks} if a.max_gen_toks else None,
        log_samples=True,
        confirm_run_unsafe_code=a.allow_code_execution,
        random_seed=a.seed,
        numpy_random_seed=a.seed,
        torch_random_seed=a.seed,
        fewshot_random_seed=a.seed,
        task_manager=TaskManager(include_path=[str(c) for c in copies] or None, include_defaults=False),
    )
    scratch.cleanup()
    for t, cfg in zip(a.tasks, recorded):
        name = t.get("task", t["name"])
        # A group (e.g. mmlu) reports its aggregate under "groups"; its samples are its members'.
        table = {"results": {**results["results"], **results.get("groups", {})}}
        metric, value = headline(table, name, t.get("metric"))
        members = group_members(results.get("group_subtasks", {}), name)
        samples = [{"task": k, **plain(s)} for k, rows in results.get("samples", {}).items() if k in members for s in rows]
        write_jsonl(samples, t["samples"])
        write_json(
            {
                "model": a.model_name, "benchmark": t["name"], "task": name, "metric": metric, "value": value,
                "num_fewshot": t["num_fewshot"], "limit": a.limit, "task_config": workflow_relative(cfg),
                "documents": {k: plain(n) for k, n in results.get("n-samples", {}).items() if k in members},
                "results": {k: plain(v) for k, v in table["results"].items() if k in members}, "samples": t["samples"],
                "lm_eval_version": lm_eval.__version__,
            },
            t["output"],
        )
        log.info("%s %s: %s = %.4f", a.model_name, t["name"], metric, value)
