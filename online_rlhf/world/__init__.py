"""The embedded made-up world: the string-reversal task and its oracle, its datasets and benchmark files in native schemas."""
