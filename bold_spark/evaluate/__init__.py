"""Accuracy against ground truth, and linkage-quality metrics."""
