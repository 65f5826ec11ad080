"""lm-eval offline path: GSM8K (the real test set, beside the repo) through lm-eval's own task, prompt and standard
answer filters; the made-up world's tasks; result extraction."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from online_rlhf.evaluate.lm_eval_tasks import gold_answer, headline, offline_task_config, snapshot_task_dir

from .conftest import ROOT, shared_data

pytestmark = pytest.mark.slow  # trainers / lm-eval runs of minutes

SLICE = 40


@pytest.fixture(scope="module")
def builtin_index():
    """lm-eval's index of its built-in tasks (~11 s to build), where snapshot_task_dir finds a task's folder."""
    from lm_eval.tasks import TaskManager

    return TaskManager().task_index


@pytest.fixture(scope="module")
def gsm8k_slice(tmp_path_factory):
    """The first problems of the real GSM8K test file, unmodified, as a local task file."""
    src = shared_data("gsm8k", "test.jsonl")
    lines = src.read_text().splitlines()[:SLICE]
    path = tmp_path_factory.mktemp("gsm8k") / "test.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


class _AnswerKeyLM:
    """An lm-eval LM that answers each GSM8K question with a fixed function of its gold solution: lets the real
    prompt construction, 8-shot context, filters and metric run exactly as for a model."""

    def __new__(cls, answers, transform):
        from lm_eval.api.model import LM

        class AnswerKey(LM):
            def generate_until(self, requests):
                out = []
                for r in requests:
                    context = r.args[0]
                    question = context.rsplit("Question: ", 1)[1].rsplit("\nAnswer:", 1)[0]
                    out.append(transform(answers[question]))
                return out

            def loglikelihood(self, requests):
                raise AssertionError("GSM8K is a generation task")

            def loglikelihood_rolling(self, requests):
                raise AssertionError("GSM8K is a generation task")

        return AnswerKey()


def _evaluate(path, transform, num_fewshot=8, cfg=None, include_path=None):
    import lm_eval
    from lm_eval.tasks import TaskManager

    rows = [json.loads(line) for line in path.read_text().splitlines()]
    answers = {r["question"]: r["answer"] for r in rows}
    if cfg is None:
        cfg = offline_task_config("gsm8k_local", "gsm8k", {"test": str(path)})
        cfg["num_fewshot"] = num_fewshot
    # As scripts/run_lm_eval.py: only the given configs and the task copies, not lm-eval's ~15,000 built-in files.
    manager = TaskManager(include_path=include_path, include_defaults=False)
    return lm_eval.simple_evaluate(model=_AnswerKeyLM(answers, transform), tasks=[cfg], task_manager=manager, log_samples=True)


def test_gold_solutions_score_full_marks_with_the_standard_filters(gsm8k_slice):
    res = _evaluate(gsm8k_slice, lambda answer: answer)
    r = res["results"]["gsm8k_local"]
    assert r["exact_match,strict-match"] == 1.0 and r["exact_match,flexible-extract"] == 1.0
    samples = [s for s in res["samples"]["gsm8k_local"] if s["filter"] == "strict-match"]
    assert len(samples) == SLICE and len(res["samples"]["gsm8k_local"]) == 2 * SLICE  # one row per filter
    # 8 few-shot examples from the same file, never the question itself
    context = samples[0]["arguments"][0][0]
    assert context.count("Question: ") == 9 and context.count(samples[0]["doc"]["question"]) == 1
    assert samples[0]["filtered_resps"][0] == gold_answer(samples[0]["doc"]["answer"])


def test_the_filters_tell_strict_from_flexible_and_wrong_answers_fail(gsm8k_slice):
    # The final number without the '#### ' marker: only the flexible filter (last number in the text) finds it.
    res = _evaluate(gsm8k_slice, lambda answer: f"so the answer is {gold_answer(answer)}", num_fewshot=0)
    r = res["results"]["gsm8k_local"]
    assert r["exact_match,strict-match"] == 0.0 and r["exact_match,flexible-extract"] == 1.0
    res = _evaluate(gsm8k_slice, lambda answer: f"#### {int(gold_answer(answer).replace(',', '')) + 1}", num_fewshot=0)
    assert res["results"]["gsm8k_local"]["exact_match,strict-match"] == 0.0


def test_a_real_model_runs_through_the_rule_script(gsm8k_slice, tmp_path):
    """A tiny random model with a tokenizer of GSM8K's characters, through scripts/run_lm_eval.py on 3 problems:
    the whole offline path (local files, few shots, generation, filters) on the real file; it scores 0 of course."""
    from online_rlhf.train.models import build_base_model, build_tokenizer

    tok = build_tokenizer([gsm8k_slice.read_text()], "tiny")
    arch = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 8192}
    model = build_base_model(tok, arch, seed=0)
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    out = tmp_path / "gsm8k.json"
    cmd = [
        sys.executable, "scripts/run_lm_eval.py", "--model", str(tmp_path / "model"), "--model-name", "tiny",
        "--tasks", json.dumps([{"name": "gsm8k_local", "template": "gsm8k", "files": {"test": str(gsm8k_slice)}, "num_fewshot": 2,
                                "output": str(out), "samples": str(tmp_path / "samples.jsonl")}]),
        "--max-gen-toks", "8", "--limit", "3", "--seed", "0",
    ]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
    result = json.loads(out.read_text())
    assert result["metric"] == "exact_match,strict-match" and 0.0 <= result["value"] <= 1.0
    assert result["documents"]["gsm8k_local"]["effective"] == 3
    samples = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 6 and {s["filter"] for s in samples} == {"strict-match", "flexible-extract"}


def test_hub_mode_reads_the_builtin_task_from_a_local_snapshot(gsm8k_slice, builtin_index, tmp_path):
    """Hub mode without the Hub: lm-eval's built-in `gsm8k` (dataset openai/gsm8k, config main) pointed at a folder
    laid out like the Hub repository (README configs + parquet shards), as prefetch_benchmark leaves it."""
    import polars as pl

    snap = tmp_path / "lm_eval_gsm8k"
    (snap / "main").mkdir(parents=True)
    table = pl.read_ndjson(gsm8k_slice)
    for split in ("train", "test"):
        table.write_parquet(snap / "main" / f"{split}-00000-of-00001.parquet")
    (snap / "README.md").write_text(
        "---\nconfigs:\n- config_name: main\n  data_files:\n  - split: train\n    path: main/train-*\n"
        "  - split: test\n    path: main/test-*\n---\n"
    )
    tasks = snapshot_task_dir("gsm8k", snap, 8, tmp_path / "tasks", builtin_index)
    res = _evaluate(gsm8k_slice, lambda answer: answer, cfg="gsm8k", include_path=str(tasks))
    r = res["results"]["gsm8k"]
    assert r["exact_match,strict-match"] == 1.0 and r["sample_len"] == SLICE
    assert res["samples"]["gsm8k"][0]["arguments"][0][0].count("Question: ") == 9  # num_fewshot reached the member


def test_a_group_of_groups_reads_every_member_from_the_snapshot(builtin_index, tmp_path):
    """mmlu (4 subgroups over 57 subjects, the paper's 5-shot) from a snapshot: every subject task reads its config of
    the snapshot with the configured shots. A one-member wrapper group around mmlu made lm-eval 0.4.13 loop forever
    (mmlu -> mmlu_stem -> mmlu ...)."""
    from lm_eval.tasks import TaskManager

    snap = tmp_path / "lm_eval_mmlu"
    snap.mkdir()
    tasks = snapshot_task_dir("mmlu", snap, 5, tmp_path / "tasks", builtin_index)
    manager = TaskManager(include_path=str(tasks), include_defaults=False)
    leaves = {n: e for n, e in manager.task_index.items() if n.startswith("mmlu_") and e.kind.name == "TASK" and Path(e.yaml_path).parent == tasks}
    assert len(leaves) == 57
    # Each subject's resolved config (its `include` of the template followed): the snapshot and the shots.
    assert {(e.cfg["dataset_path"], e.cfg["num_fewshot"]) for e in leaves.values()} == {(str(snap.resolve()), 5)}
    with pytest.raises(ValueError, match="no built-in task or group 'no_such_task'"):
        snapshot_task_dir("no_such_task", snap, 0, tmp_path / "other", builtin_index)


def test_offline_task_files_are_checked():
    with pytest.raises(FileNotFoundError, match="test file /nonexistent.jsonl does not exist"):
        offline_task_config("t", "world_reverse", {"test": "/nonexistent.jsonl"})
    with pytest.raises(ValueError, match="must name a 'test' file"):
        offline_task_config("t", "world_reverse", {})
    with pytest.raises(ValueError, match="unknown offline template 'mmlu'"):
        offline_task_config("t", "mmlu", {"test": __file__})


def test_headline_metric_is_named_or_defaulted():
    res = {"results": {"gsm8k": {"exact_match,strict-match": 0.5, "exact_match,flexible-extract": 0.6, "alias": "gsm8k"}}}
    assert headline(res, "gsm8k", None) == ("exact_match,strict-match", 0.5)
    assert headline(res, "gsm8k", "exact_match,flexible-extract") == ("exact_match,flexible-extract", 0.6)
    with pytest.raises(KeyError, match="no metric 'acc,none'"):
        headline(res, "gsm8k", "acc,none")
