"""Connected components at three thresholds; every record gets an id, singletons included."""

from pyspark.sql import functions as F

from bold_spark.linkage.clustering import cluster_records, connected_components, threshold_edges

THRESHOLDS = {"high": 0.99, "medium": 0.9, "low": 0.5}


def groups(df, col):
    """Partition of record keys by cluster column, as a set of frozensets."""
    rows = df.groupBy(col).agg(F.collect_set("record_key").alias("m")).collect()
    return {frozenset(r["m"]) for r in rows}


def test_clusters_at_each_threshold(spark):
    records = spark.createDataFrame(
        [(k, "s") for k in ["a", "b", "c", "d", "e", "f", "g"]], "record_key string, source string"
    )
    edges = spark.createDataFrame(
        [("a", "b", 0.999), ("b", "c", 0.95), ("c", "d", 0.6), ("e", "f", 0.3)],
        "record_key_l string, record_key_r string, match_probability double",
    )
    out = cluster_records(records, edges, THRESHOLDS, "run-x").persist()
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
