"""Write, audit, publish: a run becomes visible only as one consistent, audited set.

Every table a run writes (records, quarantine, edges, clusters, person_events) is committed as
a new Delta version that readers following the documented path do not see: they resolve the
tables through the ``published`` Delta table, which names, for each publish, the version of
every table in the set. Publishing is one append to ``published`` (one Delta commit), made only
after the audit has read the staged versions and passed. A run that fails, fails its audit, or
is killed at any instant therefore leaves the published set exactly as it was.

Around that:

* a lock file (``_bold_run.lock`` under the output root, created exclusively) stops a second
  concurrent run on the same output root; a lock left by a killed process on this host is
  broken automatically, any other with ``bold unlock``;
* the ``runs`` table gets a row when a run starts and another when it ends, so a killed run
  shows as started-and-never-finished; the next run marks it ``abandoned`` and deletes the data
  files it wrote that no Delta version references (a write cut off before its commit).

Readers: :func:`read_published` (Spark), :func:`create_published_views` (Spark SQL), and the
recipes in README/docs for delta-rs, DuckDB and Polars, which read ``published`` the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.exceptions import BoldError
from bold_spark.io import fs
from bold_spark.io.delta import normalise_uri, read_table, table_exists, write_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

PUBLISHED = "published"
RUNS = "runs"
LOCK_FILE = "_bold_run.lock"
#: The tables a published set may name (each under the output root).
DATA_TABLES = ("records", "quarantine", "edges", "clusters", "person_events", "analysis")
#: Tables of the restricted zone (``PipelineConfig.restricted_uri``): never published, rewritten
#: by every run (the raw values of its quarantined rows).
QUARANTINE_RAW = "quarantine_raw"
RESTRICTED_TABLES = (QUARANTINE_RAW,)
#: Per data table, the columns Delta keeps per-file statistics on (the native writer; see
#: :func:`bold_spark.io.delta.write_table`): those the pipeline and analysts filter on. Record
#: keys and hashes are spread evenly over every file, so their statistics never skip one, and
#: the records' names, dates and postcodes then stay out of the Delta log's statistics.
STATS_COLUMNS = {
    "records": ("source", "run_id", "first_seen_run_id"),
    "quarantine": ("source", "run_id"),
    "edges": ("link_group", "run_id", "model_version"),
    "clusters": ("source", "run_id"),
    "person_events": ("run_id", "threshold", "event"),
    "analysis": ("source", "run_id"),
}
PUBLISHED_SCHEMA = (
    "seq bigint, run_id string, run_name string, published_at timestamp, stages string, "
    "table_name string, version bigint, rows bigint"
)


class RunLockedError(BoldError):
    """Another run holds the output root's lock."""


class NotPublishedError(BoldError):
    """No published set (or no set for the run id asked for) exists under the output root."""


def table_uri(output_root: str, table: str) -> str:
    return output_root.rstrip("/") + "/" + table


# ---------------------------------------------------------------- reading the published set


@dataclass(frozen=True)
class PublishedSet:
    """One publish: the run that made it and each table's Delta version and rows."""

    seq: int
    run_id: str
    run_name: str
    published_at: dt.datetime
    stages: str
    versions: dict[str, int]
    rows: dict[str, int]


def published_set(spark: SparkSession, output_root: str, run_id: str | None = None) -> PublishedSet | None:
    """The current published set (or the one published by ``run_id``), None if none exists."""
    uri = table_uri(output_root, PUBLISHED)
    if not table_exists(uri, spark):
        if run_id:
            raise NotPublishedError(f"nothing has been published under {output_root}")
        return None
    pub = read_table(spark, uri)
    if run_id:
        pub = pub.where(F.col("run_id") == run_id)
    last = pub.agg(F.max("seq")).first()[0]
    if last is None:
        if run_id:
            raise NotPublishedError(f"run {run_id} has published nothing under {output_root}")
        return None
    rows = pub.where(F.col("seq") == last).collect()
    r0 = rows[0]
    return PublishedSet(
        int(last), r0["run_id"], r0["run_name"], r0["published_at"], r0["stages"],
        {r["table_name"]: int(r["version"]) for r in rows},
        {r["table_name"]: int(r["rows"]) for r in rows},
    )


def previous_run(spark: SparkSession, output_root: str, pset: PublishedSet) -> str | None:
    """The run that published the last set before ``pset``'s run, None if none did (``bold
    vacuum`` may publish a run's set again under the same run id: that is not a previous run)."""
    pub = read_table(spark, table_uri(output_root, PUBLISHED))
    row = pub.where((F.col("seq") < pset.seq) & (F.col("run_id") != pset.run_id)).agg(
        F.max_by("run_id", "seq").alias("r")).first()
    return row["r"] if row else None


def first_published(spark: SparkSession, output_root: str, versions: dict[str, int]) -> dict[str, int]:
    """For each ``table -> version``, the ``seq`` of the first publish naming that version (the
    publish of the run that wrote it, or of a later one that republished it, as ``bold vacuum``
    does after purging deletion vectors); tables never published with that version are left
    out. One small Spark job over ``published``."""
    if not versions:
        return {}
    pub = read_table(spark, table_uri(output_root, PUBLISHED))
    cond = reduce(lambda a, b: a | b, [(F.col("table_name") == t) & (F.col("version") == v)
                                       for t, v in versions.items()])
    rows = pub.where(cond).groupBy("table_name").agg(F.min("seq").alias("seq")).collect()
    return {r["table_name"]: int(r["seq"]) for r in rows}


def read_published(spark: SparkSession, output_root: str, run_id: str | None = None) -> dict[str, DataFrame]:
    """The tables of the current published set (or of the set ``run_id`` published), each read
    at its published version: ``{"records": df, "edges": df, "clusters": df, ...}``.

    Raises NotPublishedError when nothing (or nothing by that run) was published."""
    pset = published_set(spark, output_root, run_id)
    if pset is None:
        raise NotPublishedError(f"nothing has been published under {output_root}")
    return {t: read_table(spark, table_uri(output_root, t), v) for t, v in pset.versions.items()}


def create_published_views(spark: SparkSession, output_root: str, run_id: str | None = None,
                           prefix: str = "") -> list[str]:
    """Register each published table as a temporary view ``<prefix><table>`` for Spark SQL;
    returns the view names."""
    names = []
    for table, df in read_published(spark, output_root, run_id).items():
        df.createOrReplaceTempView(prefix + table)
        names.append(prefix + table)
    return names


def resolve_person_ids(spark: SparkSession, output_root: str, ids: list[str], level: str = "medium",
                       as_of_run: str | None = None) -> DataFrame:
    """Map person IDs from any earlier run to today's: follows the published ``person_events``
    (merges, splits, retirements) at ``level`` (high, medium or low). One row per (queried ID,
    current ID): ``person_id``, ``current_person_id`` and ``via`` (self, merged_into,
    split_from, retired or unknown); see :func:`bold_spark.linkage.identify.resolve_person_ids`.

    ``as_of_run``: the run whose published IDs ``ids`` came from (splits up to it are not
    followed). Raises NotPublishedError when nothing has been published."""
    from bold_spark.linkage.identify import resolve_person_ids as resolve

    tables = read_published(spark, output_root)
    if "person_events" not in tables:
        raise NotPublishedError(f"no person_events table has been published under {output_root}")
    return resolve(tables["person_events"], ids, level, as_of_run=as_of_run)


def publish(spark: SparkSession, output_root: str, run_id: str, run_name: str,
            versions: dict[str, int], rows: dict[str, int], stages: list[str]) -> PublishedSet:
    """Make a set current: one append to ``published`` naming each table's version. Tables the
    run did not write are carried over from the current set."""
    current = published_set(spark, output_root)
    merged_v = dict(current.versions) if current else {}
    merged_r = dict(current.rows) if current else {}
    merged_v.update(versions)
    merged_r.update(rows)
    seq = (current.seq + 1) if current else 1
    now = dt.datetime.now(dt.UTC)
    data = [(seq, run_id, run_name, now, ",".join(stages), t, merged_v[t], merged_r.get(t, 0))
            for t in sorted(merged_v)]
    write_table(spark.createDataFrame(data, PUBLISHED_SCHEMA), table_uri(output_root, PUBLISHED),
                mode="append")
    logger.info("published run %s as set %d: %s", run_id, seq,
                ", ".join(f"{t} v{v}" for t, v in sorted(merged_v.items())))
    return PublishedSet(seq, run_id, run_name, now, ",".join(stages), merged_v, merged_r)


# ---------------------------------------------------------------- the run lock


def _lock_path(output_root: str) -> str:
    return output_root.rstrip("/") + "/" + LOCK_FILE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_holder(spark: SparkSession, output_root: str) -> dict | None:
    text = fs.read_text(spark, _lock_path(output_root))
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"run_id": "unknown (unreadable lock file)"}


def acquire_lock(spark: SparkSession, output_root: str, run_id: str) -> None:
    """Take the output root's run lock for ``run_id`` or raise RunLockedError naming the holder.
    A lock whose holder process on this host is gone (a killed run) is broken with a warning."""
    body = json.dumps({"run_id": run_id, "host": socket.gethostname(), "pid": os.getpid(),
                       "since": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
    path = _lock_path(output_root)
    for _ in range(2):
        if fs.create_exclusive(spark, path, body):
            logger.info("run lock taken on %s by run %s", output_root, run_id)
            return
        holder = lock_holder(spark, output_root) or {}
        stale = holder.get("host") == socket.gethostname() and not _pid_alive(int(holder.get("pid", -1)))
        if not stale:
            raise RunLockedError(
                f"another run holds {output_root}: run {holder.get('run_id')} on host "
                f"{holder.get('host')} (pid {holder.get('pid')}, since {holder.get('since')}). "
                "Wait for it to finish; if it was killed on another machine, `bold unlock -c ...`"
            )
        logger.warning("breaking the stale lock of run %s (process %s on this host is gone)",
                       holder.get("run_id"), holder.get("pid"))
        fs.delete(spark, path, recursive=False)
    raise RunLockedError(f"could not take the run lock on {output_root}")


def release_lock(spark: SparkSession, output_root: str, run_id: str) -> None:
    holder = lock_holder(spark, output_root)
    if holder and holder.get("run_id") == run_id:
        fs.delete(spark, _lock_path(output_root), recursive=False)


def break_lock(spark: SparkSession, output_root: str) -> dict | None:
    """Remove the lock whoever holds it (``bold unlock``); returns the holder it removed."""
    holder = lock_holder(spark, output_root)
    if holder is not None:
        fs.delete(spark, _lock_path(output_root), recursive=False)
        logger.warning("run lock of run %s on %s removed by hand", holder.get("run_id"), output_root)
    return holder


# ---------------------------------------------------------------- recovery after a killed run


def _run_summaries(spark: SparkSession, output_root: str) -> list:
    """One small row per run in ``runs``: its start, and its end row's (finished_at, status)
    as ``end`` (null while it has none)."""
    uri = table_uri(output_root, RUNS)
    if not table_exists(uri, spark):
        return []
    ended = F.col("status") != "running"
    return read_table(spark, uri).groupBy("run_id").agg(
        F.min("started_at").alias("started_at"),
        F.max(F.when(ended, F.struct("finished_at", "status"))).alias("end"),
    ).collect()


def published_key_fingerprint(spark: SparkSession, output_root: str) -> str | None:
    """The fingerprint (:meth:`SecretKey.fingerprint`, safe to show) of the pseudonymisation key
    of the last run that published a set under ``output_root`` with a key (a lone ``bold
    cluster`` or ``bold predict`` publishes without one), or None."""
    pub_uri, runs_uri = table_uri(output_root, PUBLISHED), table_uri(output_root, RUNS)
    if not (table_exists(pub_uri, spark) and table_exists(runs_uri, spark)):
        return None
    keyed = read_table(spark, runs_uri).where(F.col("key_fingerprint").isNotNull()) \
        .select("run_id", "key_fingerprint").distinct()
    row = read_table(spark, pub_uri).select("seq", "run_id").join(keyed, "run_id") \
        .orderBy(F.desc("seq")).limit(1).collect()
    return row[0]["key_fingerprint"] if row else None


def unfinished_runs(spark: SparkSession, output_root: str) -> list[tuple[str, dt.datetime]]:
    """(run_id, started_at) of runs with a start row in ``runs`` and no end row."""
    return runs_to_sweep(spark, output_root)[0]


FAILED_STATUSES = ("failed", "audit_failed")


def runs_to_sweep(spark: SparkSession, output_root: str
                  ) -> tuple[list[tuple[str, dt.datetime]], tuple[str, dt.datetime] | None]:
    """What a new run must clean up before it starts, from one read of ``runs``: the runs that
    never finished (killed), and the last run to end if it failed (its own clean-up ran while
    a task of its aborted job could still be writing; the next run sweeps again)."""
    rows = _run_summaries(spark, output_root)
    unfinished = sorted((r["run_id"], r["started_at"]) for r in rows if r["end"] is None)
    ended = [r for r in rows if r["end"] is not None and r["end"]["finished_at"] is not None]
    last = max(ended, key=lambda r: r["end"]["finished_at"], default=None)
    failed = ((last["run_id"], last["started_at"])
              if last is not None and last["end"]["status"] in FAILED_STATUSES else None)
    return unfinished, failed


def referenced_files(spark: SparkSession, table: str, since_ms: int) -> set[str]:
    """Data file paths (relative to the table root) that commits made since ``since_ms`` add.
    Reads those few commit files (JSON lines) on the driver: no Spark job."""
    from urllib.parse import unquote

    paths = set()
    for f in fs.list_files(spark, table + "/_delta_log", ".json", hidden=True):
        if f.mtime_ms < since_ms - 1000 or "/" in f.rel.removeprefix("_delta_log/"):
            continue
        for line in (fs.read_text(spark, f.path) or "").splitlines():
            if '"add"' in line:
                add = json.loads(line).get("add")
                if add:
                    paths.add(unquote(add["path"]))
    return paths


def clean_orphans(spark: SparkSession, output_root: str, since: dt.datetime,
                  tables: tuple[str, ...] = DATA_TABLES + (PUBLISHED, RUNS)) -> int:
    """Delete data files written since ``since`` that no Delta commit references (the writes a
    killed run had not committed). Returns how many were deleted. Call under the run lock."""
    since_ms = int(since.timestamp() * 1000)
    deleted = 0
    for t in tables:
        uri = normalise_uri(table_uri(output_root, t))
        new = [f for f in fs.list_files(spark, uri, ".parquet") if f.mtime_ms >= since_ms - 1000]
        if not new:
            continue
        keep = referenced_files(spark, uri, since_ms)
        for f in new:
            if f.rel not in keep:
                fs.delete(spark, f.path, recursive=False)
                deleted += 1
    return deleted
