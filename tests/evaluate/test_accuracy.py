"""Pairwise precision and recall by aggregation, on clusterings small enough to count by hand."""

from __future__ import annotations

import itertools
import random

import pytest

from bold_spark.evaluate import PairwiseAccuracy, pairwise_accuracy

SCHEMA = "record_key string, cluster string, person string"


def _frame(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


def test_hand_counted_clustering(spark):
    """True persons A = {r1, r2, r3, r4}, B = {r5, r6}, C = {r7}; predicted clusters
    X = {r1, r2, r3}, Y = {r4, r5, r6, r7}.

    True pairs: 6 (A) + 1 (B) = 7. Predicted pairs: 3 (X) + 6 (Y) = 9. True positives: the 3
    pairs of X (all A) and r5-r6 in Y (both B) = 4. Precision 4/9, recall 4/7, F1 = 2*4/(9+7)."""
    rows = [("r1", "X", "A"), ("r2", "X", "A"), ("r3", "X", "A"), ("r4", "Y", "A"),
            ("r5", "Y", "B"), ("r6", "Y", "B"), ("r7", "Y", "C")]
    acc = pairwise_accuracy(_frame(spark, rows), "cluster", "person")
    assert acc == PairwiseAccuracy(records=7, predicted_pairs=9, true_pairs=7, true_positives=4)
    assert acc.precision == pytest.approx(4 / 9)
    assert acc.recall == pytest.approx(4 / 7)
    assert acc.f1 == pytest.approx(0.5)


def test_perfect_clustering(spark):
    rows = [("r1", "X", "A"), ("r2", "X", "A"), ("r3", "Y", "B"), ("r4", "Z", "C")]
    acc = pairwise_accuracy(_frame(spark, rows), "cluster", "person")
    assert (acc.predicted_pairs, acc.true_pairs, acc.true_positives) == (1, 1, 1)
    assert (acc.precision, acc.recall, acc.f1) == (1.0, 1.0, 1.0)


def test_everything_in_one_cluster(spark):
    """Four records of two persons, two each, all in one cluster: 6 predicted pairs, 2 true."""
    rows = [("r1", "X", "A"), ("r2", "X", "A"), ("r3", "X", "B"), ("r4", "X", "B")]
    acc = pairwise_accuracy(_frame(spark, rows), "cluster", "person")
    assert acc == PairwiseAccuracy(records=4, predicted_pairs=6, true_pairs=2, true_positives=2)
    assert (acc.precision, acc.recall) == (pytest.approx(1 / 3), 1.0)


def test_all_singletons_predict_no_pair(spark):
    rows = [("r1", "X", "A"), ("r2", "Y", "A"), ("r3", "Z", "B")]
    acc = pairwise_accuracy(_frame(spark, rows), "cluster", "person")
    assert acc == PairwiseAccuracy(records=3, predicted_pairs=0, true_pairs=1, true_positives=0)
    assert (acc.precision, acc.recall, acc.f1) == (1.0, 0.0, 0.0)


def test_no_records(spark):
    acc = pairwise_accuracy(_frame(spark, []), "cluster", "person")
    assert acc == PairwiseAccuracy(records=0, predicted_pairs=0, true_pairs=0, true_positives=0)


def test_agrees_with_counting_every_pair(spark):
    """A random clustering of 40 records, checked against an enumeration of all 780 pairs."""
    rnd = random.Random(20)
    rows = [(f"r{i}", f"c{rnd.randrange(8)}", f"p{rnd.randrange(10)}") for i in range(40)]
    pairs = list(itertools.combinations(rows, 2))
    predicted = sum(a[1] == b[1] for a, b in pairs)
    true = sum(a[2] == b[2] for a, b in pairs)
    both = sum(a[1] == b[1] and a[2] == b[2] for a, b in pairs)
    acc = pairwise_accuracy(_frame(spark, rows), "cluster", "person")
    assert (acc.records, acc.predicted_pairs, acc.true_pairs, acc.true_positives) == (
        40, predicted, true, both)


def test_rates_and_dict_without_spark():
    acc = PairwiseAccuracy(records=10, predicted_pairs=8, true_pairs=10, true_positives=6)
    assert acc.as_dict() == {"records": 10, "predicted_pairs": 8, "true_pairs": 10,
                             "true_positives": 6, "precision": 0.75, "recall": 0.6,
                             "f1": pytest.approx(2 * 0.75 * 0.6 / 1.35)}
    assert PairwiseAccuracy(0, 0, 0, 0).f1 == 1.0
