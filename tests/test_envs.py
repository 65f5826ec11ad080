"""Conda environments cannot be solved here (no channels): check that they parse and agree with the project's pins."""

import re

import pytest
import tomllib
import yaml

from .conftest import ROOT

PINS = {}
for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]:
    name, version = dep.split("==")
    PINS[name.lower()] = version
for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]:
    name, version = dep.split("==")
    PINS[name.lower()] = version

ENVS = sorted((ROOT / "envs").glob("*.yaml"))


def test_every_rule_env_exists():
    used = set()
    for smk in (ROOT / "rules").glob("*.smk"):
        used |= set(re.findall(r'conda:\n\s+"\.\./envs/([\w.]+)"', smk.read_text()))
    assert used and used <= {p.name for p in ENVS}


@pytest.mark.parametrize("path", ENVS, ids=lambda p: p.name)
def test_env_pins_agree_with_pyproject(path):
    env = yaml.safe_load(path.read_text())
    assert env["name"] and "conda-forge" in env["channels"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    for spec in pip:
        name, _, version = spec.partition("==")
        assert version, f"{path.name}: {spec} is not pinned"
        assert PINS.get(name.lower()) == version, f"{path.name}: {spec} disagrees with pyproject ({PINS.get(name.lower())})"
