import math

import pytest
from pyspark.sql import functions as F

from bold_spark.linkage.scope import PairScope
from bold_spark.privacy.keys import SecretKey
from bold_spark.tuning import thresholds as th


@pytest.fixture(scope="module")
def case(spark):
    """Person A has a1, a2, a3; B has b1, b2; C has c1: 4 true pairs among 15 pairs."""
    records = spark.createDataFrame(
        [(k, "s" if k != "b2" else "t") for k in ("a1", "a2", "a3", "b1", "b2", "c1")],
        "record_key string, source string")
    truth = spark.createDataFrame([(k, k[0]) for k in ("a1", "a2", "a3", "b1", "b2", "c1")],
                                  "record_key string, true_person string")
    edges = spark.createDataFrame(
        [("a1", "a2", 10.2), ("a1", "a3", 3.5), ("a2", "b1", 5.0), ("b1", "b2", -0.5), ("a1", "x9", 7.0)],
        "record_key_l string, record_key_r string, match_weight double",
    ).withColumn("match_probability", 1 / (1 + F.pow(2.0, -F.col("match_weight"))))
    return records, truth, edges


def test_label_edges(case):
    _, truth, edges = case
    got = {(r.record_key_l, r.record_key_r): r.is_match for r in th.label_edges(edges, truth).collect()}
    assert got == {("a1", "a2"): True, ("a1", "a3"): True, ("a2", "b1"): False, ("b1", "b2"): True,
                   ("a1", "x9"): None}


def test_pair_totals_by_scope(case):
    records, truth, _ = case
    assert th.pair_totals(records, truth) == (4.0, 15.0)
    # link only: pairs across sources s and t: b2 with the 5 others, of which b1-b2 is true.
    assert th.pair_totals(records, truth, PairScope(link_only=True)) == (1.0, 5.0)


def test_precision_recall_table_counts_unblocked_true_pairs_as_missed(case):
    records, truth, edges = case
    table, at = th.precision_recall(edges, records, truth, step=1.0, thresholds={"mid": th.weight_to_probability(4.0)})
    rows = table.set_index("truth_threshold")
    assert list(rows.index) == [10.0, 5.0, 3.0, -1.0]  # a1-x9 has no ground truth: left out
    assert rows.tp.tolist() == [1, 1, 2, 3] and rows.fp.tolist() == [0, 1, 1, 1]
    assert rows.recall.tolist() == [0.25, 0.25, 0.5, 0.75]  # a2-a3 was never scored
    assert rows.precision.tolist() == [1.0, 0.5, pytest.approx(2 / 3), 0.75]
    assert rows.loc[3.0, "fn"] == 2 and rows.loc[3.0, "tn"] == 15 - 4 - 1
    assert rows.loc[10.0, "match_probability"] == pytest.approx(2**10 / (1 + 2**10))
    assert at.loc[0, ["tp", "fp", "precision", "recall"]].tolist() == [1, 1, 0.5, 0.25]
    assert at.loc[0, "match_weight"] == pytest.approx(4.0)


def test_suggest_threshold_takes_most_recall_at_a_precision(case):
    records, truth, edges = case
    table, _ = th.precision_recall(edges, records, truth, step=1.0)
    assert th.suggest_threshold(table, 0.7) == pytest.approx(th.weight_to_probability(-1.0))
    assert th.suggest_threshold(table, 0.9) == pytest.approx(th.weight_to_probability(10.0))
    assert th.suggest_threshold(table, 1.1) == pytest.approx(th.weight_to_probability(10.0))


def test_weight_probability_round_trip_without_overflow():
    for w in (-40.0, -1.0, 0.0, 2.0, 40.0):
        assert th.probability_to_weight(th.weight_to_probability(w)) == pytest.approx(w)
    assert th.weight_to_probability(5000.0) == 1.0 and th.weight_to_probability(-5000.0) == 0.0
    assert math.isclose(th.probability_to_weight(0.95), 4.2479, abs_tol=1e-4)


def test_keyed_truth_hashes_ids_per_source_and_drops_resent_rows(spark, tmp_path):
    key = SecretKey(b"tuning-test-key-0123456789abcdef")
    spark.createDataFrame(
        [("s1", "1", "P1"), ("s2", "1", "P1"), ("s2", "2", "P2"), ("s2", "2", "P2"), ("s3", "9", "P9")],
        "source string, source_record_id string, person_id string").write.parquet(str(tmp_path / "gt"))
    rows = th.keyed_truth(spark, str(tmp_path / "gt"), ["s1", "s2"], key).collect()
    assert sorted(r.true_person for r in rows) == ["P1", "P1", "P2"]  # s3 not asked for; resent row once
    assert len({r.record_key for r in rows}) == 3  # the same id in two sources: two keys
    assert all(len(r.record_key) >= 32 and r.record_key not in {"1", "2"} for r in rows)
