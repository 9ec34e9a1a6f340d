"""The identify step of the cluster stage: this run's clusters get stable person IDs carried
over from the published clusters (:mod:`bold_spark.linkage.identify`; in an incremental run
only the re-clustered region goes through the rules, the rest is carried as published), written
to ``clusters``, with this run's ``person_events`` appended and the ID churn in the run record."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.pipeline import PipelineConfig
from bold_spark.io.delta import read_table
from bold_spark.io.joins import by_keys
from bold_spark.linkage.identify import carried_events, id_churn, identify
from bold_spark.linkage.region import carried_rows
from bold_spark.runs import RunRecord
from bold_spark.stages.context import append_history, run_table, starting_set, write_run_table

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row, SparkSession

logger = logging.getLogger(__name__)


def identify_stage(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, clusters: DataFrame,
                   previous: DataFrame | None, levels: list[str], region: DataFrame | None = None,
                   region_rows: int | None = None) -> list[Row]:
    """Write ``clusters`` with stable person IDs and append this run's ``person_events``.

    ``previous``: the published clusters (None on a first run). ``region`` (``region_rows``
    records): the record keys an incremental run clustered again
    (:func:`bold_spark.stages.incremental.recluster_region`); ``clusters`` then covers only them
    and the published rows outside it are carried over unchanged with ``kept`` events. Returns
    this run's event counts per (threshold, event), with the largest ``records`` of each."""
    if region is not None:
        ids = identify(clusters, by_keys(previous, region, "record_key", region_rows), levels, run.run_id,
                       previous_rows=starting_set(spark, cfg, run).rows["clusters"])
        carried = carried_rows(previous, region, clusters.columns, run.run_id)
        stable = ids.stable.unionByName(carried)
        events = ids.events.unionByName(carried_events(carried, levels, run.run_id))
    else:
        ids = identify(clusters, previous, levels, run.run_id)
        stable, events = ids.stable, ids.events
    write_run_table(spark, cfg, run, "clusters", stable)
    append_history(spark, cfg, run, "person_events", events)
    run.metrics["identify_decided"] = float(ids.touched)  # clusters + previous ids through the rules
    # this run's events only (the run id prunes the table's files by their statistics)
    counts = read_table(spark, cfg.table_uri("person_events"), run.table_versions["person_events"]) \
        .where(F.col("run_id") == run.run_id).groupBy("threshold", "event") \
        .agg(F.count(F.lit(1)).alias("n"), F.max("records").alias("max_records")).collect()
    for r in counts:
        run.metrics[f"id_{r['event']}_{r['threshold']}"] = float(r["n"])
    if previous is not None:
        churn = ids.churn if ids.churn is not None else id_churn(
            previous, run_table(spark, cfg, run, "clusters"), levels)
        for lv, share in churn.items():
            run.metrics[f"id_churn_{lv}"] = share
    logger.info("person ids: %s", ", ".join(f"{k[3:]} {v:.0f}" for k, v in sorted(run.metrics.items())
                                             if k.startswith("id_") and not k.startswith("id_churn")))
    return counts
