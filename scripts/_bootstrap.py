"""Make the repository's `online_rlhf` package importable when a script runs as `python scripts/<name>.py` (or under
`accelerate launch`) from any environment, installed or not, and set up logging the same way everywhere. Inside a
SLURM job the Hub is off (HF_HUB_OFFLINE=1): compute nodes read only what `snakemake prefetch` stored."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)

from online_rlhf.core.offline import offline_in_slurm_jobs  # after the sys.path entry above

_offline = offline_in_slurm_jobs()  # before any Hugging Face import: huggingface_hub reads the variable once
if _offline:
    logging.getLogger("bootstrap").info(_offline)
