"""`bold vacuum` (bold_spark.retention) on real Delta tables: it never deletes a file the
published set reads, purges deletion vectors through publish, and waits for no run."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from bold_spark.exceptions import DeltaWriteError
from bold_spark.io.delta import (
    changed_after,
    delete_rows,
    enable_deletion_vectors,
    read_table,
    table_version,
    vacuum_table,
    write_table,
)
from bold_spark.publish import (
    RunLockedError,
    acquire_lock,
    previous_run,
    publish,
    published_set,
    read_published,
    release_lock,
)
from bold_spark.retention import vacuum_output


def _ids(spark, n, offset=0):
    return spark.range(offset, offset + n).toDF("id").repartition(2)


def _on_disk(table_dir: Path) -> list[int]:
    """Every id any Parquet file under the table holds (what a plain Parquet reader sees)."""
    return sorted(i for f in table_dir.rglob("*.parquet") if "_delta_log" not in f.parts
                  for i in pq.read_table(f, columns=["id"]).column("id").to_pylist())


def test_vacuum_after_a_failed_run_keeps_the_published_files(spark, writer, tmp_path):
    """A run that failed its audit overwrote `records` without publishing: the published
    version is no longer the latest. A plain VACUUM RETAIN 0 would delete its files; the
    vacuum restores the published version first, so the published set still reads."""
    root = str(tmp_path / "out")
    uri = f"{root}/records"
    v0 = write_table(_ids(spark, 10), uri).version
    publish(spark, root, "run-1", "week 1", {"records": v0}, {"records": 10}, ["ingest"])
    write_table(_ids(spark, 4, offset=100), uri)  # the failed run's write, never published
    (r,) = [r for r in vacuum_output(spark, root, 0) if r.table == "records"]
    assert r.restored_to == v0 and r.files_deleted >= 1 and not r.purged
    # collect, not count: a count is answered from the Delta log without reading the files
    assert sorted(x.id for x in read_published(spark, root)["records"].collect()) == list(range(10))
    assert _on_disk(tmp_path / "out/records") == list(range(10))  # the failed run's files went
    assert published_set(spark, root).seq == 1  # nothing purged: not published again


def test_vacuum_purges_deletion_vectors_through_publish(spark, tmp_path):
    """Rows deleted with deletion vectors stay, masked, in their Parquet files. The vacuum
    purges them, publishes the set again naming the purged version, and then deletes the old
    files: no file holds a deleted row, and the published set reads the same rows."""
    root = str(tmp_path / "out")
    uri = f"{root}/edges"
    write_table(_ids(spark, 30), uri)
    enable_deletion_vectors(uri, spark)
    v = delete_rows(uri, spark, where=F.col("id") % 3 == 0).version
    publish(spark, root, "run-1", "week 1", {"edges": v}, {"edges": 20}, ["predict"])
    kept = [i for i in range(30) if i % 3]
    assert 0 in _on_disk(tmp_path / "out/edges")  # masked, not gone
    before = spark.conf.get("bold.delta_writer", "auto")
    spark.conf.set("bold.delta_writer", "embedded")  # delta-rs cannot purge them: refused
    try:
        with pytest.raises(DeltaWriteError, match="deletion vectors"):
            vacuum_output(spark, root, 0)
    finally:
        spark.conf.set("bold.delta_writer", before)
    assert 0 in _on_disk(tmp_path / "out/edges")
    (r,) = [r for r in vacuum_output(spark, root, 0) if r.table == "edges"]
    assert r.purged and r.files_deleted >= 1
    pset = published_set(spark, root)
    assert (pset.seq, pset.run_id, pset.stages) == (2, "run-1", "predict,vacuum")
    assert previous_run(spark, root, pset) is None  # the same run published again: not a previous one
    assert pset.versions["edges"] > v and not changed_after(uri, pset.versions["edges"], spark)
    assert sorted(x.id for x in read_published(spark, root)["edges"].collect()) == kept
    assert _on_disk(tmp_path / "out/edges") == kept
    later = publish(spark, root, "run-2", "week 2", {}, {}, ["report"])
    assert previous_run(spark, root, later) == "run-1"


def test_vacuum_waits_for_no_run_and_dry_run_changes_nothing(spark, tmp_path):
    root = str(tmp_path / "out")
    uri = f"{root}/records"
    v0 = write_table(_ids(spark, 6), uri).version
    publish(spark, root, "run-1", "week 1", {"records": v0}, {"records": 6}, ["ingest"])
    write_table(_ids(spark, 2), uri)
    acquire_lock(spark, root, "run-2")
    try:
        with pytest.raises(RunLockedError, match="run-2"):
            vacuum_output(spark, root, 0)  # a run is writing: its staged files must not go
    finally:
        release_lock(spark, root, "run-2")
    latest = table_version(uri, spark)
    (r,) = [r for r in vacuum_output(spark, root, 0, dry_run=True) if r.table == "records"]
    assert r.restored_to == v0 and r.files_deleted >= 1
    assert table_version(uri, spark) == latest and read_table(spark, uri).count() == 2
    assert vacuum_table(uri, 0, spark, dry_run=True) == r.files_deleted


def test_vacuum_erases_earlier_runs_raw_quarantined_rows(spark, writer, tmp_path):
    """The restricted zone's `quarantine_raw` is rewritten by every run, outside the published
    set: the vacuum deletes its earlier versions' files too (they hold earlier runs' raw
    quarantined rows), keeps the current one, and a dry run deletes nothing."""
    root, raw = str(tmp_path / "out"), str(tmp_path / "out_restricted/quarantine_raw")
    v0 = write_table(_ids(spark, 10), f"{root}/records").version
    publish(spark, root, "run-1", "week 1", {"records": v0}, {"records": 10}, ["ingest"])
    write_table(_ids(spark, 3), raw)  # run 1's quarantined rows
    write_table(_ids(spark, 2, offset=50), raw)  # run 2's
    restricted = {"quarantine_raw": raw}
    assert _on_disk(tmp_path / "out_restricted/quarantine_raw") == [0, 1, 2, 50, 51]
    (dry,) = [r for r in vacuum_output(spark, root, 0, dry_run=True, restricted=restricted)
              if r.table == "restricted:quarantine_raw"]
    assert dry.files_deleted >= 1
    assert _on_disk(tmp_path / "out_restricted/quarantine_raw") == [0, 1, 2, 50, 51]
    (r,) = [r for r in vacuum_output(spark, root, 0, restricted=restricted)
            if r.table == "restricted:quarantine_raw"]
    assert r.files_deleted >= 1
    assert _on_disk(tmp_path / "out_restricted/quarantine_raw") == [50, 51]
    assert sorted(x.id for x in read_table(spark, raw).collect()) == [50, 51]
    # a restricted table that was never written (no quarantined row yet) is skipped
    assert not [r for r in vacuum_output(spark, root, 0, restricted={"quarantine_raw": raw + "_none"})
                if r.table.startswith("restricted:")]
