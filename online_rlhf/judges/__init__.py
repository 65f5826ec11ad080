"""Judges of responses and pairs: BT reward model, pairwise model, oracle; RewardBench-style accuracy and length bias."""
