"""Incremental runs: what changed between the published records and a new full extract, and
which edges survive it. Pure ``DataFrame -> DataFrame`` transforms; the run glue (reading the
published versions, MERGE, writing) is in :mod:`bold_spark.pipeline`.

A record is identified by ``record_key`` (a keyed hash of source and source record id). Its
content is a sha256 of every standardised column except the bookkeeping ones
(:data:`NOT_CONTENT`), so a record whose source row changed in any linkage field is *changed*.
Compared with the published records, each current record is *new*, *changed* or *unchanged*,
and each published record absent from the extract is *withdrawn*.

A source that delivers a change file (``delivery: change_file``) has no whole extract to
compare: its current records are its published records, minus deletes, updates replacing rows,
plus adds. Only the adds and updates are read and diffed; its other published records
(:func:`kept_by_changes`) are carried over unread, as a full source's rows whose fingerprints
match are.

Edges are then kept unless they touch a changed or withdrawn record, or a record whose
term-frequency-adjusted values moved by more than ``tf_tolerance`` (relative): the weight of a
kept edge differs from a full re-run's by at most ``-log2(1 - tf_tolerance)`` bits per
term-frequency comparison (Splink uses the value's frequency as u for an exact match;
:func:`drift_bound`), and is exact when no model adjusts for term frequencies. Kept edges whose
weight lies within that bound of a threshold are scored again (:func:`near_thresholds`,
:func:`bold_spark.linkage.scoring.rescore_edges`), so the thresholded graph, and so the clusters,
are a full re-run's. Pairs that involve a new, changed or moved
record are blocked and scored again (:func:`bold_spark.linkage.pairs.blocked_pairs` with a
focus), with the same blocking rules and model.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.io.joins import by_keys
from bold_spark.linkage.pairs import FOCUS, term_frequencies
from bold_spark.linkage.sql import RECORD_KEY
from bold_spark.schema import RAW_FINGERPRINT

logger = logging.getLogger(__name__)

#: Columns that are bookkeeping, not content: a record differing only in these is unchanged.
#: The raw-row fingerprint is not content either: a row whose raw values changed but standardise
#: to the same record is unchanged (its published fingerprint stays, so it is standardised again
#: next run, a cost proportional to such rows).
NOT_CONTENT = ("record_key", "run_id", "snapshot_date", "first_seen_run_id", "content_hash",
               RAW_FINGERPRINT)

#: Focus records (new, changed, moved) up to which an incremental run broadcasts them into the
#: blocking joins (each row holds the group's comparison columns, a few hundred bytes).
FOCUS_BROADCAST_MAX_ROWS = 200_000


def content_hash(records: DataFrame) -> DataFrame:
    """``records`` with ``content_hash``: sha256 of its content columns (sorted by name, nulls
    kept distinct from empty strings through JSON)."""
    cols = sorted(c for c in records.columns if c not in NOT_CONTENT)
    payload = F.to_json(F.struct(*[F.col(f"`{c}`") for c in cols]))
    return records.withColumn("content_hash", F.sha2(payload, 256))


@dataclass(frozen=True)
class RecordDiff:
    """The change between the published records and the current extract, as small frames of
    record keys (``record_key``), and their counts."""

    new: DataFrame
    changed: DataFrame
    withdrawn: DataFrame
    counts: dict[str, int]


def diff_records(current: DataFrame, previous: DataFrame, carried: DataFrame | None = None) -> DataFrame:
    """One row per record key in either frame: ``record_key``, ``status`` (new, changed,
    unchanged, withdrawn). Both frames are hashed the same way (:func:`content_hash`) over the
    columns they share, so a column added to the schema alone changes nothing.

    ``carried``: keys (``record_key``) of published records known unchanged without being in
    ``current`` (their raw rows' fingerprints matched, so they were not standardised, or a
    change file left them as they are: :func:`kept_by_changes`): they are ``unchanged``, not
    ``withdrawn``."""
    shared = [c for c in current.columns if c in previous.columns]
    if carried is not None:
        # only the published records not carried are hashed: their keys first (one narrow
        # column), then their rows, broadcast-joined when few (no shuffle of whole records)
        left = previous.select(RECORD_KEY).join(carried.select(RECORD_KEY), RECORD_KEY, "left_anti")
        previous = by_keys(previous, left, RECORD_KEY)
    cur = content_hash(current.select(*shared)).select(RECORD_KEY, F.col("content_hash").alias("h_new"))
    prev = content_hash(previous.select(*shared)).select(RECORD_KEY, F.col("content_hash").alias("h_old"))
    diff = cur.join(prev, RECORD_KEY, "full").select(
        RECORD_KEY,
        F.when(F.col("h_old").isNull(), "new")
        .when(F.col("h_new").isNull(), "withdrawn")
        .when(F.col("h_new") != F.col("h_old"), "changed")
        .otherwise("unchanged").alias("status"),
    )
    if carried is None:
        return diff
    return diff.unionByName(carried.select(RECORD_KEY, F.lit("unchanged").alias("status")))


def kept_by_changes(records: DataFrame, deletes: DataFrame | None, published: DataFrame,
                    sources: list[str] | tuple[str, ...]) -> DataFrame | None:
    """``record_key`` of the change-file ``sources``' published records that no accepted add or
    update in ``records`` (as ingested) replaces and no delete (``deletes``: ``record_key``)
    removes: unchanged, so carried over without being read or diffed (as :func:`diff_records`'
    ``carried``). None without change-file sources. The current records of such a source are
    these plus its rows in ``records``: the published ones, minus the deletes, with the updates
    replacing rows, plus the adds."""
    if not sources:
        return None
    replaced = records.where(F.col("source").isin(*sources)).select(RECORD_KEY)
    if deletes is not None:
        replaced = replaced.unionByName(deletes.select(RECORD_KEY))
    return published.where(F.col("source").isin(*sources)).select(RECORD_KEY) \
        .join(replaced, RECORD_KEY, "left_anti")


def withdrawn_by_source(previous: DataFrame, *, current: DataFrame | None = None,
                        gone: DataFrame | None = None) -> DataFrame:
    """(``source``, ``published``, ``withdrawn``): the ``previous`` records of each source, and
    how many of them are absent now: not in ``current`` (the current records: one join), or in
    ``gone`` (the withdrawn record keys, when known and few, as an incremental run's diff gives
    them: broadcast, one scan of ``previous`` and no shuffle). Give exactly one of the two."""
    if (current is None) == (gone is None):
        raise ValueError("withdrawn_by_source: give current or gone")
    if current is not None:
        marks = current.select(RECORD_KEY, F.lit(1).alias("_here"))
        absent = F.col("_here").isNull()
    else:
        marks = F.broadcast(gone.select(RECORD_KEY).distinct().withColumn("_gone", F.lit(1)))
        absent = F.col("_gone").isNotNull()
    return previous.select(RECORD_KEY, "source").join(marks, RECORD_KEY, "left").groupBy("source").agg(
        F.count(F.lit(1)).alias("published"), F.count(F.when(absent, 1)).alias("withdrawn"))


def carry_first_seen(current: DataFrame, previous: DataFrame | None, run_id: str) -> DataFrame:
    """``current`` with ``first_seen_run_id``: the previous table's value for records already
    there, this run's id for the others."""
    current = current.drop("first_seen_run_id")
    if previous is None or "first_seen_run_id" not in previous.columns:
        return current.withColumn("first_seen_run_id", F.lit(run_id))
    seen = previous.select(RECORD_KEY, F.col("first_seen_run_id").alias("_fs"))
    return current.join(seen, RECORD_KEY, "left").withColumn(
        "first_seen_run_id", F.coalesce(F.col("_fs"), F.lit(run_id))).drop("_fs")


def merge_source(current: DataFrame, diff: DataFrame) -> DataFrame:
    """The rows a Delta MERGE needs to turn the published records into ``current``: new and
    changed records as they are now, and withdrawn keys with ``_delete`` true."""
    from bold_spark.io.delta import DELETE_FLAG

    upserts = current.join(diff.where(F.col("status").isin("new", "changed")).select(RECORD_KEY),
                           RECORD_KEY, "left_semi").withColumn(DELETE_FLAG, F.lit(False))
    gone = diff.where(F.col("status") == "withdrawn").select(RECORD_KEY)
    deletes = gone.select(
        RECORD_KEY, *[F.lit(None).cast(f.dataType).alias(f.name) for f in current.schema.fields
                      if f.name != RECORD_KEY],
    ).withColumn(DELETE_FLAG, F.lit(True))
    return upserts.unionByName(deletes)


def tf_moved(current: DataFrame, previous: DataFrame, columns: list[str], tolerance: float) -> DataFrame:
    """Record keys of ``current`` whose value in a term-frequency column changed its relative
    frequency by more than ``tolerance`` (or is new) between ``previous`` and ``current``."""
    spark = current.sparkSession
    if not columns:
        return spark.createDataFrame([], f"{RECORD_KEY} string")
    parts = []
    for col in columns:
        moved = term_frequencies(current, col, "_tf_new").join(
            term_frequencies(previous, col, "_tf_old"), col, "left").where(
            F.col("_tf_old").isNull()
            | (F.abs(F.col("_tf_new") / F.col("_tf_old") - 1) > F.lit(tolerance))
        ).select(col)
        parts.append(current.join(F.broadcast(moved), col, "left_semi").select(RECORD_KEY))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out.distinct()


def surviving_edges(edges: DataFrame, removed: DataFrame) -> DataFrame:
    """``edges`` without those touching a record in ``removed`` (``record_key``)."""
    gone = removed.select(F.col(RECORD_KEY).alias("_gone")).distinct()
    out = edges.join(F.broadcast(gone), F.col("record_key_l") == F.col("_gone"), "left_anti")
    return out.join(F.broadcast(gone), out["record_key_r"] == gone["_gone"], "left_anti")


def edges_of(keys: list[tuple[str, str]]) -> Column:
    """A condition true for the edges of these (record_key, link_group) pairs: per link group,
    ``record_key_l`` or ``record_key_r`` in that group's keys (IN lists, hashed by Spark). Lets
    one DELETE drop the edges of changed and withdrawn records with any other condition, where
    a key join needs one MERGE per side. Only for a few thousand keys: planning long IN lists
    against a Delta scan grows faster than the lists (see
    ``bold_spark.stages.incremental.DELETE_IN_LIST_MAX_KEYS``)."""
    by_group: dict[str, list[str]] = {}
    for k, g in keys:
        by_group.setdefault(g, []).append(k)
    conds = [(F.col("link_group") == g) & (F.col("record_key_l").isin(ks) | F.col("record_key_r").isin(ks))
             for g, ks in sorted(by_group.items())]
    return reduce(lambda a, b: a | b, conds) if conds else F.lit(False)


def drift_bound(tf_comparisons: int, tolerance: float) -> float:
    """The most a kept edge's match weight can differ from a full re-run's, in bits: each
    term-frequency comparison's adjustment is log2 of a relative frequency that moved by at most
    ``tolerance`` either way (values that moved more put their records in the focus), so by at
    most -log2(1 - tolerance) bits each."""
    return tf_comparisons * -math.log2(1 - tolerance) if tf_comparisons and tolerance > 0 else 0.0


def near_thresholds(thresholds: list[float], bound: float) -> Column:
    """True for edges whose ``match_weight`` lies within ``bound`` bits of a threshold (match
    probabilities): a drift that small could put them on the other side of it, so an incremental
    run scores them again to publish the clusters a full re-run would."""
    if bound <= 0:
        return F.lit(False)
    weights = [math.log2(t / (1 - t)) for t in thresholds if 0 < t < 1]
    near = [F.abs(F.col("match_weight") - F.lit(w)) <= F.lit(bound) for w in weights]
    return reduce(lambda a, b: a | b, near, F.lit(False))


def with_focus(recs: DataFrame, focus: DataFrame) -> DataFrame:
    """``recs`` with a boolean ``_focus``: the record is in ``focus`` (``record_key``)."""
    marks = focus.select(RECORD_KEY).distinct().withColumn(FOCUS, F.lit(True))
    return recs.join(F.broadcast(marks), RECORD_KEY, "left").withColumn(
        FOCUS, F.coalesce(F.col(FOCUS), F.lit(False)))
