"""Experiments side by side: each experiment is a named overlay of a base config, loaded as one Snakemake module of
the workflow. Its outputs live under results/experiments/<name>/; the stages two experiments share (identical config
for everything the stage and its upstream read) live once under results/experiments/_shared/<stage>-<fingerprint>/,
built by the rules of the first experiment with that fingerprint (the owner) and excluded from the others'.

Pure functions only; Experiments.smk turns the plan into `module` / `use rule` statements."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = "results/experiments"
SHARED = f"{ROOT}/_shared"
# An experiment's rules are named <experiment>__<rule>: names have no double underscore, so the first one splits.
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*$")
SEP = "__"

# Config keys a stage does NOT read, as dotted paths. A stage's fingerprint hashes the config without them, so it
# covers what the stage and its upstream read. The lists are negative on purpose: a key someone adds later is part
# of every fingerprint (it can only split a stage that could have been shared, never share one that differs).
# Each stage ignores a subset of what its upstream ignores, so an upstream difference always reaches downstream.
_LOOP = ["run_name", "iterations", "dpo", "online", "selection", "report"]
_ONLINE_NOT_SCORING = [f"online.{k}" for k in ("prompt_pool", "prompts_per_iteration", "reference", "init", "data",
                                               "pair_rule", "length_penalty", "generation")]
IGNORED: dict[str, list[str]] = {
    # base model, raw and clean datasets, mixtures, the reward-bench table, the made-up world's benchmark files
    "data": _LOOP + ["sft", "reward_model", "preference_model", "length_bias", "offline_dpo", "evaluation"],
    "sft": _LOOP + ["reward_model", "preference_model", "length_bias", "offline_dpo", "evaluation"],
    # every learned judge and the judge studies; the RM's evaluation reads online.scoring's batch and length
    # settings, not which judge the loop uses
    "rm": [k for k in _LOOP if k != "online"] + _ONLINE_NOT_SCORING + ["online.scoring.judge", "offline_dpo"],
    "offline_dpo": _LOOP + ["reward_model", "preference_model", "length_bias", "evaluation"],
}
# The path prefixes each shared stage's rules write (the workflow's own relative paths).
STAGE_PREFIXES: dict[str, list[str]] = {
    "data": ["resources/", "results/data/"],
    "sft": ["results/sft/"],
    "rm": ["results/rm/"],
    "offline_dpo": ["results/offline_dpo/"],
}
# The rules of each shared stage, by their name in the workflow. A rule missing here while its output lies under a
# shared prefix would be defined twice for one file; Experiments.smk checks every output and names such a rule.
STAGE_RULES: dict[str, list[str]] = {
    "data": ["prefetch", "build_base_model", "adopt_base_model", "prefetch_model", "prefetch_dataset", "synthesize_dataset",
             "normalize_dataset", "build_mixture", "mixture_stats", "synthesize_benchmarks", "prefetch_benchmark",
             "prefetch_benchmark_url", "build_reward_bench", "prefetch_reward_bench"],
    "sft": ["train_sft"],
    "rm": ["train_reward_model", "evaluate_reward_model", "adopt_reward_model", "train_preference_model",
           "evaluate_preference_model", "reward_bench", "compare_judges", "length_bias_samples", "length_bias_score",
           "length_bias"],
    "offline_dpo": ["train_offline_dpo"],
}
STAGES = list(IGNORED)


class ExperimentError(ValueError):
    pass


def deep_merge(base: dict, overlay: dict) -> dict:
    """`overlay` on `base`: mappings merge key by key, anything else (lists too) replaces."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def without(config: dict, dotted: list[str]) -> dict:
    out = copy.deepcopy(config)
    for path in dotted:
        node = out
        *parents, last = path.split(".")
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def fingerprint(config: dict, stage: str) -> str:
    """12 hex digits of the SHA-256 of the canonical JSON of what `stage` (and its upstream) reads."""
    text = json.dumps(without(config, IGNORED[stage]), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Experiment:
    name: str
    config: dict
    fingerprints: dict[str, str]
    owns: list[str] = field(default_factory=list)  # shared stages whose rules this experiment's module keeps

    @property
    def folder(self) -> str:
        return f"{ROOT}/{self.name}"

    def stage_folder(self, stage: str) -> str:
        return f"{SHARED}/{stage}-{self.fingerprints[stage]}"

    def rule_name(self, rule: str) -> str:
        return f"{self.name}{SEP}{rule}"

    def excluded_rules(self) -> list[str]:
        return sorted(r for s in STAGES if s not in self.owns for r in STAGE_RULES[s])

    def replace_prefix(self, top_level: list[str]) -> dict[str, str]:
        """Snakemake `replace_prefix` of this experiment's module: shared stages' prefixes to their stage folder,
        every other top-level results entry to the experiment's folder. No key is a prefix of another (Snakemake
        refuses a path two keys match)."""
        mapping: dict[str, str] = {}
        for stage, prefixes in STAGE_PREFIXES.items():
            for prefix in prefixes:
                mapping[prefix] = f"{self.stage_folder(stage)}/{prefix.removeprefix('results/')}"
        for name in top_level:
            mapping[f"results/{name}"] = f"{self.folder}/{name}"
        keys = sorted(mapping)
        for a, b in itertools.pairwise(keys):
            if b.startswith(a):
                raise ExperimentError(f"path prefixes {a!r} and {b!r} overlap; Snakemake cannot map both")
        return mapping


def misplaced_outputs(experiments: list[Experiment], rules: list[tuple[str, list]]) -> list[str]:
    """Outputs (logs, benchmarks) of an experiment's rules, given as (rule name, paths), outside its own folder and
    the shared folders it owns: a path no prefix maps, or a shared stage's rule missing from STAGE_RULES."""
    by_name = {e.name: e for e in experiments}
    problems = []
    for rule, paths in rules:
        exp = by_name.get(rule.partition(SEP)[0]) if SEP in rule else None
        if exp is None:
            continue
        allowed = [f"{exp.folder}/", *(f"{exp.stage_folder(s)}/" for s in exp.owns)]
        problems += [f"rule {rule} of experiment {exp.name} writes {p}" for p in paths if not str(p).startswith(tuple(allowed))]
    return problems


def renamed_localrules(experiments: list[Experiment], localrules: set[str], names: set[str]) -> set[str]:
    """Local rules after renaming: a plain name no rule has (a module's `localrules:` entry; Snakemake 9.27 does not
    rename those) becomes each experiment's renamed rule."""
    out = set(localrules & names)
    for plain in localrules - names:
        out.update(n for n in (e.rule_name(plain) for e in experiments) if n in names)
    return out


def load_overlay(spec: Any, where: str, root: Path) -> dict:
    """An experiment's overlay: a mapping, or the path (relative to the repository) of a YAML file holding one."""
    import yaml

    if isinstance(spec, str):
        path = root / spec
        if not path.is_file():
            raise ExperimentError(f"{where}: overlay file {spec} does not exist")
        spec = yaml.safe_load(path.read_text()) or {}
    if not isinstance(spec, dict):
        raise ExperimentError(f"{where}: expected a mapping of config keys or an overlay file, got {spec!r}")
    return spec


def plan(spec: dict, root: str | Path = ".", validate=None) -> list[Experiment]:
    """The experiments of an experiment-set config ({base, experiments: {name: overlay}, compare: {groups}}), each
    with its merged config and the shared stages it owns (the first experiment, in the set's order, with a stage's
    fingerprint). `validate(config)` (online_rlhf.config.validate_config) checks each merged config before it is
    fingerprinted; its error is raised naming the experiment."""
    import yaml

    root = Path(root)
    for key in ("base", "experiments"):
        if key not in spec:
            raise ExperimentError(f"experiment set: missing key {key!r} (expected base: <config file or list of them>, "
                                  "experiments: {name: overlay})")
    unknown = sorted(set(spec) - {"base", "experiments", "compare"})
    if unknown:
        raise ExperimentError(f"experiment set: unknown keys {unknown} (allowed: base, experiments, compare)")
    # base: one config file, or several deep-merged in order (as several --configfile): e.g. a config and a
    # test-size overlay of it
    base: dict = {}
    for name in [spec["base"]] if isinstance(spec["base"], str) else spec["base"]:
        base_path = root / name
        if not base_path.is_file():
            raise ExperimentError(f"experiment set: base config {name} does not exist")
        base = deep_merge(base, yaml.safe_load(base_path.read_text()) or {})
    experiments = spec["experiments"]
    if not isinstance(experiments, dict) or not experiments:
        raise ExperimentError("experiment set: experiments must be a non-empty mapping of name -> overlay")
    owners: dict[tuple[str, str], str] = {}
    out = []
    for name, overlay in experiments.items():
        if not NAME.match(str(name)):
            raise ExperimentError(f"experiment set: name {name!r} must match {NAME.pattern} (letters, digits, single underscores: it prefixes rule names as <name>__<rule>)")
        config = deep_merge(base, load_overlay(overlay, f"experiments.{name}", root))
        config["run_name"] = name
        if validate is not None:
            try:
                validate(config)
            except ValueError as err:
                raise ExperimentError(f"experiment {name} (base {spec['base']} + its overlay): {err}") from None
        exp = Experiment(name, config, {s: fingerprint(config, s) for s in STAGES})
        for stage in STAGES:
            if owners.setdefault((stage, exp.fingerprints[stage]), name) == name:
                exp.owns.append(stage)
        out.append(exp)
    groups = (spec.get("compare") or {}).get("groups", {})
    for group, members in groups.items():
        unknown = [m for m in members if m not in experiments]
        if unknown:
            raise ExperimentError(f"experiment set: compare.groups.{group} names unknown experiments {unknown}")
    return out


def experiment_manifest(name: str) -> str:
    return f"{ROOT}/{name}/manifest.json"


def experiment_of_manifest(path: str | Path) -> str | None:
    """The experiment whose manifest `path` is (…/results/experiments/<name>/manifest.json), or None."""
    parts = Path(path).parts
    if len(parts) >= 4 and parts[-4:-2] == ("results", "experiments") and parts[-1] == "manifest.json":
        return parts[-2] if NAME.match(parts[-2]) else None
    return None


_TOP_LEVEL = re.compile(r"""results/([A-Za-z_]+)""")


def top_level_names(rule_files: list[str | Path]) -> list[str]:
    """Top-level entries of results/ the workflow's rules name (results/iter{t} gives 'iter'), less the shared
    stages' folders; names with a shorter name as prefix are covered by it."""
    shared = {p.removeprefix("results/").rstrip("/") for ps in STAGE_PREFIXES.values() for p in ps}
    names = set()
    for f in rule_files:
        names.update(_TOP_LEVEL.findall(Path(f).read_text()))
    names -= shared | {"experiments"}
    names = sorted(names)
    return [n for n in names if not any(n != m and n.startswith(m) for m in names)]


def sharing_table(experiments: list[Experiment]) -> list[dict[str, str]]:
    """One row per experiment and stage: where its outputs live and who builds them."""
    rows = []
    owner = {(s, e.fingerprints[s]): e.name for e in experiments for s in e.owns}
    for e in experiments:
        for s in STAGES:
            rows.append({"experiment": e.name, "stage": s, "fingerprint": e.fingerprints[s],
                         "built_by": owner[(s, e.fingerprints[s])], "folder": e.stage_folder(s)})
    return rows
