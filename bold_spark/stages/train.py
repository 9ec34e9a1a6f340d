"""The train stage: each link group's model trained on the records (:mod:`bold_spark.linkage.training`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bold_spark.config.pipeline import PipelineConfig
from bold_spark.linkage.blocking import check_model_sql
from bold_spark.linkage.model import load_model, save_model
from bold_spark.linkage.pairs import group_records
from bold_spark.linkage.sql import needed_columns
from bold_spark.linkage.training import train_model
from bold_spark.progress import stage
from bold_spark.runs import RunRecord
from bold_spark.stages.context import run_table, scope_of

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


def train_stage(
    spark: SparkSession, cfg: PipelineConfig, run: RunRecord, groups: list[str] | None = None,
    output_dir: str | None = None,
) -> dict[str, str]:
    """Train each link group's model on the records table; write the model JSON (+ meta)."""
    records = run_table(spark, cfg, run, "records")
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
