"""The run manifest (hashes and provenance of every artifact) and the audit that compares two runs."""
