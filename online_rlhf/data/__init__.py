"""Stage 1: preference sources in their native schemas, cleaning, mixtures and their Table-5 statistics."""
