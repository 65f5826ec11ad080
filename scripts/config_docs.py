"""Print docs/config.md, the configuration reference generated from config/schema.yaml (`make docs` writes it)."""

import _bootstrap  # noqa: F401

from online_rlhf.config import load_schema
from online_rlhf.config_docs import render

if __name__ == "__main__":
    print(render(load_schema()), end="")
