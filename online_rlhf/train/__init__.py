"""Stages 2-4 training: model/tokenizer loading, TRL trainer wrappers, launchers, checkpoints, the pairwise model's format."""
