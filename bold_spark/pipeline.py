"""Stage orchestration: ``run_<stage>(spark, config, ...)``, called alike by jobs, CLI, tests
and notebooks. No argv or environment parsing here (the key is passed in)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import reduce
from pathlib import Path
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.pipeline import LinkGroupConfig, PipelineConfig
from bold_spark.evaluate.accuracy import PairwiseAccuracy, pairwise_accuracy
from bold_spark.exceptions import AuditError, BoldError, InputError, StageError
from bold_spark.ingest.ingest import ingest_sources
from bold_spark.io.delta import read_table, table_exists, write_table
from bold_spark.linkage.blocking import check_blocking
from bold_spark.linkage.clustering import cluster_records
from bold_spark.linkage.model import load_model, save_model
from bold_spark.linkage.pairs import group_records
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.scoring import predict_edges
from bold_spark.linkage.sql import blocking_rules, needed_columns
from bold_spark.linkage.training import train_model
from bold_spark.privacy.keys import SecretKey
from bold_spark.progress import stage
from bold_spark.runs import RunRecord, new_run_id, run_record_frame

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

TABLES = ("records", "quarantine", "edges", "clusters", "runs")
MAX_CLUSTER_SIZE = 500


@dataclass
class StageResult:
    run: RunRecord
    detail: dict


def scope_of(group: LinkGroupConfig) -> PairScope:
    return PairScope(group.anchor_sources, group.link_only)


def _read(spark: SparkSession, cfg: PipelineConfig, table: str) -> DataFrame:
    uri = cfg.table_uri(table)
    if not table_exists(uri):
        raise InputError(f"table '{table}' not found at {uri}: run the stage that writes it first")
    return read_table(spark, uri)


def _write(spark, cfg: PipelineConfig, run: RunRecord, table: str, df: DataFrame, mode="overwrite"):
    result = write_table(df, cfg.table_uri(table), mode=mode)
    run.table_rows[table] = result.rows
    run.table_versions[table] = result.version
    logger.info("table %-10s %10d rows -> %s (version %d)", table, result.rows, result.uri, result.version)
    return result


# ---------------------------------------------------------------- stages


def ingest_stage(spark: SparkSession, cfg: PipelineConfig, key: SecretKey, run: RunRecord) -> dict:
    datasets = cfg.dataset_configs()
    uris = {name: cfg.source_uri(ds) for name, ds in datasets.items()}
    ingested = ingest_sources(spark, datasets, uris, key, run.run_id)
    records = ingested.records
    if cfg.privacy.mode == "pprl":
        from bold_spark.privacy.pprl import encode_records

        records = encode_records(records, key, cfg.privacy)
    try:
        run.source_counts = ingested.counts
        run.inputs = ingested.inputs
        _write(spark, cfg, run, "records", records)
        _write(spark, cfg, run, "quarantine", ingested.quarantine)
        flags = (
            _read(spark, cfg, "records").groupBy("source").agg(
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
    records = _read(spark, cfg, "records")
    records_version = run.table_versions.get("records")
    written = {}
    for g in cfg.link_groups:
        if groups and g.name not in groups:
            continue
        model = load_model(g.model)
        settings = model.splink_settings()
        extra = [*model.meta.training.deterministic_rules, *model.meta.training.em_blocking_rules]
        recs = group_records(records, g.sources, needed_columns(settings, extra), settings)
        trained_on = {"records_table": cfg.table_uri("records"), "records_version": records_version,
                      "sources": g.sources, "run_id": run.run_id}
        with stage(f"train:{g.name}", run.stage_seconds):
            trained, info = train_model(recs, model, scope_of(g), trained_on)
        target = Path(output_dir) / Path(g.model).name if output_dir else Path(g.model)
        save_model(trained, target)
        written[g.name] = str(target)
        run.model_versions[g.name] = trained.version
        run.model_hashes[g.name] = trained.content_hash
    return written


def predict_stage(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> dict[str, int]:
    records = _read(spark, cfg, "records")
    parts, counts = [], {}
    for g in cfg.link_groups:
        model = load_model(g.model)
        if not model.is_trained:
            logger.warning("model %s has no training record: scoring with its current parameters", g.model)
        settings = model.splink_settings()
        run.model_versions[g.name] = model.version
        run.model_hashes[g.name] = model.content_hash
        recs = group_records(records, g.sources, needed_columns(settings), settings)
        rule_counts = check_blocking(recs, blocking_rules(settings), scope_of(g),
                                     cfg.max_comparisons, g.name)
        counts[g.name] = sum(c.comparisons for c in rule_counts)
        parts.append(predict_edges(records, model, g.name, g.sources, scope_of(g), run.run_id))
    edges = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), parts)
    _write(spark, cfg, run, "edges", edges)
    run.metrics["blocked_comparisons_upper_bound"] = float(sum(counts.values()))
    return counts


def cluster_stage(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> dict[str, int]:
    records = _read(spark, cfg, "records").select("record_key", "source")
    edges = _read(spark, cfg, "edges").select("record_key_l", "record_key_r", "match_probability")
    t = cfg.thresholds
    thresholds = {"high": t.high, "medium": t.medium, "low": t.low}
    clusters = cluster_records(records, edges, thresholds, run.run_id, cfg.driver_clustering_max_edges)
    _write(spark, cfg, run, "clusters", clusters)
    stats = _read(spark, cfg, "clusters").agg(
        *[F.countDistinct(f"person_id_{lv}").alias(lv) for lv in thresholds],
        *[F.max(f"cluster_size_{lv}").alias(f"max_{lv}") for lv in thresholds],
    ).collect()[0]
    out = {}
    for lv in thresholds:
        out[f"persons_{lv}"] = int(stats[lv])
        out[f"max_cluster_size_{lv}"] = int(stats[f"max_{lv}"] or 0)
        run.metrics[f"persons_{lv}"] = float(stats[lv])
        run.metrics[f"max_cluster_size_{lv}"] = float(stats[f"max_{lv}"] or 0)
        logger.info("clusters at %-6s (p >= %.2f): %d persons, largest cluster %d records",
                    lv, thresholds[lv], out[f"persons_{lv}"], out[f"max_cluster_size_{lv}"])
    return out


def audit_stage(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> None:
    """Record conservation and cluster-size checks; failing any fails the run."""
    problems = []
    rows_in = sum(c["rows_in"] for c in run.source_counts.values())
    accepted = sum(c["accepted"] for c in run.source_counts.values())
    quarantined = sum(c["quarantined"] for c in run.source_counts.values())
    if run.table_rows.get("records") != accepted:
        problems.append(f"records table has {run.table_rows.get('records')} rows, {accepted} accepted")
    if run.table_rows.get("quarantine") != quarantined:
        problems.append(f"quarantine has {run.table_rows.get('quarantine')} rows, {quarantined} rejected")
    if accepted + quarantined != rows_in:
        problems.append(f"{rows_in} rows in but {accepted} accepted + {quarantined} quarantined")
    clusters = _read(spark, cfg, "clusters")
    row = clusters.agg(F.count(F.lit(1)).alias("n"), F.countDistinct("record_key").alias("d")).collect()[0]
    if row["n"] != accepted or row["d"] != accepted:
        problems.append(f"clusters has {row['n']} rows ({row['d']} distinct records), expected {accepted}")
    if run.metrics.get("max_cluster_size_medium", 0) > MAX_CLUSTER_SIZE:
        problems.append(f"a medium-threshold cluster has {run.metrics['max_cluster_size_medium']:.0f} "
                        f"records (limit {MAX_CLUSTER_SIZE}): over-linking")
    if problems:
        raise AuditError("; ".join(problems))
    logger.info("audit passed: %d rows in = %d records + %d quarantined; every record clustered once",
                rows_in, accepted, quarantined)


def evaluate_stage(
    spark: SparkSession, cfg: PipelineConfig, key: SecretKey, ground_truth: str | None = None
) -> dict[str, PairwiseAccuracy]:
    """Pairwise precision/recall/F1 of the clusters at each threshold against ground truth
    (source, source_record_id, person_id)."""
    from bold_spark.standardise.person import record_key

    uri = ground_truth or cfg.ground_truth
    if not uri:
        raise InputError("no ground truth given (pipeline key ground_truth or --ground-truth)")
    truth = spark.read.parquet(uri).dropDuplicates(["source", "source_record_id"])
    keyed = reduce(
        lambda a, b: a.unionByName(b),
        [truth.where(F.col("source") == s).select(
            record_key(key, s, F.col("source_record_id").cast("string")).alias("record_key"),
            F.col("person_id").alias("true_person")) for s in cfg.sources],
    )
    clusters = _read(spark, cfg, "clusters")
    joined = clusters.join(keyed, "record_key", "left")
    missing = joined.where(F.col("true_person").isNull()).count()
    if missing:
        raise InputError(f"{missing} clustered records have no ground-truth row in {uri}")
    joined = joined.persist()
    out = {lv: pairwise_accuracy(joined, f"person_id_{lv}", "true_person") for lv in ("high", "medium", "low")}
    joined.unpersist()
    for lv, acc in out.items():
        logger.info("accuracy at %-6s precision %.4f recall %.4f F1 %.4f (%d true pairs)",
                    lv, acc.precision, acc.recall, acc.f1, acc.true_pairs)
    return out


# ---------------------------------------------------------------- run wrappers


def _append_run(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> None:
    write_table(run_record_frame(spark, run), cfg.table_uri("runs"), mode="append")


def recorded_run(spark, cfg: PipelineConfig, name: str, key: SecretKey | None, body) -> StageResult:
    """Run ``body(run)`` under a run record that is appended to ``runs`` whatever happens."""
    run = RunRecord(new_run_id(), f"{cfg.run_name}:{name}", cfg.config_hash(),
                    privacy_mode=cfg.privacy.mode,
                    key_fingerprint=key.fingerprint() if key else None)
    logger.info("run %s (%s) started", run.run_id, run.run_name)
    try:
        detail = body(run)
    except BoldError as e:
        failed = e.stage if isinstance(e, StageError) else name
        run.finish("failed", failed_stage=failed, error=str(e)[:2000])
        _append_run(spark, cfg, run)
        raise
    except Exception as e:
        run.finish("failed", failed_stage=name, error=f"{type(e).__name__}: {str(e)[:2000]}")
        _append_run(spark, cfg, run)
        raise StageError(name, e) from e
    run.finish("succeeded")
    _append_run(spark, cfg, run)
    logger.info("run %s succeeded in %.1fs; run record appended to %s", run.run_id,
                (run.finished_at - run.started_at).total_seconds(), cfg.table_uri("runs"))
    return StageResult(run, detail or {})


def run_ingest(spark, cfg: PipelineConfig, key: SecretKey) -> StageResult:
    def body(run):
        with stage("ingest", run.stage_seconds):
            return ingest_stage(spark, cfg, key, run)
    return recorded_run(spark, cfg, "ingest", key, body)


def run_train(spark, cfg: PipelineConfig, groups: list[str] | None = None,
              output_dir: str | None = None) -> StageResult:
    return recorded_run(spark, cfg, "train", None,
                        lambda run: train_stage(spark, cfg, run, groups, output_dir))


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


def run_pipeline(spark, cfg: PipelineConfig, key: SecretKey, train: bool = False) -> StageResult:
    """ingest -> (train) -> predict -> cluster -> audit, under one run record."""
    def body(run):
        with stage("ingest", run.stage_seconds):
            ingest_stage(spark, cfg, key, run)
        if train:
            with stage("train", run.stage_seconds):
                train_stage(spark, cfg, run)
        with stage("predict", run.stage_seconds):
            comparisons = predict_stage(spark, cfg, run)
        with stage("cluster", run.stage_seconds):
            clusters = cluster_stage(spark, cfg, run)
        with stage("audit", run.stage_seconds):
            audit_stage(spark, cfg, run)
        return {"comparisons": comparisons, **clusters}
    return recorded_run(spark, cfg, "run", key, body)
