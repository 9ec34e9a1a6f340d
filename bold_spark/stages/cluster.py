"""The cluster stage: clusters at each threshold (:mod:`bold_spark.linkage.clustering`), stable
person IDs and their events (:mod:`bold_spark.linkage.identify`), and the analysis table."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.pipeline import PipelineConfig
from bold_spark.io.delta import read_table
from bold_spark.io.joins import by_keys
from bold_spark.linkage.analysis import analysis_schema, analysis_table
from bold_spark.linkage.clustering import cluster_records
from bold_spark.linkage.model import load_model
from bold_spark.linkage.region import SETTINGS_COLUMN, cluster_settings, region_edges
from bold_spark.linkage.rekey import rekeyed
from bold_spark.linkage.scoring import weight_without_tf
from bold_spark.progress import stage
from bold_spark.runs import RunRecord
from bold_spark.stages.context import (
    ROTATIONS,
    run_table,
    starting_set,
    write_run_table,
)
from bold_spark.stages.identify import identify_stage
from bold_spark.stages.incremental import recluster_region

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


def cluster_stage(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> dict[str, int]:
    """Cluster the records at every threshold over this run's edges (an incremental run: only the
    components its changes reach, :func:`bold_spark.stages.incremental.recluster_region`), carry
    person IDs over from the published clusters into ``clusters`` and ``person_events``, and
    write the ``analysis`` table. Returns persons and the largest cluster per threshold."""
    records = run_table(spark, cfg, run, "records").select("record_key", "source")
    scored = run_table(spark, cfg, run, "edges")
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
    current = starting_set(spark, cfg, run)
    previous = (read_table(spark, cfg.table_uri("clusters"), current.versions["clusters"])
                if current and "clusters" in current.versions else None)
    rotation = ROTATIONS.get(run.run_id)
    if previous is not None and rotation is not None and rotation.crosswalk is not None:
        # the previous clusters' record keys under the new key; their smallest keys
        # (cluster_key_<level>) are the old key's, so identify takes its general path
        previous = rekeyed(previous, rotation.crosswalk).drop(
            *[c for c in previous.columns if c.startswith("cluster_key_")])
        logger.info("key rotation: the previous clusters are read through the crosswalk of record "
                    "keys, so person IDs carry over")
    lowest = min(thresholds.values())
    found = recluster_region(spark, cfg, run, scored, previous, settings, lowest)
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
        counts = identify_stage(spark, cfg, run, clusters, previous, levels, region, region_rows)
    # its own stage (it is not identify's cost): analyst zone, person IDs and the declared
    # analysis columns, no identifiers (docs/analysis.md)
    with stage("analysis", run.stage_seconds):
        write_run_table(spark, cfg, run, "analysis", analysis_table(
            run_table(spark, cfg, run, "records"), run_table(spark, cfg, run, "clusters"),
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
