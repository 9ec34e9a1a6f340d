"""The audit of a run's staged tables before they may be published: counts only, no values."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.pipeline import PipelineConfig
from bold_spark.exceptions import AuditError
from bold_spark.ingest.validate import REASON_CODES
from bold_spark.runs import RunRecord, reason_metric, withdrawals
from bold_spark.stages.context import run_table

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


def quarantine_problems(source_counts: dict[str, dict], metrics: dict[str, float],
                        limit: float) -> list[str]:
    """The audit's message for each source whose quarantined rows exceed ``limit`` of its rows
    in, naming its counts and reason codes (:func:`reason_metric`, looked up per known code:
    a prefix would take another source's, e.g. ``prison_legacy``'s for ``prison``)."""
    out = []
    for name, c in sorted(source_counts.items()):
        rows_in, held = c.get("rows_in", 0), c.get("quarantined", 0)
        if not rows_in or held / rows_in <= limit:
            continue
        reasons = sorted(((code, int(metrics[reason_metric(name, code)])) for code in REASON_CODES
                          if reason_metric(name, code) in metrics), key=lambda kv: -kv[1])
        shown = ", ".join(f"{code} {n}" for code, n in reasons)
        out.append(f"source {name}: {held} of its {rows_in} rows ({held / rows_in:.1%}) were "
                   f"quarantined ({shown or 'reasons in the quarantine table'}; limit "
                   f"audit.max_quarantined_share = {limit:.0%}): a delivery gone wrong (a changed "
                   "date format or layout, a truncated file)? See the quarantine table; if the "
                   "rows are meant to be held back, raise the limit for this run")
    return out


def withdrawn_problems(metrics: dict[str, float], datasets: dict, limit: float) -> list[str]:
    """The audit's message for each full-extract source (or source left out of the config) that
    lost more than ``limit`` of its published records (:func:`note_withdrawals`' metrics)."""
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
        problems += quarantine_problems(run.source_counts, run.metrics, cfg.audit.max_quarantined_share)
    problems += withdrawn_problems(run.metrics, cfg.dataset_configs(), cfg.audit.max_withdrawn_share)
    if "clusters" in run.table_versions:
        records = run_table(spark, cfg, run, "records").select("record_key")
        clusters = run_table(spark, cfg, run, "clusters").select("record_key")
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
