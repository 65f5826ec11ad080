"""The documentation stays true to the code: the recipe's key table matches config/paper.yaml, links resolve, the
README stays short, and nothing cites the old RECIPE.md."""

import fnmatch
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


def documented_paths() -> list[str]:
    """Backticked paths of docs/outputs.md as globs (`<x>` -> *); "`a.json`, `.md`" also names a.md."""
    globs, last = [], None
    for token in re.findall(r"`([^`\s]+)`", (ROOT / "docs" / "outputs.md").read_text()):
        if token.startswith(("results/", "resources/")):
            last = token
        elif token.startswith(".") and last and re.fullmatch(r"\.\w+", token):
            token = re.sub(r"\.\w+$", token, last)
        else:
            continue
        globs.append(re.sub(r"<[^>]+>", "*", token.rstrip("/")))
    return globs


def rule_paths() -> list[tuple[str, str]]:
    """Every literal results/ or resources/ path in rules/*.smk except logs and benchmark files."""
    out = []
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        # double-quoted literals and f-strings, whose {...} may hold single-quoted keys
        for path in re.findall(r'"((?:results|resources)/(?:[^"{}]|\{[^}]*\})*)"', smk.read_text()):
            if not path.startswith(("results/logs", "results/benchmarks")) and not path.endswith("/"):
                out.append((smk.name, path))
    return out


@pytest.mark.parametrize("smk, path", rule_paths())
def test_every_rule_path_is_in_outputs_md(smk, path):
    concrete = re.sub(r"\{+[^}]+\}+", "X", path).rstrip("/")
    as_glob = re.sub(r"\{+[^}]+\}+", "*", path).rstrip("/")
    docs = documented_paths()
    assert any(fnmatch.fnmatch(concrete, d) or fnmatch.fnmatch(re.sub(r"\*", "X", d), as_glob) for d in docs), (
        f"{smk} writes or reads {path}, which docs/outputs.md does not list"
    )
