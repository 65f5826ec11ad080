import copy

import pytest
import yaml

from online_rlhf.config import ConfigError, load_config, validate_config


@pytest.fixture
def default(root):
    return load_config(root / "config" / "config.yaml")


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "smoke.yaml"])
def test_shipped_configs_validate(root, name):
    load_config(root / "config" / name)


def test_paper_config_carries_the_recipe(root):
    c = yaml.safe_load((root / "config" / "paper.yaml").read_text())
    assert c["iterations"] == 3 and c["online"]["prompts_per_iteration"] == 20000
    assert c["online"]["generation"]["sampling"] == [{"temperature": 1.0, "n": 8}, {"temperature": 0.7, "n": 8}]
    assert (c["dpo"]["beta"], c["dpo"]["learning_rate"], c["dpo"]["global_batch_size"], c["dpo"]["epochs"], c["dpo"]["max_length"]) == (0.1, 5e-7, 128, 2, 2048)
    assert (c["reward_model"]["learning_rate"], c["reward_model"]["global_batch_size"], c["reward_model"]["max_length"]) == (2e-6, 512, 4096)
    assert (c["sft"]["learning_rate"], c["sft"]["global_batch_size"], c["sft"]["max_length"], c["sft"]["packing"]) == (2e-5, 32, 8192, True)
    assert c["online"]["reference"] == "sft" and c["online"]["pair_rule"] == "best_worst"
    assert c["offline_dpo"]["epochs"] == 1 and c["offline_dpo"]["learning_rate"] == 5e-7


def broken(config, path, value):
    c = copy.deepcopy(config)
    *parents, leaf = path.split(".")
    node = c
    for p in parents:
        node = node[p]
    if value is KeyError:
        del node[leaf]
    else:
        node[leaf] = value
    return c


@pytest.mark.parametrize(
    "path,value,expected",
    [
        ("online.pair_rule", "bestworst", r"online\.pair_rule: 'bestworst' is not allowed; expected one of \['best_worst'"),
        ("dpo.beta", "high", r"dpo\.beta: 'high' is not of type 'number'"),
        ("dpo.learning_rate", -1, r"dpo\.learning_rate: -1 is less than or equal to the minimum of 0"),
        ("sft.lr", 0.1, r"sft: .*'lr' was unexpected.*allowed keys: .*learning_rate"),
        ("iterations", 0, r"iterations: 0 is less than the minimum of 1"),
        ("online.generation.backend", "tgi", r"online\.generation\.backend: 'tgi' is not allowed"),
        ("online.scoring", KeyError, r"'scoring' is a required property"),
        ("evaluation.judge", "gpt4", r"evaluation\.judge: 'gpt4' is not allowed"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(default, path, value, expected):
    with pytest.raises(ConfigError, match=expected):
        validate_config(broken(default, path, value))


def test_cross_references_are_checked(default):
    c = broken(default, "reward_model.mixture", "mix9")
    c["mixtures"]["mix1"]["sources"] = ["hh_rlhf", "nope"]
    c["sft"]["dataset"] = "hh_rlhf"
    with pytest.raises(ConfigError) as err:
        validate_config(c)
    msg = str(err.value)
    assert "reward_model.mixture: 'mix9' is not defined under mixtures" in msg
    assert "mixtures.mix1.sources: dataset 'nope' is not defined" in msg
    assert "sft.dataset: dataset 'hh_rlhf' has format 'hh_rlhf'; expected messages" in msg


def test_batch_divisibility_and_oracle_scope(default):
    c = broken(default, "dpo.global_batch_size", 30)
    with pytest.raises(ConfigError, match="dpo.global_batch_size .30. must be a multiple of per_device_batch_size .32."):
        validate_config(c)
    c = copy.deepcopy(default)
    c["datasets"]["eval_prompts"] = {"format": "prompts", "source": "local", "path": "x.jsonl"}
    with pytest.raises(ConfigError, match="'oracle' exists only in the made-up world"):
        validate_config(c)


def test_options_that_would_silently_do_nothing_or_run_short_are_refused(default):
    c = broken(default, "dpo.label_smoothing", 0.1)  # the default loss is sigmoid, which TRL 1.16 does not smooth
    with pytest.raises(ConfigError, match="dpo.label_smoothing 0.1 has no effect with loss_type"):
        validate_config(c)
    validate_config(broken(c, "dpo.loss_type", "robust"))
    c = broken(default, "dpo.accelerate_config", "config/accelerate/ddp.yaml")  # the default precomputes the reference
    with pytest.raises(ConfigError, match="dpo.precompute_ref_log_probs: true runs in one process only"):
        validate_config(c)
    validate_config(broken(c, "dpo.precompute_ref_log_probs", False))
    c = broken(default, "iterations", 6)  # 300 validation + 6 x 1000 prompts > a pool of 6000
    with pytest.raises(ConfigError, match="need 6300 distinct prompts"):
        validate_config(c)
