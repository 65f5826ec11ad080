"""Shared plumbing of every stage: argument parsing, parquet/JSON tables, raw records, shard arithmetic, offline mode."""
