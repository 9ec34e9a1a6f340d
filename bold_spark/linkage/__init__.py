"""Linkage: models, blocking, training, scoring and clustering on Spark."""
