"""Stable person IDs across runs, at every threshold, and the ``person_events`` history.

``cluster_records`` labels each cluster with a hash of its smallest record key: a *provisional*
label that changes whenever the cluster does. :func:`assign_person_ids` replaces those labels
with IDs minted once and carried over from the previously *published* clusters table, and
returns one ``person_events`` row per ID touched by the run.

The rule, applied to each level (threshold) on its own; each level has its own IDs
----------------------------------------------------------------------------------
Let *overlap(N, O)* be the number of records that new cluster N and previous ID O share (same
``record_key`` in this run's clusters and in the previous published table).

Two orderings decide every choice:

* a new cluster prefers old IDs by: most shared records, then the **older** ID (mint stamp, see
  below; IDs without a stamp, such as the legacy ``P<hash>`` ids, count as oldest), then the
  smaller ID string;
* an old ID prefers new clusters by: most shared records, then the new cluster whose smallest
  ``record_key`` is smaller (an arbitrary but deterministic tie-break: it only decides *which*
  part keeps the ID, never what an ID looks like).

Matching is done in ``rounds`` rounds (default 2) of *mutual first choice*: in each round,
among the new clusters and old IDs not yet matched, a pair (N, O) is matched when O is N's first
choice and N is O's first choice (both restricted to the unmatched ones). Matched pairs form a
one-to-one assignment; N takes O's ID. The second round lets a cluster whose first choice went
to a bigger part still keep another old ID it holds; a cluster left unmatched after the last
round gets a new ID even if a further round would have matched it (rare: it takes a chain of
competing preferences across several clusters and IDs at once). Then:

=================  =========================================================================
event              when
=================  =========================================================================
``kept``           O matched to N: N carries O's ID (``records`` = N's size now,
                   ``previous_records`` = O's size before).
``split_from``     N unmatched but shares records with some old ID: N gets a new ID,
                   ``other_person_id`` = N's first-choice old ID (the ID it split from).
``created``        N unmatched and shares no records with any old ID: a new ID.
``merged_into``    O unmatched but some of its records are still present: ``other_person_id`` =
                   the (new or carried) ID of O's first-choice new cluster, the one holding most
                   of O's records. ``records`` = 0 (O no longer holds records).
``retired``        O unmatched and none of its records are present any more; ``records`` = 0.
=================  =========================================================================

A new cluster and an old ID that share records only with each other are matched without
entering the windows (they are each other's only choice): most clusters, on a normal run.

So a split keeps the ID on the part holding most of the old cluster's records; a merge keeps the
ID contributing most records; every previous ID gets exactly one event per level
(kept / merged_into / retired) and every current ID exactly one (kept / created / split_from).
``previous_records`` is null for IDs that did not exist in the previous table (created,
split_from). The same clusters twice give the same IDs and only ``kept`` events.

How it is computed
------------------
:func:`identify` takes one of three paths, all giving the same IDs and events:

* **first run** (no previous IDs) and clusters carrying ``cluster_key_<level>`` (the smallest
  record key of each cluster, written by ``cluster_records``): every ID is minted from that key
  in place; no shuffle.
* **carry-over** (both tables carry ``cluster_key_<level>`` and ``cluster_size_<level>``): one
  full outer join of the two tables on ``record_key`` (the only shuffle over all records). A
  record is *unchanged* at a level when its cluster's smallest key and size equal the previous
  ones; a new cluster whose records are all unchanged *is* a previous cluster (same smallest
  key, every record from it, same size) and keeps its ID with a ``kept`` event, read off the
  joined rows. Only the clusters and previous IDs that a changed, new or withdrawn record
  touches go through the rule above, so a weekly run with 1% churn decides about 1-2% of the
  clusters; the decisions are broadcast back. ID churn comes from the touched records alone (an
  untouched cluster keeps its records' IDs) and the previous table's row count.
* **general** (tables written before ``cluster_key_<level>`` existed): every cluster goes
  through the rule; a join back per level. The next run is on a fast path again.

ID format
---------
``P`` + the run's UTC stamp ``YYYYMMDDhhmmss`` (from ``run_id``, as made by
:func:`bold_spark.runs.new_run_id`) + ``-`` + 20 hex characters (80 bits) of
``sha256("bold-person-id" | run_id | level | smallest record key of the new cluster)``.

* Opaque and never reused: the hash is salted with the whole run id (stamp + random suffix), so
  two runs never mint the same ID; within a run and level the smallest record keys differ, so
  IDs collide only with probability about n^2 / 2^81 (4e-9 for 10^8 new IDs in one run).
* Not tied to the HMAC key in any lasting way: an ID is minted once and then carried over by
  the overlap rule, so re-keying (a key rotation, which reads the previous clusters through a
  crosswalk of old and new record keys: :mod:`bold_spark.linkage.rekey`) changes no existing
  ID; the hash cannot be inverted and says
  nothing a holder of the clusters table does not already know.
* Deterministic inside a run even if Spark recomputes the plan: it is a pure function of the
  row, with no ``uuid()``, ``rand()``, ``monotonically_increasing_id`` or partition-dependent
  ordinal. A per-run counter (``P<stamp>-000001``...) would read nicer but needs a global
  ordering: a single-partition window, or a range-partitioned sort whose boundaries come from
  sampling and are only stable once materialised. The hash costs no extra job or shuffle.
* Sortable by mint time: the fixed-width stamp makes "older" a string comparison, so the tie
  rule ("older, then smaller") is ``(stamp, id)`` ascending.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from bold_spark.exceptions import BoldError

logger = logging.getLogger(__name__)

EVENTS_SCHEMA = (
    "person_id string, event string, other_person_id string, threshold string, run_id string, "
    "records bigint, previous_records bigint"
)
EVENT_TYPES = ("created", "kept", "merged_into", "split_from", "retired")
#: Stamped IDs: ``P`` + 14 digits + ``-`` + 20 hex characters.
ID_PATTERN = r"^P(\d{14})-[0-9a-f]{20}$"
_RUN_STAMP = re.compile(r"^(\d{8})T(\d{6})Z")
_SALT = "bold-person-id"


class IdentifyError(BoldError):
    """Person IDs cannot be assigned or resolved: bad input schema or run id."""


def run_stamp(run_id: str) -> str:
    """The 14-digit UTC stamp ``YYYYMMDDhhmmss`` at the start of a run id.

    Raises :class:`IdentifyError` when the run id does not start with ``YYYYMMDDThhmmssZ``
    (the format of :func:`bold_spark.runs.new_run_id`).
    """
    m = _RUN_STAMP.match(run_id)
    if not m:
        raise IdentifyError(
            f"run id {run_id!r} does not start with a UTC stamp YYYYMMDDThhmmssZ "
            "(as made by bold_spark.runs.new_run_id): new person ids need it to sort by mint time"
        )
    return m.group(1) + m.group(2)


def mint_person_id(run_id: str, level: Column, smallest_key: Column) -> Column:
    """A new person ID: ``P<stamp>-<20 hex>``, from the run, the level and the new cluster's
    smallest record key (see the module docstring for why this is safe and deterministic)."""
    digest = F.sha2(F.concat_ws("|", F.lit(_SALT), F.lit(run_id), level, smallest_key), 256)
    return F.concat(F.lit(f"P{run_stamp(run_id)}-"), F.substring(digest, 1, 20))


def _mint_age(person_id: Column) -> Column:
    """The mint stamp of an ID, '' (oldest) for IDs without one."""
    return F.regexp_extract(person_id, r"^P(\d{14})-", 1)


def _check_columns(df: DataFrame, levels: Sequence[str], what: str) -> None:
    missing = [c for c in ["record_key", *[f"person_id_{lv}" for lv in levels]] if c not in df.columns]
    if missing:
        raise IdentifyError(f"{what} lacks column(s) {', '.join(missing)}; has {', '.join(df.columns)}")


_BY_NEW = ("level", "label")
_BY_OLD = ("level", "old_id")
#: Touched clusters up to which the fast path broadcasts its small tables (rows per table).
BROADCAST_MAX_ROWS = 2_000_000


@dataclass(frozen=True)
class Identified:
    """What :func:`identify` returns.

    ``stable``: the clusters with stable IDs (same columns as the input). ``events``: this run's
    ``person_events`` rows. ``churn``: share of records in both runs whose ID changed, per level
    (None on a first run). ``path``: ``first`` / ``carry`` (the fast paths, which need the
    ``cluster_key_<level>`` columns) or ``general``. ``touched``: records (summed over levels)
    whose clusters changed and went through the matching rules (every record on the general
    path)."""

    stable: DataFrame
    events: DataFrame
    churn: dict[str, float] | None
    path: str
    touched: int


def _match(overlap: DataFrame, rounds: int) -> DataFrame:
    """``overlap`` (level, label, old_id, n, new_min, old_age) plus ``first_new`` (old_id is the
    label's first choice), ``first_old`` (label is the old_id's first choice) and ``matched``.

    Each round matches the mutual first choices among pairs whose label and old_id are both still
    unmatched; done with windows only (no self-joins), so the plan stays linear in ``rounds``.
    """
    new_w, old_w = Window.partitionBy(*_BY_NEW), Window.partitionBy(*_BY_OLD)
    new_order = [F.col("n").desc(), F.col("old_age"), F.col("old_id")]
    old_order = [F.col("n").desc(), F.col("new_min")]
    out = overlap.withColumn("first_new", F.row_number().over(new_w.orderBy(*new_order)) == 1) \
        .withColumn("first_old", F.row_number().over(old_w.orderBy(*old_order)) == 1) \
        .withColumn("matched", F.col("first_new") & F.col("first_old"))
    for _ in range(rounds - 1):
        free = F.col("_free").desc()
        out = out.withColumn("_label_taken", F.max("matched").over(new_w)) \
            .withColumn("_free", ~F.col("_label_taken") & ~F.max("matched").over(old_w)) \
            .withColumn("_rank_old", F.row_number().over(old_w.orderBy(free, *old_order))) \
            .withColumn("_rank_new", F.row_number().over(new_w.orderBy(free, *new_order))) \
            .withColumn("matched", F.col("matched") | (
                F.col("_free") & (F.col("_rank_old") == 1) & (F.col("_rank_new") == 1))) \
            .drop("_label_taken", "_free", "_rank_old", "_rank_new")
    return out


def _overlap(stacked: DataFrame) -> DataFrame:
    """(level, label, old_id) -> ``n`` shared records and ``min_key``, the smallest of their
    keys, over ``stacked`` (record_key, level, label, old_id: one row per record and level;
    label null = record gone, old_id null = record new). Local-checkpointed: read by every
    branch of :func:`_decide` and by :func:`_moved`.

    Materialised before the branches read it: a lazy persist() is filled by the first job to
    finish, but adaptive execution starts the branches' stages at once, and each recomputed the
    grouping from the joined records (11 jobs instead of 1; 12 s at 1M records)."""
    return stacked.groupBy("level", "label", "old_id").agg(
        F.count(F.lit(1)).alias("n"), F.min("record_key").alias("min_key")).localCheckpoint(eager=True)


def _decide(pairs: DataFrame, run_id: str, rounds: int) -> DataFrame:
    """The rule of the module docstring over ``pairs`` (:func:`_overlap` of stacked rows that
    hold *every* record of each label and of each old_id they mention).

    Returns the decisions, local-checkpointed: one row per new cluster (``label`` set,
    ``person_id`` = its stable ID, event kept / created / split_from) and one per previous ID
    that is not kept (``label`` null, event merged_into / retired, ``best_label`` = the new
    cluster holding most of its records), with ``records`` and ``previous_records``.
    """
    new_sizes = pairs.where(F.col("label").isNotNull()).groupBy(*_BY_NEW).agg(
        F.sum("n").cast("bigint").alias("n_cur"), F.min("min_key").alias("new_min"),
        F.count("old_id").alias("k_new"))  # old ids it shares records with
    old_sizes = pairs.where(F.col("old_id").isNotNull()).groupBy(*_BY_OLD).agg(
        F.sum("n").cast("bigint").alias("n_prev"), F.count("label").alias("k_old"))
    overlap = pairs.where(F.col("label").isNotNull() & F.col("old_id").isNotNull()) \
        .select(*_BY_NEW, "old_id", "n") \
        .join(new_sizes.select(*_BY_NEW, "new_min", "k_new"), list(_BY_NEW)) \
        .join(old_sizes.select(*_BY_OLD, "n_prev", "k_old"), list(_BY_OLD))
    # A new cluster and an old id that share records only with each other are each other's only
    # choice, so matched. The windows of the matching run only on the rest, every pair of whose
    # clusters and ids is in it.
    only = (F.col("k_new") == 1) & (F.col("k_old") == 1)
    contest = _match(overlap.where(~only).withColumn("old_age", _mint_age(F.col("old_id"))), rounds)
    by_new = overlap.where(only).select(
        *_BY_NEW, F.col("old_id").alias("kept_id"), F.col("old_id").alias("best_old"),
        F.col("n_prev").alias("kept_prev"),
    ).unionByName(contest.groupBy(*_BY_NEW).agg(
        F.max(F.when(F.col("matched"), F.col("old_id"))).alias("kept_id"),
        F.max(F.when(F.col("first_new"), F.col("old_id"))).alias("best_old"),
        F.max(F.when(F.col("matched"), F.col("n_prev"))).alias("kept_prev")))
    unmatched_old = contest.groupBy(*_BY_OLD).agg(
        F.max("matched").alias("matched"), F.first("n_prev").alias("n_prev"),
        F.max(F.when(F.col("first_old"), F.col("label"))).alias("best_label"),
    ).where(~F.col("matched"))

    kept = F.col("kept_id").isNotNull()
    new_rows = new_sizes.join(by_new, list(_BY_NEW), "left").select(
        *_BY_NEW,
        F.coalesce(F.col("kept_id"), mint_person_id(run_id, F.col("level"), F.col("new_min")))
        .alias("person_id"),
        F.when(kept, "kept").when(F.col("best_old").isNotNull(), "split_from")
        .otherwise("created").alias("event"),
        F.when(~kept, F.col("best_old")).alias("other_person_id"),
        F.lit(None).cast("string").alias("best_label"),
        F.col("n_cur").alias("records"),
        F.col("kept_prev").alias("previous_records"),
    )
    old_cols = [
        "level", F.lit(None).cast("string").alias("label"), F.col("old_id").alias("person_id"),
        F.lit(None).cast("string").alias("other_person_id"), "best_label",
        F.lit(0).cast("bigint").alias("records"), F.col("n_prev").alias("previous_records"),
    ]
    retired = old_sizes.where(F.col("k_old") == 0).withColumn("best_label", F.lit(None).cast("string"))
    old_rows = retired.select(*old_cols, F.lit("retired").alias("event")).unionByName(
        unmatched_old.select(*old_cols, F.lit("merged_into").alias("event")))
    return new_rows.unionByName(old_rows).localCheckpoint(eager=True)


def _moved(pairs: DataFrame, decisions: DataFrame) -> dict[str, tuple[int, int]]:
    """level -> (records present in both runs whose ID changed, records gone) among the records
    of ``pairs`` (:func:`_overlap`), given the decisions on their clusters: one small job."""
    ids = decisions.where(F.col("label").isNotNull()).select(
        *_BY_NEW, F.col("person_id").alias("_new_id"))
    both = F.col("label").isNotNull() & F.col("old_id").isNotNull()
    rows = pairs.join(F.broadcast(ids), list(_BY_NEW), "left").groupBy("level").agg(
        F.sum(F.when(both & (F.col("_new_id") != F.col("old_id")), F.col("n")).otherwise(0)).alias("moved"),
        F.sum(F.when(F.col("label").isNull(), F.col("n")).otherwise(0)).alias("gone"),
    ).collect()
    return {r["level"]: (int(r["moved"] or 0), int(r["gone"] or 0)) for r in rows}


def _decision_events(decisions: DataFrame, run_id: str) -> DataFrame:
    """``person_events`` rows of :func:`_decide`'s decisions (merged_into gets its target's ID)."""
    current = decisions.where(F.col("label").isNotNull())
    targets = current.select("level", F.col("label").alias("best_label"), F.col("person_id").alias("_target"))
    gone = decisions.where(F.col("label").isNull()).join(targets, ["level", "best_label"], "left") \
        .withColumn("other_person_id", F.col("_target"))
    return current.select(*_event_cols(run_id)).unionByName(gone.select(*_event_cols(run_id)))


def _event_cols(run_id: str) -> list:
    return ["person_id", "event", "other_person_id", F.col("level").alias("threshold"),
            F.lit(run_id).alias("run_id"), "records", "previous_records"]


def _replace_ids(clusters: DataFrame, frame: DataFrame, ids: dict[str, Column], levels: Sequence[str]) -> DataFrame:
    """``frame`` projected to ``clusters``' columns with ``person_id_<level>`` = ``ids[level]`` and
    ``person_id`` = the medium level's (the first level's without a medium)."""
    main = "medium" if "medium" in levels else levels[0]
    new = {f"person_id_{lv}": ids[lv] for lv in levels} | {"person_id": ids[main]}
    return frame.select(*[new[c].alias(c) if c in new else F.col(c) for c in clusters.columns])


def _keyed(df: DataFrame, levels: Sequence[str]) -> bool:
    """Whether ``df`` carries ``cluster_key_<level>`` and ``cluster_size_<level>`` at every level
    (as :func:`bold_spark.linkage.clustering.cluster_records` writes them): the fast paths."""
    return all(f"cluster_key_{lv}" in df.columns and f"cluster_size_{lv}" in df.columns for lv in levels)


def identify(
    clusters: DataFrame,
    previous: DataFrame | None,
    levels: Sequence[str],
    run_id: str,
    *,
    rounds: int = 2,
    previous_rows: int | None = None,
) -> Identified:
    """Replace provisional cluster labels with stable person IDs carried over from ``previous``.

    :param clusters: this run's clusters, one row per record (``record_key``,
        ``person_id_<level>`` as provisional labels, and any other columns, e.g. ``source``,
        ``person_id``, ``cluster_size_<level>``, ``cluster_key_<level>``, ``run_id``).
    :param previous: the previously *published* clusters table (stable IDs in
        ``person_id_<level>``), or None for the first run ever. A level missing from it is
        treated as a first run at that level.
    :param levels: the thresholds, e.g. ``["high", "medium", "low"]``.
    :param run_id: this run's id; must start with ``YYYYMMDDThhmmssZ`` (new IDs carry the stamp).
    :param rounds: rounds of mutual-first-choice matching (module docstring); at least 1.
    :param previous_rows: the rows of the whole previous table when ``previous`` is a part of
        it closed under clusters (an incremental run's re-clustered region,
        :mod:`bold_spark.linkage.region`): the churn's denominator. None: ``previous``'s count.
    :returns: :class:`Identified`: ``stable`` is ``clusters`` with the same columns, each
        ``person_id_<level>`` replaced by its stable ID and ``person_id`` (if present) by the
        medium-level one (the first level if there is no ``medium``); ``events`` holds this
        run's ``person_events`` rows (:data:`EVENTS_SCHEMA`), one per previous and one per
        current ID at each level.
    :raises IdentifyError: on missing columns, no levels, rounds < 1, or a run id without a stamp.

    When both tables carry ``cluster_key_<level>`` and ``cluster_size_<level>`` (the fast
    paths, see "How it is computed" in the module docstring) the work follows the clusters that
    changed; otherwise every cluster goes through the matching rules (same result, slower).
    """
    levels = list(levels)
    if not levels or len(set(levels)) != len(levels):
        raise IdentifyError(f"levels must be non-empty and distinct, got {levels}")
    if rounds < 1:
        raise IdentifyError(f"rounds must be at least 1, got {rounds}")
    run_stamp(run_id)  # fail early on a run id that cannot stamp new IDs
    _check_columns(clusters, levels, "clusters")

    prev_levels: list[str] = []
    if previous is not None:
        if "record_key" not in previous.columns:
            raise IdentifyError(
                f"previous clusters lack column record_key; has {', '.join(previous.columns)}")
        prev_levels = [lv for lv in levels if f"person_id_{lv}" in previous.columns]
        for lv in levels:
            if lv not in prev_levels:
                logger.warning("previous clusters have no person_id_%s: minting every id at %s", lv, lv)
    if _keyed(clusters, levels) and not prev_levels:
        out = _first_run(clusters, levels, run_id)
    elif _keyed(clusters, levels) and previous is not None and prev_levels == levels and _keyed(previous, levels):
        out = _carry_over(clusters, previous, levels, run_id, rounds, previous_rows)
    else:
        out = _general(clusters, previous, levels, prev_levels, run_id, rounds)
    logger.info("person ids for run %s at %s: %s (%s path, %d clusters and previous ids through the "
                "matching rules)", run_id, ", ".join(levels),
                "carried over from the previous published run" if prev_levels else "all minted",
                out.path, out.touched)
    return out


def assign_person_ids(
    clusters: DataFrame,
    previous: DataFrame | None,
    levels: Sequence[str],
    run_id: str,
    *,
    rounds: int = 2,
) -> tuple[DataFrame, DataFrame]:
    """``(stable_clusters, events)`` of :func:`identify` (same parameters)."""
    out = identify(clusters, previous, levels, run_id, rounds=rounds)
    return out.stable, out.events


def _first_run(clusters: DataFrame, levels: Sequence[str], run_id: str) -> Identified:
    """No previous IDs: every cluster gets a new ID from its smallest record key; no shuffle."""
    # read by both outputs; the provisional labels are replaced, so never computed or kept
    c = clusters.drop(*_provisional(levels)).localCheckpoint(eager=True)
    ids = {lv: mint_person_id(run_id, F.lit(lv), F.col(f"cluster_key_{lv}")) for lv in levels}
    events = _per_level_events(c, {
        lv: (F.col("record_key") == F.col(f"cluster_key_{lv}"), ids[lv], "created",
             F.lit(None).cast("bigint")) for lv in levels}, run_id)
    return Identified(_replace_ids(clusters, c, ids, levels), events, None, "first", 0)


def _provisional(levels: Sequence[str]) -> list[str]:
    """The columns :func:`identify` replaces: never read from its input."""
    return ["person_id", *[f"person_id_{lv}" for lv in levels]]


def _per_level_events(frame: DataFrame, spec: dict[str, tuple[Column, Column, str, Column]],
                      run_id: str) -> DataFrame:
    """One event per level for each row of ``frame`` that is its cluster's row at that level, in
    one pass over ``frame`` (a union of a filter per level would read it once per level).

    ``spec[level]`` = (row condition, person_id, event, previous_records); ``records`` is the
    row's ``cluster_size_<level>``."""
    return frame.select(F.inline(F.filter(F.array(*[F.struct(
        cond.alias("_on"), pid.alias("person_id"), F.lit(event).alias("event"),
        F.lit(None).cast("string").alias("other_person_id"), F.lit(lv).alias("threshold"),
        F.lit(run_id).alias("run_id"), F.col(f"cluster_size_{lv}").cast("bigint").alias("records"),
        prev.alias("previous_records"))
        for lv, (cond, pid, event, prev) in spec.items()]), lambda e: e["_on"]))).drop("_on")


def _carry_over(clusters: DataFrame, previous: DataFrame, levels: Sequence[str], run_id: str,
                rounds: int, previous_rows: int | None = None) -> Identified:
    """IDs carried over, with work proportional to the clusters that changed.

    A record is *unchanged* at a level when its cluster's smallest key and size are the same as
    in the previous table. A new cluster all of whose records are unchanged is exactly one
    previous cluster (same smallest key, every record from it, same size), so it keeps that ID;
    only the other clusters, and the previous IDs any changed or withdrawn record held, go
    through the matching rules. Those sets are closed: a record of a changed cluster never
    belongs to an unchanged previous one, so the rules see every record of what they decide.
    """
    prev = previous.select(
        "record_key", F.lit(True).alias("_in_prev"),
        *[c for lv in levels for c in (
            F.col(f"person_id_{lv}").alias(f"_oid_{lv}"), F.col(f"cluster_key_{lv}").alias(f"_okey_{lv}"),
            F.col(f"cluster_size_{lv}").cast("bigint").alias(f"_osize_{lv}"))])
    same = {lv: F.coalesce((F.col(f"cluster_key_{lv}") == F.col(f"_okey_{lv}"))
                           & (F.col(f"cluster_size_{lv}") == F.col(f"_osize_{lv}")), F.lit(False))
            for lv in levels}
    # the one shuffle over all records: this run's clusters beside the previous ones (the
    # provisional labels, which are replaced, are left out: never computed, never shuffled)
    j = clusters.drop(*_provisional(levels)).withColumn("_in_cur", F.lit(True)) \
        .join(prev, "record_key", "full_outer") \
        .select("*", *[same[lv].alias(f"_same_{lv}") for lv in levels]).localCheckpoint(eager=True)
    stacked = j.select("record_key", F.inline(F.array(*[F.struct(
        F.lit(lv).alias("level"), F.col(f"cluster_key_{lv}").alias("label"),
        F.col(f"_oid_{lv}").alias("old_id"), F.col(f"_same_{lv}").alias("same")) for lv in levels])))
    changed = stacked.where(~F.col("same")).select(*_BY_NEW, "old_id").distinct().localCheckpoint(eager=True)
    n_changed = changed.count()
    small = F.broadcast if n_changed <= BROADCAST_MAX_ROWS else (lambda df: df)
    in_cur = F.coalesce(F.col("_in_cur"), F.lit(False))
    joined = j.where(in_cur)
    touched = 0
    if n_changed:
        t_new = changed.where(F.col("label").isNotNull()).select(*_BY_NEW, F.lit(True).alias("_tn")).distinct()
        t_old = changed.where(F.col("old_id").isNotNull()).select(*_BY_OLD, F.lit(True).alias("_to")).distinct()
        sub = stacked.join(small(t_new), list(_BY_NEW), "left").join(small(t_old), list(_BY_OLD), "left") \
            .where(F.coalesce(F.col("_tn"), F.lit(False)) | F.coalesce(F.col("_to"), F.lit(False))) \
            .where(F.col("label").isNotNull() | F.col("old_id").isNotNull()) \
            .select("record_key", "level", "label", "old_id")
        pairs = _overlap(sub)
        decisions = _decide(pairs, run_id, rounds)
        touched = decisions.count()
        moved = _moved(pairs, decisions)
        for lv in levels:
            m = decisions.where((F.col("level") == lv) & F.col("label").isNotNull()).select(
                F.col("label").alias(f"_k_{lv}"), F.col("person_id").alias(f"_m_{lv}"))
            joined = joined.join(small(m), F.col(f"cluster_key_{lv}") == F.col(f"_k_{lv}"), "left")
        events = _decision_events(decisions, run_id)
    else:
        joined = joined.select("*", *[F.lit(None).cast("string").alias(f"_m_{lv}") for lv in levels])
        events, moved = None, {}
    ids = {lv: F.coalesce(F.col(f"_m_{lv}"), F.col(f"_oid_{lv}")) for lv in levels}
    # an untouched cluster is a previous one unchanged: previous_records = its size
    kept = _kept_events(joined, levels, run_id, "_oid_", lambda lv: F.col(f"_m_{lv}").isNull())
    events = kept if events is None else kept.unionByName(events)
    # ID churn without another pass over every record: an untouched cluster keeps its records'
    # IDs, so only touched records can have moved; the records in both runs are the previous
    # table's less the withdrawn ones, which are all touched (at every level alike)
    gone = max((g for _, g in moved.values()), default=0)
    n = (previous.count() if previous_rows is None else previous_rows) - gone
    churn = {lv: (moved.get(lv, (0, 0))[0] / n if n else 0.0) for lv in levels}
    logger.info("id churn over %d records in both runs: %s", n,
                ", ".join(f"{lv} {moved.get(lv, (0, 0))[0]}" for lv in levels))
    return Identified(_replace_ids(clusters, joined, ids, levels), events, churn, "carry", touched)


def _kept_events(frame: DataFrame, levels: Sequence[str], run_id: str, id_prefix: str,
                 untouched: Callable[[str], Column]) -> DataFrame:
    """A ``kept`` event per cluster of ``frame`` at each level where ``untouched(level)`` holds
    on its smallest record's row (the cluster is a previous one unchanged; its ID in column
    ``<id_prefix><level>``): ``records`` = ``previous_records`` = its size."""
    return _per_level_events(frame, {
        lv: ((F.col("record_key") == F.col(f"cluster_key_{lv}")) & untouched(lv),
             F.col(f"{id_prefix}{lv}"), "kept", F.col(f"cluster_size_{lv}").cast("bigint"))
        for lv in levels}, run_id)


def carried_events(carried: DataFrame, levels: Sequence[str], run_id: str) -> DataFrame:
    """``kept`` events for published clusters rows copied unchanged into this run (the rows
    outside an incremental run's region, :mod:`bold_spark.linkage.region`: every cluster they
    hold is whole and unchanged), one per cluster and level, as :func:`identify` writes for an
    unchanged cluster."""
    return _kept_events(carried, levels, run_id, "person_id_", lambda lv: F.lit(True))


def _general(clusters: DataFrame, previous: DataFrame | None, levels: Sequence[str],
             prev_levels: Sequence[str], run_id: str, rounds: int) -> Identified:
    """Every cluster through the matching rules (tables without ``cluster_key_<level>``)."""
    # one row per (record, level): label (null = record gone) and old_id (null = new record);
    # the inputs are joined once on record_key, wide, then stacked
    new_cols = [F.col(f"person_id_{lv}").alias(f"_new_{lv}") for lv in levels]
    if prev_levels:
        old_cols = [F.col(f"person_id_{lv}").alias(f"_old_{lv}") for lv in prev_levels]
        both = clusters.select("record_key", *new_cols).join(
            previous.select("record_key", *old_cols), "record_key", "full_outer")
    else:
        both = clusters.select("record_key", *new_cols)
    per_level = F.array(*[F.struct(
        F.lit(lv).alias("level"), F.col(f"_new_{lv}").alias("label"),
        (F.col(f"_old_{lv}") if lv in prev_levels else F.lit(None).cast("string")).alias("old_id"),
    ) for lv in levels])
    stacked = both.select("record_key", F.inline(per_level)) \
        .where(F.col("label").isNotNull() | F.col("old_id").isNotNull())
    decisions = _decide(_overlap(stacked), run_id, rounds)
    current = decisions.where(F.col("label").isNotNull())
    stable = clusters
    for lv in levels:
        ids = current.where(F.col("level") == lv).select(
            F.col("label").alias(f"_label_{lv}"), F.col("person_id").alias(f"_id_{lv}"))
        stable = stable.join(ids, stable[f"person_id_{lv}"] == ids[f"_label_{lv}"], "left")
    stable = _replace_ids(clusters, stable, {lv: F.col(f"_id_{lv}") for lv in levels}, levels)
    return Identified(stable, _decision_events(decisions, run_id), None, "general", decisions.count())


def id_churn(previous: DataFrame, current: DataFrame, levels: Sequence[str]) -> dict[str, float]:
    """Share of records present in both runs whose person ID changed, at each level.

    :param previous: the previously published clusters (``record_key``, ``person_id_<level>``).
    :param current: this run's stable clusters, same columns.
    :param levels: the levels to compare.
    :returns: ``{level: changed / records in both}``; 0.0 at every level when no record is in
        both. One Spark job.
    """
    levels = list(levels)
    _check_columns(previous, levels, "previous clusters")
    _check_columns(current, levels, "current clusters")
    p = previous.select("record_key", *[F.col(f"person_id_{lv}").alias(f"_p_{lv}") for lv in levels])
    c = current.select("record_key", *[F.col(f"person_id_{lv}").alias(f"_c_{lv}") for lv in levels])
    row = p.join(c, "record_key").agg(
        F.count(F.lit(1)).alias("_n"),
        *[F.sum(F.when(F.col(f"_p_{lv}").eqNullSafe(F.col(f"_c_{lv}")), 0).otherwise(1)).alias(lv)
          for lv in levels],
    ).first()
    n = row["_n"]
    logger.info("id churn over %d records in both runs: %s", n,
                ", ".join(f"{lv} {row[lv] or 0}" for lv in levels))
    return {lv: (row[lv] / n if n else 0.0) for lv in levels}


def resolve_person_ids(
    events: DataFrame, ids: list[str], level: str, *, as_of_run: str | None = None,
    max_hops: int = 1000,
) -> DataFrame:
    """Map historical person IDs to the current ID(s), following ``person_events`` over many runs.

    From an ID, ``merged_into`` leads to the ID it merged into, and ``split_from`` leads to the
    parts later split off it (the ID itself stays current when it was kept). An ID is current
    when it has no ``merged_into`` or ``retired`` event. A split part is followed only when it
    was split off after the queried ID was read (``as_of_run``), or after the merge that led to
    its parent, so parts that were already separate people are not returned.

    :param events: ``person_events`` rows of any number of runs (:data:`EVENTS_SCHEMA`).
    :param ids: the IDs to resolve (a small list: each hop is one Spark job over ``events``).
    :param level: the threshold the IDs belong to.
    :param as_of_run: the run whose published IDs ``ids`` were taken from; splits in that run
        or earlier are not followed. None follows every split.
    :param max_hops: a guard against a malformed events table.
    :returns: one row per (queried ID, current ID): ``person_id``, ``current_person_id`` and
        ``via``: ``self`` (the ID is itself current), ``merged_into`` (reached through merges
        only), ``split_from`` (through at least one split); when nothing is current, one row with
        a null ``current_person_id`` and ``via`` ``retired``, or ``unknown`` for an ID never
        seen at this level.
    """
    spark = events.sparkSession
    ev = events.where(F.col("threshold") == level)
    queried = list(dict.fromkeys(ids))
    known: set[str] = set()
    terminal: dict[str, tuple[str, str | None, str]] = {}  # id -> (event, target, run)
    parts: dict[str, list[tuple[str, str]]] = {}  # parent -> [(split part, run)]
    frontier, seen = set(queried), set(queried)
    for _ in range(max_hops):
        if not frontier:
            break
        wanted = sorted(frontier)
        rows = ev.where(
            F.col("person_id").isin(wanted)
            | ((F.col("event") == "split_from") & F.col("other_person_id").isin(wanted))
        ).groupBy("person_id", "event", "other_person_id").agg(F.min("run_id").alias("run_id")).collect()
        nxt: set[str] = set()
        for r in rows:
            if r["person_id"] in frontier:
                known.add(r["person_id"])
                if r["event"] in ("merged_into", "retired"):
                    terminal[r["person_id"]] = (r["event"], r["other_person_id"], r["run_id"])
                    if r["other_person_id"]:
                        nxt.add(r["other_person_id"])
            if r["event"] == "split_from" and r["other_person_id"] in frontier:
                parts.setdefault(r["other_person_id"], []).append((r["person_id"], r["run_id"]))
                nxt.add(r["person_id"])
        frontier = nxt - seen
        seen |= nxt
    if frontier:
        raise IdentifyError(f"resolving {len(queried)} ids at {level} did not finish in {max_hops} hops")

    rank = {"self": 0, "merged_into": 1, "split_from": 2}
    out = []
    for q in queried:
        found: dict[str, str] = {}
        stack = [(q, as_of_run or "", "self")]
        visited: set[tuple[str, str, str]] = set()
        while stack:
            node, since, via = stack.pop()
            if (node, since, via) in visited:
                continue
            visited.add((node, since, via))
            if node in known and node not in terminal:
                if node not in found or rank[via] < rank[found[node]]:
                    found[node] = via
            for part, run in parts.get(node, []):
                if run > since:
                    stack.append((part, run, "split_from"))
            if node in terminal and terminal[node][0] == "merged_into":
                _, target, run = terminal[node]
                stack.append((target, run, "merged_into" if via in ("self", "merged_into") else via))
        if found:
            out.extend((q, cid, via) for cid, via in sorted(found.items()))
        else:
            out.append((q, None, "retired" if q in known else "unknown"))
    return spark.createDataFrame(out, "person_id string, current_person_id string, via string")
