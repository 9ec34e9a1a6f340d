"""Connected components at three thresholds; every record gets an id, singletons included.
Both ways (on the driver, and distributed in Spark) give the same clusters."""

import random
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from bold_spark.linkage.clustering import cluster_records, connected_components, threshold_edges

THRESHOLDS = {"high": 0.99, "medium": 0.9, "low": 0.5}


def groups(df, col):
    """Partition of record keys by cluster column, as a set of frozensets."""
    rows = df.groupBy(col).agg(F.collect_set("record_key").alias("m")).collect()
    return {frozenset(r["m"]) for r in rows}


@pytest.mark.parametrize("driver_max_edges", [0, 1000], ids=["spark", "driver"])
def test_clusters_at_each_threshold(spark, driver_max_edges):
    records = spark.createDataFrame(
        [(k, "s") for k in ["a", "b", "c", "d", "e", "f", "g"]], "record_key string, source string"
    )
    edges = spark.createDataFrame(
        [("a", "b", 0.999), ("b", "c", 0.95), ("c", "d", 0.6), ("e", "f", 0.3)],
        "record_key_l string, record_key_r string, match_probability double",
    )
    out = cluster_records(records, edges, THRESHOLDS, "run-x", driver_max_edges).persist()
    assert out.count() == 7 and out.select("record_key").distinct().count() == 7
    a, b, c, d, e, f, g = "abcdefg"
    assert groups(out, "person_id_high") == {frozenset(x) for x in [(a, b), (c,), (d,), (e,), (f,), (g,)]}
    assert groups(out, "person_id_medium") == {frozenset(x) for x in [(a, b, c), (d,), (e,), (f,), (g,)]}
    assert groups(out, "person_id_low") == {frozenset(x) for x in [(a, b, c, d), (e,), (f,), (g,)]}
    sizes = {r["record_key"]: r["cluster_size_low"] for r in out.collect()}
    assert sizes["a"] == 4 and sizes["g"] == 1
    assert out.where(F.col("person_id") != F.col("person_id_medium")).count() == 0


def test_long_chain_converges(spark):
    n = 40
    edges = spark.createDataFrame(
        [(f"n{i:03d}", f"n{i + 1:03d}", 0.99) for i in range(n - 1)][::-1],
        "record_key_l string, record_key_r string, match_probability double",
    )
    labels = connected_components(threshold_edges(edges, {"x": 0.5}))
    got = labels.select("label").distinct().collect()
    assert [r["label"] for r in got] == ["n000"] and labels.count() == n


def test_driver_and_spark_give_the_same_person_ids(spark):
    """A random graph with chains, stars and isolated records: identical ids and sizes at every
    level whether components are solved on the driver or by label propagation in Spark."""
    rnd = random.Random(7)
    keys = [f"k{rnd.getrandbits(40):010x}" for _ in range(400)]
    records = spark.createDataFrame([(k, "s") for k in keys], "record_key string, source string")
    rows = [(rnd.choice(keys), rnd.choice(keys), rnd.random()) for _ in range(300)]
    edges = spark.createDataFrame([r for r in rows if r[0] != r[1]],
                                  "record_key_l string, record_key_r string, match_probability double")
    cols = ["record_key", *[f"{c}_{lv}" for lv in THRESHOLDS for c in ("person_id", "cluster_size")]]
    on_driver = cluster_records(records, edges, THRESHOLDS, "r", driver_max_edges=10_000).select(*cols)
    in_spark = cluster_records(records, edges, THRESHOLDS, "r", driver_max_edges=0).select(*cols)
    assert on_driver.count() == 400
    assert on_driver.exceptAll(in_spark).count() == 0 and in_spark.exceptAll(on_driver).count() == 0
    # the driver path really ran: more than one record shares a person at the low threshold
    assert on_driver.where("cluster_size_low > 1").count() > 0


def test_no_edges_at_all(spark):
    records = spark.createDataFrame([("a", "s"), ("b", "s")], "record_key string, source string")
    edges = spark.createDataFrame([], "record_key_l string, record_key_r string, match_probability double")
    for limit in (0, 10):
        out = cluster_records(records, edges, THRESHOLDS, "r", limit).collect()
        assert sorted(r["cluster_size_low"] for r in out) == [1, 1]
        assert len({r["person_id"] for r in out}) == 2


@pytest.mark.parametrize("driver_max_edges", [0, 1000], ids=["spark", "driver"])
def test_one_record_per_person_source_splits_at_the_weakest_bridge(spark, driver_max_edges):
    """Two benefits claimants (one record per person) joined through other records: the cluster
    is rebuilt strongest edge first and the edge that would join the second claimant is cut.
    Clusters without two of them (two prison records here) are left as they are."""
    src = {"b1": "benefits", "b2": "benefits", "p1": "prison", "p2": "prison", "n1": "ndtms",
           "x1": "prison", "x2": "prison", "y1": "benefits"}
    records = spark.createDataFrame(sorted(src.items()), "record_key string, source string")
    rows = [("b1", "p1", 0.999), ("p1", "n1", 0.97), ("b2", "n1", 0.92), ("b2", "p2", 0.999),
            ("b1", "b2", 0.6), ("x1", "x2", 0.95), ("x2", "y1", 0.93)]
    edges = spark.createDataFrame(
        [(a, b, src[a], src[b], p) for a, b, p in rows],
        "record_key_l string, record_key_r string, source_l string, source_r string, "
        "match_probability double")
    plain = cluster_records(records, edges, THRESHOLDS, "r", driver_max_edges)
    assert groups(plain, "person_id_medium") == {
        frozenset({"b1", "b2", "p1", "p2", "n1"}), frozenset({"x1", "x2", "y1"})}
    stats = {}
    out = cluster_records(records, edges, THRESHOLDS, "r", driver_max_edges,
                          one_record_per_person=frozenset({"benefits"}), stats=stats).persist()
    # medium and low: b1 and b2 in one cluster, split in two; high: no conflict
    assert stats == {"split_clusters_high": 0, "split_parts_high": 0, "split_clusters_medium": 1,
                     "split_parts_medium": 2, "split_clusters_low": 1, "split_parts_low": 2}
    assert out.count() == len(src)
    for lv in ("medium", "low"):
        assert groups(out, f"person_id_{lv}") == {
            frozenset({"b1", "p1", "n1"}), frozenset({"b2", "p2"}), frozenset({"x1", "x2", "y1"})}, lv
    assert groups(out, "person_id_high") == groups(plain, "person_id_high")
    got = {r["record_key"]: r for r in out.collect()}
    assert [got[k]["cluster_size_medium"] for k in ("b1", "p1", "n1", "b2", "p2", "x1")] == [3, 3, 3, 2, 2, 3]
    assert got["n1"]["cluster_key_medium"] == "b1" and got["p2"]["cluster_key_low"] == "b2"
    assert got["n1"]["cluster_size_high"] == 1 and got["n1"]["cluster_key_high"] == "n1"


def test_split_on_the_driver_equals_the_split_in_spark(spark):
    """A random graph with two one-record-per-person sources, a third that is not, and tied
    weights: the split done on the driver with the components (node numbers, numpy) gives the
    same clusters and counts as the split in Spark (string keys, after label propagation)."""
    rnd = random.Random(11)
    keys = [f"k{rnd.getrandbits(40):010x}" for _ in range(300)]
    src = {k: rnd.choice(["benefits", "prison", "ndtms", "ndtms"]) for k in keys}
    records = spark.createDataFrame(sorted(src.items()), "record_key string, source string")
    rows = {tuple(sorted(rnd.sample(keys, 2))) for _ in range(420)}
    edges = spark.createDataFrame(
        [(a, b, src[a], src[b], rnd.choice([0.6, 0.93, 0.995, rnd.random()]), float(rnd.randint(1, 4)))
         for a, b in sorted(rows)],
        "record_key_l string, record_key_r string, source_l string, source_r string, "
        "match_probability double, split_weight double")
    exclusive = frozenset({"benefits", "prison"})
    cols = ["record_key", *[f"{c}_{lv}" for lv in THRESHOLDS for c in ("person_id", "cluster_size")]]
    found = {}
    for limit in (0, 10_000):
        stats = {}
        found[limit] = (cluster_records(records, edges, THRESHOLDS, "r", limit, exclusive, stats,
                                        split_order="split_weight").select(*cols).persist(), stats)
    (in_spark, spark_stats), (on_driver, driver_stats) = found[0], found[10_000]
    assert driver_stats == spark_stats and driver_stats["split_clusters_high"] > 3, (driver_stats, spark_stats)
    assert on_driver.exceptAll(in_spark).count() == 0 and in_spark.exceptAll(on_driver).count() == 0
    # no cluster holds two records of an exclusive source at any level
    for lv in THRESHOLDS:
        held = on_driver.join(records, "record_key").where(F.col("source").isin(*exclusive)) \
            .groupBy(f"person_id_{lv}", "source").count().where("count > 1").count()
        assert held == 0, lv


def test_greedy_split_is_decided_by_the_edges_not_their_order():
    from bold_spark.linkage.clustering import _greedy_split

    edges = [("a", "c", "s", "t", 0.9), ("b", "c", "s", "t", 0.9), ("c", "d", "t", "u", 0.95)]
    one = _greedy_split(edges, frozenset({"s"}))
    assert one == _greedy_split(edges[::-1], frozenset({"s"}))
    # equal probabilities: the smaller keys' edge is taken first
    assert one == {"a": ("a", 3), "c": ("a", 3), "d": ("a", 3), "b": ("b", 1)}
    assert _greedy_split(edges, frozenset()) == {k: ("a", 4) for k in "abcd"}


def test_split_ranks_edges_by_the_order_column(spark):
    """The split cuts the weakest edge by the column it is given (the pipeline gives the weight
    without term-frequency adjustments, which an incremental run's kept edges share exactly
    with a full re-run), not by match_probability."""
    src = {"b1": "benefits", "b2": "benefits", "n1": "ndtms"}
    records = spark.createDataFrame(sorted(src.items()), "record_key string, source string")
    # by probability b2-n1 is the weaker edge; by split_weight b1-n1 is
    edges = spark.createDataFrame(
        [("b1", "n1", "benefits", "ndtms", 0.97, 5.0), ("b2", "n1", "benefits", "ndtms", 0.96, 9.0)],
        "record_key_l string, record_key_r string, source_l string, source_r string, "
        "match_probability double, split_weight double")
    exclusive = frozenset({"benefits"})
    by_p = cluster_records(records, edges, THRESHOLDS, "r", 1000, one_record_per_person=exclusive)
    by_w = cluster_records(records, edges, THRESHOLDS, "r", 1000, one_record_per_person=exclusive,
                           split_order="split_weight")
    assert groups(by_p, "person_id_medium") == {frozenset({"b1", "n1"}), frozenset({"b2"})}
    assert groups(by_w, "person_id_medium") == {frozenset({"b2", "n1"}), frozenset({"b1"})}


def test_weight_without_tf_is_the_prior_plus_the_levels_weights(spark):
    """From the gamma columns and the model only: log2 prior odds + sum of log2(m/u) of each
    comparison's level; a null level (-1) adds nothing."""
    import math

    from bold_spark.linkage.model import load_model
    from bold_spark.linkage.scoring import weight_without_tf

    settings = load_model(Path(__file__).resolve().parents[2] / "conf/models/ndtms.json").splink_settings()
    comps = settings.comparisons
    gammas = [max(lv.comparison_vector_value for lv in c.comparison_levels) for c in comps]
    gammas[1] = -1  # the second comparison null
    row = spark.createDataFrame([tuple(gammas)], ", ".join(f"{c._gamma_column_name} int" for c in comps))
    got = row.select(weight_without_tf(settings).alias("w")).first()["w"]
    prior = settings._probability_two_random_records_match
    want = math.log2(prior / (1 - prior)) + sum(
        math.log2(lv.m_probability / lv.u_probability)
        for c, g in zip(comps, gammas, strict=True) for lv in c.comparison_levels
        if not lv.is_null_level and lv.comparison_vector_value == g)
    assert got == pytest.approx(want, abs=1e-9) and want > 10
