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
from online_rlhf.provenance.host import write_snapshot as write_host_snapshot

try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(str(err)) from None

ITERATIONS = list(range(1, config["iterations"] + 1))
# The critical path (SFT -> reward model -> T x (generate, score, pairs, DPO)) runs before side studies and
# benchmarks whenever both are ready: with few cores, a benchmark job picked first delays every later iteration.
LOOP_PRIORITY = 10
# Validation of the last iterate ends the critical path (selection -> report), so it goes before the evaluation jobs
# of that iterate; earlier iterates' validation must not delay the loop.
SELECTION_PRIORITY = 5
# `use rule` copies the loop rule's priority: the rules derived from generate, score and train_dpo for evaluation,
# the length-bias study and the offline baseline set this one (measured at b9ea4de: with their copied priority, two of
# them took the cores SFT freed and the reward model started 6 s late).
SIDE_PRIORITY = 0
DATASETS = config["datasets"]
GEN_SHARDS = shard_names(config["online"]["generation"]["shards"])
SCORE_SHARDS = shard_names(config["online"]["scoring"]["shards"])
RM = config["reward_model"]["name"]
SELECTION = config["selection"]
# Validation prompts are reserved from the pool before the iterations' slices; 0 when no selection is configured.
VALIDATION_PROMPTS = SELECTION["validation_prompts"] if SELECTION else 0


# Snakemake rewrites the paths of inputs, outputs and logs when this workflow runs as a module (Experiments.smk: one
# module per experiment, its results under results/experiments/<name>/), not paths inside params (task JSON,
# --flag strings); those go through the module's own path modifier here. Outside a module it changes nothing.
_PATH_MODIFIER = workflow.modifier.path_modifier


def module_path(path):
    return str(_PATH_MODIFIER.modify(path)) if path else path


def names_regex(names):
    return "|".join(sorted(names)) or "^$"


def compute(rule_name, key):
    """Resources of one rule: compute.rules.<name> overrides compute.default (whose defaults are in the schema)."""
    overrides = config["compute"]["rules"]
    return {**config["compute"]["default"], **(overrides[rule_name] if rule_name in overrides else {})}[key]


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
            config[section]["accelerate_config"],
            compute(rule_name, "gpu"),
            compute(rule_name, "nodes"),
            rule_name,
            config[section]["precision"],
            compute(rule_name, "processes"),
        )
    except ValueError as err:
        raise WorkflowError(str(err)) from None


def rule_resources(rule_name, gpu=True):
    """resources of a one-node job from compute (memory, minutes, GPUs; gpu=False: a CPU-only step)."""
    return {
        "mem_mb": compute(rule_name, "mem_mb"),
        "runtime": compute(rule_name, "runtime"),
        "gpu": compute(rule_name, "gpu") if gpu else 0,
    }


def training_resources(rule_name):
    """resources of a training job: memory, minutes, nodes, and `gpu`, or per-node GRES and one task per node for a
    multi-node job."""
    return {
        "mem_mb": compute(rule_name, "mem_mb"),
        "runtime": compute(rule_name, "runtime"),
        **gpu_resources(compute(rule_name, "gpu"), compute(rule_name, "nodes")),
        "nodes": compute(rule_name, "nodes"),
    }


def generation_python():
    """Interpreter of the generation rules: online.generation.python (schema default `python`); a relative path is
    the workflow folder's, e.g. .venv-vllm/bin/python that `make vllm` builds (docs/vllm.md)."""
    python = GEN["python"]
    if "/" in python and not Path(python).is_absolute():
        python = str(Path(workflow.basedir) / python)
    return python


def generation_engine():
    """The generation rules' context and vLLM engine options (online.generation); absent keys are left out, so the
    backend's own default applies."""
    gen = config["online"]["generation"]
    flags = {
        "max_model_len": "--max-model-len",
        "gpu_memory_utilization": "--gpu-memory-utilization",
        "cpu_kvcache_space": "--cpu-kvcache-space",
        "cpu_threads_bind": "--cpu-threads-bind",
    }
    options = [f"{flag} {shlex.quote(str(gen[key]))}" for key, flag in flags.items() if gen[key] is not None]
    return " ".join(options + (["--enforce-eager"] if gen["enforce_eager"] else []))


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
    return str(folder / spec["file"]) if spec["file"] else str(folder)


def raw_dataset(dataset):
    spec = DATASETS[dataset]
    return spec["path"] if spec["source"] == "local" else f"resources/data/{spec['source']}/{dataset}"


def raw_files_glob(dataset):
    spec = DATASETS[dataset]
    # synthetic datasets are one folder of JSON lines the workflow wrote itself
    return spec["files"] if spec["source"] != "synthetic" else "**/*"


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
PM = config["preference_model"]
JUDGES = {RM: "reward_model", **({PM["name"]: "preference_model"} if PM else {})}


def judge_dir(name):
    return f"results/rm/{name}/model"


def judge_of_kind(kind):
    """The model folder of the configured judge kind (reward_model / preference_model); none for the oracle."""
    return next((judge_dir(n) for n, k in JUDGES.items() if k == kind), [])


def selection_candidates():
    return candidate_models(config["iterations"], SELECTION["candidates"], config["offline_dpo"]["enabled"])


def run_outputs():
    """What a run delivers beside the report (the manifest covers these too)."""
    outputs = ["results/final/policy"] if SELECTION else []
    outputs += ["results/rm/judges.json"]
    return outputs + [f"results/data/stats/{mixture}.json" for mixture in config["mixtures"]]


# The online judge's accuracy on the policy's own samples needs ground truth: the made-up world's oracle. Loop samples of
# iteration t come from the policy DPO starts from (pi_{t-1}); the selection's samples, when the same kind of judge
# scored them, add every candidate (so the last iterate too).
LOOP_JUDGE = config["online"]["scoring"]["judge"]
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


# ---- "sample n responses from a policy" and "score responses with a judge": one definition each --------------
# Every job that samples a policy (online samples, held-out evaluation, validation, benchmark answers, the
# length-bias study) takes its decoding arguments from sampler_params();
# every job that runs a judge on responses (online scoring, held-out evaluation, validation, the length-bias study,
# the judges' own evaluations) takes its settings from judge_params(). Backend, dtype, stop tokens, a judge's dtype,
# max length and batch size are computed here and nowhere else (tests/test_dag.py checks the paper's DAG).
GEN = config["online"]["generation"]
SCORING = config["online"]["scoring"]


def precision_dtype(precision):
    """torch dtype name of a training section's precision."""
    return "bfloat16" if precision == "bf16" else "float32"


def sampler_params(sampling, max_new_tokens, batch_size, seed):
    """params of a job that samples a policy: `sampling` (temperature groups) and `decoding`, the rest of its command
    line. Every policy (SFT, offline DPO, the iterates) is sampled in the precision the policies are trained in
    (dpo.precision), with the online backend, tensor-parallel size and stop tokens. seed: a number or a function of
    the wildcards."""
    shared = (
        f"--backend {GEN['backend']} --tensor-parallel-size {GEN['tensor_parallel_size']}"
        f" --stop-token-ids {shlex.quote(as_json(GEN['stop_token_ids']))} --dtype {precision_dtype(config['dpo']['precision'])}"
    )
    engine = generation_engine()
    return {
        "python": generation_python(),
        "sampling": as_json(sampling),
        "decoding": lambda wc: (
            f"--max-new-tokens {max_new_tokens} --batch-size {batch_size} {shared} --seed {seed(wc) if callable(seed) else seed}"
            + (f" {engine}" if engine else "")
        ),
    }


def judge_section(kind):
    """The config section of a judge kind's model (the oracle has none; it reads the BT model's length limit)."""
    return "preference_model" if kind == "preference_model" else "reward_model"


def judge_max_length(kind):
    """Tokens a judge reads: the BT model's conversation, or the pairwise model's whole comparison."""
    return config[judge_section(kind)]["max_length"]


def judge_dtype(kind):
    """A judge runs in the precision its model was trained in, in every job that runs it."""
    return precision_dtype(config[judge_section(kind)]["precision"])


def judge_params(kind_of, batch_size=SCORING["batch_size"]):
    """params of a job that runs a judge; kind_of(wildcards) is its kind (reward_model, preference_model, oracle)."""
    return {
        "judge": lambda wc: kind_of(wc),
        "rm": lambda wc, input: f" --rm {input.rm}" if input.rm else "",
        "batch_size": batch_size,
        "max_length": SCORING["max_length"],
        "judge_max_length": lambda wc: judge_max_length(kind_of(wc)),
        "dtype": lambda wc: judge_dtype(kind_of(wc)),
    }


def judge_resources(rule_name, kind_of):
    """resources of a judging job: no GPU for the oracle."""
    return {**rule_resources(rule_name), "gpu": lambda wc: compute(rule_name, "gpu") if kind_of(wc) != "oracle" else 0}


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
    """Algorithm 2's DPO data of iteration t: D_t (current), D_1:t (history), or D_off + D_1:t (offline_history,
    the offline DPO set beside the online pairs)."""
    t = int(wildcards.iteration)
    data = config["online"]["data"]
    first = t if data == "current" else 1
    offline = [clean_table(config["offline_dpo"]["dataset"])] if data == "offline_history" else []
    return offline + [f"results/iter{s}/pairs.parquet" for s in range(first, t + 1)]


def responses_per_prompt(sampling):
    return sum(g["n"] for g in sampling)


def normalize_params(wc):
    spec = DATASETS[wc.dataset]
    if KIND[spec["format"]] != wc.kind:
        raise ValueError(f"dataset {wc.dataset} has format {spec['format']}: its table is {clean_table(wc.dataset)}")
    args = [f"--name {wc.dataset}", f"--format {spec['format']}", f"--files '{raw_files_glob(wc.dataset)}'"]
    if spec["field"]:
        args.append(f"--field {spec['field']}")
    if spec["options"]:
        args.append(f"--options '{as_json(spec['options'])}'")
    if spec["source"] != "synthetic" and spec["skip_rows"]:
        args.append(f"--skip-rows {spec['skip_rows']}")
    if spec["source"] != "synthetic" and spec["max_rows"]:
        args.append(f"--max-rows {spec['max_rows']}")
    return " ".join(args)


# ---- benchmarks (paper Tables 2/3): leaves results/eval/<model>/<benchmark>.json -----------------------------

BENCH = config["benchmarks"]
CHAT_BENCH = BENCH["chat"] if BENCH else {}
LM_EVAL = BENCH["lm_eval"] if BENCH else None
LM_EVAL_TASKS = LM_EVAL["tasks"] if LM_EVAL else {}
# Tasks that run model-written code are planned only when the config allows it; the report lists the others.
LM_TASKS = {
    k: v
    for k, v in LM_EVAL_TASKS.items()
    if not (v["source"] == "hub" and v["executes_code"]) or LM_EVAL["allow_code_execution"]
}
LM_TASKS_HELD_BACK = sorted(set(LM_EVAL_TASKS) - set(LM_TASKS))
# Native file names of the made-up world's benchmarks (scripts/synthesize_benchmarks.py writes them).
# Arena-Hard is written in both arena-hard-auto layouts; the configured one ({layout}) is read.
SYNTHETIC_BENCH_FILES = {
    "alpaca_eval": {"questions": "alpaca_eval/alpaca_eval.json"},
    "mt_bench": {
        "questions": "mt_bench/question.jsonl",
        "references": "mt_bench/reference_answer/world_reference.jsonl",
    },
    "arena_hard": {
        "questions": "arena_hard/{layout}/question.jsonl",
        "baseline": "arena_hard/{layout}/model_answer/world_reference.jsonl",
    },
}


def benchmark_models():
    return (BENCH and BENCH["models"]) or evaluated_models()


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
    files = SYNTHETIC_BENCH_FILES[name] if spec["source"] == "synthetic" else spec
    rel = files[role] if role in files else None  # e.g. no baseline: only Arena-Hard has one
    if rel and spec["source"] == "synthetic" and name == "arena_hard":
        rel = rel.format(layout=spec["layout"])
    return module_path(f"{benchmark_data_dir(name, spec)}/{rel}") if rel else ""


def chat_option(name, role, flag):
    """`--flag path` for a chat benchmark's optional file, '' when it has none."""
    path = chat_file(name, role)
    return f"--{flag} {path}" if path else ""


def chat_answers(model, name):
    return f"results/eval/{model}/{name}/answers.{'json' if name == 'alpaca_eval' else 'jsonl'}"


def benchmark_answers_arg(wc):
    """generate_eval's --benchmarks: the policy's greedy answers to every chat benchmark (turn by turn for MT-Bench),
    written by the same job as its held-out samples (one process and one model load per policy, not two); empty
    without chat benchmarks."""
    if not CHAT_BENCH:
        return ""
    spec = {
        "model_name": wc.model,
        "max_new_tokens": BENCH["generation"]["max_new_tokens"],
        "batch_size": BENCH["generation"]["batch_size"],
        "jobs": [
            {"benchmark": b, "questions": chat_file(b, "questions"), "output": module_path(chat_answers(wc.model, b))}
            | ({"layout": CHAT_BENCH[b]["layout"]} if b == "arena_hard" else {})
            # sorted: the same benchmarks in another key order of the config are the same job
            for b in sorted(CHAT_BENCH)
        ],
    }
    return f"--benchmarks {shlex.quote(as_json(spec))}"


def lm_eval_task_specs(model):
    """The JSON run_lm_eval.py reads: one entry per planned task with its data and output paths."""
    specs = []
    # sorted: the same tasks in another key order of the config are the same job (no "Params have changed")
    for name, spec in sorted(LM_TASKS.items()):
        entry = {
            "name": name,
            "num_fewshot": spec["num_fewshot"],
            "output": module_path(f"results/eval/{model}/{name}.json"),
            "samples": module_path(f"results/eval/{model}/{name}/samples.jsonl"),
        }
        if spec["metric"]:
            entry["metric"] = spec["metric"]
        if spec["source"] == "hub":
            entry.update(
                task=spec["task"] if "task" in spec else name,
                snapshot=module_path(f"resources/benchmarks/hub/lm_eval_{name}"),
            )
        elif spec["source"] == "synthetic":
            template = spec["template"] if "template" in spec else name
            entry.update(
                template=template,
                files={"test": module_path(f"resources/benchmarks/synthetic/lm_eval/{template}/test.jsonl")},
            )
        else:
            entry.update(template=spec["template"], files={k: module_path(v) for k, v in spec["files"].items()})
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
    out = {
        k: {"repo": v["repo"], "revision": v["revision"], "files": v["files"]}
        for k, v in CHAT_BENCH.items()
        if v["source"] == "hub"
    }
    out.update(
        {
            f"lm_eval_{k}": {"repo": v["repo"], "revision": v["revision"], "files": ["*"]}
            for k, v in LM_TASKS.items()
            if v["source"] == "hub"
        }
    )
    return out


def produced_by_workflow(path):
    """Whether some rule of this workflow makes `path` (lets the report use another stage's output only where that
    stage exists in this workflow, e.g. the mixture statistics of Table 5)."""
    return any(r.is_producer(path) for r in workflow.rules)
