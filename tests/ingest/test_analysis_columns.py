"""Analysis columns through ingest: typed, carried as written, unionable across sources that
declare different ones, and a value that does not parse kept as null and counted (never
silently, never quarantined)."""

import datetime as dt
from pathlib import Path

import pytest
import yaml

from bold_spark.config.datasets import load_dataset_config
from bold_spark.exceptions import ConfigError
from bold_spark.ingest.ingest import ingest_sources


def source(tmp_path: Path, name: str, header: str, rows: list[str], analysis: dict):
    data = tmp_path / f"{name}.csv"
    data.write_text(header + "\n" + "\n".join(rows) + "\n")
    conf = tmp_path / f"{name}.yaml"
    conf.write_text(yaml.safe_dump({
        "path": f"{name}.csv", "format": "csv", "record_id": "ID",
        "columns": {"surname": "SURNAME", "dob": "DOB"}, "date_formats": {"dob": ["dd/MM/yyyy"]},
        "analysis_columns": analysis,
    }))
    return load_dataset_config(conf), str(data)


PROBATION = ["1,Smith,01/02/1980,Drug rehabilitation requirement ,03/04/2023,12",
             "2,Jones,15/06/1975,,31/02/2023,x",    # impossible date, not an integer: null, counted
             "3,Brown,01/01/1990,Unpaid work,,",     # blank: null, not counted
             "4,Green,,Curfew,01/01/2023,5"]        # missing mandatory dob: quarantined


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    from bold_spark.privacy.keys import SecretKey

    tmp = tmp_path_factory.mktemp("analysis-ingest")
    prob = source(tmp, "probation", "ID,SURNAME,DOB,REQ,SENT,HOURS", PROBATION, {
        "requirement_type": {"column": "REQ"},
        "sentence_date": {"column": "SENT", "type": "date", "formats": ["dd/MM/yyyy"]},
        "hours": {"column": "HOURS", "type": "integer"},
    })
    ndtms = source(tmp, "ndtms", "ID,SURNAME,DOB,START", ["9,Smith,01/02/1980,2023-04-20"], {
        "treatment_start": {"column": "START", "type": "date", "formats": ["yyyy-MM-dd"]},
    })
    datasets = {"probation": prob[0], "ndtms": ndtms[0]}
    uris = {"probation": prob[1], "ndtms": ndtms[1]}
    out = ingest_sources(spark, datasets, uris, SecretKey(b"k" * 32), "run-1", "2026-01-01")
    rows = {r["surname"]: r.asDict() for r in out.records.collect() if r["source"] == "probation"}
    yield out, rows, tmp
    out.release()


def test_values_typed_and_carried_as_written(ingested):
    _, rows, _ = ingested
    smith = rows["SMITH"]
    assert smith["requirement_type"] == "Drug rehabilitation requirement"  # trimmed, case kept
    assert smith["sentence_date"] == dt.date(2023, 4, 3) and smith["hours"] == 12
    assert rows["BROWN"]["requirement_type"] == "Unpaid work" and rows["BROWN"]["sentence_date"] is None


def test_sources_with_different_analysis_columns_union(ingested):
    out, _, _ = ingested
    recs = {(r["source"], r["surname"]): r for r in out.records.collect()}
    assert set(recs) == {("probation", "SMITH"), ("probation", "JONES"), ("probation", "BROWN"),
                         ("ndtms", "SMITH")}
    assert recs[("ndtms", "SMITH")]["treatment_start"] == dt.date(2023, 4, 20)
    assert recs[("ndtms", "SMITH")]["sentence_date"] is None
    assert recs[("probation", "SMITH")]["treatment_start"] is None
    assert dict(out.records.dtypes)["sentence_date"] == "date"


def test_unparseable_values_are_null_and_counted(ingested):
    out, rows, _ = ingested
    assert rows["JONES"]["sentence_date"] is None and rows["JONES"]["hours"] is None
    c = out.counts["probation"]
    assert c["sentence_date_unparseable"] == 1 and c["hours_unparseable"] == 1
    assert c["rows_in"] == 4 and c["accepted"] == 3 and c["quarantined"] == 1
    assert out.counts["ndtms"]["treatment_start_unparseable"] == 0
    assert "requirement_type_unparseable" not in c  # strings always parse


def test_one_name_two_types_refused(spark, ingested):
    _, _, tmp = ingested
    a = source(tmp, "a", "ID,SURNAME,DOB,D", ["1,X,01/01/1990,2020-01-01"],
               {"event_day": {"column": "D", "type": "date"}})
    b = source(tmp, "b", "ID,SURNAME,DOB,D", ["1,X,01/01/1990,2020-01-01"],
               {"event_day": {"column": "D"}})
    from bold_spark.privacy.keys import SecretKey

    with pytest.raises(ConfigError, match=r"b.yaml: key 'analysis_columns.event_day.type'"):
        ingest_sources(spark, {"a": a[0], "b": b[0]}, {"a": a[1], "b": b[1]},
                       SecretKey(b"k" * 32), "run-1")


def test_missing_analysis_column_names_the_key(spark, tmp_path):
    from bold_spark.exceptions import InputError
    from bold_spark.io.sources import read_source

    ds, uri = source(tmp_path, "p", "ID,SURNAME,DOB", ["1,X,01/01/1990"],
                     {"requirement_type": {"column": "REQ"}})
    with pytest.raises(InputError, match="analysis_columns.requirement_type.column"):
        read_source(spark, ds, uri)
