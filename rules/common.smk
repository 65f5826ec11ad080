# Input functions, path helpers and config checks shared by every stage. No rules here.
import json
import shlex
import sys
import zlib
from pathlib import Path

sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError

from online_rlhf.evaluate.chat_benchmarks import benchmark_version
from online_rlhf.config import ConfigError, validate_config
from online_rlhf.train.launch import gpu_resources, launch_prefix
from online_rlhf.train.models import package_dir
from online_rlhf.core.sharding import shard_names
from online_rlhf.data.sources import KIND
from online_rlhf.data.mixtures import mixture_sources
from online_rlhf.online.selection import candidate_models

try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

ITERATIONS = list(range(1, config["iterations"] + 1))
# The critical path (SFT -> reward model -> T x (generate, score, pairs, DPO)) runs before side studies and
# benchmarks whenever both are ready: with few cores, a benchmark job picked first delays every later iteration.
LOOP_PRIORITY = 10
DATASETS = config["datasets"]
GEN_SHARDS = shard_names(config["online"]["generation"]["shards"])
SCORE_SHARDS = shard_names(config["online"]["scoring"]["shards"])
RM = config["reward_model"]["name"]
SELECTION = config.get("selection")
# Validation prompts are reserved from the pool before the iterations' slices; 0 when no selection is configured.
VALIDATION_PROMPTS = SELECTION["validation_prompts"] if SELECTION else 0


def names_regex(names):
    return "|".join(sorted(names)) or "^$"


def compute(rule_name, key):
    """Resources of one rule: compute.rules.<name> overrides compute.default."""
    spec = {**config["compute"]["default"], **config["compute"].get("rules", {}).get(rule_name, {})}
    defaults = {"threads": 1, "mem_mb": 4000, "runtime": 60, "gpu": 0, "nodes": 1, "processes": None}
    return spec.get(key, defaults[key])


def as_json(obj):
    """Compact JSON for a shell argument; quoted with {params.x:q} in the rule so it pastes back unchanged."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def training_hparams(section):
    """The hyperparameters a trainer reads, without the workflow-only keys (dataset names, switches)."""
    skip = {"dataset", "mixture", "heldout", "name", "enabled", "accelerate_config"}
    return as_json({k: v for k, v in config[section].items() if k not in skip})


def launcher(section):
    """`python`, `accelerate launch ... --mixed_precision <precision> --num_processes <gpus, or CPU processes>` when
    the section names an accelerate config, or `srun ... accelerate launch ...` once per node when its rule asks for
    several nodes (online_rlhf/train/launch.py)."""
    rule_name = f"train_{section}"
    try:
        return launch_prefix(
            config[section].get("accelerate_config"),
            compute(rule_name, "gpu"),
            compute(rule_name, "nodes"),
            rule_name,
            config[section].get("precision", "fp32"),
            compute(rule_name, "processes"),
        )
    except ValueError as err:
        raise WorkflowError(str(err)) from None


def training_gpus(rule_name):
    """GPU resources of a training job: `gpu`, or per-node GRES and one task per node for a multi-node job."""
    return gpu_resources(compute(rule_name, "gpu"), compute(rule_name, "nodes"))


def generation_python():
    """Interpreter of the generation rules: online.generation.python (schema default `python`); a relative path is
    the workflow folder's, e.g. .venv-vllm/bin/python that `make vllm` builds (docs/vllm.md)."""
    python = config["online"]["generation"].get("python", "python")
    if "/" in python and not Path(python).is_absolute():
        python = str(Path(workflow.basedir) / python)
    return python


def generation_engine():
    """The generation rules' context and vLLM engine options (online.generation); absent keys are left out, so the
    backend's own default applies."""
    gen = config["online"]["generation"]
    flags = {"max_model_len": "--max-model-len", "gpu_memory_utilization": "--gpu-memory-utilization",
             "cpu_kvcache_space": "--cpu-kvcache-space", "cpu_threads_bind": "--cpu-threads-bind"}
    options = [f"{flag} {shlex.quote(str(gen[key]))}" for key, flag in flags.items() if key in gen]
    return " ".join(options + (["--enforce-eager"] if gen.get("enforce_eager") else []))


# ---- paths -------------------------------------------------------------------------------------------------

def base_model_dir():
    """The adopted base model, for every source: resources/models/<source>/base (the source is part of the path so a
    synthetic and a Hub model never share a folder); SFT, the judges and DPO all descend from it."""
    return f"resources/models/{config['models']['base']['source']}/base"


def prefetched_model_dir(name):
    """Where `snakemake prefetch` downloads models.<name> from the Hub."""
    return f"resources/models/prefetched/{name}"


def base_model_input():
    """What adopt_base_model reads: the made-up world's built model, the Hub download, a local folder, or the model
    file shipped in an installed Python package (found without importing the package)."""
    spec = config["models"]["base"]
    if spec["source"] == "synthetic":
        return "resources/models/synthetic/built"
    if spec["source"] == "hub":
        return prefetched_model_dir("base")
    if spec["source"] == "local":
        return spec["path"]
    try:
        folder = package_dir(spec["package"])
    except FileNotFoundError as err:
        raise WorkflowError(f"models.base.package: {err}") from None
    return str(folder / spec["file"]) if spec.get("file") else str(folder)


def raw_dataset(dataset):
    spec = DATASETS[dataset]
    return spec["path"] if spec["source"] == "local" else f"resources/data/{spec['source']}/{dataset}"


def raw_files_glob(dataset):
    spec = DATASETS[dataset]
    return spec.get("files", "**/*")


def clean_table(dataset):
    return f"results/data/{KIND[DATASETS[dataset]['format']]}/{dataset}.parquet"


def policy_dir(model):
    if model == "sft":
        return "results/sft/model"
    if model == "offline_dpo":
        return "results/offline_dpo/model"
    return f"results/{model}/policy"


def rm_dir():
    return f"results/rm/{RM}/model"


# Learned judges by name: the Bradley-Terry RM always, the pairwise preference model when configured.
PM = config.get("preference_model")
JUDGES = {RM: "reward_model", **({PM["name"]: "preference_model"} if PM else {})}


def judge_dir(name):
    return f"results/rm/{name}/model"


def judge_of_kind(kind):
    """The model folder of the configured judge kind (reward_model / preference_model); none for the oracle."""
    return next((judge_dir(n) for n, k in JUDGES.items() if k == kind), [])


def judge_max_length(kind):
    """Tokens a judge reads: the BT model's conversation, or the pairwise model's whole comparison."""
    section = "preference_model" if kind == "preference_model" else "reward_model"
    return config[section]["max_length"]


def selection_candidates():
    return candidate_models(config["iterations"], SELECTION.get("candidates", "iterates"), config["offline_dpo"]["enabled"])


def run_outputs():
    """What a run delivers beside the report (the manifest covers these too)."""
    outputs = ["results/final/policy"] if SELECTION else []
    outputs += ["results/rm/judges.json"]
    return outputs + [f"results/data/stats/{mixture}.json" for mixture in config["mixtures"]]


# The online judge's accuracy on the policy's own samples needs ground truth: the made-up world's oracle. Loop samples of
# iteration t come from the policy DPO starts from (pi_{t-1}); the selection's samples, when the same kind of judge
# scored them, add every candidate (so the last iterate too).
LOOP_JUDGE = config["online"]["scoring"].get("judge", "reward_model")
ONPOLICY = DATASETS[config["online"]["prompt_pool"]]["source"] == "synthetic" and LOOP_JUDGE != "oracle"


def onpolicy_samples():
    """{label: judged samples}: the loop's (policy that sampled them) and, with a same-kind selection judge, the
    selection candidates' validation samples."""
    out = {}
    for t in ITERATIONS:
        sampler = "sft" if t == 1 or config["online"]["init"] == "sft" else f"iter{t - 1}"
        out[f"{sampler}@iter{t}"] = f"results/iter{t}/rewards.parquet"
    if SELECTION and SELECTION["judge"] == LOOP_JUDGE:
        out.update({f"{m}@selection": f"results/selection/{m}/scored.parquet" for m in selection_candidates()})
    return out


def evaluated_models():
    models = ["sft"] + (["offline_dpo"] if config["offline_dpo"]["enabled"] else [])
    return models + [f"iter{t}" for t in ITERATIONS]


# ---- input functions ---------------------------------------------------------------------------------------

def mixture_inputs(wildcards):
    return [clean_table(s) for s in mixture_sources(config["mixtures"][wildcards.mixture])]


def generation_policy(wildcards):
    """Iteration t always samples from pi_{t-1} (pi_0 = SFT for t = 1), whatever online.init says DPO starts from:
    sampling from pi_0 in every iteration would silently turn the online loop into offline DPO."""
    t = int(wildcards.iteration)
    return policy_dir("sft") if t == 1 else policy_dir(f"iter{t - 1}")


def dpo_init(wildcards):
    t = int(wildcards.iteration)
    return policy_dir("sft") if t == 1 or config["online"]["init"] == "sft" else policy_dir(f"iter{t - 1}")


def dpo_reference(wildcards):
    t = int(wildcards.iteration)
    return policy_dir("sft") if t == 1 or config["online"]["reference"] == "sft" else policy_dir(f"iter{t - 1}")


def dpo_pairs(wildcards):
    t = int(wildcards.iteration)
    first = 1 if config["online"]["data"] == "history" else t
    return [f"results/iter{s}/pairs.parquet" for s in range(first, t + 1)]


def responses_per_prompt(sampling):
    return sum(g["n"] for g in sampling)


def normalize_params(wc):
    spec = DATASETS[wc.dataset]
    if KIND[spec["format"]] != wc.kind:
        raise ValueError(f"dataset {wc.dataset} has format {spec['format']}: its table is {clean_table(wc.dataset)}")
    args = [f"--name {wc.dataset}", f"--format {spec['format']}", f"--files '{raw_files_glob(wc.dataset)}'"]
    if spec.get("field"):
        args.append(f"--field {spec['field']}")
    if spec.get("options"):
        args.append(f"--options '{as_json(spec['options'])}'")
    if spec.get("skip_rows"):
        args.append(f"--skip-rows {spec['skip_rows']}")
    if spec.get("max_rows"):
        args.append(f"--max-rows {spec['max_rows']}")
    return " ".join(args)


# ---- benchmarks (paper Tables 2/3): leaves results/eval/<model>/<benchmark>.json -----------------------------

BENCH = config.get("benchmarks") or {}
CHAT_BENCH = BENCH.get("chat", {})
LM_EVAL = BENCH.get("lm_eval", {})
# Tasks that run model-written code are planned only when the config allows it; the report lists the others.
LM_TASKS = {
    k: v for k, v in LM_EVAL.get("tasks", {}).items() if not v.get("executes_code") or LM_EVAL.get("allow_code_execution")
}
LM_TASKS_HELD_BACK = sorted(set(LM_EVAL.get("tasks", {})) - set(LM_TASKS))
# Native file names of the made-up world's benchmarks (scripts/synthesize_benchmarks.py writes them).
# Arena-Hard is written in both arena-hard-auto layouts; the configured one ({layout}) is read.
SYNTHETIC_BENCH_FILES = {
    "alpaca_eval": {"questions": "alpaca_eval/alpaca_eval.json"},
    "mt_bench": {"questions": "mt_bench/question.jsonl", "references": "mt_bench/reference_answer/world_reference.jsonl"},
    "arena_hard": {
        "questions": "arena_hard/{layout}/question.jsonl",
        "baseline": "arena_hard/{layout}/model_answer/world_reference.jsonl",
    },
}


def benchmark_models():
    return BENCH.get("models") or evaluated_models()


def benchmark_names():
    return list(CHAT_BENCH) + list(LM_TASKS)


def benchmark_outputs():
    return expand("results/eval/{model}/{benchmark}.json", model=benchmark_models(), benchmark=benchmark_names())


def model_dir(name):
    """Folder of a model named under `models` (base, judge): built, prefetched or local."""
    spec = config["models"][name]
    if name == "base":
        return base_model_dir()
    return spec["path"] if spec["source"] == "local" else prefetched_model_dir(name)


def benchmark_data_dir(name, spec):
    """Folder holding a benchmark's files: the made-up world's, a prefetched Hub snapshot or URL download, or local."""
    if spec["source"] == "synthetic":
        return "resources/benchmarks/synthetic"
    if spec["source"] == "local":
        return spec["path"]
    return f"resources/benchmarks/{spec['source']}/{name}"


def chat_file(name, role):
    """Path of a chat benchmark's questions / baseline / references / gamed file ('' when it has none)."""
    spec = CHAT_BENCH[name]
    rel = SYNTHETIC_BENCH_FILES[name].get(role) if spec["source"] == "synthetic" else spec.get(role)
    if rel and spec["source"] == "synthetic" and name == "arena_hard":
        rel = rel.format(layout=spec["layout"])
    return f"{benchmark_data_dir(name, spec)}/{rel}" if rel else ""


def chat_option(name, role, flag):
    """`--flag path` for a chat benchmark's optional file, '' when it has none."""
    path = chat_file(name, role)
    return f"--{flag} {path}" if path else ""


def chat_answers(model, name):
    return f"results/eval/{model}/{name}/answers.{'json' if name == 'alpaca_eval' else 'jsonl'}"


def lm_eval_task_specs(model):
    """The JSON run_lm_eval.py reads: one entry per planned task with its data and output paths."""
    specs = []
    for name, spec in LM_TASKS.items():
        entry = {"name": name, "num_fewshot": spec["num_fewshot"], "output": f"results/eval/{model}/{name}.json",
                 "samples": f"results/eval/{model}/{name}/samples.jsonl"}
        if spec.get("metric"):
            entry["metric"] = spec["metric"]
        if spec["source"] == "hub":
            entry.update(task=spec.get("task", name), snapshot=f"resources/benchmarks/hub/lm_eval_{name}")
        elif spec["source"] == "synthetic":
            template = spec.get("template", name)
            entry.update(template=template, files={"test": f"resources/benchmarks/synthetic/lm_eval/{template}/test.jsonl"})
        else:
            entry.update(template=spec["template"], files=spec["files"])
        specs.append(entry)
    return specs


def lm_eval_data(wildcards):
    """Inputs of the lm-eval job: the folders / files its tasks read."""
    out = set()
    for name, spec in LM_TASKS.items():
        if spec["source"] == "hub":
            out.add(f"resources/benchmarks/hub/lm_eval_{name}")
        elif spec["source"] == "synthetic":
            out.add("resources/benchmarks/synthetic")
        else:
            out.update(spec["files"].values())
    return sorted(out)


def hub_benchmarks():
    """Hub snapshots to prefetch: chat benchmarks by name, lm-eval tasks as lm_eval_<task>."""
    out = {k: {"repo": v["repo"], "revision": v["revision"], "files": v["files"]} for k, v in CHAT_BENCH.items() if v["source"] == "hub"}
    out.update({f"lm_eval_{k}": {"repo": v["repo"], "revision": v["revision"], "files": ["*"]} for k, v in LM_TASKS.items() if v["source"] == "hub"})
    return out


def produced_by_workflow(path):
    """Whether some rule of this workflow makes `path` (lets the report use another stage's output only where that
    stage exists in this workflow, e.g. the mixture statistics of Table 5)."""
    return any(r.is_producer(path) for r in workflow.rules)
