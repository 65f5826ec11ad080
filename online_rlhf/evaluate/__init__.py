"""Held-out evaluation and the paper's benchmarks: chat benchmarks and their judges, lm-eval tasks."""
