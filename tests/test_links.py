"""Model folders made from other folders (the selected final policy, an adopted reward model) share the weights'
inodes but never Snakemake's own markers: a shared .snakemake_timestamp is stamped through both folders at once."""

import os

import pytest

from online_rlhf.core.tables import link_or_copy
from online_rlhf.online.selection import link_model


def model_folder(path):
    (path / "sub").mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"weights")
    (path / "config.json").write_text("{}")
    (path / "sub" / "tokenizer.json").write_text("{}")
    (path / ".snakemake_timestamp").write_text("")
    (path / "sub" / ".snakemake_timestamp").write_text("")
    return path


def test_link_model_shares_the_files_but_not_snakemakes_markers(tmp_path):
    source = model_folder(tmp_path / "iter2")
    assert link_model(source, tmp_path / "final") == 3
    final = tmp_path / "final"
    assert sorted(str(p.relative_to(final)) for p in final.rglob("*")) == ["config.json", "model.safetensors", "sub", "sub/tokenizer.json"]
    assert (final / "model.safetensors").stat().st_ino == (source / "model.safetensors").stat().st_ino
    assert (source / ".snakemake_timestamp").stat().st_nlink == 1


def test_link_model_refuses_a_missing_source_or_an_existing_target(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        link_model(tmp_path / "nope", tmp_path / "final")
    source = model_folder(tmp_path / "iter1")
    (tmp_path / "final").mkdir()
    with pytest.raises(FileExistsError):
        link_model(source, tmp_path / "final")


def test_link_or_copy_refuses_snakemake_markers(tmp_path):
    (tmp_path / ".snakemake_timestamp").write_text("")
    with pytest.raises(ValueError, match="Snakemake's own marker"):
        link_or_copy(tmp_path / ".snakemake_timestamp", tmp_path / "out")
    (tmp_path / "a").write_text("x")
    link_or_copy(tmp_path / "a", tmp_path / "b")
    assert os.path.samefile(tmp_path / "a", tmp_path / "b")
