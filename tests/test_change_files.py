"""Change files (``delivery: change_file``): the dataset config keys, the checks of each change
row against the published records, applying the changes, and the runs that must refuse them.

The end-to-end check (a change file gives the same published set as a full re-run on the
equivalent full extract) shares the incremental runs' fixture: ``tests/test_incremental.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from bold_spark.config.datasets import load_dataset_config
from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.exceptions import ConfigError, InputError, StageError
from bold_spark.ingest.ingest import ingest_sources
from bold_spark.io.sources import SourceColumnsError
from bold_spark.linkage.incremental import diff_records, kept_by_changes
from bold_spark.pipeline import run_ingest, run_pipeline
from bold_spark.publish import published_set
from bold_spark.standardise.person import record_key

REPO = Path(__file__).resolve().parents[1]
HEADER = "ID,FIRST,SURNAME,DOB,OP"
CFG = {
    "format": "csv", "record_id": "ID", "path": "src.csv",
    "columns": {"forenames": "FIRST", "surname": "SURNAME", "dob": "DOB"},
    "date_formats": {"dob": ["dd/MM/yyyy"]}, "mandatory": ["dob", "surname"],
    "delivery": "change_file", "change_column": "OP",
    "change_values": {"add": "I", "update": "U", "delete": "D"},
}


def dataset(tmp_path: Path, name: str = "src", **cfg):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**CFG, **cfg}))
    return path


# ------------------------------------------------------------------ dataset config


@pytest.mark.parametrize("change, key, message", [
    ({"delivery": "weekly"}, "delivery", "must be one of full, change_file"),
    ({"change_column": None}, "change_column", "required with `delivery: change_file`"),
    ({"delivery": "full"}, "change_column", "applies to `delivery: change_file` only"),
    ({"change_column": "ID"}, "change_column", "'ID' is also mapped as record_id"),
    ({"change_column": "SURNAME"}, "change_column", "also mapped as columns.surname"),
    ({"change_values": {"add": "I", "update": "U", "remove": "D"}}, "change_values.remove",
     "not an operation"),
    ({"change_values": {"add": "I", "update": "U"}}, "change_values.delete", "missing"),
    ({"change_values": {"add": "I", "update": " i ", "delete": "D"}}, "change_values.update",
     "the same value as change_values.add"),
    ({"change_values": {"add": "I", "update": "U", "delete": " "}}, "change_values.delete",
     "must not be blank"),
])
def test_config_errors_name_file_and_key(tmp_path, change, key, message):
    path = dataset(tmp_path, **change)
    with pytest.raises(ConfigError) as e:
        load_dataset_config(path)
    assert e.value.file == str(path) and e.value.key == key, str(e.value)
    assert message in e.value.problem


def test_config_defaults(tmp_path):
    ds = load_dataset_config(dataset(tmp_path, change_values={}))
    assert ds.is_change_file and ds.change_codes == {"add": "add", "update": "update", "delete": "delete"}
    assert "OP" in ds.source_columns_needed()
    full = {k: v for k, v in CFG.items() if not k.startswith(("delivery", "change"))}
    path = tmp_path / "full.yaml"
    path.write_text(yaml.safe_dump(full))
    plain = load_dataset_config(path)
    assert plain.delivery == "full" and not plain.is_change_file
    assert "OP" not in plain.source_columns_needed()


# ------------------------------------------------------------------ ingest of a change file

#: id -> (row, expected reason codes; empty: accepted). Published ids: 1, 2, 3, 4, 10.
ROWS = {
    "add": ("5,Eve,Evans,01/01/1990,I", []),
    "update": ("1,Alice,Ashworth,01/02/1981,U", []),
    "delete": ("2,,,,D", []),  # a delete needs only its id: blank mandatory fields are fine
    "delete-case": ("10,,,, d ", []),  # operations are matched trimmed, ignoring case
    "add-existing": ("3,Carl,Crowther,01/01/1970,I", ["add_existing_id"]),
    "update-unknown": ("9,Ian,Ives,01/01/1970,U", ["update_unknown_id"]),
    "delete-unknown": ("8,,,,D", ["delete_unknown_id"]),
    "unknown-op": ("7,Gus,Gorringe,01/01/1970,X", ["unknown_change"]),
    "blank-op": ("11,Hal,Hesketh,01/01/1970,", ["unknown_change"]),
    "twice-1": ("4,Dan,Dimmock,01/01/1970,U", ["duplicate_id"]),
    "twice-2": ("4,,,,D", ["duplicate_id"]),
    "missing-mandatory": ("6,Fay,,01/01/1970,I", ["missing_mandatory"]),
    "missing-id": (" ,Kit,Kershaw,01/01/1970,D", ["missing_id"]),
}
PUBLISHED = ("1", "2", "3", "4", "10")
VALUES = ("Crowther", "Ives", "Gorringe", "Hesketh", "Dimmock", "Kershaw", "Fay")


def published(spark, key, source="src", ids=PUBLISHED):
    ids_df = spark.createDataFrame([(i,) for i in ids], "id string")
    return ids_df.select(record_key(key, source, F.col("id")).alias("record_key"),
                         F.lit(source).alias("source"))


def write_changes(tmp_path: Path, *rows: str, header: str = HEADER) -> str:
    uri = tmp_path / "src.csv"
    uri.write_text("\n".join([header, *rows]) + "\n")
    return str(uri)


def test_change_rows_checked_and_counted(spark, tmp_path, secret_key):
    ds = load_dataset_config(dataset(tmp_path))
    uri = write_changes(tmp_path, *[row for row, _ in ROWS.values()])
    out = ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "run-cf", "2026-01-01",
                         published=published(spark, secret_key))
    c = out.counts["src"]
    bad = sum(1 for _, codes in ROWS.values() if codes)
    assert c["rows_in"] == len(ROWS) == c["accepted"] + c["deleted"] + c["quarantined"]
    assert (c["added"], c["updated"], c["deleted"], c["quarantined"]) == (1, 1, 2, bad)
    assert c["accepted"] == c["added"] + c["updated"]
    assert c["published"] == len(PUBLISHED) and c["records"] == len(PUBLISHED) - 2 + 1
    assert out.reason_counts["src"] == {"add_existing_id": 1, "update_unknown_id": 1,
                                        "delete_unknown_id": 1, "unknown_change": 2,
                                        "duplicate_id": 2, "missing_mandatory": 1, "missing_id": 1}
    # records: the add and the update only; deletes: the two deleted keys
    by_id = {r["id"]: r["k"] for r in spark.createDataFrame([(i,) for i in ("1", "2", "5", "10")], "id string")
             .select("id", record_key(secret_key, "src", F.col("id")).alias("k")).collect()}
    assert {r["record_key"]: r["surname"] for r in out.records.collect()} == {
        by_id["5"]: "EVANS", by_id["1"]: "ASHWORTH"}
    assert {r["record_key"] for r in out.deletes.collect()} == {by_id["2"], by_id["10"]}
    # each bad row quarantined with its reasons; the analyst zone holds no value of the rows
    q, r = out.quarantine.collect(), out.quarantine_restricted.collect()
    ids = {x["row_ref"]: x["source_record_id"] for x in r}
    found: dict[str, list[str]] = {}
    for x in q:
        found.setdefault(ids[x["row_ref"]] or "", []).extend(x["reason_codes"])
    for row, codes in ROWS.values():
        rid = row.split(",")[0].strip()
        if codes:
            assert set(codes) <= set(found[rid]), (rid, found.get(rid))
        else:
            assert rid not in found, (rid, found[rid])
    assert "not published" in json.dumps([x["reason"] for x in q])
    analyst = json.dumps([x.asDict(recursive=True) for x in q]).upper()
    assert not [v for v in VALUES if v.upper() in analyst]
    out.release()


def test_header_only_change_file_is_no_change(spark, tmp_path, secret_key):
    ds = load_dataset_config(dataset(tmp_path))
    out = ingest_sources(spark, {"src": ds}, {"src": write_changes(tmp_path)}, secret_key, "r",
                         "2026-01-01", published=published(spark, secret_key))
    c = out.counts["src"]
    assert (c["rows_in"], c["accepted"], c["deleted"], c["quarantined"]) == (0, 0, 0, 0)
    assert c["records"] == c["published"] == len(PUBLISHED)
    out.release()


def test_change_file_errors(spark, tmp_path, secret_key):
    ds = load_dataset_config(dataset(tmp_path))
    pub = published(spark, secret_key)
    # without the operation column: the usual missing-column error, naming the key
    uri = write_changes(tmp_path, "5,Eve,Evans,01/01/1990", header="ID,FIRST,SURNAME,DOB")
    with pytest.raises(SourceColumnsError) as e:
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01", published=pub)
    assert e.value.key == "change_column" and "'OP' (change_column)" in str(e.value)
    # every row bad (e.g. change_values not matching the file): the run stops
    uri = write_changes(tmp_path, "5,Eve,Evans,01/01/1990,A", "1,,,,R")
    with pytest.raises(InputError, match=r"none of the 2 rows .* was accepted \(unknown_change=2\)"):
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01", published=pub)
    # nothing published to apply the changes to
    with pytest.raises(InputError, match=r"no published records to apply the changes to"):
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")


# ------------------------------------------------------------------ applying the changes


def test_kept_by_changes(spark):
    """The change-file source's published records that no update or add replaces and no delete
    removes are carried (a2 only); a full source's records are never among them."""
    schema = "record_key string, source string, surname string, run_id string"
    pub = spark.createDataFrame([
        ("a1", "a", "OLD", "r1", "r1"), ("a2", "a", "KEPT", "r1", "r1"), ("a3", "a", "GONE", "r1", "r1"),
        ("b1", "b", "FULL", "r1", "r1"),
    ], schema + ", first_seen_run_id string")
    # source a is a change file (update a1, delete a3, add a4); b a full extract (b1 withdrawn)
    records = spark.createDataFrame([("a1", "a", "NEW", "r2"), ("a4", "a", "ADDED", "r2"),
                                     ("b2", "b", "B2", "r2")], schema)
    deletes = spark.createDataFrame([("a3", "a")], "record_key string, source string")
    kept = kept_by_changes(records, deletes, pub, ["a"])
    assert kept.columns == ["record_key"]
    assert {r["record_key"] for r in kept.collect()} == {"a2"}
    # without the deletes, a3 is kept too
    assert {r["record_key"] for r in kept_by_changes(records, None, pub, ["a"]).collect()} == {"a2", "a3"}
    assert kept_by_changes(records, None, pub, []) is None
    # the diff then sees a1 changed, a4 new, a2 unchanged (carried) and a3 withdrawn
    diff = diff_records(records.where(F.col("source") == "a"), pub.where(F.col("source") == "a")
                        .drop("first_seen_run_id"), kept)
    assert {(r["record_key"], r["status"]) for r in diff.collect()} == {
        ("a1", "changed"), ("a2", "unchanged"), ("a3", "withdrawn"), ("a4", "new")}


# ------------------------------------------------------------------ runs that refuse a change file


def pipeline(tmp_path: Path):
    """A one-group pipeline over prison (a change file here) and probation."""
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    prison = yaml.safe_load((REPO / "conf/datasets/prison.yaml").read_text())
    prison.update(delivery="change_file", change_column="OP", path="prison_changes.csv")
    (datasets / "prison.yaml").write_text(yaml.safe_dump(prison))
    (datasets / "probation.yaml").write_text((REPO / "conf/datasets/probation.yaml").read_text())
    base = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    base.update(input_root=str(tmp_path / "input"), output_root=str(tmp_path / "out"),
                datasets_dir=str(datasets), ground_truth=None, sources=["prison", "probation"],
                link_groups=[{"name": "rich", "model": str(REPO / "conf/models/rich.json"),
                              "sources": ["prison", "probation"]}])
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(base))
    return load_pipeline_config(path)


def test_full_run_refuses_a_change_file_before_anything_is_written(spark, tmp_path, secret_key):
    cfg = pipeline(tmp_path)
    for call in (lambda: run_pipeline(spark, cfg, secret_key), lambda: run_ingest(spark, cfg, secret_key)):
        with pytest.raises(ConfigError) as e:
            call()
        assert e.value.key == "delivery" and e.value.file.endswith("prison.yaml")
        assert "only an incremental run applies" in e.value.problem
    assert not (tmp_path / "out").exists()


def test_first_incremental_run_refuses_a_change_file(spark, tmp_path, secret_key):
    cfg = pipeline(tmp_path)
    with pytest.raises(StageError, match=r"source 'prison'.*nothing is published under .*out to "
                                         r"apply the changes to: the first run needs") as e:
        run_pipeline(spark, cfg, secret_key, incremental=True)
    assert e.value.stage == "ingest" and isinstance(e.value.__cause__, InputError)
    assert published_set(spark, cfg.output_root) is None
