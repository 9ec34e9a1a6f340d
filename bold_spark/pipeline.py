"""Stage orchestration: ``run_<stage>(spark, config, ...)``, called alike by jobs, CLI, tests
and notebooks. No argv or environment parsing here (the key is passed in)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bold_spark.config.pipeline import PipelineConfig
from bold_spark.exceptions import (
    AuditError,
    BoldError,
    KeyMismatchError,
    StageError,
    redact_error,
)
from bold_spark.io.delta import write_table
from bold_spark.privacy.keys import SecretKey
from bold_spark.progress import stage
from bold_spark.publish import (
    acquire_lock,
    clean_orphans,
    publish,
    published_key_fingerprint,
    release_lock,
    runs_to_sweep,
)
from bold_spark.runs import RunRecord, new_run_id, run_record_frame
from bold_spark.session import wait_for_running_tasks
from bold_spark.stages.audit import audit_stage
from bold_spark.stages.cluster import cluster_stage
from bold_spark.stages.context import BASES, HANDOFFS, ROTATIONS, Rotation, scope_of
from bold_spark.stages.evaluate import evaluate_stage
from bold_spark.stages.ingest import check_deliveries, ingest_stage
from bold_spark.stages.predict import predict_stage
from bold_spark.stages.train import train_stage

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["StageResult", "check_same_key", "recorded_run", "run_cluster", "run_evaluate", "run_ingest",
           "run_pipeline", "run_predict", "run_train", "scope_of"]

logger = logging.getLogger(__name__)


@dataclass
class StageResult:
    run: RunRecord
    detail: dict


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
                ROTATIONS[run.run_id] = Rotation(previous_key)
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
        BASES.pop(run.run_id, None)
        HANDOFFS.pop(run.run_id, None)
        rotation = ROTATIONS.pop(run.run_id, None)
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
