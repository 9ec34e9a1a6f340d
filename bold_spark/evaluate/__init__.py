"""Accuracy against ground truth, and the FEBRL4 benchmark as source extracts.

    from bold_spark.evaluate import pairwise_accuracy
    acc = pairwise_accuracy(clusters_with_truth, "person_id_medium", "true_person")
    acc.precision, acc.recall, acc.f1
"""

from bold_spark.evaluate.accuracy import (
    Evaluation,
    PairwiseAccuracy,
    evaluate_clusters,
    pairwise_accuracy,
    source_pair_accuracy,
)
from bold_spark.evaluate.febrl import export_febrl4

__all__ = ["Evaluation", "PairwiseAccuracy", "evaluate_clusters", "export_febrl4", "pairwise_accuracy",
           "source_pair_accuracy"]
