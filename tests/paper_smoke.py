"""The paper-shaped smoke (tests/test_paper_smoke.py): config/paper.yaml itself, with only sizes and what is remote
swapped for local stand-ins, so the paper config's own code paths run end to end on 2 CPU cores.

- `smoke_config(paper)`: the paper config, loaded and copied, with the keys of SIZES set (batch sizes, lengths, row
  counts, iterations, shards, processes) and the few SWAPS that are not sizes (each with its reason). Every other
  setting (sources, repos, revisions, file globs, options, chat template, pad token, stop token ids, precision,
  launcher configs, judge kind and prompts, audit mode, ...) is paper.yaml's, so a change to paper.yaml is what runs.
- `prefetch_jobs(work, configfile)`: what `snakemake prefetch` would download, read from its dry run (repo, revision,
  file globs, URLs, output folder), so the stand-ins land exactly where prefetch would leave them.
- `place_stand_ins(work, jobs)`: writes each stand-in in the native layout of its Hub repo or URL, with the
  PREFETCH.json record prefetch writes: a tiny Llama whose tokenizer has Llama-3's special tokens at Llama-3's ids and
  no pad token (Meta-Llama-3-8B's situation), every dataset and benchmark in its real file names and schema.
- `StandInJudge`: an OpenAI-compatible chat-completions endpoint on 127.0.0.1 for the API judge (it answers with a
  rating, a verdict or label log-probabilities, deterministically from the prompt).
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import random
import shlex
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# ---- the config ---------------------------------------------------------------------------------------------------

# Sizes only: (dotted key, value). Training sections keep their precision, packing, gradient checkpointing, losses,
# schedules and launcher; batch sizes shrink so that 2 processes keep an integer accumulation.
SIZES = {
    "iterations": 2,
    "sft.global_batch_size": 4, "sft.max_length": 256, "sft.max_steps": 2, "sft.logging_steps": 1,
    "reward_model.global_batch_size": 8, "reward_model.per_device_batch_size": 2, "reward_model.max_length": 192,
    "reward_model.max_steps": 2, "reward_model.logging_steps": 1, "reward_model.checkpoint_steps": 1,
    "preference_model.global_batch_size": 4, "preference_model.max_length": 320, "preference_model.max_steps": 2,
    "preference_model.logging_steps": 1,
    "reward_bench.batch_size": 8,
    "length_bias.prompts": 6, "length_bias.samples": 2, "length_bias.max_new_tokens": 32, "length_bias.batch_size": 8,
    "dpo.global_batch_size": 4, "dpo.max_length": 192, "dpo.max_steps": 2, "dpo.logging_steps": 1, "dpo.checkpoint_steps": 1,
    "offline_dpo.global_batch_size": 4, "offline_dpo.max_length": 192, "offline_dpo.max_steps": 2,
    "offline_dpo.logging_steps": 1, "offline_dpo.checkpoint_steps": 1,
    "online.prompts_per_iteration": 8,
    "online.generation.shards": 2, "online.generation.max_new_tokens": 32,
    "online.generation.sampling": [{"temperature": 1.0, "n": 2}, {"temperature": 0.7, "n": 2}],
    "online.scoring.shards": 2, "online.scoring.batch_size": 8, "online.scoring.max_length": 192,
    "selection.validation_prompts": 6, "selection.max_new_tokens": 32, "selection.batch_size": 8,
    "evaluation.max_new_tokens": 32, "evaluation.batch_size": 8,
    "benchmarks.models": ["iter2"],  # every benchmark rule on the last iterate (paper.yaml: every evaluated policy)
    "benchmarks.generation": {"max_new_tokens": 32, "batch_size": 8},
    "benchmarks.lm_eval.batch_size": 8, "benchmarks.lm_eval.limit": 1, "benchmarks.lm_eval.max_gen_toks": 12,
}
# Processes per training job (the rules' `gpu`, which the launcher turns into --num_processes) and threads per job.
PROCESSES = 2
# Not sizes, each for a stated reason (docs/paper_smoke.md lists them).
BF16_ON_CPU = (
    "hardware: transformers refuses bf16 training without a GPU unless use_cpu is set, and under DeepSpeed "
    "(paper.yaml's launcher) use_cpu is not set, so bf16 cannot run here; the launcher, ZeRO stage and batch layout "
    "are paper.yaml's"
)
SWAPS = {
    "online.generation.backend": (
        "transformers",
        ("vLLM is a CUDA stack outside the CPU install (make vllm builds its own venv); the rules, prompts, sampling "
         "groups and stop ids are the same, only the engine differs"),
    ),
    **{f"{section}.precision": ("fp32", BF16_ON_CPU) for section in ("sft", "reward_model", "preference_model", "dpo", "offline_dpo")},
    "benchmarks.judge.base_url": (
        None,
        ("the API judge's endpoint: a local OpenAI-compatible stand-in (StandInJudge) instead of api.openai.com; set "
         "by the test to its port"),
    ),
}


def set_key(cfg: dict, dotted: str, value) -> None:
    """Set an existing section's key; a section paper.yaml lacks is an error (the smoke must not invent stages)."""
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        if p not in node:
            raise KeyError(f"paper config has no section {'.'.join(parents)} (key {dotted})")
        node = node[p]
    node[last] = value


def smoke_config(paper: dict, judge_url: str) -> dict:
    """paper.yaml with SIZES and SWAPS applied; compute resources scaled to PROCESSES processes and 1 thread."""
    cfg = copy.deepcopy(paper)
    for key, value in SIZES.items():
        set_key(cfg, key, copy.deepcopy(value))
    for key, (value, _why) in SWAPS.items():
        set_key(cfg, key, value)
    set_key(cfg, "benchmarks.judge.base_url", judge_url)
    compute = cfg["compute"]
    compute["default"] = {**compute["default"], "threads": 1, "mem_mb": 2000, "runtime": 30}
    for name, spec in compute.get("rules", {}).items():
        # A CPU node (gpu: 0): training rules that run on several GPUs run PROCESSES CPU processes under the same
        # accelerate config (DDP or DeepSpeed over gloo, online_rlhf/train/launch.py).
        sized = {**spec, "threads": 1, "mem_mb": 2000, "runtime": 30, "gpu": 0}
        if spec.get("gpu", 0) > 1 and cfg.get(name.removeprefix("train_"), {}).get("accelerate_config"):
            # The job's threads are shared by its processes (one core each): Snakemake reserves both cores.
            sized.update(processes=PROCESSES, threads=PROCESSES)
        compute["rules"][name] = sized
    return cfg


def write_smoke_config(work: Path, judge_url: str, paper_path: Path = ROOT / "config/paper.yaml") -> Path:
    cfg = smoke_config(yaml.safe_load(paper_path.read_text()), judge_url)
    out = work / "config/paper_smoke.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# Generated by tests/paper_smoke.py from config/paper.yaml (sizes and stand-ins only).\n" + yaml.safe_dump(cfg, sort_keys=False))
    return out


# ---- what prefetch would fetch ------------------------------------------------------------------------------------

def prefetch_jobs(dry_run_output: str) -> list[dict]:
    """The prefetch commands of `snakemake prefetch -n -p` (scripts/prefetch.py and scripts/prefetch_url.py), parsed:
    {script, repo_type, repo, revision, files, urls, output}."""
    jobs = []
    for line in dry_run_output.splitlines():
        line = line.strip().removeprefix("Shell command: ")
        if not line.startswith("python scripts/prefetch"):
            continue
        words = shlex.split(line.split(" > ")[0])
        job = {"script": Path(words[1]).name}
        i = 2
        while i < len(words):
            key = words[i].removeprefix("--").replace("-", "_")
            values = []
            i += 1
            while i < len(words) and not words[i].startswith("--"):
                values.append(words[i])
                i += 1
            job[key] = values if key == "files" else values[0]
        if "urls" in job:
            job["urls"] = json.loads(job["urls"])
        jobs.append(job)
    if not jobs:
        raise AssertionError(f"no prefetch commands in the dry run:\n{dry_run_output[-2000:]}")
    return jobs


# ---- stand-in text ------------------------------------------------------------------------------------------------

TOPICS = ["bread", "rivers", "chess", "tea", "bicycles", "volcanoes", "maps", "owls", "glass", "tides", "paper", "bees"]
VERBS = ["explain", "describe", "summarise", "compare", "list facts about", "give advice on"]


def question(rng: random.Random) -> str:
    return f"Please {rng.choice(VERBS)} {rng.choice(TOPICS)} in one sentence."


def answer(rng: random.Random, good: bool) -> str:
    topic = rng.choice(TOPICS)
    if good:
        return f"{topic.capitalize()} are interesting because they change how people live, and {rng.choice(TOPICS)} do too."
    return rng.choice(["I don't know.", "No.", f"{topic} {topic} {topic}.", "Maybe later."])


def chat(rng: random.Random, turns: int = 1) -> list[dict]:
    out = []
    for _ in range(turns):
        out += [{"role": "user", "content": question(rng)}, {"role": "assistant", "content": answer(rng, True)}]
    return out


HUMAN, ASSISTANT = "\n\nHuman: ", "\n\nAssistant: "


def hh_rows(rng: random.Random, n: int, real: Path | None) -> list[dict]:
    """Anthropic/hh-rlhf transcripts: the real MIT sample's shortest rows when it is there, else made-up ones."""
    if real is not None and real.is_file():
        with gzip.open(real, "rt", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        rows.sort(key=lambda r: len(r["chosen"]) + len(r["rejected"]))
        return [{"chosen": r["chosen"], "rejected": r["rejected"]} for r in rows[:n]]
    out = []
    for _ in range(n):
        q = question(rng)
        out.append({"chosen": f"{HUMAN}{q}{ASSISTANT}{answer(rng, True)}", "rejected": f"{HUMAN}{q}{ASSISTANT}{answer(rng, False)}"})
    return out


def dataset_rows(fmt: str, n: int, seed: int) -> list[dict]:
    """Rows in the native schema of each format's Hub source: the made-up world's writers (online_rlhf/world/datasets.py,
    the same schemas the adapters read), so one definition of each schema serves both worlds."""
    from online_rlhf.world.datasets import synthesise
    from online_rlhf.world.task import WorldSpec

    return synthesise(fmt, WorldSpec(), n, seed)


# ---- the tiny Llama with Llama-3's special tokens -----------------------------------------------------------------

# Meta-Llama-3's special tokens in id order from 128000 (its tokenizer.json): 256 of them, no pad token.
LLAMA3_SPECIAL = (
    ["<|begin_of_text|>", "<|end_of_text|>"]
    + [f"<|reserved_special_token_{i}|>" for i in range(4)]
    + ["<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
    + [f"<|reserved_special_token_{i}|>" for i in range(5, 251)]
)
LLAMA3_FIRST_SPECIAL = 128000
FIRST_UNUSED: list[int] = []  # the trained BPE's size: ids from here to 127999 are fillers
# Llama-3's pre-tokenizer split (tokenizer.json of Meta-Llama-3-8B).
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# 320 positions: the longest max_length in SIZES (the pairwise model's). lm-eval truncates its few-shot contexts (MMLU's
# 5-shot ~900 tokens) to the model's positions, and with Llama-3's 128,256-token vocabulary the log-softmax over
# every position dominates the smoke's lm-eval job: 512 positions made it the run's longest job.
ARCHITECTURE = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
                "max_position_embeddings": 320, "rope_theta": 500000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": False}


def build_llama3_tokenizer(corpus: list[str], merges_vocab: int = 1200):
    """A byte-level BPE trained on `corpus`, filled with unreachable tokens up to 128,000 regular ids, then Llama-3's
    256 special tokens at 128000-128255: the ids paper.yaml's stop_token_ids name are the real ones."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    pre = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
                                   pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    small = Tokenizer(models.BPE())
    small.pre_tokenizer = pre
    small.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=merges_vocab, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                                          show_progress=False))
    spec = json.loads(small.to_str())
    vocab = spec["model"]["vocab"]
    FIRST_UNUSED[:] = [len(vocab)]
    for i in range(len(vocab), LLAMA3_FIRST_SPECIAL):
        vocab[f"<unused_{i}>"] = i  # never produced: no merge leads there
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in spec["model"]["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(LLAMA3_SPECIAL)
    assert tok.token_to_id("<|begin_of_text|>") == 128000 and tok.token_to_id("<|eot_id|>") == 128009
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                                       special_tokens=[("<|begin_of_text|>", 128000)])
    # As Meta-Llama-3-8B (the base model): BOS and EOS, no pad token, no chat template.
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>",
                                   model_max_length=ARCHITECTURE["max_position_embeddings"])


# A random Llama never ends a reply (2 stop ids among 128,256 tokens), and a reply cut at max_new_tokens is never
# chosen (online/pairing.py): the stand-in must stop the way a chat model does. One residual dimension is constant;
# only the stop tokens read it, so their logits sit near the top of the others' spread (std ~3): at temperature 1 a
# reply ends within 32 tokens about 4 times in 5 (13 and 14 of 16 samples at temperature 1.0 and 0.7), greedy decoding
# runs to max_new_tokens.
STOP_LOGITS = {128009: 7.5, 128001: 6.5}  # <|eot_id|>, <|end_of_text|>


def stops_sometimes(model, first_unused: int = LLAMA3_FIRST_SPECIAL) -> None:
    """Also: the filler ids (first_unused .. 127999, which no text tokenizes to) and the special tokens other than
    the stops are never sampled."""
    import torch

    with torch.no_grad():
        emb, head = model.model.embed_tokens.weight, model.lm_head.weight
        emb.normal_(0.0, 1.0)
        emb[:, 0] = 1.0
        head.normal_(0.0, 0.53)
        head[:, 0] = 0.0
        for token, logit in STOP_LOGITS.items():
            head[token] = 0.0
            head[token, 0] = logit
        never = [i for i in range(first_unused, len(head)) if i not in STOP_LOGITS]
        head[never] = 0.0
        head[never, 0] = -30.0


def write_base_model(folder: Path, corpus: list[str], seed: int = 0) -> None:
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    tok = build_llama3_tokenizer(corpus)
    assert tok.pad_token is None and len(tok) == 128256
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), bos_token_id=128000, eos_token_id=128001, **ARCHITECTURE)
    model = LlamaForCausalLM(config)
    stops_sometimes(model, tok.convert_tokens_to_ids(f"<unused_{FIRST_UNUSED[0]}>") if FIRST_UNUSED else LLAMA3_FIRST_SPECIAL)
    model.generation_config = GenerationConfig(bos_token_id=128000, eos_token_id=128001)
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)


# ---- placing stand-ins where prefetch would leave them ------------------------------------------------------------

def stand_in_commit(folder: Path) -> str:
    """A commit-like digest of the stand-in's files (PREFETCH.json records the commit a revision resolved to)."""
    h = hashlib.sha1()
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "PREFETCH.json":
            h.update(str(p.relative_to(folder)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def record_prefetch(folder: Path, job: dict, patterns: list[str]) -> None:
    record = {"repo": job["repo"], "repo_type": job["repo_type"], "revision": job["revision"], "commit": stand_in_commit(folder),
              "patterns": patterns, "stand_in": "tests/paper_smoke.py"}
    (folder / "PREFETCH.json").write_text(json.dumps(record, indent=1, sort_keys=True))


def write_rows(path: Path, rows: list[dict]) -> None:
    """One native file, by its name: .parquet, .jsonl(.gz), .json (a JSON array, or JSON lines as SHP's train.json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    if name.endswith(".parquet"):
        import polars as pl

        pl.DataFrame(rows, infer_schema_length=None).write_parquet(path)
    elif name.endswith(".jsonl.gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
    elif name.endswith(".jsonl") or name == "train.json" and "shp" in str(path):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif name.endswith(".json"):
        path.write_text(json.dumps(rows, indent=1))
    else:
        raise ValueError(f"no writer for {path}")


# Native file names of each Hub dataset (relative to the snapshot root), split -> files; rows per file below.
DATASET_FILES = {
    "RLHFlow/RLHFlow-SFT-Dataset-ver2": {"train": ["data/train-00000-of-00001.parquet"]},
    "stanfordnlp/SHP": {"train": ["askscience/train.json", "askhistorians/train.json"], "test": ["askscience/test.json"]},
    "openbmb/UltraFeedback": {"train": ["evol_instruct.jsonl", "sharegpt.jsonl"]},
    "nvidia/HelpSteer": {"train": ["train.jsonl.gz"], "validation": ["validation.jsonl.gz"]},
    "PKU-Alignment/PKU-SafeRLHF-30K": {"train": ["default/train/0000.parquet"], "test": ["default/test/0000.parquet"]},
    "openbmb/UltraInteract_pair": {"train": ["0000.parquet"]},
    "coseal/CodeUltraFeedback": {"train": ["data/train-00000-of-00001.parquet"]},
    "argilla/distilabel-math-preference-dpo": {"train": ["data/train-00000-of-00001.parquet"]},
    "argilla/distilabel-intel-orca-dpo-pairs": {"train": ["data/train-00000-of-00001.parquet"]},
    "argilla/distilabel-capybara-dpo-7k-binarized": {"train": ["data/train-00000-of-00001.parquet"]},
    "openai/summarize_from_feedback": {"train": ["comparisons/train/0000.parquet"], "validation": ["comparisons/validation/0000.parquet"],
                                       "axis": ["axis/test/0000.parquet"]},
    "berkeley-nest/Nectar": {"train": ["data/rlhf-00000-of-00001.parquet"]},
    "RLHFlow/prompt-collection-v0.1": {"train": ["data/train-00000-of-00001.parquet"]},
}
HH_FILES = ["harmless-base", "helpful-base", "helpful-online"]
ROWS = 24  # rows per stand-in dataset file


def place_dataset(folder: Path, job: dict, fmt: str, field: str | None, rng: random.Random, shared: Path | None) -> None:
    repo, globs = job["repo"], job.get("files") or ["*"]
    if repo == "Anthropic/hh-rlhf":
        # Both splits of every subset (the config's globs pick train or test), plus red-team-attempts, whose other
        # schema the paper's glob leaves out.
        real = shared / "hh-rlhf/harmless-base-test.jsonl.gz" if shared else None
        rows = hh_rows(rng, ROWS * 2 * len(HH_FILES), real)
        for k, sub in enumerate(HH_FILES):
            write_rows(folder / sub / "train.jsonl.gz", rows[2 * k * ROWS:(2 * k + 1) * ROWS])
            write_rows(folder / sub / "test.jsonl.gz", rows[(2 * k + 1) * ROWS:(2 * k + 2) * ROWS])
        write_rows(folder / "red-team-attempts/red_team_attempts.jsonl.gz", [{"transcript": "x", "rating": 1}])
    elif repo == "tatsu-lab/alpaca_eval":
        place_alpaca_eval(folder, rng)
    else:
        files = DATASET_FILES[repo]
        for split, names in files.items():
            for name in names:
                rows = dataset_rows(fmt, ROWS if split == "train" else 4, rng.randrange(1 << 30))
                if fmt == "prompts" and field and field != "context_messages":
                    rows = [{field: r["context_messages"][0]["content"]} for r in rows]
                write_rows(folder / name, rows)
    record_prefetch(folder, job, globs)
    from online_rlhf.core.records import find_files

    for g in globs:  # what normalize_dataset will read: fails here, naming the repo, if no stand-in file matches
        find_files(folder, g)


def place_alpaca_eval(folder: Path, rng: random.Random, n: int = 8) -> None:
    """tatsu-lab/alpaca_eval: the eval set and GPT-4-turbo's reference outputs (JSON arrays of {instruction, output,
    generator, dataset}) and df_gamed.csv (annotations of gamed baselines with each instruction's difficulty)."""
    rows = [{"dataset": "helpful_base", "instruction": question(rng) + f" ({i})", "output": answer(rng, True), "generator": "text_davinci_003"} for i in range(n)]
    write_rows(folder / "alpaca_eval.json", rows)
    write_rows(folder / "alpaca_eval_gpt4_baseline.json", [{**r, "generator": "gpt4_1106_preview"} for r in rows])
    lines = ["model,index,preference,std_delta_len,instruction_difficulty,not_gamed_baseline"]
    for m, model in enumerate(["gpt4_verbose", "gpt4_concise"]):
        for i in range(n):
            lines.append(f"{model},{i},{(i + m) % 3 / 2:.2f},{(-1) ** m * 0.5 + i / 10:.2f},{(i % 4 - 1.5) / 2:.3f},False")
    (folder / "df_gamed.csv").write_text("\n".join(lines) + "\n")


def place_reward_bench(folder: Path, job: dict, rng: random.Random) -> None:
    """allenai/reward-bench: data/filtered-*.parquet (prompt text, chosen, rejected, chosen_model, rejected_model,
    subset, id) and data/raw-*.parquet, which the paper's glob leaves out."""
    from online_rlhf.judges.reward_bench import REWARDBENCH_SECTIONS

    rows = []
    for subset in [s for subsets in REWARDBENCH_SECTIONS.values() for s in subsets]:
        for _ in range(2):
            rows.append({"prompt": question(rng), "chosen": answer(rng, True), "chosen_model": "gpt-4", "rejected": answer(rng, False),
                         "rejected_model": "llama", "subset": subset, "id": len(rows)})
    write_rows(folder / "data/filtered-00000-of-00001.parquet", rows)
    write_rows(folder / "data/raw-00000-of-00001.parquet", rows[:3])
    record_prefetch(folder, job, job["files"])


def mmlu_subjects() -> list[str]:
    import lm_eval

    folder = Path(lm_eval.__file__).parent / "tasks/mmlu/default"
    return sorted(yaml.safe_load(p.read_text())["dataset_name"] for p in folder.glob("mmlu_*.yaml"))


def dataset_card(configs: dict[str, dict[str, str]]) -> str:
    """README.md front matter as the Hub writes it: the configs a local load_dataset(path, name) resolves."""
    entries = [{"config_name": name, "data_files": [{"split": s, "path": p} for s, p in splits.items()]} for name, splits in configs.items()]
    return "---\n" + yaml.safe_dump({"configs": entries}, sort_keys=False) + "---\n"


def place_lm_eval(folder: Path, job: dict, task: str, rng: random.Random, shared: Path | None) -> None:
    """Snapshots of the lm-eval tasks' Hub datasets in their parquet layout with the dataset card's configs."""
    configs = {}

    def split_file(config: str, split: str, rows: list[dict]) -> None:
        rel = f"{config}/{split}-00000-of-00001.parquet"
        write_rows(folder / rel, rows)
        configs.setdefault(config, {})[split] = rel

    if task == "gsm8k":
        real = shared / "gsm8k/test.jsonl" if shared else None
        if real is not None and real.is_file():
            rows = [json.loads(line) for line in real.read_text().splitlines()[:24]]
        else:
            rows = [{"question": f"Tom has {a} apples and buys {b}. How many?", "answer": f"{a}+{b}=<<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"}
                    for a, b in ((rng.randint(1, 9), rng.randint(1, 9)) for _ in range(24))]
        split_file("main", "train", rows[:12])
        split_file("main", "test", rows[12:])
    elif task == "mmlu":
        for subject in mmlu_subjects():
            for split, n in (("dev", 5), ("validation", 1), ("test", 2)):
                split_file(subject, split, [{"question": question(rng), "subject": subject, "choices": [answer(rng, k == 0) for k in range(4)],
                                             "answer": rng.randrange(4)} for _ in range(n)])
    elif task == "truthfulqa_mc2":
        rows = [{"question": question(rng), "mc1_targets": {"choices": [answer(rng, True), answer(rng, False)], "labels": [1, 0]},
                 "mc2_targets": {"choices": [answer(rng, True), answer(rng, True), answer(rng, False)], "labels": [1, 1, 0]}} for _ in range(4)]
        split_file("multiple_choice", "validation", rows)
    elif task == "arc_challenge":
        for split, n in (("train", 26), ("validation", 2), ("test", 4)):
            split_file("ARC-Challenge", split, [{"id": f"arc{split}{i}", "question": question(rng),
                                                 "choices": {"text": [answer(rng, k == 0) for k in range(4)], "label": ["A", "B", "C", "D"]},
                                                 "answerKey": "A"} for i in range(n)])
    else:
        raise ValueError(f"no stand-in snapshot for lm-eval task {task!r}")
    (folder / "README.md").write_text(dataset_card(configs))
    record_prefetch(folder, job, job.get("files") or ["*"])


def fastchat_answer(qid, model: str, turns: list[str], arena: bool = False) -> dict:
    """FastChat's model_answer / reference_answer row (turns are strings), or arena-hard-auto's 2024 answer (turns
    are {content, token_len})."""
    return {"question_id": qid, "answer_id": f"ans-{qid}", "model_id": model, "tstamp": 0.0,
            "choices": [{"index": 0, "turns": [{"content": t, "token_len": len(t.split())} for t in turns] if arena else turns}]}


def place_url_benchmark(folder: Path, job: dict, spec: dict, rng: random.Random) -> None:
    """FastChat's MT-Bench questions and GPT-4 reference answers, arena-hard-auto's questions and GPT-4-0314 baseline
    answers in the layout `spec` names (2024: question_id/turns, answers with choices; 2025: uid/prompt, answers with
    messages), with the {file: {url, sha256, bytes}} record scripts/prefetch_url.py writes."""
    cats = ["writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities"]
    mt = [{"question_id": 81 + i, "category": c, "turns": [question(rng), "Now say it in fewer words."]} for i, c in enumerate(cats)]
    arena = [(f"q{i:03d}", question(rng), answer(rng, True)) for i in range(6)]
    layout = spec.get("layout", "2024")
    record = {}
    for name, url in sorted(job["urls"].items()):
        if name == spec.get("questions") and "mt_bench" in url:
            rows = mt
        elif name == spec.get("references"):
            rows = [fastchat_answer(q["question_id"], "gpt-4", [answer(rng, True), answer(rng, True)]) for q in mt if q["category"] in ("reasoning", "math", "coding")]
        elif name == spec.get("questions"):
            rows = ([{"question_id": u, "category": "arena-hard-v0.1", "cluster": "misc", "turns": [{"content": q}]} for u, q, _ in arena] if layout == "2024"
                    else [{"uid": u, "category": "arena-hard-v0.1", "subcategory": "misc", "prompt": q} for u, q, _ in arena])
        elif name == spec.get("baseline"):
            rows = ([fastchat_answer(u, "gpt-4-0314", [a], arena=True) for u, _, a in arena] if layout == "2024"
                    else [{"uid": u, "ans_id": f"ans-{u}", "model": "gpt-4-0314",
                           "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": {"answer": a}}]} for u, q, a in arena])
        else:
            raise ValueError(f"no stand-in for {name} ({url})")
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        path.write_bytes(data)
        record[name] = {"url": url, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "stand_in": "tests/paper_smoke.py"}
    (folder / "PREFETCH.json").write_text(json.dumps(record, indent=1, sort_keys=True))


def corpus_for_tokenizer(work: Path) -> list[str]:
    """Text of every stand-in file (for the stand-in BPE), plus the chat template's words."""
    texts = ["system user assistant\n\n", "Human: Assistant:", "[[1]] [[10]] [[A>B]] [[B>A]] A>>B", "#### 0 1 2 3 4 5 6 7 8 9"]
    for p in sorted(work.rglob("*")):
        if p.is_file() and p.suffix in (".json", ".jsonl", ".gz", ".parquet", ".csv"):
            if p.name.endswith(".parquet"):
                import polars as pl

                texts.append(json.dumps(pl.read_parquet(p).to_dicts(), default=str))
            elif p.name.endswith(".gz"):
                with gzip.open(p, "rt") as fh:
                    texts.append(fh.read())
            else:
                texts.append(p.read_text())
    return texts


def place_stand_ins(work: Path, config: dict, jobs: list[dict], shared: Path | None, seed: int = 0) -> list[str]:
    """Write every prefetch job's stand-in under `work`; the base model last (its BPE is trained on all the text)."""
    rng = random.Random(seed)
    bench_tasks = {f"lm_eval_{k}": k for k in config.get("benchmarks", {}).get("lm_eval", {}).get("tasks", {})}
    models, placed = [], []
    for job in jobs:
        folder = work / job["output"]
        folder.mkdir(parents=True, exist_ok=True)
        name = folder.name
        if job["script"] == "prefetch_url.py":
            place_url_benchmark(folder, job, config["benchmarks"]["chat"][name], rng)
        elif job["repo_type"] == "model":
            models.append((folder, job))
            continue
        elif folder.parent.name == "hub" and folder.parent.parent.name == "data":
            spec = config["datasets"][name]
            place_dataset(folder, job, spec["format"], spec.get("field"), rng, shared)
        elif name == "reward_bench":
            place_reward_bench(folder, job, rng)
        elif name in bench_tasks:
            place_lm_eval(folder, job, bench_tasks[name], rng, shared)
        elif name in config.get("benchmarks", {}).get("chat", {}):
            if job["repo"] != "tatsu-lab/alpaca_eval":
                raise ValueError(f"no stand-in for chat benchmark repo {job['repo']}")
            place_alpaca_eval(folder, rng)
            record_prefetch(folder, job, job["files"])
        else:
            raise ValueError(f"no stand-in for prefetch output {job['output']} ({job.get('repo')})")
        placed.append(job["output"])
    corpus = corpus_for_tokenizer(work / "resources")
    for folder, job in models:
        if job["repo"] != "meta-llama/Meta-Llama-3-8B":
            raise ValueError(f"no stand-in for model {job['repo']}")
        write_base_model(folder, corpus, seed)
        record_prefetch(folder, job, ["*.json", "*.safetensors", "tokenizer*"])
        placed.append(job["output"])
    return placed


# ---- the API judge ------------------------------------------------------------------------------------------------

def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


class _JudgeHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet: the test reads the request log instead
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        seen = {"path": self.path, "auth": self.headers.get("Authorization"), "body": body}
        with self.server.lock, open(self.server.log_path, "a") as fh:
            fh.write(json.dumps(seen) + "\n")
        if not self.path.endswith("/chat/completions"):
            self.send_error(404)
            return
        prompt = json.dumps(body["messages"])
        h = _digest(prompt)
        if body.get("logprobs"):
            # AlpacaEval's weighted judge reads P("m") and P("M") of the first token.
            pm = 0.2 + 0.6 * (h % 100) / 100
            top = [{"token": "m", "logprob": _log(pm), "bytes": None}, {"token": "M", "logprob": _log(1 - pm), "bytes": None}]
            content = "m" if pm > 0.5 else "M"
            logprobs = {"content": [{"token": content, "logprob": top[0 if content == "m" else 1]["logprob"], "bytes": None, "top_logprobs": top}]}
        else:
            logprobs = None
            if "[[A>>B]]" in prompt:
                content = f"My own answer first. My final verdict is: [[{['A>>B', 'A>B', 'A=B', 'B>A', 'B>>A'][h % 5]}]]"
            else:
                content = f"The answer is relevant. Rating: [[{1 + h % 10}]]"
        reply = {"id": f"chatcmpl-{h}", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "logprobs": logprobs, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 8, "total_tokens": len(prompt) // 4 + 8}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _log(p: float) -> float:
    import math

    return math.log(p)


class StandInJudge:
    """OpenAI-compatible /v1/chat/completions on 127.0.0.1 (a free port, or `port`), in a thread of this process;
    every request (path, Authorization header, JSON body) is appended to `log_path` as a JSON line."""

    def __init__(self, log_path: str | Path, port: int = 0):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), _JudgeHandler)
        self.server.log_path = Path(log_path)
        self.server.lock = threading.Lock()
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def judge_requests(log_path: str | Path) -> list[dict]:
    path = Path(log_path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []




# ---- putting it together ------------------------------------------------------------------------------------------

def snakemake_env(judge_key_env: str = "OPENAI_API_KEY") -> dict:
    """Environment of the smoke's snakemake: offline as a compute node, DeepSpeed on its CPU accelerator, a dummy key
    for the stand-in judge (the real key is never needed: the endpoint is local)."""
    return {"HF_HUB_OFFLINE": "1", "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1", judge_key_env: "stand-in-key", "TOKENIZERS_PARALLELISM": "false"}


def prepare(work: Path, judge_url: str, shared: Path | None, snakemake) -> Path:
    """A copy of the workflow in `work` with config/paper_smoke.yaml and every prefetch output stood in for.
    `snakemake(*args, cwd=...)` runs snakemake (tests/test_dag.py's helper)."""
    from online_rlhf.provenance.manifest import copy_workflow

    copy_workflow(ROOT, work)
    configfile = write_smoke_config(work, judge_url)
    plan = snakemake("prefetch", "-n", "-p", "--configfile", str(configfile.relative_to(work)), cwd=work)
    jobs = prefetch_jobs(plan.stdout + plan.stderr)
    place_stand_ins(work, yaml.safe_load(configfile.read_text()), jobs, shared)
    return configfile


if __name__ == "__main__":  # python tests/paper_smoke.py WORKDIR: the same folder by hand, to run snakemake in it
    import os
    import subprocess

    def _snakemake(*args, cwd):
        env = {**os.environ, **snakemake_env()}
        exe = str(Path(sys.executable).with_name("snakemake"))
        proc = subprocess.run([exe, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(proc.stdout[-3000:] + proc.stderr[-3000:])
        return proc

    out = Path(sys.argv[1])
    port = sys.argv[2] if len(sys.argv) > 2 else "8765"
    shared_dir = Path(os.environ.get("ONLINE_RLHF_SHARED_DATA", ROOT.parent / "shared/data"))
    print(prepare(out, f"http://127.0.0.1:{port}/v1", shared_dir if shared_dir.exists() else None, _snakemake))
