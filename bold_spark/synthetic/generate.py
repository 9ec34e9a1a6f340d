"""Assemble the extracts and the ground truth, and write them with Spark writers."""

from __future__ import annotations

import logging
import time
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bold_spark.synthetic.layouts import (
    GROUND_TRUTH_COLUMNS, GROUND_TRUTH_PATH, LAYOUTS, SOURCES, SourceLayout,
)
from bold_spark.synthetic.population import PERSON_COLUMNS, build_people
from bold_spark.synthetic.sources import BUILDERS
from bold_spark.synthetic.spec import SyntheticSpec

logger = logging.getLogger(__name__)

GROUND_TRUTH = "ground_truth"


def source_rows(people: DataFrame, spec: SyntheticSpec) -> dict[str, DataFrame]:
    """Per source: the layout columns plus ``person_id`` (the truth, never written to an extract)."""
    return {name: BUILDERS[name](people, spec) for name in SOURCES}


def extract_of(rows: DataFrame, layout: SourceLayout) -> DataFrame:
    return rows.select(*[F.col(c).cast("string").alias(c) for c in layout.columns])


def ground_truth_of(rows: DataFrame, layout: SourceLayout) -> DataFrame:
    return rows.select(
        F.lit(layout.name).alias("source"),
        F.col(layout.record_id).cast("string").alias("source_record_id"),
        F.col("person_id").cast("long").alias("person_id"),
    )


def assemble_population(people: DataFrame, spec: SyntheticSpec) -> dict[str, DataFrame]:
    """Extracts and ground truth from a people frame (from ``build_people``; may be cached)."""
    rows = source_rows(people, spec)
    frames = {name: extract_of(rows[name], LAYOUTS[name]) for name in SOURCES}
    truths = [ground_truth_of(rows[name], LAYOUTS[name]) for name in SOURCES]
    frames[GROUND_TRUTH] = reduce(DataFrame.unionByName, truths).select(*GROUND_TRUTH_COLUMNS)
    return frames


def generate_population(spark: SparkSession, spec: SyntheticSpec) -> dict[str, DataFrame]:
    """Source name -> extract DataFrame in the source's layout (all string columns), plus
    ``ground_truth`` (source, source_record_id, person_id). Lazy: nothing is computed here."""
    return assemble_population(build_people(spark, spec), spec)


def true_people(spark: SparkSession, spec: SyntheticSpec) -> DataFrame:
    """The true attributes of every person (before the error model), for evaluation and tests."""
    return build_people(spark, spec).select(*PERSON_COLUMNS)


def _join_uri(root: str, relative: str) -> str:
    return f"{root.rstrip('/')}/{relative}"


def _write(df: DataFrame, fmt: str, uri: str) -> None:
    writer = df.write.mode("overwrite")
    if fmt == "csv":
        writer.option("header", True).csv(uri)
    elif fmt == "parquet":
        writer.parquet(uri)
    else:
        raise ValueError(f"cannot write format {fmt!r}")


def run_generate(spark: SparkSession, spec: SyntheticSpec, output_root: str) -> dict[str, int]:
    """Write every extract and ``ground_truth.parquet`` under ``output_root`` (any Hadoop URI),
    overwriting; return row counts per source and for the ground truth."""
    started = time.perf_counter()
    logger.info("Generating %d people (seed %d) into %s", spec.people, spec.seed, output_root)
    people = build_people(spark, spec).persist(StorageLevel.MEMORY_AND_DISK)
    counts: dict[str, int] = {}
    try:
        frames = assemble_population(people, spec)
        for name in SOURCES:
            layout = LAYOUTS[name]
            t0 = time.perf_counter()
            uri = _join_uri(output_root, layout.path)
            _write(frames[name], layout.format, uri)
            counts[name] = frames[name].count()
            logger.info("Wrote %s: %d rows to %s (%.1f s)", name, counts[name], uri, time.perf_counter() - t0)
        t0 = time.perf_counter()
        uri = _join_uri(output_root, GROUND_TRUTH_PATH)
        _write(frames[GROUND_TRUTH], "parquet", uri)
        counts[GROUND_TRUTH] = frames[GROUND_TRUTH].count()
        logger.info("Wrote ground truth: %d rows to %s (%.1f s)", counts[GROUND_TRUTH], uri, time.perf_counter() - t0)
    finally:
        people.unpersist()
    total = sum(v for k, v in counts.items() if k != GROUND_TRUTH)
    logger.info("Generated %d records in %.1f s", total, time.perf_counter() - started)
    return counts
