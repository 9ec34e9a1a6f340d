"""The bad-input matrix rows owned by the stages after ingest (docs/bad_input.md): one huge block
(a placeholder date of birth), a model with a typo in a SQL condition, a pipeline config naming
an unknown source. Real Spark, real files, a real output root: one small source ingested once."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.exceptions import BlockingCapExceeded, ConfigError, StageError
from bold_spark.io.delta import read_table
from bold_spark.linkage.blocking import check_model_sql
from bold_spark.linkage.model import ModelMeta, load_model, save_model
from bold_spark.pipeline import run_ingest, run_predict, run_train
from bold_spark.publish import published_set
from tests.tuning.conftest import tiny_model

PLACEHOLDER = "1901-01-01"  # a placeholder DOB written for unknown dates of birth
GIANT = 40
PEOPLE = [("Ann", "Smith", "1960-01-01"), ("Bob", "Jones", "1961-02-02"), ("Cat", "Brown", "1962-03-03"),
          ("Dan", "Evans", "1963-04-04"), ("Eve", "White", "1964-05-05"), ("Fay", "Green", "1965-06-06")]


def _model(tmp: Path, name: str, settings: dict | None = None, **training) -> str:
    start = tiny_model()
    meta = ModelMeta(sources=["people"], training=replace(start.meta.training, **training))
    return save_model(replace(start, settings=settings or start.settings, meta=meta),
                      tmp / "models" / f"{name}.json")


@pytest.fixture(scope="module")
def published(spark, tmp_path_factory):
    """A pipeline config over one source whose GIANT last rows share a placeholder DOB,
    ingested and published once; plus its path for variants."""
    tmp = tmp_path_factory.mktemp("stages")
    rows = ["ID,FIRST,SURNAME,DOB"]
    rows += [f"{i}{k},{f},{s},{d}" for i, (f, s, d) in enumerate(PEOPLE) for k in "ab"]
    # distinct names (letters only: cleaning drops digits), one shared placeholder DOB
    tag = [chr(65 + i // 26) + chr(65 + i % 26) for i in range(GIANT)]
    rows += [f"z{i},Zed{tag[i]},Zz{tag[i]},{PLACEHOLDER}" for i in range(GIANT)]
    (tmp / "input").mkdir()
    (tmp / "input/people.csv").write_text("\n".join(rows) + "\n")
    (tmp / "datasets").mkdir()
    (tmp / "datasets/people.yaml").write_text(yaml.safe_dump({
        "path": "people.csv", "format": "csv", "record_id": "ID",
        "columns": {"first_name": "FIRST", "surname": "SURNAME", "dob": "DOB"},
        "date_formats": {"dob": ["yyyy-MM-dd"]}, "mandatory": ["dob"]}))
    (tmp / "models").mkdir()
    _model(tmp, "m")
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump({
        "run_name": "stages", "input_root": "input", "output_root": "output",
        "datasets_dir": "datasets", "sources": ["people"],
        "link_groups": [{"name": "g", "model": "models/m.json", "sources": ["people"]}]}))
    cfg = load_pipeline_config(path)
    from bold_spark.privacy.keys import SecretKey

    writer = spark.conf.get("bold.delta_writer", "auto")
    spark.conf.set("bold.delta_writer", "embedded")  # delta-rs commits: the cheaper writer here
    try:
        assert run_ingest(spark, cfg, SecretKey(b"stages-test-key-0123456789abcdef")).run.status == "succeeded"
        yield tmp, path, cfg
    finally:
        spark.conf.set("bold.delta_writer", writer)


def _last_run(spark, cfg):
    runs = read_table(spark, cfg.table_uri("runs")).where("status <> 'running'")
    return runs.orderBy("finished_at").collect()[-1]


# ------------------------------------------------------------------ one huge block


def test_huge_block_refused_in_training_with_the_rule_and_its_block(spark, published):
    tmp, path, _ = published
    cfg = load_pipeline_config(path, {"max_comparisons": 500})
    with pytest.raises(StageError) as e:
        run_train(spark, cfg, output_dir=str(tmp / "trained"))
    assert isinstance(e.value.__cause__, BlockingCapExceeded)
    msg = str(e.value.__cause__)
    assert "link group 'g': training's EM blocking rule would generate" in msg
    assert f"rule 0 `l.dob = r.dob` with {GIANT * (GIANT - 1) // 2 + 6:,} comparisons" in msg
    assert f"(largest block {GIANT} records)" in msg and PLACEHOLDER not in msg
    run = _last_run(spark, cfg)
    assert (run["status"], run["failed_stage"]) == ("failed", "train:g")
    assert run["error"] == f"stage 'train:g': BlockingCapExceeded: {msg}"
    assert not (tmp / "trained").exists()


def test_huge_block_skipped_by_the_per_block_cap(spark, published):
    tmp, path, _ = published
    cfg = load_pipeline_config(path, {"max_comparisons": 500, "max_block_size": 10})
    result = run_train(spark, cfg, output_dir=str(tmp / "trained"))
    assert result.run.status == "succeeded"
    assert result.run.metrics["train_blocks_skipped"] == 1
    assert result.run.metrics["train_comparisons_skipped"] == GIANT * (GIANT - 1) // 2
    trained = load_model(tmp / "trained/m.json").meta.trained
    assert trained["skipped_blocks"] == [{"rule": "l.dob = r.dob", "blocks": 1, "records": GIANT,
                                          "comparisons": GIANT * (GIANT - 1) // 2}]
    dob_session = next(s for s in trained["em_sessions"] if s["rule"] == "l.dob = r.dob")
    assert dob_session["pairs"] == len(PEOPLE)  # the pairs of the real DOB blocks only


@pytest.mark.parametrize("value", [-1, 1])
def test_max_block_size_is_validated(published, value):
    _, path, _ = published
    with pytest.raises(ConfigError, match=rf"{path}: key 'max_block_size': must be 0 \(off\) or at least 2"):
        load_pipeline_config(path, {"max_block_size": value})


# ------------------------------------------------------------------ a typo in a model's SQL


def test_model_typo_is_a_config_error_before_anything_is_published(spark, published):
    tmp, path, cfg = published
    settings = copy.deepcopy(tiny_model().settings)
    settings["blocking_rules_to_generate_predictions"][0]["blocking_rule"] = "l.dob = r.dbo"
    typo = _model(tmp, "typo_rule", settings)
    bad = load_pipeline_config(path, {"link_groups": [
        {"name": "g", "model": typo, "sources": ["people"]}]})
    before = published_set(spark, cfg.output_root)
    with pytest.raises(StageError) as e:
        run_predict(spark, bad)
    assert isinstance(e.value.__cause__, ConfigError)
    msg = str(e.value.__cause__)
    assert msg.startswith(f"{typo}: key 'blocking_rules_to_generate_predictions[0]': Spark cannot "
                          "run rule `l.dob = r.dbo` on the records table: UNRESOLVED_COLUMN")
    assert "`r`.`dbo`" in msg
    after = published_set(spark, cfg.output_root)
    assert after.seq == before.seq and after.versions == before.versions
    assert "edges" not in after.versions
    run = _last_run(spark, cfg)
    assert (run["status"], run["failed_stage"]) == ("failed", "predict")
    assert run["error"] == f"stage 'predict': ConfigError: {msg}"


def test_model_typos_in_levels_and_training_rules_name_file_and_key(spark, published):
    tmp, _, cfg = published
    records = read_table(spark, cfg.table_uri("records"))
    settings = copy.deepcopy(tiny_model().settings)
    settings["comparisons"][0]["comparison_levels"][1]["sql_condition"] = \
        "jaro_winklr(first_name_l, first_name_r) > 0.9"
    level = load_model(_model(tmp, "typo_level", settings))
    with pytest.raises(ConfigError, match=r"typo_level.json: key 'comparisons\[0\]\.comparison_levels\[1\]"
                       r"\.sql_condition': Spark cannot run `jaro_winklr.*\(comparison 'first_name'\).*"
                       r"UNRESOLVED_ROUTINE"):
        check_model_sql(records, level)
    em = load_model(_model(tmp, "typo_em", em_blocking_rules=["l.dob = r.dob", "l.surnam = r.surname"]))
    check_model_sql(records, em)  # predict reads no training rule
    with pytest.raises(ConfigError, match=r"typo_em.meta.json: key 'training.em_blocking_rules\[1\]': "
                       r"Spark cannot run rule `l.surnam = r.surname`"):
        check_model_sql(records, em, training=True)
    settings = copy.deepcopy(tiny_model().settings)
    settings["comparisons"][1]["comparison_levels"][1]["sql_condition"] = "surname_l LIKE surname_r"
    tf = load_model(_model(tmp, "tf_no_exact", settings))
    with pytest.raises(ConfigError, match=r"tf_no_exact.json: key 'comparisons': Splink cannot score "
                       r"this model: Could not find an exact match level for surname"):
        check_model_sql(records, tf)
    check_model_sql(records, load_model(tmp / "models/m.json"), training=True)  # the good one passes


# ------------------------------------------------------------------ an unknown source


def test_unknown_source_is_a_config_error_naming_file_and_key(spark, published, secret_key):
    tmp, path, _ = published
    cfg = load_pipeline_config(path, {"sources": ["people", "nowhere"], "output_root": "elsewhere"})
    with pytest.raises(ConfigError) as e:
        run_ingest(spark, cfg, secret_key)
    assert str(e.value).startswith(f"{path}: key 'sources': no dataset config "
                                   f"{tmp}/datasets/nowhere.yaml for 'nowhere'")
    assert not (tmp / "elsewhere").exists()  # refused before the run took the lock
    # a link group naming a source the pipeline does not list: refused when loading
    # (also tests/config/test_config_errors.py::test_pipeline_errors_name_key)
    with pytest.raises(ConfigError, match=rf"^{path}: key 'link_groups\[0\]\.sources': 'nowhere' is not "
                       "in the pipeline's sources"):
        load_pipeline_config(path, {"link_groups": [{"name": "g", "model": "models/m.json",
                                                     "sources": ["people", "nowhere"]}]})
