"""Pairwise precision and recall by aggregation, on clusterings small enough to count by hand."""

from __future__ import annotations

import itertools
import random

import pytest

from bold_spark.evaluate import PairwiseAccuracy, pairwise_accuracy, source_pair_accuracy

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


SOURCED = "record_key string, cluster string, person string, source string"


def test_source_pairs_hand_counted(spark):
    """Person A = {a1 (nd), a2 (nd), a3 (pr)}, B = {b1 (pr), b2 (be)}, C = {c1 (be)}; clusters
    X = {a1, a3}, Y = {a2}, Z = {b1, b2, c1}.

    nd-nd: 1 true pair (a1-a2), missed. nd-pr: true a1-a3, a2-a3; predicted a1-a3 (right).
    be-pr: true b1-b2; predicted b1-b2 (right), b1-c1 (false). be-be: predicted b2-c1 (false).
    pr-pr: nothing, but listed (a source with itself always is)."""
    rows = [("a1", "X", "A", "nd"), ("a2", "Y", "A", "nd"), ("a3", "X", "A", "pr"),
            ("b1", "Z", "B", "pr"), ("b2", "Z", "B", "be"), ("c1", "Z", "C", "be")]
    got = source_pair_accuracy(spark.createDataFrame(rows, SOURCED), "cluster", "person")
    assert got == {
        "nd-nd": PairwiseAccuracy(records=2, predicted_pairs=0, true_pairs=1, true_positives=0),
        "nd-pr": PairwiseAccuracy(records=4, predicted_pairs=1, true_pairs=2, true_positives=1),
        "be-pr": PairwiseAccuracy(records=4, predicted_pairs=2, true_pairs=1, true_positives=1),
        "be-be": PairwiseAccuracy(records=2, predicted_pairs=1, true_pairs=0, true_positives=0),
        "pr-pr": PairwiseAccuracy(records=2, predicted_pairs=0, true_pairs=0, true_positives=0),
    }
    assert "be-nd" not in got  # no true or predicted pair between them


def test_source_pairs_agree_with_counting_every_pair(spark):
    """A random clustering of 60 records of three sources against an enumeration of all pairs,
    per source pair; the source pairs' counts add up to pairwise_accuracy's."""
    rnd = random.Random(7)
    rows = [(f"r{i}", f"c{rnd.randrange(9)}", f"p{rnd.randrange(12)}", rnd.choice("xyz"))
            for i in range(60)]
    frame = spark.createDataFrame(rows, SOURCED)
    got = source_pair_accuracy(frame, "cluster", "person")
    want: dict[str, list[int]] = {}
    for a, b in itertools.combinations(rows, 2):
        c = want.setdefault("-".join(sorted((a[3], b[3]))), [0, 0, 0])
        c[0] += a[1] == b[1]
        c[1] += a[2] == b[2]
        c[2] += a[1] == b[1] and a[2] == b[2]
    assert {k: [v.predicted_pairs, v.true_pairs, v.true_positives] for k, v in got.items()} == want
    overall = pairwise_accuracy(frame, "cluster", "person")
    assert sum(v.true_positives for v in got.values()) == overall.true_positives
    assert got["x-y"].records == sum(r[3] in "xy" for r in rows)
