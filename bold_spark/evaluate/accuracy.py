"""Pairwise precision, recall and F1 of a clustering against ground truth, by aggregation only.

No pairs are materialised: with clusters C and true persons T over the same records,
predicted pairs = sum C(|c|,2), true pairs = sum C(|t|,2), true positives = sum C(|c and t|,2).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


@dataclass(frozen=True)
class PairwiseAccuracy:
    """Pair counts of a clustering against the truth, and the rates they give."""

    records: int
    predicted_pairs: int
    true_pairs: int
    true_positives: int

    @property
    def precision(self) -> float:
        """True positives over predicted pairs (1.0 when no pair is predicted)."""
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """True positives over true pairs (1.0 when there is no true pair)."""
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (0.0 when both are 0)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        """The counts and the three rates, for the run record's metrics."""
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


def _pairs(n: F.Column) -> F.Column:
    return n * (n - 1) / 2


def pairwise_accuracy(
    assignments: DataFrame, cluster_col: str, truth_col: str
) -> PairwiseAccuracy:
    """Pairwise precision and recall of a clustering, counted by aggregation (one Spark job).

    Parameters:
        assignments: one row per record, with its predicted cluster and its true entity.
        cluster_col: the predicted cluster column (e.g. ``person_id_medium``).
        truth_col: the true entity column. Neither column may be null: nulls would count
            as one cluster (or one entity).

    Returns the record, predicted-pair, true-pair and true-positive counts, with precision,
    recall and F1 as properties.
    """
    joint = assignments.groupBy(cluster_col, truth_col).agg(F.count(F.lit(1)).alias("n"))
    pred = joint.groupBy(cluster_col).agg(F.sum("n").alias("n"))
    true = joint.groupBy(truth_col).agg(F.sum("n").alias("n"))
    tp = joint.agg(F.sum(_pairs(F.col("n"))).alias("v"), F.sum("n").alias("records"))
    pp = pred.agg(F.sum(_pairs(F.col("n"))).alias("v"))
    tt = true.agg(F.sum(_pairs(F.col("n"))).alias("v"))
    row = (tp.crossJoin(pp.withColumnRenamed("v", "pp"))
           .crossJoin(tt.withColumnRenamed("v", "tt")).collect()[0])
    return PairwiseAccuracy(int(row["records"] or 0), int(row["pp"] or 0), int(row["tt"] or 0),
                            int(row["v"] or 0))
