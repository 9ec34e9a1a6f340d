"""What the stages of one run share: the published set it started from, the versions of the
tables it wrote, a key rotation in progress and an incremental run's hand-offs between stages
(in this run's memory only), and reading and writing a run's tables over the published set."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bold_spark.config.pipeline import LinkGroupConfig, PipelineConfig
from bold_spark.exceptions import InputError
from bold_spark.io.delta import read_table, restore_if_changed, table_exists, write_table
from bold_spark.linkage.scope import PairScope
from bold_spark.privacy.keys import SecretKey
from bold_spark.publish import STATS_COLUMNS, PublishedSet, published_set
from bold_spark.runs import RunRecord

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)


def scope_of(group: LinkGroupConfig) -> PairScope:
    """Which pairs a link group scores (:class:`bold_spark.linkage.scope.PairScope`): with anchor
    sources, only pairs including one of their records; with ``link_only``, only pairs across
    sources."""
    return PairScope(group.anchor_sources, group.link_only)


#: The published set each running run started from (it cannot change while the run holds the
#: output root's lock), so stages resolve it once.
BASES: dict[str, PublishedSet | None] = {}


@dataclass
class Rotation:
    """A key rotation in progress: the key the published set was made with, and (after ingest)
    the crosswalk of record keys (:mod:`bold_spark.linkage.rekey`), in this run's memory only."""

    previous_key: SecretKey
    crosswalk: DataFrame | None = None


#: Runs rotating the key (``bold run --rotate-key``), by run id.
ROTATIONS: dict[str, Rotation] = {}


@dataclass
class Handoff:
    """What an incremental run's stages hand on, in this run's memory only (a stage run on its
    own computes it again, or does the whole work): ``withdrawn``, the keys of the published
    records the ingest withdrew (for predict); ``touched``, when every link group kept its
    published edges, the records whose edges predict dropped or scored again (new, changed,
    moved, withdrawn: for the cluster stage, :mod:`bold_spark.linkage.region`)."""

    withdrawn: DataFrame | None = None
    touched: DataFrame | None = None


#: By run id.
HANDOFFS: dict[str, Handoff] = {}


def handoff(run: RunRecord) -> Handoff:
    """This run\'s hand-offs between stages (created on first use)."""
    return HANDOFFS.setdefault(run.run_id, Handoff())


def starting_set(spark: SparkSession, cfg: PipelineConfig, run: RunRecord) -> PublishedSet | None:
    """The published set this run started from (None: nothing published), resolved once per run."""
    if run.run_id not in BASES:
        BASES[run.run_id] = published_set(spark, cfg.output_root)
    return BASES[run.run_id]


def run_table(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, table: str) -> DataFrame:
    """The version of ``table`` this run wrote, else the published one: never just the latest."""
    uri = cfg.table_uri(table)
    version = run.table_versions.get(table)
    if version is None:
        current = starting_set(spark, cfg, run)
        if current is None or table not in current.versions:
            raise InputError(f"table '{table}' has not been published under {cfg.output_root}: "
                             "run the stage that writes it first (or `bold run`)")
        version = current.versions[table]
        run.inputs_read[table] = version
    return read_table(spark, uri, version)


def write_run_table(spark, cfg: PipelineConfig, run: RunRecord, table: str, df: DataFrame, mode="overwrite"):
    """Write ``table`` as a new version (not published until the run is) and note its version and
    rows in the run record."""
    result = write_table(df, cfg.table_uri(table), mode=mode, stats_columns=STATS_COLUMNS.get(table))
    run.table_rows[table] = result.rows
    run.table_versions[table] = result.version
    logger.info("table %-10s %10d rows -> %s (version %d)", table, result.rows, result.uri, result.version)
    return result


def published_table(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, table: str) -> DataFrame | None:
    """The published version of ``table`` (as this run found it), or None."""
    current = starting_set(spark, cfg, run)
    if current is None or table not in current.versions:
        return None
    return read_table(spark, cfg.table_uri(table), current.versions[table])


def reset_to_published(spark: SparkSession, cfg: PipelineConfig, run: RunRecord, table: str) -> bool:
    """Before changing a table in place (append, MERGE): roll back versions of runs that were
    never published (Delta RESTORE). Returns whether a published version exists."""
    uri = cfg.table_uri(table)
    current = starting_set(spark, cfg, run)
    published_version = current.versions.get(table) if current else None
    if published_version is None or not table_exists(uri, spark):
        return False
    if restore_if_changed(uri, published_version, spark):
        logger.warning("%s had versions after the published %d: rolled back those unpublished "
                       "versions first", table, published_version)
    return True



def append_history(spark, cfg: PipelineConfig, run: RunRecord, table: str, df: DataFrame):
    """Append this run's rows to a history table (person_events) on top of its *published*
    version: appends of runs that were never published are rolled back first (Delta RESTORE)."""
    if not reset_to_published(spark, cfg, run, table):
        return write_run_table(spark, cfg, run, table, df, mode="overwrite")
    return write_run_table(spark, cfg, run, table, df, mode="append")
