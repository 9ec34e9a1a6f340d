"""Assemble the extracts and the ground truth, and write them with Spark writers."""

from __future__ import annotations

import logging
import time
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bold_spark.synthetic.layouts import (
    GROUND_TRUTH_COLUMNS,
    GROUND_TRUTH_PATH,
    LAYOUTS,
    SOURCES,
    SourceLayout,
)
from bold_spark.synthetic.population import PERSON_COLUMNS, build_people
from bold_spark.synthetic.sources import BUILDERS
from bold_spark.synthetic.spec import SyntheticSpec

logger = logging.getLogger(__name__)

GROUND_TRUTH = "ground_truth"


def source_rows(people: DataFrame, spec: SyntheticSpec) -> dict[str, DataFrame]:
    """Per source: the layout columns plus ``person_id`` (the truth; never in an extract)."""
    return {name: BUILDERS[name](people, spec) for name in SOURCES}


def extract_of(rows: DataFrame, layout: SourceLayout) -> DataFrame:
    """A source's rows as its extract: the layout's columns, in its order, as strings."""
    return rows.selectExpr(*[f"CAST(`{c}` AS STRING) AS `{c}`" for c in layout.columns])


def ground_truth_of(rows: DataFrame, layout: SourceLayout) -> DataFrame:
    """A source's rows as ground truth: (source, source_record_id, person_id)."""
    return rows.selectExpr(
        f"'{layout.name}' AS source",
        f"CAST(`{layout.record_id}` AS STRING) AS source_record_id",
        "CAST(person_id AS BIGINT) AS person_id",
    )


def assemble_population(people: DataFrame, spec: SyntheticSpec) -> dict[str, DataFrame]:
    """Extracts and ground truth from a people frame (from ``build_people``; may be cached)."""
    rows = source_rows(people, spec)
    frames = {name: extract_of(rows[name], LAYOUTS[name]) for name in SOURCES}
    truths = [ground_truth_of(rows[name], LAYOUTS[name]) for name in SOURCES]
    frames[GROUND_TRUTH] = reduce(DataFrame.unionByName, truths).select(*GROUND_TRUTH_COLUMNS)
    return frames


def generate_population(spark: SparkSession, spec: SyntheticSpec) -> dict[str, DataFrame]:
    """The synthetic extracts and their ground truth, as lazy DataFrames (nothing runs here).

    Parameters:
        spark: the session.
        spec: population size, seed and error rates.

    Returns source name -> extract in the source's layout (all string columns), plus
    ``ground_truth`` (source, source_record_id, person_id).
    """
    return assemble_population(build_people(spark, spec), spec)


def true_people(spark: SparkSession, spec: SyntheticSpec) -> DataFrame:
    """The true attributes of every person, before the error model (for evaluation and tests).

    Parameters:
        spark: the session.
        spec: population size and seed (the error rates do not matter here).

    Returns one row per person with ``PERSON_COLUMNS``.
    """
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


def _release_local_checkpoint(df: DataFrame) -> None:
    """Free a local checkpoint's blocks now rather than when the JVM garbage-collects it (its
    DataFrame must not be used afterwards). Best effort: it goes through Spark internals."""
    try:
        df._jdf.queryExecution().logical().rdd().unpersist(False)
    except Exception as e:  # noqa: BLE001 - freeing early is an optimisation only
        logger.debug("Could not release the people checkpoint early: %s", e)


def withdraw_records(frames: dict[str, DataFrame], share: float, seed: int) -> dict[str, DataFrame]:
    """A later snapshot's extracts: each record is withdrawn (retention, erasure) with
    probability ``share``, decided by a hash of (seed, source, record id); the ground truth
    loses the same rows."""
    if share <= 0:
        return frames

    def kept(source: F.Column, record_id: F.Column) -> F.Column:
        h = F.xxhash64(F.lit(seed), source, record_id)
        return (F.abs(h % 1_000_000) / 1_000_000.0) >= share

    out = {name: df.where(kept(F.lit(name), F.col(LAYOUTS[name].record_id)))
           for name, df in frames.items() if name in SOURCES}
    truth = frames[GROUND_TRUTH]
    out[GROUND_TRUTH] = truth.where(kept(F.col("source"), F.col("source_record_id").cast("string")))
    return out


def run_generate(spark: SparkSession, spec: SyntheticSpec, output_root: str,
                 withdraw: float = 0.0, withdraw_seed: int = 1) -> dict[str, int]:
    """Write every extract and ``ground_truth.parquet`` under ``output_root``, overwriting.

    Parameters:
        spark: the session.
        spec: population size, seed and error rates.
        output_root: a folder or any Hadoop URI.
        withdraw: share of records to leave out (0: none), as a later weekly extract.
        withdraw_seed: seed of which records are withdrawn.

    Returns rows written per source and for the ground truth (``ground_truth``).

    People are drawn from (seed, person number), so a larger ``people`` with the same seed is a
    later snapshot of the same population with new people added; ``withdraw`` then drops that
    share of records, as a weekly extract loses records to retention or erasure.

    The people table is computed once and kept as a local checkpoint while the files are
    written: every extract reads it, and the checkpoint also cuts its plan out of the extracts'
    plans, which keeps their analysis and code generation small. The counts come from the
    written ground truth, which has exactly one row per extract row."""
    started = time.perf_counter()
    logger.info("Generating %d people (seed %d) into %s", spec.people, spec.seed, output_root)
    people = build_people(spark, spec).localCheckpoint(eager=True)
    try:
        frames = withdraw_records(assemble_population(people, spec), withdraw, withdraw_seed)
        for name in SOURCES:
            layout = LAYOUTS[name]
            t0 = time.perf_counter()
            uri = _join_uri(output_root, layout.path)
            _write(frames[name], layout.format, uri)
            logger.info("Wrote %s to %s (%.1f s)", name, uri, time.perf_counter() - t0)
        t0 = time.perf_counter()
        truth_uri = _join_uri(output_root, GROUND_TRUTH_PATH)
        _write(frames[GROUND_TRUTH], "parquet", truth_uri)
        logger.info("Wrote the ground truth to %s (%.1f s)", truth_uri, time.perf_counter() - t0)
    finally:
        _release_local_checkpoint(people)
    per_source = spark.read.parquet(truth_uri).groupBy("source").count().collect()
    counts = {name: 0 for name in SOURCES}
    counts.update({row["source"]: int(row["count"]) for row in per_source})
    counts[GROUND_TRUTH] = sum(counts.values())
    logger.info(
        "Generated %d records for %d people in %.1f s: %s",
        counts[GROUND_TRUTH],
        spec.people,
        time.perf_counter() - started,
        ", ".join(f"{k} {v}" for k, v in counts.items() if k in SOURCES),
    )
    return counts
