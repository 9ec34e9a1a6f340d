"""The ingest stage: every source read, validated and standardised into ``records`` and the
quarantine (a full run overwrites ``records``; an incremental run MERGEs its changes,
:mod:`bold_spark.stages.incremental`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.pipeline import PipelineConfig
from bold_spark.exceptions import ConfigError, InputError, RunModeError
from bold_spark.ingest.ingest import ingest_sources
from bold_spark.io.delta import write_table
from bold_spark.linkage.incremental import carry_first_seen, withdrawn_by_source
from bold_spark.linkage.rekey import rekeyed
from bold_spark.linkage.sql import RECORD_KEY
from bold_spark.privacy.keys import SecretKey
from bold_spark.publish import QUARANTINE_RAW
from bold_spark.runs import RunRecord, reason_metric
from bold_spark.stages.context import ROTATIONS, published_table, run_table, write_run_table
from bold_spark.stages.incremental import (
    carried_fingerprints,
    merge_records,
    note_withdrawals,
    with_changes,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


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



def ingest_stage(spark: SparkSession, cfg: PipelineConfig, key: SecretKey, run: RunRecord,
                 incremental: bool = False) -> dict:
    """Read, validate and standardise every source into ``records`` (and the quarantine). Full:
    records overwritten. Incremental: the difference to the published records is MERGEd; a
    change-file source's current records are its published ones with its changes applied."""
    check_deliveries(cfg, incremental)
    rotation = ROTATIONS.get(run.run_id)
    if rotation is not None and incremental:
        raise RunModeError("a key rotation (--rotate-key) keys every record again: it is a full run; "
                        "run it without --incremental")
    datasets = cfg.dataset_configs()
    uris = {name: cfg.source_uri(ds) for name, ds in datasets.items()}
    previous = published_table(spark, cfg, run, "records")
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
                              fingerprints=carried_fingerprints(previous) if incremental else None,
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
                run.metrics[reason_metric(name, code)] = float(n)
        carried = ingested.unchanged
        if changes:  # change-file sources' untouched published records: carried, as unchanged
            kept = with_changes(run, records, ingested, previous)
            carried = kept if carried is None else carried.unionByName(kept)
        # A MERGE keeps an updated row's first_seen_run_id and inserts only new records, so the
        # rows it reads are stamped with this run's id: no join with the published records.
        stamped = carry_first_seen(records, None, run.run_id)
        same_schema = previous is not None and sorted(previous.columns) == sorted(stamped.columns)
        if incremental and same_schema:
            merge_records(spark, cfg, run, stamped, previous, carried, ingested.quarantine)
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
            write_run_table(spark, cfg, run, "records", carry_first_seen(records, previous, run.run_id))
            if previous is not None:  # (in a key rotation, keyed through the crosswalk above)
                note_withdrawals(run, withdrawn_by_source(
                    previous, current=run_table(spark, cfg, run, "records")))
        write_run_table(spark, cfg, run, "quarantine", ingested.quarantine)
        raw = write_table(ingested.quarantine_restricted, cfg.restricted_uri(QUARANTINE_RAW))
        run.metrics["quarantine_raw_rows"] = float(raw.rows)
        logger.info("raw values of quarantined rows -> %s (restricted zone, version %d)",
                    raw.uri, raw.version)
        flags = (
            run_table(spark, cfg, run, "records").groupBy("source").agg(
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
