"""Make the repository's `online_rlhf` package importable when a script runs as `python scripts/<name>.py` (or under
`accelerate launch`) from any environment, installed or not, and set up logging the same way everywhere."""

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
