"""``analysis_columns`` in dataset configs: typed declarations, and refusals that name the file
and the key (a name or identifier column is never an analysis column)."""

from pathlib import Path

import pytest
import yaml

from bold_spark.config import load_dataset_config
from bold_spark.config.datasets import CANONICAL_FIELDS, RECORD_COLUMN_NAMES
from bold_spark.exceptions import ConfigError
from bold_spark.standardise.person import RECORD_COLUMNS

REPO = Path(__file__).resolve().parents[2]


def dataset(**analysis) -> dict:
    return {"path": "x.csv", "format": "csv", "record_id": "ID",
            "columns": {"surname": "SN", "dob": "DOB", "pnc": "PNC", "event_date": "SENT"},
            "extra_identifiers": {"old_ref": "OLDREF"}, "analysis_columns": analysis}


def load(tmp_path, data):
    p = tmp_path / "probation.yaml"
    p.write_text(yaml.safe_dump(data))
    return p, load_dataset_config(p)


def test_typed_analysis_columns_load(tmp_path):
    _, cfg = load(tmp_path, dataset(
        sentence_date={"column": "SENT", "type": "date", "formats": ["dd/MM/yyyy"]},
        requirement_type={"column": "REQ"}, hours={"column": "HRS", "type": "integer"}))
    assert cfg.analysis_columns["sentence_date"].spark_type == "date"
    assert cfg.analysis_columns["requirement_type"].spark_type == "string"
    assert cfg.analysis_columns["hours"].spark_type == "bigint"
    assert {"SENT", "REQ", "HRS"} <= set(cfg.source_columns_needed())


@pytest.mark.parametrize(("column", "mapped_as"), [
    ("SN", "columns.surname"), ("DOB", "columns.dob"), ("PNC", "columns.pnc"),
    ("ID", "record_id"), ("OLDREF", "extra_identifiers.old_ref"),
])
def test_name_or_identifier_column_refused(tmp_path, column, mapped_as):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, dataset(attr={"column": column}))
    msg = str(e.value)
    assert "probation.yaml" in msg and "analysis_columns.attr.column" in msg
    assert mapped_as in msg and "may not be an analysis column" in msg


@pytest.mark.parametrize(("spec", "key", "text"), [
    ({"column": "X", "type": "datetime"}, "analysis_columns.attr.type", "must be one of"),
    ({"column": "X", "formats": ["yyyy"]}, "analysis_columns.attr.formats", "only date"),
    ({"column": "X", "colour": "red"}, "analysis_columns.attr.colour", "unknown key"),
    ({"type": "date"}, "analysis_columns.attr.column", "required key is missing"),
])
def test_bad_declarations_name_the_key(tmp_path, spec, key, text):
    with pytest.raises(ConfigError) as e:
        load(tmp_path, dataset(attr=spec))
    assert "probation.yaml" in str(e.value) and key in str(e.value) and text in str(e.value)


@pytest.mark.parametrize("name", ["surname", "record_key", "person_id_medium", "Sentence", "old_ref_hash"])
def test_output_names_that_clash_are_refused(tmp_path, name):
    with pytest.raises(ConfigError, match=f"analysis_columns.{name}"):
        load(tmp_path, dataset(**{name: {"column": "SENT"}}))


def test_reserved_names_cover_the_records_table():
    assert set(RECORD_COLUMNS) <= set(CANONICAL_FIELDS) | set(RECORD_COLUMN_NAMES)


def test_shipped_configs_declare_the_pathway_columns():
    cols = {p.stem: load_dataset_config(p).analysis_columns
            for p in (REPO / "conf/datasets").glob("*.yaml")}
    assert set(cols["probation"]) == {"requirement_type", "sentence_date"}
    assert set(cols["ndtms"]) == {"treatment_start", "drug_group"}
    assert "release_date" in cols["prison"]
    assert cols["probation"]["sentence_date"].type == "date"
