"""Stage orchestration: ``run_<stage>(spark, config, ...)``, called alike by jobs, CLI, tests
and notebooks. No argv or environment parsing here (the key is passed in)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.pipeline import LinkGroupConfig, PipelineConfig
from bold_spark.evaluate.accuracy import Evaluation, evaluate_clusters, keyed_truth
from bold_spark.exceptions import (
    AuditError,
    BoldError,
    ConfigError,
    InputError,
    KeyMismatchError,
    RunModeError,
    StageError,
    redact_error,
)
from bold_spark.ingest.ingest import ingest_sources
from bold_spark.ingest.validate import REASON_CODES
from bold_spark.io.delta import (
    delete_rows,
    enable_deletion_vectors,
    merge_table,
    read_table,
    restore_if_changed,
    table_exists,
    write_table,
    writer_for,
)
from bold_spark.io.joins import BROADCAST_KEYS_MAX_ROWS, by_keys
from bold_spark.linkage.analysis import analysis_schema, analysis_table
from bold_spark.linkage.blocking import check_model_sql
from bold_spark.linkage.clustering import cluster_records
from bold_spark.linkage.identify import carried_events, id_churn, identify
from bold_spark.linkage.incremental import (
    carry_first_seen,
    diff_records,
    drift_bound,
    edges_of,
    kept_by_changes,
    merge_source,
    near_thresholds,
    surviving_edges,
    tf_moved,
    withdrawn_by_source,
)
from bold_spark.linkage.model import load_model, save_model
from bold_spark.linkage.pairs import group_records, numbered
from bold_spark.linkage.region import (
    SETTINGS_COLUMN,
    carried_rows,
    cluster_settings,
    region_edges,
    region_keys,
    seed_keys,
)
from bold_spark.linkage.rekey import rekeyed
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.scoring import (
    predict_edges,
    rescore_edges,
    score_link_group,
    weight_without_tf,
)
from bold_spark.linkage.sql import RECORD_KEY, needed_columns, tf_columns
from bold_spark.linkage.training import train_model
from bold_spark.privacy.keys import SecretKey
from bold_spark.progress import stage
from bold_spark.publish import (
    QUARANTINE_RAW,
    STATS_COLUMNS,
    PublishedSet,
    acquire_lock,
    clean_orphans,
    first_published,
    publish,
    published_key_fingerprint,
    published_set,
    read_published,
    release_lock,
    runs_to_sweep,
)
from bold_spark.runs import RunRecord, new_run_id, run_record_frame, withdrawal_metrics, withdrawals
from bold_spark.schema import RAW_FINGERPRINT
from bold_spark.session import wait_for_running_tasks

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)


@dataclass
class StageResult:
    run: RunRecord
    detail: dict


def scope_of(group: LinkGroupConfig) -> PairScope:
    return PairScope(group.anchor_sources, group.link_only)


#: The published set each running run started from (it cannot change while the run holds the
#: output root's lock), so stages resolve it once.
_BASES: dict[str, PublishedSet | None] = {}


@dataclass
class _Rotation:
    """A key rotation in progress: the key the published set was made with, and (after ingest)
    the crosswalk of record keys (:mod:`bold_spark.linkage.rekey`), in this run's memory only."""

    previous_key: SecretKey
    crosswalk: DataFrame | None = None


#: Runs rotating the key (``bold run --rotate-key``), by run id.
_ROTATIONS: dict[str, _Rotation] = {}


@dataclass
class _Handoff:
    """What an incremental run's stages hand on, in this run's memory only (a stage run on its
    own computes it again, or does the whole work): ``withdrawn``, the keys of the published
    records the ingest withdrew (for predict); ``touched``, when every link group kept its
    published edges, the records whose edges predict dropped or scored again (new, changed,
    moved, withdrawn: for the cluster stage, :mod:`bold_spark.linkage.region`)."""

    withdrawn: DataFrame | None = None
    touched: DataFrame | None = None


#: By run id.
_HANDOFFS: dict[str, _Handoff] = {}


def _handoff(run: RunRecord) -> _Handoff:
    return _HANDOFFS.setdefault(run.run_id, _Handoff())


def _base(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> PublishedSet | None:
    if run.run_id not in _BASES:
        _BASES[run.run_id] = published_set(spark, cfg.output_root)
    return _BASES[run.run_id]


def _read(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, table: str) -> DataFrame:
    """The version of ``table`` this run wrote, else the published one: never just the latest."""
    uri = cfg.table_uri(table)
    version = run.table_versions.get(table)
    if version is None:
        current = _base(spark, cfg, run)
        if current is None or table not in current.versions:
            raise InputError(f"table '{table}' has not been published under {cfg.output_root}: "
                             "run the stage that writes it first (or `bold run`)")
        version = current.versions[table]
        run.inputs_read[table] = version
    return read_table(spark, uri, version)


def _write(spark, cfg: PipelineConfig, run: RunRecord, table: str, df: DataFrame, mode="overwrite"):
    result = write_table(df, cfg.table_uri(table), mode=mode, stats_columns=STATS_COLUMNS.get(table))
    run.table_rows[table] = result.rows
    run.table_versions[table] = result.version
    logger.info("table %-10s %10d rows -> %s (version %d)", table, result.rows, result.uri, result.version)
    return result


def _published(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, table: str) -> DataFrame | None:
    """The published version of ``table`` (as this run found it), or None."""
    current = _base(spark, cfg, run)
    if current is None or table not in current.versions:
        return None
    return read_table(spark, cfg.table_uri(table), current.versions[table])


def _reset_to_published(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, table: str) -> bool:
    """Before changing a table in place (append, MERGE): roll back versions of runs that were
    never published (Delta RESTORE). Returns whether a published version exists."""
    uri = cfg.table_uri(table)
    current = _base(spark, cfg, run)
    published_version = current.versions.get(table) if current else None
    if published_version is None or not table_exists(uri, spark):
        return False
    if restore_if_changed(uri, published_version, spark):
        logger.warning("%s had versions after the published %d: rolled back those unpublished "
                       "versions first", table, published_version)
    return True


#: Changed and withdrawn records' (record_key, link_group) pairs up to which their edges are
#: deleted by IN lists in one DELETE; above it, by two key MERGEs. Planning a Delta scan with
#: long IN lists costs the driver more than linearly: on the 7.9M edges of the incremental
#: benchmark (2026-12-05, deletion vectors, one JVM, two repetitions) 4,000 pairs took 8-12 s,
#: 42,000 pairs 55-60 s (43 s of it planning), and two key MERGEs of the same 21,000 keys 23-32 s.
DELETE_IN_LIST_MAX_KEYS = 5_000


def _change_in_place(spark, cfg: PipelineConfig, run: RunRecord, table: str, gone: list[DataFrame],
                     dropped: list, added: DataFrame) -> None:
    """Change ``table`` (edges) from its published version in place, with deletion vectors:
    delete the rows whose ``record_key_l`` or ``record_key_r`` is a ``record_key`` of ``gone`` in
    the same link group and those matching any ``dropped`` condition (one DELETE; two key
    MERGEs first when ``gone`` holds more than :data:`DELETE_IN_LIST_MAX_KEYS` keys), then
    append ``added``.
    Versions of unpublished runs are rolled back first; the commits in between are never
    published on their own (the run publishes the last)."""
    uri = cfg.table_uri(table)
    _reset_to_published(spark, cfg, run, table)
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
    run.table_rows[table] = _base(spark, cfg, run).rows[table] - deleted + result.rows
    run.table_versions[table] = result.version
    run.metrics[f"{table}_deleted_in_place"] = float(deleted)
    logger.info("table %-10s %10d rows -> %s (version %d): %d deleted, %d appended, in place",
                table, run.table_rows[table], result.uri, result.version, deleted, result.rows)


def _append(spark, cfg: PipelineConfig, run: RunRecord, table: str, df: DataFrame):
    """Append this run's rows to a history table (person_events) on top of its *published*
    version: appends of runs that were never published are rolled back first (Delta RESTORE)."""
    if not _reset_to_published(spark, cfg, run, table):
        return _write(spark, cfg, run, table, df, mode="overwrite")
    return _write(spark, cfg, run, table, df, mode="append")


def _note_withdrawals(run: RunRecord, by_source: DataFrame) -> None:
    """Run metrics ``published_before_<source>`` and ``withdrawn_<source>`` (records of the
    published set absent now) from :func:`withdrawn_by_source`: the audit's withdrawal check."""
    for r in by_source.collect():
        run.metrics.update(withdrawal_metrics(r["source"], r["published"], r["withdrawn"]))
        if r["withdrawn"]:
            logger.info("source %s: %d of its %d published records withdrawn", r["source"],
                        r["withdrawn"], r["published"])


def _merge_records(spark, cfg: PipelineConfig, run: RunRecord, records: DataFrame,
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
    _handoff(run).withdrawn = withdrawn
    held = 0
    if quarantined is not None and counts.get("withdrawn"):
        held = withdrawn.join(
            quarantined.where(F.col(RECORD_KEY).isNotNull()).select(RECORD_KEY).distinct(),
            RECORD_KEY, "left_semi").count()
    run.metrics["records_withdrawn_quarantined"] = float(held)
    _note_withdrawals(run, withdrawn_by_source(previous, gone=withdrawn))
    logger.info("incremental: %d new, %d changed, %d withdrawn (%d of them still in their extract, "
                "but the row was quarantined this run), %d unchanged records (%d of them not "
                "standardised: raw rows as published, or not in a change file)",
                *(counts.get(s, 0) for s in ("new", "changed", "withdrawn")), held,
                counts.get("unchanged", 0), run.metrics["records_not_standardised"])
    _reset_to_published(spark, cfg, run, "records")
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


def _carry_over(previous: DataFrame | None) -> DataFrame | None:
    """The published (record_key, raw_fingerprint, source) an incremental run may carry over unread: all
    but the records with an impossible date of birth (a date after the snapshot date becomes
    possible as snapshots move on, so those are standardised every run)."""
    if previous is None or RAW_FINGERPRINT not in previous.columns:
        return None
    return previous.where(~F.col("dob_impossible") & F.col(RAW_FINGERPRINT).isNotNull()) \
        .select(RECORD_KEY, RAW_FINGERPRINT, "source")


def check_deliveries(cfg: PipelineConfig, incremental: bool) -> None:
    """A change-file source (``delivery: change_file``) is applied to the published records, so
    only an incremental run can read it: a full run (or a lone ingest) raises ConfigError naming
    the dataset config and its key, before the run takes the output root's lock."""
    if incremental:
        return
    for name, ds in cfg.dataset_configs().items():
        if ds.is_change_file:
            raise ConfigError(
                ds.file or name, "delivery",
                f"source '{name}' delivers a change file (adds, updates and deletes), which only "
                "an incremental run applies (`bold run --incremental`); a full run needs every "
                "source's whole extract (delivery: full)")


def _with_changes(run: RunRecord, records: DataFrame, ingested, previous: DataFrame) -> DataFrame:
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


# ---------------------------------------------------------------- stages


def ingest_stage(spark: SparkSession, cfg: PipelineConfig, key: SecretKey, run: RunRecord,
                 incremental: bool = False) -> dict:
    """Read, validate and standardise every source into ``records`` (and the quarantine). Full:
    records overwritten. Incremental: the difference to the published records is MERGEd; a
    change-file source's current records are its published ones with its changes applied."""
    check_deliveries(cfg, incremental)
    rotation = _ROTATIONS.get(run.run_id)
    if rotation is not None and incremental:
        raise RunModeError("a key rotation (--rotate-key) keys every record again: it is a full run; "
                        "run it without --incremental")
    datasets = cfg.dataset_configs()
    uris = {name: cfg.source_uri(ds) for name, ds in datasets.items()}
    previous = _published(spark, cfg, run, "records")
    changes = [name for name, ds in datasets.items() if ds.is_change_file]
    if changes and previous is None:
        ds = datasets[changes[0]]
        raise InputError(
            f"source '{changes[0]}': its dataset config {ds.file or ds.name} declares `delivery: "
            f"change_file`, but nothing is published under {cfg.output_root} to apply the changes "
            "to: the first run needs the source's full extract (a dataset config with delivery: "
            "full, the default)")
    ingested = ingest_sources(spark, datasets, uris, key, run.run_id,
                              published=previous.select(RECORD_KEY, "source") if changes else None,
                              fingerprints=_carry_over(previous) if incremental else None,
                              settings=cfg.privacy,
                              previous_key=rotation.previous_key if rotation else None)
    records = ingested.records
    if cfg.privacy.mode == "pprl":
        from bold_spark.privacy.pprl import encode_records

        records = encode_records(records, key, cfg.privacy)
    try:
        run.source_counts = ingested.counts
        run.inputs = ingested.inputs
        for name, reasons in ingested.reason_counts.items():  # codes only: the audit names them
            for code, n in reasons.items():
                run.metrics[_reason_metric(name, code)] = float(n)
        carried = ingested.unchanged
        if changes:  # change-file sources' untouched published records: carried, as unchanged
            kept = _with_changes(run, records, ingested, previous)
            carried = kept if carried is None else carried.unionByName(kept)
        # A MERGE keeps an updated row's first_seen_run_id and inserts only new records, so the
        # rows it reads are stamped with this run's id: no join with the published records.
        stamped = carry_first_seen(records, None, run.run_id)
        same_schema = previous is not None and sorted(previous.columns) == sorted(stamped.columns)
        if incremental and same_schema:
            _merge_records(spark, cfg, run, stamped, previous, carried, ingested.quarantine)
        else:
            if ingested.unchanged is not None and not ingested.unchanged.isEmpty():
                # e.g. a source dropped from the config, whose own analysis columns go with it
                gone = sorted(set(previous.columns) - set(stamped.columns))
                added = sorted(set(stamped.columns) - set(previous.columns))
                raise RunModeError(
                    "incremental run: the records' columns differ from the published ones ("
                    f"only published: {', '.join(gone) or 'none'}; only this run's: "
                    f"{', '.join(added) or 'none'}; a source added to or dropped from the config, "
                    "or its analysis columns changed?), so the unchanged records cannot be carried "
                    "over: run a full run (without --incremental)")
            if incremental:
                logger.warning("incremental run: %s, so every record is written (a full run)",
                               "nothing published yet" if previous is None else "the records schema changed")
            if rotation is not None and ingested.crosswalk is not None:
                # materialised: the stages after ingest read it, and ingest's inputs are released
                rotation.crosswalk = ingested.crosswalk.localCheckpoint(eager=True)
                if previous is not None:
                    previous = rekeyed(previous, rotation.crosswalk)
            _write(spark, cfg, run, "records", carry_first_seen(records, previous, run.run_id))
            if previous is not None:  # (in a key rotation, keyed through the crosswalk above)
                _note_withdrawals(run, withdrawn_by_source(
                    previous, current=_read(spark, cfg, run, "records")))
        _write(spark, cfg, run, "quarantine", ingested.quarantine)
        raw = write_table(ingested.quarantine_restricted, cfg.restricted_uri(QUARANTINE_RAW))
        run.metrics["quarantine_raw_rows"] = float(raw.rows)
        logger.info("raw values of quarantined rows -> %s (restricted zone, version %d)",
                    raw.uri, raw.version)
        flags = (
            _read(spark, cfg, run, "records").groupBy("source").agg(
                F.sum(F.col("dob_impossible").cast("int")).alias("dob_impossible"),
                F.sum(F.col("postcode_invalid").cast("int")).alias("postcode_invalid"),
                F.sum(F.col("nfa").cast("int")).alias("nfa"),
            ).collect()
        )
        for row in flags:
            run.source_counts[row["source"]].update(
                {k: int(row[k] or 0) for k in ("dob_impossible", "postcode_invalid", "nfa")}
            )
    finally:
        ingested.release()
    return run.source_counts


def train_stage(
    spark: SparkSession, cfg: PipelineConfig, run: RunRecord, groups: list[str] | None = None,
    output_dir: str | None = None,
) -> dict[str, str]:
    """Train each link group's model on the records table; write the model JSON (+ meta)."""
    records = _read(spark, cfg, run, "records")
    records_version = run.table_versions.get("records", run.inputs_read.get("records"))
    written = {}
    for g in cfg.link_groups:
        if groups and g.name not in groups:
            continue
        model = load_model(g.model)
        check_model_sql(records, model, training=True)  # a typo'd rule or level: ConfigError
        settings = model.splink_settings()
        extra = [*model.meta.training.deterministic_rules, *model.meta.training.em_blocking_rules]
        recs = group_records(records, g.sources, needed_columns(settings, extra), settings)
        trained_on = {"records_table": cfg.table_uri("records"), "records_version": records_version,
                      "sources": g.sources, "run_id": run.run_id}
        with stage(f"train:{g.name}", run.stage_seconds):
            trained, info = train_model(recs, model, scope_of(g), trained_on,
                                        cfg.max_comparisons, cfg.max_block_size, g.name)
        for s in info.get("skipped_blocks", []):  # blocks over max_block_size, counts only
            run.metrics["train_blocks_skipped"] = run.metrics.get("train_blocks_skipped", 0.0) + s["blocks"]
            run.metrics["train_comparisons_skipped"] = (
                run.metrics.get("train_comparisons_skipped", 0.0) + s["comparisons"])
        target = (output_dir.rstrip("/") + "/" + g.model.rsplit("/", 1)[-1]) if output_dir else g.model
        written[g.name] = save_model(trained, target)
        run.model_versions[g.name] = trained.version
        run.model_hashes[g.name] = trained.content_hash
    return written


def predict_stage(spark: SparkSession, cfg: PipelineConfig, run: RunRecord,
                  incremental: bool = False) -> dict[str, int]:
    """Score every link group's blocked pairs into ``edges``. Incremental (with published records
    and edges): keep the published edges that touch no changed, withdrawn or term-frequency-moved
    record and score only pairs involving a new, changed or moved record; a link group whose
    model version changed is rescored in full."""
    records = _read(spark, cfg, run, "records")
    prev_records = _published(spark, cfg, run, "records") if incremental else None
    prev_edges = _published(spark, cfg, run, "edges") if incremental else None
    delta = prev_records is not None and prev_edges is not None
    if delta:
        # small key sets, materialised: each is read by every link group's kept edges and by its
        # focus scoring (lazily, the withdrawn keys were a join of all records per read)
        upserted = records.where(F.col("run_id") == run.run_id).select(RECORD_KEY) \
            .localCheckpoint(eager=True)
        withdrawn = _handoff(run).withdrawn  # the ingest's diff, or (a stage run) by a join
        if withdrawn is None:
            withdrawn = prev_records.select(RECORD_KEY).join(records.select(RECORD_KEY), RECORD_KEY,
                                                             "left_anti").localCheckpoint(eager=True)
        published_models = {r["link_group"]: sorted(r["v"]) for r in prev_edges.groupBy("link_group").agg(
            F.collect_set("model_version").alias("v")).collect()}
    elif incremental:
        logger.warning("incremental run: no published records and edges, so every pair is scored")
    # in place: delete the dropped edges and append the new ones (deletion vectors) instead of
    # writing every kept edge again
    dv = "edges" in cfg.incremental.deletion_vector_tables
    in_place = delta and dv and writer_for(spark) == "native"
    if delta and dv and not in_place:
        logger.warning("incremental.deletion_vectors needs the native Delta writer: rewriting edges")
    parts, counts = [], {}
    touched: list[DataFrame] = []  # each kept link group's focus: for the cluster stage
    gone, dropped = [], []  # in place: (record_key, link_group) whose edges go; conditions on edges
    thresholds = [cfg.thresholds.high, cfg.thresholds.medium, cfg.thresholds.low]
    for g in cfg.link_groups:
        model = load_model(g.model)
        check_model_sql(records, model)  # a typo'd rule or level: ConfigError naming the file
        if not model.is_trained:
            logger.warning("model %s has no training record: scoring with its current parameters", g.model)
        settings = model.splink_settings()
        run.model_versions[g.name] = model.version
        run.model_hashes[g.name] = model.content_hash
        recs = group_records(records, g.sources, needed_columns(settings), settings)
        if delta and published_models.get(g.name) == [model.version]:
            in_group = F.col("source").isin(*g.sources)
            # the group's records with their term frequencies, materialised once, numbered for
            # the keyed path: read for the moved frequencies, the focus scoring and the
            # rescoring (each made them before; the focus scoring materialised them again with
            # the focus flag until 2026-12-05)
            grp = numbered(recs).localCheckpoint(eager=True)
            moved = tf_moved(grp, prev_records.where(in_group), tf_columns(settings),
                             cfg.incremental.tf_tolerance)
            focus = upserted.unionByName(moved).localCheckpoint(eager=True)
            touched.append(focus)
            kept = surviving_edges(prev_edges.where(F.col("link_group") == g.name), focus.unionByName(withdrawn))
            # the focus pairs by one join of block keys whenever the rules allow: at 1M records
            # and 18,556 focus records, 9.4 s against 29.8 s by a broadcast join per rule for the
            # `rich` group's 14 rules, 5.8 s against 6.3 s for `ndtms`' 6 (same edges)
            fresh = predict_edges(records, model, g.name, g.sources, scope_of(g), run.run_id, focus=focus,
                                  group_recs=grp, keyed_join=True)
            # kept edges whose weight may have drifted across a threshold: scored again
            bound = drift_bound(len(tf_columns(settings)), cfg.incremental.tf_tolerance)
            near = near_thresholds(thresholds, bound)
            again = rescore_edges(records, model, kept.where(near), g.name, g.sources, run.run_id,
                                  group_recs=grp)
            if in_place:
                gone.append(focus.unionByName(withdrawn).withColumn("link_group", F.lit(g.name)))
                dropped.append((F.col("link_group") == g.name) & near)
                parts.append(fresh.unionByName(again))
            else:
                parts.append(kept.where(~near).select(*fresh.columns).unionByName(fresh)
                             .unionByName(again))
            if bound:
                logger.info("link group %s: kept edges within %.3f bits of a threshold (the most "
                            "term-frequency drift within tf_tolerance moves a weight) scored again",
                            g.name, bound)
            counts[g.name] = 0
            continue
        if delta:
            logger.warning("link group %s: model version %s differs from the published edges' %s: "
                           "rescoring every pair of the group", g.name, model.version,
                           published_models.get(g.name) or "(none)")
            run.metrics[f"full_rescore_{g.name}"] = 1.0
            dropped.append(F.col("link_group") == g.name)
        fresh, rule_counts = score_link_group(records, model, g.name, g.sources, scope_of(g), run.run_id,
                                              cfg.max_comparisons, group_recs=recs)
        counts[g.name] = sum(c.comparisons for c in rule_counts)
        parts.append(fresh)
    edges = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
    if delta and len(touched) == len(cfg.link_groups) and set(published_models) <= {
            g.name for g in cfg.link_groups}:
        # every link group kept its edges: the cluster stage re-clusters only what they reach
        _handoff(run).touched = reduce(lambda a, b: a.unionByName(b), touched, withdrawn).distinct() \
            .localCheckpoint(eager=True)
    if in_place:
        # link groups no longer configured lose their edges too, as in a rewrite
        dropped.append(~F.col("link_group").isin(*[g.name for g in cfg.link_groups]))
        _change_in_place(spark, cfg, run, "edges", gone, dropped, edges)
    else:
        _write(spark, cfg, run, "edges", edges)
    run.metrics["blocked_comparisons_upper_bound"] = float(sum(counts.values()))
    scored = _read(spark, cfg, run, "edges").where(F.col("run_id") == run.run_id) \
        .groupBy("link_group").count().collect()
    for r in scored:
        run.metrics[f"scored_pairs_{r['link_group']}"] = float(r["count"])
    run.metrics["scored_pairs"] = float(sum(r["count"] for r in scored))
    run.metrics["kept_edges"] = float(run.table_rows["edges"] - run.metrics["scored_pairs"])
    logger.info("edges: %d scored by this run, %d kept from the published edges",
                run.metrics["scored_pairs"], run.metrics["kept_edges"])
    return counts


def _recluster_region(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, edges: DataFrame,
                      previous: DataFrame | None, settings: str,
                      lowest: float) -> tuple[DataFrame, int] | None:
    """The record keys an incremental run clusters again (:mod:`bold_spark.linkage.region`),
    materialised, and how many; None to cluster every record: not an incremental run whose link
    groups all kept their edges, published clusters older than ``component_key``, made with other
    thresholds or one-record-per-person sources, or published before the published records or
    edges (:func:`bold_spark.publish.first_published`), a key rotation, or a region too large to
    broadcast."""
    touched = _handoff(run).touched
    if touched is None or previous is None or _ROTATIONS.get(run.run_id) is not None:
        return None
    if not {"component_key", SETTINGS_COLUMN} <= set(previous.columns):
        logger.info("the published clusters have no component_key: clustering every record")
        return None
    base = _base(spark, cfg, run)
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


def cluster_stage(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> dict[str, int]:
    records = _read(spark, cfg, run, "records").select("record_key", "source")
    scored = _read(spark, cfg, run, "edges")
    t = cfg.thresholds
    thresholds = {"high": t.high, "medium": t.medium, "low": t.low}
    single = frozenset(name for name, ds in cfg.dataset_configs().items()
                       if ds.one_record_per_person)
    # the one-record-per-person split ranks edges by their weight without term-frequency
    # adjustments: equal in an incremental run and a full re-run (kept edges' match weights are
    # only within the drift bound of a re-run's, and could swap order)
    rank = F.col("match_weight")
    for g in cfg.link_groups if single else []:
        rank = F.when(F.col("link_group") == g.name,
                      weight_without_tf(load_model(g.model).splink_settings())).otherwise(rank)
    edges = scored.select("record_key_l", "record_key_r", "source_l", "source_r", "match_probability",
                          rank.alias("split_weight"))
    levels = list(thresholds)
    settings = cluster_settings(thresholds, single)
    current = _base(spark, cfg, run)
    previous = (read_table(spark, cfg.table_uri("clusters"), current.versions["clusters"])
                if current and "clusters" in current.versions else None)
    rotation = _ROTATIONS.get(run.run_id)
    if previous is not None and rotation is not None and rotation.crosswalk is not None:
        # the previous clusters' record keys under the new key; their smallest keys
        # (cluster_key_<level>) are the old key's, so identify takes its general path
        previous = rekeyed(previous, rotation.crosswalk).drop(
            *[c for c in previous.columns if c.startswith("cluster_key_")])
        logger.info("key rotation: the previous clusters are read through the crosswalk of record "
                    "keys, so person IDs carry over")
    lowest = min(thresholds.values())
    found = _recluster_region(spark, cfg, run, scored, previous, settings, lowest)
    region, region_rows = found if found is not None else (None, None)
    if region is not None:
        # the region's edges that can count (at the lowest threshold and above), materialised:
        # read by the clustering's count and by its collection to the driver (the region is
        # materialised and counted already: each join broadcasts it as it is)
        records = by_keys(records, region, "record_key", region_rows)
        edges = region_edges(edges.where(F.col("match_probability") >= lowest), region, region_rows) \
            .localCheckpoint(eager=True)
    clusters = cluster_records(records, edges, thresholds, run.run_id, cfg.driver_clustering_max_edges,
                               one_record_per_person=single, stats=run.metrics,
                               split_order="split_weight").withColumn(SETTINGS_COLUMN, F.lit(settings))
    with stage("identify", run.stage_seconds):
        if region is not None:
            ids = identify(clusters, by_keys(previous, region, "record_key", region_rows), levels, run.run_id,
                           previous_rows=current.rows["clusters"])
            carried = carried_rows(previous, region, clusters.columns, run.run_id)
            stable = ids.stable.unionByName(carried)
            events = ids.events.unionByName(carried_events(carried, levels, run.run_id))
        else:
            ids = identify(clusters, previous, levels, run.run_id)
            stable, events = ids.stable, ids.events
        _write(spark, cfg, run, "clusters", stable)
        _append(spark, cfg, run, "person_events", events)
        run.metrics["identify_decided"] = float(ids.touched)  # clusters + previous ids through the rules
        # this run's events only (the run id prunes the table's files by their statistics)
        counts = read_table(spark, cfg.table_uri("person_events"), run.table_versions["person_events"]) \
            .where(F.col("run_id") == run.run_id).groupBy("threshold", "event") \
            .agg(F.count(F.lit(1)).alias("n"), F.max("records").alias("max_records")).collect()
        for r in counts:
            run.metrics[f"id_{r['event']}_{r['threshold']}"] = float(r["n"])
        if previous is not None:
            churn = ids.churn if ids.churn is not None else id_churn(
                previous, _read(spark, cfg, run, "clusters"), levels)
            for lv, share in churn.items():
                run.metrics[f"id_churn_{lv}"] = share
        logger.info("person ids: %s", ", ".join(f"{k[3:]} {v:.0f}" for k, v in sorted(run.metrics.items())
                                                 if k.startswith("id_") and not k.startswith("id_churn")))
    # its own stage (it is not identify's cost): analyst zone, person IDs and the declared
    # analysis columns, no identifiers (docs/analysis.md)
    with stage("analysis", run.stage_seconds):
        _write(spark, cfg, run, "analysis", analysis_table(
            _read(spark, cfg, run, "records"), _read(spark, cfg, run, "clusters"),
            analysis_schema(cfg.dataset_configs()), levels, run.run_id))
    # Every current ID has exactly one created / kept / split_from event of this run, whose
    # ``records`` is its cluster's size: persons and the largest cluster per level come from the
    # events counted above (a distinct count over the clusters table cost a pass over it).
    current = [r for r in counts if r["event"] in ("created", "kept", "split_from")]
    out = {}
    for lv in thresholds:
        mine = [r for r in current if r["threshold"] == lv]
        out[f"persons_{lv}"] = sum(int(r["n"]) for r in mine)
        out[f"max_cluster_size_{lv}"] = max((int(r["max_records"] or 0) for r in mine), default=0)
        run.metrics[f"persons_{lv}"] = float(out[f"persons_{lv}"])
        run.metrics[f"max_cluster_size_{lv}"] = float(out[f"max_cluster_size_{lv}"])
        logger.info("clusters at %-6s (p >= %.2f): %d persons, largest cluster %d records",
                    lv, thresholds[lv], out[f"persons_{lv}"], out[f"max_cluster_size_{lv}"])
    return out


def _reason_metric(source: str, code: str) -> str:
    """The run metric counting ``source``'s quarantined rows with reason ``code``."""
    return f"quarantine_reason_{source}_{code}"


def _quarantine_problems(source_counts: dict[str, dict], metrics: dict[str, float],
                         limit: float) -> list[str]:
    """The audit's message for each source whose quarantined rows exceed ``limit`` of its rows
    in, naming its counts and reason codes (:func:`_reason_metric`, looked up per known code:
    a prefix would take another source's, e.g. ``prison_legacy``'s for ``prison``)."""
    out = []
    for name, c in sorted(source_counts.items()):
        rows_in, held = c.get("rows_in", 0), c.get("quarantined", 0)
        if not rows_in or held / rows_in <= limit:
            continue
        reasons = sorted(((code, int(metrics[_reason_metric(name, code)])) for code in REASON_CODES
                          if _reason_metric(name, code) in metrics), key=lambda kv: -kv[1])
        shown = ", ".join(f"{code} {n}" for code, n in reasons)
        out.append(f"source {name}: {held} of its {rows_in} rows ({held / rows_in:.1%}) were "
                   f"quarantined ({shown or 'reasons in the quarantine table'}; limit "
                   f"audit.max_quarantined_share = {limit:.0%}): a delivery gone wrong (a changed "
                   "date format or layout, a truncated file)? See the quarantine table; if the "
                   "rows are meant to be held back, raise the limit for this run")
    return out


def _withdrawn_problems(metrics: dict[str, float], datasets: dict, limit: float) -> list[str]:
    """The audit's message for each full-extract source (or source left out of the config) that
    lost more than ``limit`` of its published records (:func:`_note_withdrawals`' metrics)."""
    out = []
    for name, (published, gone) in withdrawals(metrics).items():
        if name in datasets and datasets[name].is_change_file:
            continue  # its withdrawals are the deletes its change file states
        if published and gone / published > limit:
            why = ("absent from its extract" if name in datasets
                   else "the source is not in this run's config")
            out.append(
                f"source {name}: {gone:.0f} of its {published:.0f} published records "
                f"({gone / published:.1%}) are withdrawn ({why}; limit "
                f"audit.max_withdrawn_share = {limit:.0%}): a truncated or failed extract? If "
                "the withdrawal is meant, raise the limit for this run")
    return out


def audit_stage(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> None:
    """Checks on the staged set (the versions this run wrote, the published ones for the rest)
    before it may be published: record conservation, every record clustered exactly once,
    cluster sizes. Raises AuditError naming each failed check; counts only, no values."""
    problems = []
    if "records" in run.table_versions:
        counts = run.source_counts.values()
        rows_in = sum(c["rows_in"] for c in counts)
        accepted = sum(c["accepted"] for c in counts)
        deleted = sum(c.get("deleted", 0) for c in counts)
        quarantined = sum(c["quarantined"] for c in counts)
        # a change file's source holds its published records - deleted + added, not its rows
        expected = sum(c.get("records", c["accepted"]) for c in counts)
        if run.table_rows.get("records") != expected:
            problems.append(f"records table has {run.table_rows.get('records')} rows, {expected} "
                            "expected (accepted rows; for change files published - deleted + added)")
        if run.table_rows.get("quarantine") != quarantined:
            problems.append(f"quarantine has {run.table_rows.get('quarantine')} rows, {quarantined} rejected")
        if accepted + deleted + quarantined != rows_in:
            problems.append(f"{rows_in} rows in but {accepted} accepted + {deleted} deleted + "
                            f"{quarantined} quarantined")
        problems += _quarantine_problems(run.source_counts, run.metrics, cfg.audit.max_quarantined_share)
    problems += _withdrawn_problems(run.metrics, cfg.dataset_configs(), cfg.audit.max_withdrawn_share)
    if "clusters" in run.table_versions:
        records = _read(spark, cfg, run, "records").select("record_key")
        clusters = _read(spark, cfg, run, "clusters").select("record_key")
        row = clusters.join(records.withColumn("r", F.lit(1)), "record_key", "full").agg(
            F.count(F.lit(1)).alias("n"),
            F.countDistinct("record_key").alias("d"),
            F.sum(F.col("r").isNull().cast("int")).alias("unknown"),
        ).collect()[0]
        n_records = run.table_rows.get("records") or records.count()
        if row["n"] != n_records or row["d"] != n_records or row["unknown"]:
            problems.append(f"clusters has {row['n']} rows for {row['d']} distinct records "
                            f"({row['unknown']} not in records), expected one per record ({n_records})")
        for lv in cfg.thresholds.__dataclass_fields__:
            churn = run.metrics.get(f"id_churn_{lv}", 0.0)
            if churn > cfg.audit.max_id_churn:
                problems.append(f"person ids of {churn:.1%} of records changed at {lv} since the last "
                                f"published run (limit audit.max_id_churn = {cfg.audit.max_id_churn:.1%})")
        largest = run.metrics.get("max_cluster_size_medium", 0)
        if largest > cfg.audit.max_cluster_size:
            problems.append(f"a medium-threshold cluster has {largest:.0f} records (limit "
                            f"audit.max_cluster_size = {cfg.audit.max_cluster_size}): over-linking")
    if problems:
        raise AuditError("; ".join(problems))
    logger.info("audit passed for %s", ", ".join(sorted(run.table_versions)) or "no tables")


def evaluate_stage(
    spark: SparkSession, cfg: PipelineConfig, key: SecretKey, ground_truth: str | None = None
) -> Evaluation:
    """Pairwise precision/recall/F1 of the clusters at each threshold against ground truth
    (source, source_record_id, person_id), and per source pair at the report's threshold
    (``report.level``).

    The ground truth may cover only some records (a clerical sample of records): accuracy is
    then over the pairs among the records it covers, with a warning saying how many those are;
    precision is then optimistic (a false link to a record outside the sample is not seen).
    Rows of the truth that match no clustered record (quarantined or withdrawn records) are
    counted and left out. Raises InputError when it matches no clustered record at all (another
    key, or another population)."""
    uri = ground_truth or cfg.ground_truth
    if not uri:
        raise InputError("no ground truth given (pipeline key ground_truth or --ground-truth)")
    keyed = keyed_truth(spark, uri, key, cfg.sources)
    clusters = read_published(spark, cfg.output_root)["clusters"]
    ev = evaluate_clusters(clusters, keyed, ("high", "medium", "low"), cfg.report.level, uri)
    for lv, acc in ev.levels.items():
        logger.info("accuracy at %-6s precision %.4f recall %.4f F1 %.4f (%d true pairs)",
                    lv, acc.precision, acc.recall, acc.f1, acc.true_pairs)
    for name, acc in ev.source_pairs.items():
        logger.info("accuracy at %s, %-28s precision %.4f recall %.4f F1 %.4f (%d true pairs, "
                    "%d predicted)", ev.level, name, acc.precision, acc.recall, acc.f1, acc.true_pairs,
                    acc.predicted_pairs)
    return ev


# ---------------------------------------------------------------- run wrappers


def _append_run(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> None:
    write_table(run_record_frame(spark, run), cfg.table_uri("runs"), mode="append")


def _recover(spark: SparkSession, cfg: PipelineConfig) -> None:
    """Mark runs that started and never finished (killed) as abandoned and delete the data files
    they wrote that no Delta version references; sweep the last run again if it failed. Called
    under the run lock."""
    unfinished, failed = runs_to_sweep(spark, cfg.output_root)
    if failed is not None:
        removed = clean_orphans(spark, cfg.output_root, failed[1])
        if removed:
            logger.warning("removed %d data files the failed run %s wrote after its own "
                           "clean-up (a task of its aborted job finished late)", removed, failed[0])
    for run_id, started in unfinished:
        removed = clean_orphans(spark, cfg.output_root, started)
        logger.warning("run %s started %s and never finished (killed?): marked abandoned, "
                       "%d uncommitted data files removed; the published set was not touched",
                       run_id, started, removed)
        dead = RunRecord(run_id, "abandoned", "", started_at=started)
        dead.finish("abandoned", error=f"never finished; {removed} uncommitted files removed")
        _append_run(spark, cfg, dead)


def check_same_key(spark: SparkSession, cfg: PipelineConfig, key: SecretKey,
                   previous_key: SecretKey | None = None) -> bool:
    """Refuse a run whose key differs from the one the published set was made with (their
    fingerprints): every record key would change, so every person ID would be retired and
    minted again while the ID churn, measured over records in both runs, read 0%. Raises
    :class:`KeyMismatchError`.

    ``previous_key`` (``bold run --rotate-key``): returns True, a rotation, when the published set
    was made with it and ``key`` is another; False when there is nothing to rotate (nothing
    published, or published with ``key`` already)."""
    published = published_key_fingerprint(spark, cfg.output_root)
    if published is None or published == key.fingerprint():
        if previous_key is not None:
            logger.warning("--rotate-key: %s, so nothing to rotate: an ordinary run",
                           "nothing is published yet" if published is None
                           else f"the published set is already keyed with this key ({published})")
        return False
    if previous_key is not None and published == previous_key.fingerprint():
        logger.info("key rotation: the published set's key %s -> this run's key %s; every record "
                    "is keyed again and person IDs carry over through both keys", published,
                    key.fingerprint())
        return True
    p = cfg.privacy
    given = (f"; the previous key given ({p.previous_key_env} or {p.previous_key_file_env}) has "
             f"fingerprint {previous_key.fingerprint()}, not the published one"
             if previous_key is not None else "")
    raise KeyMismatchError(
        f"the published set under {cfg.output_root} was made with the key of fingerprint "
        f"{published}, this run's key has fingerprint {key.fingerprint()}{given}: every record key "
        "would change and every person ID would be retired and minted again. Run with the key "
        f"the set was made with ({p.key_env} or {p.key_file_env}); to rotate the key, run "
        f"`bold run --rotate-key` with the old key in {p.previous_key_env} or "
        f"{p.previous_key_file_env}; or write to a new output root")


def recorded_run(spark, cfg: PipelineConfig, name: str, key: SecretKey | None, body,
                 publishes: bool = True, previous_key: SecretKey | None = None) -> StageResult:
    """Run ``body(run)`` under the output root's lock and a run record that is appended to
    ``runs`` when it starts and when it ends; then audit the staged tables and publish them
    in one commit. Nothing is published if anything fails. ``previous_key``: a key rotation
    (:func:`check_same_key`)."""
    run = RunRecord(new_run_id(), f"{cfg.run_name}:{name}", cfg.config_hash(),
                    privacy_mode=cfg.privacy.mode,
                    key_fingerprint=key.fingerprint() if key else None)
    acquire_lock(spark, cfg.output_root, run.run_id)
    try:
        _recover(spark, cfg)
        _append_run(spark, cfg, run)
        logger.info("run %s (%s) started", run.run_id, run.run_name)
        try:
            if key is not None and publishes and check_same_key(spark, cfg, key, previous_key):
                _ROTATIONS[run.run_id] = _Rotation(previous_key)
                run.metrics["key_rotated"] = 1.0
            detail = body(run)
            if publishes and run.table_versions:
                with stage("audit", run.stage_seconds):
                    audit_stage(spark, cfg, run)
                logger.info("publishing run %s", run.run_id)
                pset = publish(spark, cfg.output_root, run.run_id, run.run_name,
                               run.table_versions, run.table_rows, list(run.stage_seconds))
                run.published_seq = pset.seq
        except BaseException as e:
            cause = e.__cause__ if isinstance(e, StageError) and e.__cause__ else e
            status = "audit_failed" if isinstance(cause, AuditError) else "failed"
            failed = e.stage if isinstance(e, StageError) else name
            run.finish(status, failed_stage=failed, error=redact_error(e))
            wait_for_running_tasks(spark)  # an aborted job's stragglers may still be writing
            removed = clean_orphans(spark, cfg.output_root, run.started_at)
            if removed:
                logger.info("removed %d data files the failed run wrote but never committed", removed)
            logger.error("run %s %s in stage %s: %s; nothing published", run.run_id, status,
                         failed, run.error)
            _append_run(spark, cfg, run)
            if isinstance(e, BoldError) or not isinstance(e, Exception):
                raise
            raise StageError(name, e) from e
        run.finish("succeeded")
        _append_run(spark, cfg, run)
        # Delta skips the commit of a no-op overwrite (empty over empty) but leaves its file
        removed = clean_orphans(spark, cfg.output_root, run.started_at)
        if removed:
            logger.info("removed %d data files no commit of this run references", removed)
    finally:
        _BASES.pop(run.run_id, None)
        _HANDOFFS.pop(run.run_id, None)
        rotation = _ROTATIONS.pop(run.run_id, None)
        if rotation is not None and rotation.crosswalk is not None:
            rotation.crosswalk.unpersist()
        release_lock(spark, cfg.output_root, run.run_id)
    logger.info("run %s succeeded in %.1fs; run record appended to %s", run.run_id,
                (run.finished_at - run.started_at).total_seconds(), cfg.table_uri("runs"))
    return StageResult(run, detail or {})


def run_ingest(spark, cfg: PipelineConfig, key: SecretKey) -> StageResult:
    check_deliveries(cfg, incremental=False)

    def body(run):
        with stage("ingest", run.stage_seconds):
            return ingest_stage(spark, cfg, key, run)
    return recorded_run(spark, cfg, "ingest", key, body)


def run_train(spark, cfg: PipelineConfig, groups: list[str] | None = None,
              output_dir: str | None = None) -> StageResult:
    return recorded_run(spark, cfg, "train", None,
                        lambda run: train_stage(spark, cfg, run, groups, output_dir), publishes=False)


def run_predict(spark, cfg: PipelineConfig) -> StageResult:
    def body(run):
        with stage("predict", run.stage_seconds):
            return predict_stage(spark, cfg, run)
    return recorded_run(spark, cfg, "predict", None, body)


def run_cluster(spark, cfg: PipelineConfig) -> StageResult:
    def body(run):
        with stage("cluster", run.stage_seconds):
            return cluster_stage(spark, cfg, run)
    return recorded_run(spark, cfg, "cluster", None, body)


def run_evaluate(spark, cfg: PipelineConfig, key: SecretKey, ground_truth: str | None = None):
    with stage("evaluate"):
        return evaluate_stage(spark, cfg, key, ground_truth)


def run_pipeline(spark, cfg: PipelineConfig, key: SecretKey, train: bool = False,
                 incremental: bool = False, previous_key: SecretKey | None = None) -> StageResult:
    """ingest -> (train) -> predict -> cluster -> audit -> publish, under one run record.
    ``incremental``: MERGE only the changed records and score only the pairs they touch
    (:mod:`bold_spark.linkage.incremental`); the published set must equal a full run's.
    Change-file sources (``delivery: change_file``) need ``incremental`` and a published set.
    ``previous_key``: rotate the key (a full run): the published set was made with
    ``previous_key``; this run keys every record with ``key`` and carries person IDs over
    (:mod:`bold_spark.linkage.rekey`)."""
    check_deliveries(cfg, incremental)

    def body(run):
        if incremental:
            run.metrics["incremental"] = 1.0
        with stage("ingest", run.stage_seconds):
            ingest_stage(spark, cfg, key, run, incremental=incremental)
        if train:
            with stage("train", run.stage_seconds):
                train_stage(spark, cfg, run)
        with stage("predict", run.stage_seconds):
            comparisons = predict_stage(spark, cfg, run, incremental=incremental and not train)
        with stage("cluster", run.stage_seconds):
            clusters = cluster_stage(spark, cfg, run)
        return {"comparisons": comparisons, **clusters}
    return recorded_run(spark, cfg, "incremental" if incremental else "run", key, body,
                        previous_key=previous_key)
