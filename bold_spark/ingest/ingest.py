"""Ingest all sources of a pipeline: read, validate, quarantine, standardise."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.datasets import DatasetConfig
from bold_spark.exceptions import ConfigError, InputError
from bold_spark.ingest.validate import (
    ID_COL,
    REASON_CODES,
    REASONS_COL,
    accepted,
    optional_dates_unparseable,
    quarantine_frames,
    reason_codes,
    with_validation,
)
from bold_spark.io import fs
from bold_spark.io.sources import col_ref, error_condition, read_source
from bold_spark.privacy.keys import SecretKey
from bold_spark.standardise.person import analysis_unparseable, record_key, to_canonical

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

#: Per-source counts of accepted rows whose optional date did not parse (kept, as null).
OPTIONAL_DATE_COUNTS = ("dob_unparseable", "event_date_unparseable")


@dataclass
class IngestedSources:
    """The result of ingest.

    ``records``: canonical person rows of every source, unioned by name (a column one source
    lacks, e.g. another source's ``extra_columns``, is null for it).
    ``quarantine``: analyst-zone quarantine rows (source, row_ref, record_key, reason_codes,
    reason, run_id): no value read from a row.
    ``quarantine_restricted``: the same rows' source record id, mapped values (``raw_row``, JSON)
    and CSV text (``raw_text``), keyed by (source, run_id, row_ref): personal data, to be written
    under the restricted root only.
    ``counts``: source -> rows_in, accepted, quarantined (rows_in = accepted + quarantined),
    dob_unparseable, event_date_unparseable (optional dates accepted as null), and
    ``<name>_unparseable`` per typed analysis column (values accepted as null).
    ``reason_counts``: source -> reason code -> quarantined rows carrying it (a row can carry
    several)."""

    records: DataFrame
    quarantine: DataFrame
    quarantine_restricted: DataFrame
    counts: dict[str, dict[str, int]]
    reason_counts: dict[str, dict[str, int]]
    inputs: dict[str, dict]
    _persisted: list[DataFrame] = field(default_factory=list)

    def release(self) -> None:
        for df in self._persisted:
            df.unpersist()


def input_size(spark: SparkSession, uri: str) -> dict:
    size, files = fs.content_size(spark, uri)
    return {"uri": uri, "bytes": size, "files": files}


def _union(dfs: list[DataFrame]) -> DataFrame:
    return reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), dfs)


def source_stats(validated: DataFrame, ds: DatasetConfig, uri: str) -> tuple[dict, dict]:
    """One aggregation over a validated source: (counts, reason counts)."""
    ok = F.size(REASONS_COL) == 0
    codes = reason_codes(F.col(REASONS_COL))
    optional = optional_dates_unparseable(ds)
    aggs = [
        F.count(F.lit(1)).alias("rows_in"),
        F.sum(F.when(ok, 1).otherwise(0)).alias("accepted"),
        *[F.sum(F.when(F.array_contains(codes, c), 1).otherwise(0)).alias(f"reason:{c}")
          for c in REASON_CODES],
        *[F.sum(F.when(ok & flag, 1).otherwise(0)).alias(k) for k, flag in optional.items()],
        *[F.sum(F.when(ok & analysis_unparseable(col_ref(a.column), a), 1).otherwise(0))
          .alias(f"{name}_unparseable") for name, a in ds.analysis_columns.items()
          if a.type != "string"],
    ]
    try:
        row = validated.agg(*aggs).collect()[0].asDict()
    except Exception as e:
        raise InputError(
            f"source '{ds.name}': reading input {uri} failed ({error_condition(e)})"
        ) from e
    rows_in, ok_n = int(row["rows_in"]), int(row["accepted"] or 0)
    counts = {"rows_in": rows_in, "accepted": ok_n, "quarantined": rows_in - ok_n,
              **{k: int(row.get(k) or 0) for k in OPTIONAL_DATE_COUNTS},
              **{k: int(row[k] or 0) for k in analysis_count_keys(ds)}}
    reasons = {c: int(row[f"reason:{c}"] or 0) for c in REASON_CODES if row[f"reason:{c}"]}
    return counts, reasons


def analysis_count_keys(ds: DatasetConfig) -> list[str]:
    """Run-record count keys of a source's typed analysis columns whose value did not parse
    (kept as null): ``<name>_unparseable``."""
    return [f"{name}_unparseable" for name, a in ds.analysis_columns.items() if a.type != "string"]


def check_analysis_columns(datasets: dict[str, DatasetConfig]) -> dict[str, str]:
    """Analysis column name -> Spark type over all sources; the same name declared with two
    types in two dataset configs raises ConfigError naming the second file and key (the records
    of all sources are one table)."""
    types: dict[str, tuple[str, str]] = {}
    for ds in datasets.values():
        for name, a in ds.analysis_columns.items():
            seen = types.setdefault(name, (a.spark_type, ds.file or ds.name))
            if seen[0] != a.spark_type:
                raise ConfigError(ds.file or ds.name, f"analysis_columns.{name}.type",
                                  f"'{name}' is a {a.type} here but {seen[0]} in {seen[1]}: one "
                                  "name, one type across sources")
    return {name: t for name, (t, _) in types.items()}


def ingest_sources(
    spark: SparkSession,
    datasets: dict[str, DatasetConfig],
    uris: dict[str, str],
    key: SecretKey,
    run_id: str,
    snapshot_date: str | None = None,
) -> IngestedSources:
    """Read every source first (so a bad input stops the run before anything is written),
    then validate and standardise. Counts satisfy rows_in = accepted + quarantined per source.
    A source with no accepted row raises InputError (nothing is written)."""
    check_analysis_columns(datasets)
    raws = {name: read_source(spark, ds, uris[name]) for name, ds in datasets.items()}
    today = snapshot_date or dt.date.today().isoformat()
    records, quarantine, restricted, counts, reason_counts, inputs, persisted = (
        [], [], [], {}, {}, {}, [])
    for name, ds in datasets.items():
        validated = with_validation(raws[name], ds).persist()
        persisted.append(validated)
        try:
            c, reasons = source_stats(validated, ds, uris[name])
        except InputError:
            for df in persisted:
                df.unpersist()
            raise
        counts[name], reason_counts[name] = c, reasons
        inputs[name] = input_size(spark, uris[name])
        logger.info(
            "source %-13s %9d rows in, %9d accepted, %7d quarantined (%s)",
            name, c["rows_in"], c["accepted"], c["quarantined"], uris[name],
        )
        shown = ", ".join(f"{code}={n}" for code, n in reasons.items())
        if reasons:
            logger.warning("source %s: %d row(s) quarantined: %s", name, c["quarantined"], shown)
        for k in OPTIONAL_DATE_COUNTS:
            if c[k]:
                logger.warning("source %s: %d accepted row(s) have an optional %s in none of the "
                               "declared formats; kept with a null date", name, c[k],
                               k.removesuffix("_unparseable"))
        for k in analysis_count_keys(ds):
            if c[k]:
                logger.warning("source %s: %d accepted row(s) have an analysis column %s that does "
                               "not parse as its declared type; kept as null", name, c[k],
                               k.removesuffix("_unparseable"))
        if c["accepted"] == 0:
            for df in persisted:
                df.unpersist()
            raise InputError(
                f"source '{name}': none of the {c['rows_in']} rows of {uris[name]} was accepted "
                f"({shown}); a source with no accepted rows stops the run: check its dataset "
                f"config {ds.file or name} (mapped columns, date formats, encoding)"
            )
        snapshot = ds.snapshot_date or today
        records.append(to_canonical(accepted(validated), ds, key, snapshot, run_id))
        q, r = quarantine_frames(validated, name, run_id, record_key(key, name, F.col(ID_COL)))
        quarantine.append(q)
        restricted.append(r)
    return IngestedSources(
        records=_union(records), quarantine=_union(quarantine),
        quarantine_restricted=_union(restricted), counts=counts, reason_counts=reason_counts,
        inputs=inputs, _persisted=persisted,
    )
