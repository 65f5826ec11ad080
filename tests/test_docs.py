"""The documentation stays true to the code: the recipe's key table matches config/paper.yaml, links resolve, the
README stays short, and nothing cites the old RECIPE.md."""

import functools
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from online_rlhf.config import validate_config

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])
ROW = re.compile(r"^\| (?P<what>[^|]+?) \| .*? \| `(?P<key>[a-z_][\w.\[\]]*)` \| `(?P<value>(?:[^`])+)` \|$")


@functools.cache
def paper_config() -> dict:
    return validate_config(yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()))


def resolve(config, key: str):
    node = config
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def recipe_rows():
    rows = []
    for line in (ROOT / "docs" / "recipe.md").read_text().splitlines():
        m = ROW.match(line)
        if m:
            rows.append((m["key"], m["value"].replace("\\|", "|")))
    return rows


def test_recipe_table_has_rows():
    assert len(recipe_rows()) >= 60


@pytest.mark.parametrize("key, value", recipe_rows())
def test_recipe_value_is_what_paper_yaml_sets(key, value):
    try:
        actual = resolve(paper_config(), key)
    except (KeyError, IndexError, TypeError):
        pytest.fail(f"docs/recipe.md names `{key}`, which config/paper.yaml does not have")
    assert actual == yaml.safe_load(value), f"docs/recipe.md says {key} = {value}; config/paper.yaml has {actual!r}"


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines <= 150, f"README.md has {lines} lines; move detail into docs/"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.DOTALL)
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)} links to {target}, which does not exist"


def test_nothing_cites_the_old_recipe_file():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    offenders = []
    for name in tracked:
        path = ROOT / name
        if path.is_file() and path.suffix in {".py", ".md", ".yaml", ".toml", ".smk", ".rst", ""} and path != Path(__file__):
            text = path.read_text(errors="replace")
            offenders += [f"{name}:{i}" for i, line in enumerate(text.splitlines(), 1) if "RECIPE.md" in line]
    assert not offenders, f"cite docs/recipe.md instead of RECIPE.md: {offenders}"
