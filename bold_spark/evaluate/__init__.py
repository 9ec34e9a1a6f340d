"""Accuracy against ground truth, and the FEBRL4 benchmark as source extracts.

    from bold_spark.evaluate import pairwise_accuracy
    acc = pairwise_accuracy(clusters_with_truth, "person_id_medium", "true_person")
    acc.precision, acc.recall, acc.f1
"""

from bold_spark.evaluate.accuracy import PairwiseAccuracy, pairwise_accuracy
from bold_spark.evaluate.febrl import export_febrl4

__all__ = ["PairwiseAccuracy", "export_febrl4", "pairwise_accuracy"]
