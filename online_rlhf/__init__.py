"""Online iterative RLHF (Dong et al., 2024) as a file-based workflow: the importable logic behind the Snakemake rules."""

__version__ = "0.1.0"
