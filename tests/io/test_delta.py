"""Delta write/read/rollback through both writers: native (Spark + Delta Lake jars, the default
where the jars were fetched at install) and embedded (Spark Parquet + delta-rs commit)."""

import datetime as dt

import duckdb
import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from bold_spark.exceptions import DeltaWriteError
from bold_spark.io.delta import (
    file_row_counts,
    read_table,
    table_exists,
    table_rows,
    table_version,
    vacuum_table,
    write_table,
    writer_for,
)
from bold_spark.session import cached_delta_jars


def frame(spark, n, offset=0):
    return spark.range(offset, offset + n).select(
        F.col("id"), F.concat(F.lit("k"), F.col("id").cast("string")).alias("key"),
        F.lit(dt.datetime(2026, 1, 2, 3, 4, 5)).alias("ts"), (F.col("id") * 0.5).alias("x"),
    )


def test_session_writes_natively_with_the_installed_delta_jars(spark):
    """`make install` fetched the Delta Lake jars; the default session must use them."""
    assert cached_delta_jars(), "no Delta Lake jars cached: run `make install` where Maven Central is reachable"
    assert spark.conf.get("bold.delta_writer") == "auto"
    assert writer_for(spark) == "native"


def test_overwrite_append_and_time_travel(spark, writer, tmp_uri):
    uri = f"{tmp_uri}/t"
    assert not table_exists(uri, spark) and table_version(uri, spark) is None
    r0 = write_table(frame(spark, 20), uri)
    assert (r0.version, r0.rows, r0.writer) == (0, 20, writer) and r0.files >= 1
    r1 = write_table(frame(spark, 5, offset=100), uri, mode="append")
    assert (r1.version, r1.rows) == (1, 5)
    assert read_table(spark, uri).count() == 25
    assertDataFrameEqual(read_table(spark, uri, version=0), frame(spark, 20))
    r2 = write_table(frame(spark, 3), uri, mode="overwrite")
    assert r2.version == 2 and read_table(spark, uri).count() == 3
    assert table_version(uri, spark) == 2 and table_exists(uri, spark)
    assert table_rows(uri, spark=spark) == 3 and table_rows(uri, 1, spark=spark) == 25
    # delta-rs sees the same versions, whichever writer made them
    assert table_version(uri) == 2 and table_rows(uri, 0) == 20


def test_vacuum_keeps_the_current_version_readable(spark, writer, tmp_uri):
    uri = f"{tmp_uri}/vac"
    write_table(frame(spark, 10), uri)
    write_table(frame(spark, 4), uri)
    assert vacuum_table(uri, 0, spark) >= 1  # the first version's files
    assert read_table(spark, uri).count() == 4


def test_per_file_row_count_stats(spark, embedded, tmp_uri):
    uri = f"{tmp_uri}/stats"
    write_table(frame(spark, 40).repartition(3), uri)
    counts = file_row_counts(uri)
    assert sum(counts) == 40 and len(counts) == 3


def _add_stats(uri: str) -> list[dict]:
    """The statistics of each data file of the table's latest version, from its Delta log."""
    import json
    from pathlib import Path

    stats = {}
    for log in sorted(Path(uri, "_delta_log").glob("*.json")):
        for line in log.read_text().splitlines():
            action = json.loads(line)
            if "remove" in action:
                stats.pop(action["remove"]["path"], None)
            if "add" in action:
                stats[action["add"]["path"]] = json.loads(action["add"]["stats"])
    return list(stats.values())


def test_statistics_only_on_the_declared_columns(spark, tmp_uri):
    """Native writer: per-file min/max/null counts only on ``stats_columns`` (those the frame
    has), kept by later writes, merges and appends; row counts as before."""
    uri = f"{tmp_uri}/few-stats"
    write_table(frame(spark, 30).repartition(2), uri, stats_columns=["id", "ts", "absent"])
    props = spark.sql(f"DESCRIBE DETAIL delta.`{uri}`").first()["properties"]
    assert props["delta.dataSkippingStatsColumns"] == "id,ts"
    first = _add_stats(uri)
    assert sum(s["numRecords"] for s in first) == 30
    assert all(set(s["minValues"]) == {"id", "ts"} and set(s["nullCount"]) == {"id", "ts"} for s in first)
    # the property stays with the table: an append and an overwrite without it keep it
    write_table(frame(spark, 5, offset=100), uri, mode="append")
    write_table(frame(spark, 7), uri)
    assert all(set(s["maxValues"]) == {"id", "ts"} for s in _add_stats(uri))
    assert table_rows(uri, spark=spark) == 7
    # data skipping on a declared column still prunes files
    assert read_table(spark, uri).where(F.col("id") == 3).count() == 1
    # without stats_columns: Delta's default (the first 32 columns, here all four)
    other = f"{tmp_uri}/all-stats"
    write_table(frame(spark, 4), other)
    assert all(set(s["minValues"]) == {"id", "key", "ts", "x"} for s in _add_stats(other))


def test_statistics_columns_set_on_a_table_written_before_them(spark, tmp_uri):
    """A table first written with Delta's default statistics gets the declared columns at its
    next overwrite (tables published before 2026-12-04)."""
    uri = f"{tmp_uri}/late-stats"
    write_table(frame(spark, 6), uri)
    write_table(frame(spark, 6), uri, stats_columns=["key"])
    assert all(set(s["minValues"]) == {"key"} for s in _add_stats(uri))
    write_table(frame(spark, 2, offset=50), uri, mode="append", stats_columns=["key"])
    assert all(set(s["minValues"]) == {"key"} for s in _add_stats(uri))
    assert read_table(spark, uri).count() == 8


def test_merge_upserts_deletes_and_keeps_preserved_columns(spark, writer, tmp_uri):
    """Delta MERGE through each writer (MERGE INTO natively, delta-rs merge embedded): updated
    keys keep their first-seen column, new keys are inserted, flagged keys deleted, the rest
    untouched; one commit."""
    from bold_spark.io.delta import merge_table

    uri = f"{tmp_uri}/merge"
    base = frame(spark, 10).withColumn("first_seen", F.lit("r1"))
    assert merge_table(base, uri, ["key"], preserve=("first_seen",)).inserted == 10
    changes = frame(spark, 4, offset=8).withColumn("x", F.col("x") + 100).withColumn(
        "first_seen", F.lit("r2")).withColumn("_delete", F.col("id") == 9)
    gone = frame(spark, 1, offset=0).withColumn("first_seen", F.lit("r2")).withColumn("_delete", F.lit(True))
    r = merge_table(changes.unionByName(gone), uri, ["key"], preserve=("first_seen",))
    assert (r.inserted, r.updated, r.deleted, r.version, r.writer) == (2, 1, 2, 1, writer)
    got = {row["key"]: (row["x"], row["first_seen"]) for row in read_table(spark, uri).collect()}
    assert set(got) == {f"k{i}" for i in (*range(1, 9), 10, 11)}
    assert got["k8"] == (104.0, "r1")              # updated, first-seen kept
    assert got["k10"] == (105.0, "r2")             # inserted
    assert got["k5"] == (2.5, "r1")                # untouched
    assert table_version(uri) == 1                 # one commit, seen by delta-rs as well


def test_row_counts_on_a_non_local_filesystem_path_match_the_footers(spark, tmp_uri):
    """Off the local disk (object stores) rows per file come from one Spark count matched by
    path below the staging folder: the counts must equal the footers', never 0 for a file whose
    URI is spelt differently by the listing (file:/x) and by input_file_name (file:///x)."""
    from bold_spark.io.delta import _row_counts

    staging = f"{tmp_uri}/_data/w-1"
    frame(spark, 30).repartition(3).write.parquet(staging)
    files = sorted(f"file:{p}" for p in __import__("glob").glob(f"{staging}/*.parquet"))
    footers = _row_counts(spark, files, staging, local=True)
    counted = _row_counts(spark, files, "file://" + staging, local=False)
    assert counted == footers and sum(counted.values()) == 30 and min(counted.values()) > 0


def test_readable_by_deltalake_duckdb_polars_and_spark(spark, writer, tmp_uri):
    uri = f"{tmp_uri}/readers"
    write_table(frame(spark, 12), uri)
    dt_ = DeltaTable(uri)
    tbl = dt_.to_pyarrow_table()
    assert tbl.num_rows == 12 and set(tbl.column_names) == {"id", "key", "ts", "x"}
    assert str(tbl.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    con = duckdb.connect()
    assert con.execute(f"select sum(id) from read_parquet({dt_.file_uris()})").fetchone()[0] == sum(range(12))
    assert read_table(spark, uri).agg(F.sum("id")).collect()[0][0] == sum(range(12))
    import polars as pl

    assert pl.read_delta(uri)["id"].sum() == sum(range(12))


def test_failed_native_write_leaves_previous_version_unchanged(spark, tmp_uri):
    uri = f"{tmp_uri}/rollback-native"
    write_table(frame(spark, 10), uri)
    failing = frame(spark, 1000).withColumn(
        "id", F.when(F.col("id") == 777, F.raise_error(F.lit("deliberate failure"))).otherwise(F.col("id"))
    )
    with pytest.raises(DeltaWriteError, match="native Delta write"):
        write_table(failing, uri)
    assert table_version(uri, spark) == 0
    assertDataFrameEqual(read_table(spark, uri), frame(spark, 10))


def test_failed_write_leaves_previous_version_unchanged(spark, embedded, tmp_uri):
    uri = f"{tmp_uri}/rollback"
    write_table(frame(spark, 10), uri)
    failing = frame(spark, 1000).withColumn(
        "id", F.when(F.col("id") == 777, F.raise_error(F.lit("deliberate failure"))).otherwise(F.col("id"))
    )
    with pytest.raises(DeltaWriteError, match="nothing committed"):
        write_table(failing, uri)
    assert table_version(uri) == 0
    assertDataFrameEqual(read_table(spark, uri), frame(spark, 10))
    # the aborted write's files were removed: only the first write's folder remains
    import os
    assert len(os.listdir(f"{uri}/data")) == 1


def test_append_with_other_schema_is_refused(spark, embedded, tmp_uri):
    uri = f"{tmp_uri}/schema"
    write_table(frame(spark, 3), uri)
    with pytest.raises(DeltaWriteError, match="schema differs"):
        write_table(frame(spark, 3).withColumn("extra", F.lit(1)), uri, mode="append")
    assert table_version(uri) == 0


def test_empty_table_round_trip(spark, tmp_uri):
    uri = f"{tmp_uri}/empty"
    write_table(frame(spark, 5).where("id < 0"), uri)
    df = read_table(spark, uri)
    assert df.count() == 0 and df.columns == ["id", "key", "ts", "x"]


def test_embedded_writer_keeps_files_when_a_step_after_the_commit_fails(spark, embedded, tmp_uri, monkeypatch):
    """delta-rs can raise after the commit became durable (post-commit hooks): the committed
    files must stay and the table stay readable at the new version."""
    from deltalake import DeltaTable as RsTable

    uri = f"{tmp_uri}/postcommit"
    write_table(frame(spark, 4), uri)
    real = RsTable.create_write_transaction

    def commit_then_fail(self, *args, **kwargs):
        real(self, *args, **kwargs)
        raise RuntimeError("post-commit hook failed")

    monkeypatch.setattr(RsTable, "create_write_transaction", commit_then_fail)
    result = write_table(frame(spark, 7), uri)
    assert result.version == 1 and result.rows == 7
    assertDataFrameEqual(read_table(spark, uri), frame(spark, 7))


def test_wait_for_running_tasks_waits_for_a_job_still_running(spark):
    """What a failed run's clean-up waits for: tasks still running on the executors."""
    import threading
    import time

    from bold_spark.session import running_tasks, wait_for_running_tasks

    def slow(_):
        import time as t
        t.sleep(4)

    assert running_tasks(spark) == 0
    job = threading.Thread(target=lambda: spark.sparkContext.parallelize(range(2), 2).foreach(slow))
    t0 = time.monotonic()
    job.start()
    try:
        while running_tasks(spark) < 2:  # launched (within a second or two here)
            assert time.monotonic() - t0 < 60 and job.is_alive(), "the tasks never started"
            time.sleep(0.05)
        assert wait_for_running_tasks(spark, timeout_s=0.5, poll_s=0.1) is False
        assert wait_for_running_tasks(spark, timeout_s=60, poll_s=0.1) is True
        assert time.monotonic() - t0 >= 4 and running_tasks(spark) == 0
    finally:
        job.join()


def test_edges_of_changed_records_deleted_by_one_condition_or_by_key_merges(spark, tmp_path):
    """The two ways an incremental run deletes changed records' edges in place (IN lists in one
    DELETE, or a key MERGE per side above DELETE_IN_LIST_MAX_KEYS) leave the same rows, with
    deletion vectors, and a key counts only in its own link group."""
    from bold_spark.io.delta import delete_rows, enable_deletion_vectors, has_deletion_vectors
    from bold_spark.linkage.incremental import edges_of

    edges = spark.createDataFrame(
        [("a", "b", "g1"), ("b", "c", "g1"), ("c", "d", "g1"), ("a", "d", "g2"), ("e", "f", "g2"),
         ("d", "e", "g1")], "record_key_l string, record_key_r string, link_group string")
    gone = [("b", "g1"), ("a", "g2"), ("f", "g1")]  # f has no g1 edge: e-f (g2) stays
    want = {("c", "d", "g1"), ("e", "f", "g2"), ("d", "e", "g1")}
    left = {}
    for how in ("condition", "merge"):
        uri = str(tmp_path / how)
        write_table(edges, uri)
        enable_deletion_vectors(uri, spark)
        if how == "condition":
            deleted = delete_rows(uri, spark, where=edges_of(gone)).deleted
        else:
            keys = spark.createDataFrame(gone, "record_key string, link_group string")
            deleted = sum(delete_rows(uri, spark, keys=keys, on=[(f"record_key_{s}", "record_key"),
                                                               ("link_group", "link_group")]).deleted
                          for s in ("l", "r"))
        assert deleted == 3, how
        assert has_deletion_vectors(uri, spark), how
        left[how] = {tuple(r) for r in read_table(spark, uri).collect()}
    assert left["condition"] == left["merge"] == want
    assert edges.where(edges_of([])).count() == 0
