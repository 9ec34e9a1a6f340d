"""An incremental run's steps over the published set (``bold run --incremental``): the
records MERGE (new, changed and withdrawn records), the edges changed in place (deletion
vectors), and the region of components the changes reach, which the cluster stage clusters
again. The pure transforms are in :mod:`bold_spark.linkage.incremental` and
:mod:`bold_spark.linkage.region`; docs/incremental.md."""

from __future__ import annotations

import logging
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.pipeline import PipelineConfig
from bold_spark.exceptions import InputError
from bold_spark.io.delta import (
    delete_rows,
    enable_deletion_vectors,
    merge_table,
    read_table,
    write_table,
    writer_for,
)
from bold_spark.io.joins import BROADCAST_KEYS_MAX_ROWS
from bold_spark.linkage.incremental import (
    diff_records,
    edges_of,
    kept_by_changes,
    merge_source,
    withdrawn_by_source,
)
from bold_spark.linkage.region import SETTINGS_COLUMN, region_keys, seed_keys
from bold_spark.linkage.sql import RECORD_KEY
from bold_spark.publish import STATS_COLUMNS, first_published
from bold_spark.runs import RunRecord, withdrawal_metrics
from bold_spark.schema import RAW_FINGERPRINT
from bold_spark.stages.context import ROTATIONS, handoff, reset_to_published, starting_set

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)


#: Changed and withdrawn records' (record_key, link_group) pairs up to which their edges are
#: deleted by IN lists in one DELETE; above it, by two key MERGEs. Planning a Delta scan with
#: long IN lists costs the driver more than linearly: on the 7.9M edges of the incremental
#: benchmark (2026-12-05, deletion vectors, one JVM, two repetitions) 4,000 pairs took 8-12 s,
#: 42,000 pairs 55-60 s (43 s of it planning), and two key MERGEs of the same 21,000 keys 23-32 s.
DELETE_IN_LIST_MAX_KEYS = 5_000


def change_in_place(spark, cfg: PipelineConfig, run: RunRecord, table: str, gone: list[DataFrame],
                    dropped: list, added: DataFrame) -> None:
    """Change ``table`` (edges) from its published version in place, with deletion vectors:
    delete the rows whose ``record_key_l`` or ``record_key_r`` is a ``record_key`` of ``gone`` in
    the same link group and those matching any ``dropped`` condition (one DELETE; two key
    MERGEs first when ``gone`` holds more than :data:`DELETE_IN_LIST_MAX_KEYS` keys), then
    append ``added``.
    Versions of unpublished runs are rolled back first; the commits in between are never
    published on their own (the run publishes the last)."""
    uri = cfg.table_uri(table)
    reset_to_published(spark, cfg, run, table)
    enable_deletion_vectors(uri, spark)
    deleted = 0
    conditions = list(dropped)
    if gone:
        keys = reduce(lambda a, b: a.unionByName(b), gone).select(RECORD_KEY, "link_group").distinct()
        few = keys.limit(DELETE_IN_LIST_MAX_KEYS + 1).collect()
        if len(few) <= DELETE_IN_LIST_MAX_KEYS:  # one DELETE with everything else dropped
            conditions.append(edges_of([(r[0], r[1]) for r in few]))
        else:  # too many for IN lists on the driver: a key MERGE per side
            keys = keys.localCheckpoint(eager=True)
            for side in ("l", "r"):
                deleted += delete_rows(uri, spark, keys=keys, on=[(f"record_key_{side}", RECORD_KEY),
                                                                  ("link_group", "link_group")]).deleted
    if conditions:
        deleted += delete_rows(uri, spark, where=reduce(lambda a, b: a | b, conditions)).deleted
    result = write_table(added, uri, mode="append", stats_columns=STATS_COLUMNS.get(table))
    run.table_rows[table] = starting_set(spark, cfg, run).rows[table] - deleted + result.rows
    run.table_versions[table] = result.version
    run.metrics[f"{table}_deleted_in_place"] = float(deleted)
    logger.info("table %-10s %10d rows -> %s (version %d): %d deleted, %d appended, in place",
                table, run.table_rows[table], result.uri, result.version, deleted, result.rows)



def note_withdrawals(run: RunRecord, by_source: DataFrame) -> None:
    """Run metrics ``published_before_<source>`` and ``withdrawn_<source>`` (records of the
    published set absent now) from :func:`withdrawn_by_source`: the audit's withdrawal check."""
    for r in by_source.collect():
        run.metrics.update(withdrawal_metrics(r["source"], r["published"], r["withdrawn"]))
        if r["withdrawn"]:
            logger.info("source %s: %d of its %d published records withdrawn", r["source"],
                        r["withdrawn"], r["published"])


def merge_records(spark, cfg: PipelineConfig, run: RunRecord, records: DataFrame,
                  previous: DataFrame, carried: DataFrame | None = None,
                  quarantined: DataFrame | None = None) -> None:
    """Incremental ingest: MERGE the new, changed and withdrawn records into the published
    records (one commit; Delta rewrites the files holding a changed or withdrawn row). ``carried``: keys of published
    records known unchanged without being read: full sources' rows whose raw-row fingerprints
    were published, and change-file sources' records their file leaves alone (not standardised,
    not in ``records``).
    ``quarantined``: record keys of this run's quarantined rows; a withdrawn record among them
    is in the extract, but its row was quarantined (counted apart: ``records_withdrawn_quarantined``)."""
    # Materialised (local checkpoints): the standardised records, read by the diff and by the
    # MERGE source (lazily, each re-ran the validation and standardisation of every extract
    # row); the diff (two narrow columns per record), read for the counts and the MERGE source;
    # and the MERGE source (only the changes), read twice by Delta's MERGE (lazily: 146 s of
    # MERGE at 1.25M records).
    # ``carried`` too: read twice by the diff and once by its count (lazily, a change file's
    # kept keys were an anti-join over the published records per read).
    records = records.localCheckpoint(eager=True)
    carried = carried.localCheckpoint(eager=True) if carried is not None else None
    diff = diff_records(records, previous, carried).localCheckpoint(eager=True)
    counts = {r["status"]: int(r["count"]) for r in diff.groupBy("status").count().collect()}
    for status in ("new", "changed", "unchanged", "withdrawn"):
        run.metrics[f"records_{status}"] = float(counts.get(status, 0))
    # of the unchanged: not standardised (raw rows as published, or not in a change file)
    run.metrics["records_not_standardised"] = float(carried.count()) if carried is not None else 0.0
    # the withdrawn keys, materialised: read by the counts below and by the incremental predict
    withdrawn = diff.where(F.col("status") == "withdrawn").select(RECORD_KEY).localCheckpoint(eager=True)
    handoff(run).withdrawn = withdrawn
    held = 0
    if quarantined is not None and counts.get("withdrawn"):
        held = withdrawn.join(
            quarantined.where(F.col(RECORD_KEY).isNotNull()).select(RECORD_KEY).distinct(),
            RECORD_KEY, "left_semi").count()
    run.metrics["records_withdrawn_quarantined"] = float(held)
    note_withdrawals(run, withdrawn_by_source(previous, gone=withdrawn))
    logger.info("incremental: %d new, %d changed, %d withdrawn (%d of them still in their extract, "
                "but the row was quarantined this run), %d unchanged records (%d of them not "
                "standardised: raw rows as published, or not in a change file)",
                *(counts.get(s, 0) for s in ("new", "changed", "withdrawn")), held,
                counts.get("unchanged", 0), run.metrics["records_not_standardised"])
    reset_to_published(spark, cfg, run, "records")
    if "records" in cfg.incremental.deletion_vector_tables and writer_for(spark) == "native":
        # the MERGE marks replaced and withdrawn rows instead of rewriting every file holding one
        # (changes are spread over all of them); `bold vacuum` purges the marks
        enable_deletion_vectors(cfg.table_uri("records"), spark)
    source = merge_source(records, diff).localCheckpoint(eager=True)
    result = merge_table(source, cfg.table_uri("records"), [RECORD_KEY],
                         preserve=("first_seen_run_id",))
    run.table_versions["records"] = result.version
    run.table_rows["records"] = read_table(spark, cfg.table_uri("records"), result.version).count()
    logger.info("table records    %10d rows -> %s (version %d, merged)", run.table_rows["records"],
                result.uri, result.version)


def carried_fingerprints(previous: DataFrame | None) -> DataFrame | None:
    """The published (record_key, raw_fingerprint, source) an incremental run may carry over unread: all
    but the records with an impossible date of birth (a date after the snapshot date becomes
    possible as snapshots move on, so those are standardised every run)."""
    if previous is None or RAW_FINGERPRINT not in previous.columns:
        return None
    return previous.where(~F.col("dob_impossible") & F.col(RAW_FINGERPRINT).isNotNull()) \
        .select(RECORD_KEY, RAW_FINGERPRINT, "source")



def with_changes(run: RunRecord, records: DataFrame, ingested, previous: DataFrame) -> DataFrame:
    """The keys of the change-file sources' published records that their changes leave as they
    are (:func:`kept_by_changes`: carried over, not read again or diffed); counts of applied
    rows in the run metrics."""
    sources = list(ingested.change_sources)
    published_cols = set(previous.columns) - {"first_seen_run_id"}
    if published_cols != set(records.columns):
        differ = sorted(published_cols.symmetric_difference(records.columns))
        raise InputError(
            f"change-file source(s) {', '.join(sources)}: the records' columns changed since the "
            f"published run ({len(differ)} differ: {', '.join(differ)}), so their unchanged records "
            "cannot be carried over: deliver the full extract once (delivery: full)")
    for k in ("added", "updated", "deleted"):
        run.metrics[f"change_rows_{k}"] = float(sum(ingested.counts[s][k] for s in sources))
    logger.info("change files of %s: %d added, %d updated, %d deleted", ", ".join(sources),
                *(run.metrics[f"change_rows_{k}"] for k in ("added", "updated", "deleted")))
    return kept_by_changes(records, ingested.deletes, previous, sources)



def recluster_region(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, edges: DataFrame,
                     previous: DataFrame | None, settings: str,
                     lowest: float) -> tuple[DataFrame, int] | None:
    """The record keys an incremental run clusters again (:mod:`bold_spark.linkage.region`),
    materialised, and how many; None to cluster every record: not an incremental run whose link
    groups all kept their edges, published clusters older than ``component_key``, made with other
    thresholds or one-record-per-person sources, or published before the published records or
    edges (:func:`bold_spark.publish.first_published`), a key rotation, or a region too large to
    broadcast."""
    touched = handoff(run).touched
    if touched is None or previous is None or ROTATIONS.get(run.run_id) is not None:
        return None
    if not {"component_key", SETTINGS_COLUMN} <= set(previous.columns):
        logger.info("the published clusters have no component_key: clustering every record")
        return None
    base = starting_set(spark, cfg, run)
    made = first_published(spark, cfg.output_root, {t: base.versions[t] for t in ("records", "edges", "clusters")
                                                    if t in base.versions})
    if max(made.get("records", 0), made.get("edges", 0)) > made.get("clusters", 0):
        # e.g. `bold predict` run on its own after a retrain: the published clusters were made
        # from other edges than those this run kept
        logger.info("the published clusters are older than the published records or edges: "
                    "clustering every record")
        return None
    made_with = previous.select(SETTINGS_COLUMN).limit(1).collect()
    if made_with and made_with[0][0] != settings:
        logger.info("the published clusters were made with other thresholds or one-record-per-person "
                    "sources: clustering every record")
        return None
    if touched.count() > BROADCAST_KEYS_MAX_ROWS:
        logger.info("more than %d records changed: clustering every record", BROADCAST_KEYS_MAX_ROWS)
        return None
    seeds = seed_keys(touched, edges, run.run_id, lowest).localCheckpoint(eager=True)
    region = region_keys(previous, seeds).localCheckpoint(eager=True)
    n, total = region.count(), base.rows.get("clusters", 0)
    if n > BROADCAST_KEYS_MAX_ROWS:
        logger.info("the changes reach %d records' components: clustering every record", n)
        return None
    run.metrics["recluster_region_records"] = float(n)
    logger.info("re-clustering the components the changes reach: %d records (%d seeds) of %d "
                "published; the other clusters and their IDs are carried over", n, seeds.count(), total)
    return region, n
