import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Beside the repo in the project workspace; a worktree elsewhere names it with ONLINE_RLHF_SHARED_DATA.
SHARED_DATA = Path(os.environ.get("ONLINE_RLHF_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))


@pytest.fixture
def root():
    return ROOT


def snakemake_bin() -> str:
    exe = Path(sys.executable).with_name("snakemake")
    return str(exe) if exe.exists() else shutil.which("snakemake")


def copy_workflow(work: Path) -> Path:
    """A runnable copy of the workflow (no results/, resources/ or .snakemake/) in `work`: the audit's own copy."""
    from online_rlhf.provenance.manifest import copy_workflow as copy_code_and_config

    copy_code_and_config(ROOT, work)
    return work


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data sample {path} is absent (only shipped beside the repo in the project workspace)")
    return path


def pytest_collection_modifyitems(config, items):
    """The workflow-running (slow) modules first, each module's tests kept together in file order: under pytest-xdist's
    loadfile distribution (`make test`) the longest modules start at once and the short ones fill in behind them,
    instead of a long module starting last and running alone."""
    slow_modules = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_modules)
