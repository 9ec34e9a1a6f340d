"""Ingest all sources of a pipeline: read, validate, quarantine, standardise."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.datasets import DatasetConfig
from bold_spark.ingest.validate import REASONS_COL, accepted, quarantined, with_validation
from bold_spark.io.sources import read_source
from bold_spark.privacy.keys import SecretKey
from bold_spark.standardise.person import to_canonical

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)


@dataclass
class IngestedSources:
    records: DataFrame
    quarantine: DataFrame
    counts: dict[str, dict[str, int]]  # source -> rows_in, accepted, quarantined
    inputs: dict[str, dict]
    _persisted: list[DataFrame]

    def release(self) -> None:
        for df in self._persisted:
            df.unpersist()


def input_size(spark: SparkSession, uri: str) -> dict:
    jvm = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(uri)
    fs = jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    summary = fs.getContentSummary(jpath)
    return {"uri": uri, "bytes": int(summary.getLength()), "files": int(summary.getFileCount())}


def ingest_sources(
    spark: SparkSession,
    datasets: dict[str, DatasetConfig],
    uris: dict[str, str],
    key: SecretKey,
    run_id: str,
    snapshot_date: str | None = None,
) -> IngestedSources:
    """Read every source first (so a bad input stops the run before anything is written),
    then validate and standardise. Counts satisfy rows_in = accepted + quarantined per source."""
    raws = {name: read_source(spark, ds, uris[name]) for name, ds in datasets.items()}
    today = snapshot_date or dt.date.today().isoformat()
    records, quarantine, counts, inputs, persisted = [], [], {}, {}, []
    for name, ds in datasets.items():
        validated = with_validation(raws[name], ds).persist()
        persisted.append(validated)
        row = validated.agg(
            F.count(F.lit(1)).alias("rows_in"),
            F.sum(F.when(F.size(REASONS_COL) == 0, 1).otherwise(0)).alias("accepted"),
        ).collect()[0]
        rows_in, ok = int(row["rows_in"]), int(row["accepted"] or 0)
        counts[name] = {"rows_in": rows_in, "accepted": ok, "quarantined": rows_in - ok}
        inputs[name] = input_size(spark, uris[name])
        logger.info(
            "source %-13s %9d rows in, %9d accepted, %7d quarantined (%s)",
            name, rows_in, ok, rows_in - ok, uris[name],
        )
        snapshot = ds.snapshot_date or today
        records.append(to_canonical(accepted(validated), ds, key, snapshot, run_id))
        quarantine.append(quarantined(validated, name, run_id))
    union = lambda dfs: reduce(lambda a, b: a.unionByName(b), dfs)  # noqa: E731
    return IngestedSources(union(records), union(quarantine), counts, inputs, persisted)
