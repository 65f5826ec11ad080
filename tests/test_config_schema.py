"""The schema is the only source of config truth: every key typed, described and (where optional) defaulted;
validation fills the defaults; the rules read config[...] with no fallbacks; docs/config.md is generated from it."""

import copy
import re
import subprocess
import sys

import pytest
import yaml

from online_rlhf.config import derived_defaults, load_config, load_schema, validate_config
from online_rlhf.config_docs import render, rows

from .conftest import ROOT


def schema_rows():
    schema = load_schema()
    return list(rows(schema, schema, ""))


def test_every_key_has_a_type_a_description_and_a_default_unless_required():
    missing = []
    for key, type_, default, description in schema_rows():
        if type_ in ("any", ""):
            missing.append(f"{key}: no type")
        if not description.strip():
            missing.append(f"{key}: no description")
        # an optional key without a default must say what its absence means (e.g. an optional benchmark)
        if not default and "absent" not in description.lower():
            missing.append(f"{key}: optional without a default (or an 'absent: ...' in its description)")
    assert not missing, "\n".join(missing)
    assert len(schema_rows()) > 190


def test_x_default_from_names_keys_that_exist():
    schema = load_schema()
    keys = {key for key, *_ in schema_rows()}
    for path, source in derived_defaults(schema):
        assert source in keys, f"{'.'.join(path)}: x-default-from {source!r} is not a key of the schema"


def test_validation_fills_defaults_and_derived_defaults(root):
    config = load_config(root / "config" / "config.yaml")
    assert config["compute"]["default"]["nodes"] == 1 and config["compute"]["rules"] == {"train_sft": {"threads": 2}}
    assert load_config(root / "config" / "smoke.yaml")["compute"]["rules"] == {}  # absent: no overrides
    assert config["sft"]["checkpoint_steps"] == 500 and config["dpo"]["loss_weights"] is None
    assert config["online"]["generation"]["stop_token_ids"] == [] and config["online"]["generation"]["tensor_parallel_size"] == 1
    assert config["online"]["scoring"]["max_length"] == config["reward_model"]["max_length"]
    assert config["length_bias"]["max_new_tokens"] == config["evaluation"]["max_new_tokens"]
    assert config["reward_bench"]["batch_size"] == config["online"]["scoring"]["batch_size"]
    assert config["report"] == {"compare": []} and config["audit"]["mode"] == "exact"
    # a given value is kept; an absent optional section is null (off)
    raw = yaml.safe_load((root / "config" / "config.yaml").read_text())
    raw["online"]["scoring"]["max_length"] = 48
    del raw["selection"]
    filled = validate_config(copy.deepcopy(raw))
    assert filled["online"]["scoring"]["max_length"] == 48 and filled["selection"] is None
    # filling is idempotent: the effective config (as the manifest records it) validates to itself
    assert validate_config(copy.deepcopy(filled)) == filled


def test_defaults_reach_the_trainer_as_its_own_fallbacks_would(tmp_path):
    """The training keys' schema defaults are the values the trainers assumed when a key was absent."""
    from online_rlhf.train.trainers import common_args, trainer_class

    minimal = {"epochs": 1, "learning_rate": 1e-3, "global_batch_size": 4, "per_device_batch_size": 4, "max_length": 32}
    schema_defaults = {k: v for k, v in load_schema()["$defs"]["training"]["properties"].items() if "default" in v}
    hp = {**minimal, **{k: v["default"] for k, v in schema_defaults.items()}}
    assert common_args(hp, str(tmp_path), 0) == common_args(minimal, str(tmp_path), 0)
    assert trainer_class(dict, hp) is trainer_class(dict, minimal)  # group_by_length: off either way


def test_docs_config_md_is_generated_from_the_schema():
    text = (ROOT / "docs" / "config.md").read_text()
    assert text == render(load_schema()), "docs/config.md is out of date: run `make docs`"
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "config_docs.py")], capture_output=True, text=True, check=True).stdout
    assert out == text


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.smk")) + [ROOT / "Snakefile"], ids=lambda p: p.name)
def test_no_rule_reads_a_config_key_with_a_fallback(path):
    """Defaults live in the schema: `.get(key, default)` (or `.get(key)` standing in for one) has no place in a rule."""
    hits = [f"{path.name}:{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1) if re.search(r"\.get\(", line)]
    assert not hits, "\n".join(hits)


def test_the_manifest_records_the_effective_config():
    from .test_dag import snakemake

    out = snakemake("-n", "--forceall", "--printshellcmds", "results/manifest.json").stdout
    line = next(line for line in out.splitlines() if "scripts/manifest.py" in line)
    assert '"checkpoint_steps":500' in line and '"stop_token_ids":[]' in line  # defaults, absent from config.yaml
