"""Reading source extracts (CSV, Parquet, Delta) with clear errors for bad inputs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bold_spark.config.datasets import DatasetConfig
from bold_spark.exceptions import ConfigError, InputError
from bold_spark.io.delta import normalise_uri, read_table, table_exists

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)


def _path_exists(spark: SparkSession, uri: str) -> bool:
    jvm = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(uri)
    fs = jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(jpath))


def read_source(spark: SparkSession, ds: DatasetConfig, uri: str) -> DataFrame:
    """Read one extract as strings. Missing, empty or wrongly formatted input raises InputError
    naming the file; a mapped column the file lacks raises ConfigError naming the config key."""
    uri = normalise_uri(uri)
    if not _path_exists(spark, uri):
        raise InputError(f"source '{ds.name}': input {uri} does not exist (dataset config {ds.file})")
    try:
        if ds.format == "csv":
            opts = {"header": "true", "inferSchema": "false", "mode": "PERMISSIVE", **ds.read_options}
            df = spark.read.options(**opts).csv(uri)
        elif ds.format == "parquet":
            df = spark.read.options(**ds.read_options).parquet(uri)
        else:
            if not table_exists(uri):
                raise InputError(f"source '{ds.name}': {uri} is not a Delta table")
            df = read_table(spark, uri)
        columns = df.columns
    except InputError:
        raise
    except Exception as e:
        raise InputError(
            f"source '{ds.name}': cannot read {uri} as {ds.format}: {str(e).splitlines()[0]}"
        ) from e
    if _looks_binary(columns):
        raise InputError(f"source '{ds.name}': {uri} is not a CSV file (binary content)")
    missing = [(canon, src) for canon, src in [("record_id", ds.record_id), *ds.columns.items()]
               if src not in columns]
    if missing:
        canon, src = missing[0]
        key = "record_id" if canon == "record_id" else f"columns.{canon}"
        raise ConfigError(
            ds.file, key,
            f"column '{src}' is not in {uri} (its columns: {', '.join(columns[:30])})",
        )
    if not df.head(1):
        raise InputError(f"source '{ds.name}': input {uri} holds no rows")
    cols = ds.source_columns_needed()
    return df.select(*[df[c].cast("string").alias(c) for c in cols])


def _looks_binary(columns: list[str]) -> bool:
    return any(any(ord(ch) < 9 or ch == "\ufffd" for ch in c) for c in columns)
