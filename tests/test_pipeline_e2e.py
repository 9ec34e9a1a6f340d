"""End to end on a small synthetic population: the whole pipeline, stages alone, accuracy."""

from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.exceptions import StageError
from bold_spark.io.delta import read_table, table_version
from bold_spark.pipeline import run_cluster, run_evaluate, run_pipeline, run_predict

REPO = Path(__file__).resolve().parents[1]
PEOPLE = 500

pytestmark = pytest.mark.e2e


def pipeline_config(tmp: Path, **overrides) -> Path:
    base = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    base.update(
        input_root=str(tmp / "input"), output_root=str(tmp / "output"),
        datasets_dir=str(REPO / "conf/datasets"),
        ground_truth=str(tmp / "input/ground_truth.parquet"),
    )
    for g in base["link_groups"]:
        g["model"] = str(REPO / g["model"])
    base.update(overrides)
    path = tmp / f"pipeline-{len(overrides)}.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


@pytest.fixture(scope="module")
def demo_run(spark, tmp_path_factory):
    from bold_spark.privacy.keys import SecretKey
    from bold_spark.synthetic import SyntheticSpec, run_generate

    tmp = tmp_path_factory.mktemp("e2e")
    run_generate(spark, SyntheticSpec(people=PEOPLE, seed=11), str(tmp / "input"))
    cfg = load_pipeline_config(pipeline_config(tmp))
    key = SecretKey(b"e2e-test-key-0123456789abcdef")
    result = run_pipeline(spark, cfg, key)
    return tmp, cfg, key, result


def test_run_succeeds_and_conserves_records(spark, demo_run):
    _, cfg, _, result = demo_run
    run = result.run
    assert run.status == "succeeded"
    counts = run.source_counts
    assert set(counts) == {"ndtms", "prison", "probation", "benefits", "homelessness"}
    for c in counts.values():
        assert c["rows_in"] == c["accepted"] + c["quarantined"]
    records = read_table(spark, cfg.table_uri("records"))
    clusters = read_table(spark, cfg.table_uri("clusters"))
    assert records.count() == sum(c["accepted"] for c in counts.values())
    assert clusters.count() == records.count()
    assert clusters.select("record_key").distinct().count() == records.count()
    assert clusters.join(records, "record_key", "left_anti").count() == 0
    for col in ("person_id", "person_id_high", "person_id_medium", "person_id_low"):
        assert clusters.where(F.col(col).isNull()).count() == 0
    runs = read_table(spark, cfg.table_uri("runs")).collect()
    assert [r["status"] for r in runs] == ["succeeded"] and runs[0]["config_hash"] == cfg.config_hash()


def test_edge_schema(spark, demo_run):
    _, cfg, _, _ = demo_run
    edges = read_table(spark, cfg.table_uri("edges"))
    types = dict(edges.dtypes)
    for col, t in [("record_key_l", "string"), ("record_key_r", "string"), ("match_weight", "double"),
                   ("match_probability", "double"), ("match_key", "string"), ("blocking_rule", "string"),
                   ("model_version", "string"), ("run_id", "string"), ("link_group", "string"),
                   ("gamma_dob", "int"), ("gamma_first_name", "int"), ("gamma_first_initial", "int")]:
        assert types.get(col) == t, (col, types.get(col))
    assert edges.where("record_key_l >= record_key_r").count() == 0
    assert edges.groupBy("record_key_l", "record_key_r").count().where("count > 1").count() == 0
    assert {r[0] for r in edges.select("link_group").distinct().collect()} == {"rich", "ndtms"}
    ndtms = edges.where("link_group = 'ndtms'")
    assert ndtms.where("source_l <> 'ndtms' and source_r <> 'ndtms'").count() == 0
    assert edges.where("match_probability < 0 or match_probability > 1").count() == 0


def test_medium_threshold_accuracy(spark, demo_run):
    _, cfg, key, _ = demo_run
    acc = run_evaluate(spark, cfg, key)
    medium = acc["medium"]
    assert medium.true_pairs > 100
    assert medium.precision >= 0.95, medium.as_dict()
    assert medium.recall >= 0.95, medium.as_dict()
    assert acc["high"].precision >= medium.precision - 1e-9
    assert acc["low"].recall >= medium.recall - 1e-9


def test_stages_rerun_alone_on_previous_tables(spark, demo_run):
    _, cfg, _, first = demo_run
    before = read_table(spark, cfg.table_uri("clusters")).select("record_key", "person_id").collect()
    edges_version = table_version(cfg.table_uri("edges"))
    assert run_predict(spark, cfg).run.status == "succeeded"
    assert run_cluster(spark, cfg).run.status == "succeeded"
    assert table_version(cfg.table_uri("edges")) == edges_version + 1
    after = read_table(spark, cfg.table_uri("clusters")).select("record_key", "person_id").collect()
    assert sorted(map(tuple, before)) == sorted(map(tuple, after))
    names = [r["run_name"] for r in read_table(spark, cfg.table_uri("runs")).collect()]
    assert sorted(names) == sorted(["demo:run", "demo:predict", "demo:cluster"])


def test_blocking_cap_refuses_and_records_failure(spark, demo_run):
    tmp, _, _, _ = demo_run
    cfg = load_pipeline_config(pipeline_config(tmp, max_comparisons=100))
    edges_version = table_version(cfg.table_uri("edges"))
    with pytest.raises(StageError) as e:
        run_predict(spark, cfg)
    assert "stage 'predict'" in str(e.value) and "cap of 100" in str(e.value) and "rule" in str(e.value)
    assert table_version(cfg.table_uri("edges")) == edges_version
    last = read_table(spark, cfg.table_uri("runs")).orderBy(F.col("started_at").desc()).first()
    assert last["status"] == "failed" and last["failed_stage"] == "predict"
