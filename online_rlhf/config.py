"""Config validation: the JSON schema first (types, allowed values, unknown keys), then the cross-references a
schema cannot express. Every message names the key path and what is allowed, and all problems are listed at once."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from online_rlhf.train.trainers import dpo_loss_types, label_smoothing_problem

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "config" / "schema.yaml"


class ConfigError(ValueError):
    pass


def _path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _allowed_keys(schema: dict, root: dict) -> list[str]:
    """Property names a (sub)schema admits, following $ref and allOf (the training sections are compositions)."""
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    keys = set(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        keys |= set(_allowed_keys(sub, root))
    return sorted(keys)


def _describe(error, root: dict) -> str:
    """A readable line for one schema error, digging into oneOf/anyOf/if-then to the most specific cause."""
    leaf = error
    while leaf.context:
        leaf = min(leaf.context, key=lambda e: (-len(e.absolute_path), e.validator == "oneOf"))
    if leaf.validator == "additionalProperties" or leaf.validator == "unevaluatedProperties":
        allowed = _allowed_keys(leaf.schema, root)
        return f"{_path(leaf)}: {leaf.message} (allowed keys: {', '.join(allowed) or 'see config/schema.yaml'})"
    if leaf.validator == "enum":
        return f"{_path(leaf)}: {leaf.instance!r} is not allowed; expected one of {leaf.validator_value}"
    return f"{_path(leaf)}: {leaf.message}"


def load_schema(schema_path: Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(Path(schema_path).read_text())


def _filling_validator():
    """Draft 2020-12 that also writes each absent property's `default` (a copy) into the instance while it checks it:
    a default object is then checked and filled in turn, so nested defaults appear too (jsonschema's FAQ recipe)."""
    from jsonschema import Draft202012Validator, validators

    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if isinstance(sub, dict) and "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(Draft202012Validator, {"properties": properties})


def schema_errors(config: dict, schema_path: Path = SCHEMA_PATH) -> list[str]:
    """Problems of `config` against the schema; fills the schema's defaults into `config` on the way."""
    schema = load_schema(schema_path)
    validator = _filling_validator()(schema)
    return sorted({_describe(e, schema) for e in validator.iter_errors(config)})


def derived_defaults(schema: dict, root: dict | None = None, path: tuple = ()) -> list[tuple[tuple, str]]:
    """(key path, source key) of every `x-default-from`: keys whose default is another key's value. A path part
    "*" stands for every entry of a map (additionalProperties)."""
    root = root or schema
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        return derived_defaults({**node, **{k: v for k, v in schema.items() if k != "$ref"}}, root, path)
    found = []
    for name, sub in schema.get("properties", {}).items():
        if isinstance(sub, dict):
            if "x-default-from" in sub:
                found.append(((*path, name), sub["x-default-from"]))
            found += derived_defaults(sub, root, (*path, name))
    return found


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def fill_derived_defaults(config: dict, schema: dict) -> None:
    """Set each absent `x-default-from` key to its source key's value, in the order the schema lists them (a source
    that is itself derived comes first). Keys in sections that are absent (null) stay absent."""
    for key_path, source in derived_defaults(schema):
        *parents, leaf = key_path
        section = _lookup(config, ".".join(parents)) if parents else config
        value = _lookup(config, source)
        if isinstance(section, dict) and leaf not in section and value is not None:
            section[leaf] = copy.deepcopy(value)


def reference_errors(config: dict) -> list[str]:
    """Cross-key checks on the filled config (every default present): names that must exist, formats that must match,
    settings that only make sense together."""
    errors: list[str] = []
    datasets = config["datasets"]

    def need(key: str, name: Any, formats: tuple[str, ...]) -> None:
        if name not in datasets:
            errors.append(f"{key}: dataset {name!r} is not defined under datasets (defined: {', '.join(sorted(datasets))})")
        elif datasets[name]["format"] not in formats:
            errors.append(f"{key}: dataset {name!r} has format {datasets[name]['format']!r}; expected {' or '.join(formats)}")

    from online_rlhf.data.sources import PAIR_ADAPTERS, adapter_options

    pair_formats = tuple(PAIR_ADAPTERS)
    need("sft.dataset", config["sft"]["dataset"], ("messages", "gsm8k"))
    for mix, spec in config["mixtures"].items():
        for src in spec["sources"]:
            need(f"mixtures.{mix}.sources", src, pair_formats)
    for name, spec in datasets.items():
        if spec["format"] in PAIR_ADAPTERS:
            try:
                adapter_options(spec["format"], spec["options"])
            except ValueError as err:
                errors.append(f"datasets.{name}.options: {err}")
    rm = config["reward_model"]
    if rm["mixture"] not in config["mixtures"]:
        errors.append(f"reward_model.mixture: {rm['mixture']!r} is not defined under mixtures (defined: {', '.join(sorted(config['mixtures']))})")
    if rm["heldout"]:
        need("reward_model.heldout", rm["heldout"], pair_formats)
    if "reward" in config["models"] and config["models"]["reward"]["source"] == "synthetic":
        errors.append("models.reward: an external reward model comes from the hub or a local folder; to train one, drop models.reward")
    for name, spec in config["models"].items():
        if name != "base" and spec["source"] == "package":
            errors.append(f"models.{name}.source: 'package' is adopted for models.base only; use hub or local")
    pm = config["preference_model"]
    if pm:
        if pm["mixture"] not in config["mixtures"]:
            errors.append(f"preference_model.mixture: {pm['mixture']!r} is not defined under mixtures (defined: {', '.join(sorted(config['mixtures']))})")
        if pm["name"] == rm["name"]:
            errors.append(f"preference_model.name: {pm['name']!r} is also reward_model.name; both live under results/rm/<name>")
    elif config["online"]["scoring"]["judge"] == "preference_model":
        errors.append("online.scoring.judge: 'preference_model' needs a preference_model section to train it")
    if config["reward_bench"] and config["reward_bench"]["source"] == "synthetic" and not config["world"]:
        errors.append("reward_bench.source: 'synthetic' is the made-up world's equivalent and needs the world section")
    if config["offline_dpo"]["enabled"]:
        need("offline_dpo.dataset", config["offline_dpo"]["dataset"], pair_formats)
    need("online.prompt_pool", config["online"]["prompt_pool"], ("prompts",))
    need("evaluation.prompts", config["evaluation"]["prompts"], ("prompts",))

    synthetic = [f"datasets.{n}" for n, d in datasets.items() if d["source"] == "synthetic"]
    if config["models"]["base"]["source"] == "synthetic":
        synthetic.append("models.base")
    if synthetic and not config["world"]:
        errors.append(f"world: required because {', '.join(synthetic)} are synthetic")
    if config["evaluation"]["judge"] == "oracle" and datasets.get(config["evaluation"]["prompts"], {}).get("source") != "synthetic":
        errors.append("evaluation.judge: 'oracle' exists only in the made-up world (synthetic evaluation prompts); use reward_model")
    if config["online"]["scoring"]["judge"] == "oracle" and datasets.get(config["online"]["prompt_pool"], {}).get("source") != "synthetic":
        errors.append("online.scoring.judge: 'oracle' exists only in the made-up world (a synthetic prompt pool); use reward_model")
    selection = config["selection"]
    if selection and selection["judge"] == "oracle" and datasets.get(config["online"]["prompt_pool"], {}).get("source") != "synthetic":
        errors.append("selection.judge: 'oracle' exists only in the made-up world (a synthetic prompt pool); use reward_model")
    pool_rows = datasets.get(config["online"]["prompt_pool"], {}).get("synthetic", {}).get("rows")
    wanted = (selection or {}).get("validation_prompts", 0) + config["iterations"] * config["online"]["prompts_per_iteration"]
    if pool_rows is not None and pool_rows < wanted:
        errors.append(
            f"datasets.{config['online']['prompt_pool']}.synthetic.rows: {pool_rows} prompts, but selection.validation_prompts + "
            f"iterations x online.prompts_per_iteration need {wanted} distinct prompts"
        )
    world = config["world"]
    if world and world["min_len"] > world["max_len"]:
        errors.append(f"world.min_len ({world['min_len']}) must not exceed world.max_len ({world['max_len']})")

    gen = config["online"]["generation"]
    if gen["backend"] == "transformers" and gen["tensor_parallel_size"] > 1:
        errors.append("online.generation.tensor_parallel_size: only the vllm backend shards a model over GPUs")
    for section in ("sft", "reward_model", "dpo", "offline_dpo", "preference_model"):
        hp = config[section]
        if hp is None:
            continue
        if hp["global_batch_size"] % hp["per_device_batch_size"]:
            errors.append(f"{section}.global_batch_size ({hp['global_batch_size']}) must be a multiple of per_device_batch_size ({hp['per_device_batch_size']})")
        weights = hp.get("loss_weights")  # DPO sections only
        if weights is not None and len(weights) != len(dpo_loss_types(hp)):
            errors.append(f"{section}.loss_weights: {len(weights)} weights for {len(dpo_loss_types(hp))} loss type(s)")
        if section in ("dpo", "offline_dpo") and label_smoothing_problem(hp):
            errors.append(f"{section}.{label_smoothing_problem(hp)}")
        if section in ("dpo", "offline_dpo") and hp.get("precompute_ref_log_probs") and hp.get("accelerate_config"):
            errors.append(
                f"{section}.precompute_ref_log_probs: true runs in one process only (under accelerate launch TRL 1.16 "
                f"crashed a rank, tests/test_distributed.py); set it false, or drop {section}.accelerate_config"
            )
    return errors + benchmark_errors(config)


CHAT_SOURCE_KEYS = {"hub": ("repo", "revision", "files"), "url": ("urls",), "local": ("path",)}


def benchmark_errors(config: dict) -> list[str]:
    """The benchmarks section's cross-key rules: which judge needs what, where each benchmark's files come from."""
    bench = config["benchmarks"]
    if not bench:
        return []
    errors: list[str] = []
    iterations = config["iterations"]
    for m in bench["models"] or []:
        if m == "offline_dpo" and not config["offline_dpo"]["enabled"]:
            errors.append("benchmarks.models: offline_dpo is listed but offline_dpo.enabled is false")
        if m.startswith("iter") and int(m[4:]) > iterations:
            errors.append(f"benchmarks.models: {m} is listed but the run has {iterations} iteration(s)")
    chat = bench["chat"]
    judge = bench["judge"] or {"kind": "oracle"}  # no judge section: nothing is judged (checked just below)
    if chat and bench["judge"] is None:
        errors.append("benchmarks.judge: required when benchmarks.chat names a benchmark")
    if chat and bench["generation"] is None:
        errors.append("benchmarks.generation: required when benchmarks.chat names a benchmark")
    if judge["kind"] == "oracle":
        real = [f"benchmarks.chat.{k}" for k, v in chat.items() if v["source"] != "synthetic"]
        if real:
            errors.append(f"benchmarks.judge.kind: 'oracle' judges only the made-up world's benchmarks; {', '.join(real)} are real: use api or local")
    elif judge["kind"] == "api" and not judge.get("model"):
        errors.append("benchmarks.judge.model: required for kind 'api' (the judge model's name at the endpoint)")
    elif judge["kind"] == "local" and "judge" not in config["models"]:
        errors.append("benchmarks.judge.kind: 'local' needs the judge model under models.judge")
    for name, spec in chat.items():
        for key in CHAT_SOURCE_KEYS.get(spec["source"], ()):
            if key not in spec:
                errors.append(f"benchmarks.chat.{name}.{key}: required for source {spec['source']!r}")
        if name == "arena_hard" and spec["source"] != "synthetic" and "baseline" not in spec:
            errors.append("benchmarks.chat.arena_hard.baseline: required (the baseline model's answer file)")
        if name == "mt_bench" and spec["source"] in ("hub", "url") and "references" not in spec:
            errors.append("benchmarks.chat.mt_bench.references: required (FastChat grades math, reasoning and coding against "
                          "reference_answer/gpt-4.jsonl; fetch it beside question.jsonl)")
    synthetic = [k for k, v in chat.items() if v["source"] == "synthetic"]
    synthetic += [f"lm_eval.{k}" for k, v in (bench["lm_eval"] or {"tasks": {}})["tasks"].items() if v["source"] == "synthetic"]
    if synthetic and not config["world"]:
        errors.append(f"world: required because benchmarks {', '.join(synthetic)} are synthetic")
    return errors


def validate_config(config: dict, schema_path: Path = SCHEMA_PATH) -> dict:
    """Check `config` and fill in place every default of the schema: what returns is the effective config."""
    errors = schema_errors(config, schema_path)
    if not errors:
        fill_derived_defaults(config, load_schema(schema_path))
        errors = reference_errors(config)
    if errors:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(errors) + f"\n(schema: {schema_path})")
    return config


def load_config(path: str | Path) -> dict:
    with open(path) as fh:
        return validate_config(yaml.safe_load(fh))
