"""benchmarks/reward_model_settings.py: how a setting is read, and when a loss left the plateau near log 2."""

import importlib.util
import sys

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))  # the script's own imports (generation, rm_retrain, training)
spec = importlib.util.spec_from_file_location("reward_model_settings", ROOT / "benchmarks" / "reward_model_settings.py")
settings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(settings)

SECTION = {"learning_rate": 1e-4, "epochs": 2, "padding_free": True}


def test_a_setting_is_a_name_and_section_keys():
    assert settings.parse_setting('previous={"learning_rate": 1e-3, "padding_free": false}', SECTION) == (
        "previous", {"learning_rate": 1e-3, "padding_free": False})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("previous", "expected NAME=JSON"),
        ('run={"epochs": 1}', "the run's own setting"),
        ("one_epoch={epochs: 1}", "is not JSON"),
        ("one_epoch={}", "non-empty JSON object"),
        ('one_epoch={"lr": 1e-3}', r"\['lr'\] are not keys of the run's reward_model section"),
    ],
)
def test_a_bad_setting_names_what_was_expected(text, message):
    with pytest.raises(SystemExit, match=message):
        settings.parse_setting(text, SECTION)


def test_plateau_exit_is_the_first_logged_step_under_the_threshold():
    assert settings.plateau_exit_step([0.694, 0.69, 0.61, 0.59, 0.7], logging_steps=10) == 40
    assert settings.plateau_exit_step([0.694, 0.69, 0.68], logging_steps=10) is None
