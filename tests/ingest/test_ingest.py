"""Validation, quarantine accounting and bad-input errors on a real local session."""

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from bold_spark.config.datasets import load_dataset_config
from bold_spark.config.pipeline import PrivacyConfig
from bold_spark.exceptions import ConfigError, InputError
from bold_spark.ingest.fingerprint import standardisation_version
from bold_spark.ingest.ingest import ingest_sources
from bold_spark.io.sources import read_source

HEADER = "ID,FIRST,SURNAME,DOB,PC,NINO\n"
ROWS = [
    "1,John,Smith,01/02/1980,SW1A 1AA,AB123456C",
    "2,Mary Ann,O'Brien,15/06/1975,m11ae,",
    "3,Bad,Date,31/02/1980,,",        # unparseable mandatory dob -> quarantine
    "4,No,Dob,,,",                    # missing mandatory dob -> quarantine
    ",No,Id,01/01/1990,,",            # missing id -> quarantine
    "5,Dup,One,01/01/1990,,",         # duplicate id -> both quarantined
    "5,Dup,Two,01/01/1991,,",
    "6,Old,Timer,01/01/1850,,",       # impossible dob: accepted, nulled, counted
]


def make_source(tmp_path: Path, rows=ROWS, name="src"):
    data = tmp_path / f"{name}.csv"
    data.write_text(HEADER + "\n".join(rows) + "\n")
    cfg = {
        "path": f"{name}.csv", "format": "csv", "record_id": "ID",
        "columns": {"forenames": "FIRST", "surname": "SURNAME", "dob": "DOB", "postcode": "PC",
                    "ni_number": "NINO"},
        "date_formats": {"dob": ["dd/MM/yyyy"]}, "mandatory": ["dob"],
    }
    conf = tmp_path / f"{name}.yaml"
    conf.write_text(yaml.safe_dump(cfg))
    return load_dataset_config(conf), str(data)


def test_every_row_accepted_or_quarantined_with_reason(spark, tmp_path, secret_key):
    ds, uri = make_source(tmp_path)
    out = ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "run-1", "2026-01-01")
    c = out.counts["src"]
    assert c == {"rows_in": 8, "accepted": 3, "quarantined": 5, "dob_unparseable": 0,
                 "event_date_unparseable": 0}
    assert c["rows_in"] == c["accepted"] + c["quarantined"]
    assert out.records.count() == 3 and out.quarantine.count() == 5
    ids = {r["row_ref"]: r["source_record_id"] or "" for r in out.quarantine_restricted.collect()}
    reasons = {ids[r["row_ref"]]: r["reason"] for r in out.quarantine.collect()}
    assert "unparseable dob" in reasons["3"]
    assert "missing mandatory dob" in reasons["4"]
    assert "missing record id" in reasons[""]
    assert "duplicate record id" in reasons["5"]
    assert sum(1 for i in ids.values() if i == "5") == 2
    recs = {r["first_name"]: r for r in out.records.collect()}
    assert set(recs) == {"JOHN", "MARY", "OLD"}
    assert recs["MARY"]["middle_names"] == "ANN" and recs["MARY"]["surname"] == "OBRIEN"
    assert recs["OLD"]["dob"] is None and recs["OLD"]["dob_impossible"] is True
    assert recs["JOHN"]["postcode_sector"] == "SW1A 1" and recs["MARY"]["postcode"] == "M1 1AE"
    assert len(recs["JOHN"]["ni_number_hash"]) == 64 and recs["MARY"]["ni_number_hash"] is None
    assert len(recs["JOHN"]["record_key"]) == 32
    out.release()


def test_missing_input_file(spark, tmp_path):
    ds, uri = make_source(tmp_path)
    with pytest.raises(InputError, match=r"does not exist"):
        read_source(spark, ds, uri + ".gone")


def test_empty_input_file(spark, tmp_path):
    ds, uri = make_source(tmp_path, rows=[])
    with pytest.raises(InputError, match=r"holds no rows"):
        read_source(spark, ds, uri)


def test_wrong_format(spark, tmp_path):
    ds, uri = make_source(tmp_path)
    pq = str(tmp_path / "actually.parquet")
    spark.range(3).write.parquet(pq)
    with pytest.raises(InputError, match=r"the header line holds bytes that are not text"):
        read_source(spark, ds, pq)


def test_mapped_column_missing_names_config_key(spark, tmp_path):
    ds, _ = make_source(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("ID,FIRST,SURNAME,DOB,PC\n1,a,b,01/01/1990,\n")
    with pytest.raises(ConfigError, match=r"src.yaml: key 'columns.ni_number': input .*other.csv "
                                          r"lacks 1 of the 6 mapped column\(s\): 'NINO'"):
        read_source(spark, ds, str(other))



def test_rows_with_a_published_fingerprint_are_not_standardised_again(spark, tmp_path, secret_key):
    """An incremental ingest standardises only rows whose (record key, raw fingerprint) is not
    published: new rows and rows whose mapped values changed, and every row once the dataset
    config changes what a row becomes."""
    ds, uri = make_source(tmp_path)
    first = ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "run-1", "2026-01-01")
    published = first.records.select("record_key", "raw_fingerprint", "first_name").collect()
    assert len({r["raw_fingerprint"] for r in published}) == 3  # JOHN, MARY, OLD
    assert all(len(r["raw_fingerprint"]) == 64 for r in published)
    fps = spark.createDataFrame([(r["record_key"], r["raw_fingerprint"], "src") for r in published],
                                "record_key string, raw_fingerprint string, source string")
    # week 2: JOHN as before, MARY's postcode written differently, a new row 7, OLD withdrawn
    week2 = tmp_path / "week2"
    week2.mkdir()
    rows = [ROWS[0], "2,Mary Ann,O'Brien,15/06/1975,M1 1AE,", "7,New,Person,02/03/1999,,"]
    ds2, uri2 = make_source(week2, rows)
    second = ingest_sources(spark, {"src": ds2}, {"src": uri2}, secret_key, "run-2", "2026-01-08",
                            fingerprints=fps)
    key_of = {r["first_name"]: r["record_key"] for r in published}
    assert [r["record_key"] for r in second.unchanged.collect()] == [key_of["JOHN"]]
    assert sorted(r["first_name"] for r in second.records.collect()) == ["MARY", "NEW"]
    assert second.counts["src"]["accepted"] == 3  # counted, whether standardised or not
    # the same rows with another date format declared: every row is standardised again
    cfg = yaml.safe_load((week2 / "src.yaml").read_text())
    cfg["date_formats"]["dob"] = ["dd/MM/yyyy", "yyyy-MM-dd"]
    (week2 / "src.yaml").write_text(yaml.safe_dump(cfg))
    third = ingest_sources(spark, {"src": load_dataset_config(week2 / "src.yaml")}, {"src": uri2},
                           secret_key, "run-3", "2026-01-08", fingerprints=fps)
    assert third.unchanged.count() == 0 and third.records.count() == 3


def test_standardisation_version_follows_what_shapes_a_record(tmp_path):
    """A new file name or snapshot date each week is no change; a date format or the privacy
    settings (PPRL encodings) are."""
    ds, _ = make_source(tmp_path)
    base = standardisation_version(ds, PrivacyConfig())
    assert base == standardisation_version(
        replace(ds, path="extracts/2026-01-08/src.csv", file="/elsewhere/src.yaml",
                snapshot_date="2026-01-08", description="week 2"), PrivacyConfig())
    assert base != standardisation_version(
        replace(ds, date_formats={"dob": ["yyyy-MM-dd"]}), PrivacyConfig())
    assert base != standardisation_version(ds, PrivacyConfig(mode="pprl"))
    assert base != standardisation_version(ds, PrivacyConfig(bloom_filter_bits=512))


def test_code_version_reads_the_same_from_a_py_files_zip(tmp_path):
    """``--py-files`` ships bold_spark as a zip (make dist): the standardisation code's version
    is read through the modules' loader, so a driver importing from the zip gets the version an
    installed package gets (a plain open() of the module path fails inside a zip)."""
    import subprocess
    import sys
    import zipfile

    from bold_spark.ingest.fingerprint import STANDARDISATION_MODULES, code_version

    repo = Path(__file__).resolve().parents[2]
    archive = tmp_path / "bold_spark.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in (repo / "bold_spark").rglob("*.py"):
            z.write(f, f.relative_to(repo).as_posix())
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import bold_spark.ingest.fingerprint as f; "
              "assert '.zip' in f.__file__, f.__file__; print(f.code_version())")
    out = subprocess.run([sys.executable, "-c", script, str(archive)], capture_output=True, text=True,
                         cwd=tmp_path, check=True)
    assert out.stdout.strip() == code_version()
    assert len(STANDARDISATION_MODULES) == len(set(STANDARDISATION_MODULES)) >= 10
