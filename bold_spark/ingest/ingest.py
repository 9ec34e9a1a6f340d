"""Ingest all sources of a pipeline: read, validate, quarantine, standardise."""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.config.datasets import CHANGE_OPS, DatasetConfig
from bold_spark.exceptions import ConfigError, InputError, redact_error
from bold_spark.ingest.fingerprint import raw_fingerprint, standardisation_version
from bold_spark.ingest.validate import (
    CHANGE_COL,
    ID_COL,
    REASON_CODES,
    REASONS_COL,
    accepted,
    carries_content,
    optional_dates_unparseable,
    quarantine_frames,
    reason_codes,
    with_change_checks,
    with_validation,
)
from bold_spark.io import fs
from bold_spark.io.joins import by_keys
from bold_spark.io.sources import col_ref, error_condition, read_source
from bold_spark.privacy.keys import SecretKey
from bold_spark.schema import RAW_FINGERPRINT
from bold_spark.standardise.person import analysis_unparseable, record_key, to_canonical

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

logger = logging.getLogger(__name__)

#: Per-source counts of accepted rows whose optional date did not parse (kept, as null).
OPTIONAL_DATE_COUNTS = ("dob_unparseable", "event_date_unparseable")

#: Sources whose validation jobs run at once (each job is a few seconds, mostly Spark's fixed
#: cost per job, so they overlap well even on two cores).
MAX_CONCURRENT_SOURCES = 8

#: Change files: operation -> the count key of its accepted rows.
CHANGE_COUNTS = {"add": "added", "update": "updated", "delete": "deleted"}


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
    several).

    A change-file source (``delivery: change_file``) contributes only its accepted add and update
    rows to ``records``; its accepted delete rows are in ``deletes`` (``record_key``,
    ``source``); its other published records are carried over as they are
    (:func:`bold_spark.linkage.incremental.kept_by_changes`). Its counts then hold rows_in =
    accepted + deleted + quarantined, with ``added``, ``updated`` and ``deleted`` (accepted rows
    by operation), ``published`` (its records before the run) and ``records`` (after: published -
    deleted + added).

    ``unchanged`` (given published fingerprints): ``record_key`` of the accepted rows of full
    sources whose raw-row fingerprint is published for the same key; they are not standardised
    and not in ``records``.
    ``crosswalk`` (given a ``previous_key``, in a key rotation): ``record_key`` and
    ``previous_record_key``, the same accepted record's key under the new and the previous key
    (linkage zone; never to be written: it would undo the rotation)."""

    records: DataFrame
    quarantine: DataFrame
    quarantine_restricted: DataFrame
    counts: dict[str, dict[str, int]]
    reason_counts: dict[str, dict[str, int]]
    inputs: dict[str, dict]
    deletes: DataFrame | None = None
    change_sources: tuple[str, ...] = ()
    unchanged: DataFrame | None = None
    crosswalk: DataFrame | None = None
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
    """One aggregation over a validated source: (counts, reason counts). For a change file,
    ``accepted`` counts the add and update rows (they become records) and ``deleted`` the
    accepted delete rows, so rows_in = accepted + deleted + quarantined."""
    ok = F.size(REASONS_COL) == 0
    codes = reason_codes(F.col(REASONS_COL))
    optional = optional_dates_unparseable(ds)
    content = ok & carries_content(ds)
    ops = [F.sum(F.when(ok & (F.col(CHANGE_COL) == op), 1).otherwise(0)).alias(f"op:{op}")
           for op in CHANGE_OPS] if ds.is_change_file else []
    aggs = [
        F.count(F.lit(1)).alias("rows_in"),
        F.sum(F.when(ok, 1).otherwise(0)).alias("accepted"),
        *ops,
        *[F.sum(F.when(F.array_contains(codes, c), 1).otherwise(0)).alias(f"reason:{c}")
          for c in REASON_CODES],
        *[F.sum(F.when(content & flag, 1).otherwise(0)).alias(k) for k, flag in optional.items()],
        *[F.sum(F.when(content & analysis_unparseable(col_ref(a.column), a), 1).otherwise(0))
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
    changes = {CHANGE_COUNTS[op]: int(row[f"op:{op}"] or 0) for op in CHANGE_OPS} \
        if ds.is_change_file else {}
    deleted = changes.get("deleted", 0)
    counts = {"rows_in": rows_in, "accepted": ok_n - deleted, "quarantined": rows_in - ok_n,
              **changes,
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


_KEY, _SAME = "_fp_record_key", "_fp_same"


def _without_published(ok: DataFrame, fingerprint: Column, fingerprints: DataFrame, key: Column
                       ) -> tuple[DataFrame, DataFrame]:
    """The rows of ``ok`` (accepted rows), with their ``fingerprint``, whose (record key,
    fingerprint) the published ``fingerprints`` do not hold, and the record keys of those they
    hold. The comparison runs on narrow rows (source record id, key, fingerprint: each HMAC
    computed once, materialised); the wide rows to standardise are then picked by source
    record id (unique among accepted rows), broadcast when few
    (:func:`bold_spark.io.joins.by_keys`), and only they are fingerprinted again."""
    published = fingerprints.select(F.col("record_key").alias(_KEY), RAW_FINGERPRINT,
                                    F.lit(True).alias(_SAME))
    marked = (ok.select(ID_COL, key.alias(_KEY), fingerprint.alias(RAW_FINGERPRINT))
              .join(published, [_KEY, RAW_FINGERPRINT], "left")
              .select(ID_COL, _KEY, F.coalesce(F.col(_SAME), F.lit(False)).alias(_SAME))
              .localCheckpoint(eager=True))
    rest = by_keys(ok, marked.where(~F.col(_SAME)).select(ID_COL), ID_COL)
    same = marked.where(F.col(_SAME)).select(F.col(_KEY).alias("record_key"))
    return rest.withColumn(RAW_FINGERPRINT, fingerprint), same


def ingest_sources(
    spark: SparkSession,
    datasets: dict[str, DatasetConfig],
    uris: dict[str, str],
    key: SecretKey,
    run_id: str,
    snapshot_date: str | None = None,
    published: DataFrame | None = None,
    fingerprints: DataFrame | None = None,
    settings: object = None,
    previous_key: SecretKey | None = None,
) -> IngestedSources:
    """Read every source first (so a bad input stops the run before anything is written),
    then validate and standardise. Counts satisfy rows_in = accepted + quarantined per source
    (+ deleted for a change file). A source with no accepted row raises InputError (nothing is
    written); when several sources stop the run (no accepted row, or their input could not be
    read), every one is logged and the first in configuration order is raised.

    ``published``: the published records (``record_key``, ``source``), needed by change-file
    sources (``delivery: change_file``), whose rows are checked against them; a change-file
    source without it raises InputError.

    Every record gets its :data:`RAW_FINGERPRINT` (salted with ``settings`` too, e.g. the
    privacy config: see :mod:`bold_spark.ingest.fingerprint`). ``fingerprints``: published
    (``record_key``, ``raw_fingerprint``, ``source``) of the records an incremental run may
    carry over; a full source's accepted row with the same pair among its source's is only
    counted, in ``unchanged``, and not standardised.

    ``previous_key``: in a key rotation, the key the published set was made with: each accepted
    record's key under it is returned beside its new one (``crosswalk``), so person IDs can be
    carried over; a change-file source cannot be rotated (its published records are keyed
    under the old key) and raises InputError."""
    check_analysis_columns(datasets)
    change_sources = tuple(name for name, ds in datasets.items() if ds.is_change_file)
    if previous_key is not None and change_sources:
        name = change_sources[0]
        raise InputError(f"source '{name}': a key rotation re-keys every record from its extract, "
                         f"but {datasets[name].file or name} declares `delivery: change_file`: "
                         "rotate with every source's full extract")
    if change_sources and published is None:
        name = change_sources[0]
        raise InputError(
            f"source '{name}': its dataset config {datasets[name].file or name} declares "
            "`delivery: change_file`, but there are no published records to apply the changes "
            "to: the first run of a source needs its full extract (delivery: full)")
    raws = {name: read_source(spark, ds, uris[name]) for name, ds in datasets.items()}
    today = snapshot_date or dt.date.today().isoformat()
    records, quarantine, restricted, counts, reason_counts, inputs, persisted = (
        [], [], [], {}, {}, {}, [])
    deletes, unchanged, crosswalk = [], [], []

    def fingerprint_of(ds: DatasetConfig) -> Column:
        return raw_fingerprint(key, standardisation_version(ds, settings))

    def check(name: str) -> tuple[DataFrame, dict, dict, tuple[DataFrame, DataFrame] | None]:
        ds = datasets[name]
        validated = with_validation(raws[name], ds)
        if ds.is_change_file:
            mine = published.where(F.col("source") == name).select("record_key")
            validated = with_change_checks(validated, ds, mine, record_key(key, name, F.col(ID_COL)))
        validated = validated.persist()
        persisted.append(validated)
        c, reasons = source_stats(validated, ds, uris[name])
        if ds.is_change_file:
            c["published"] = mine.count()
            c["records"] = c["published"] - c["deleted"] + c["added"]
        diff = None
        if fingerprints is not None and not ds.is_change_file and c["accepted"]:
            # the extract's rows against the published ones (a job of its own, at once too)
            diff = _without_published(accepted(validated), fingerprint_of(ds),
                                      fingerprints.where(F.col("source") == name),
                                      record_key(key, name, F.col(ID_COL)))
        return validated, c, reasons, diff

    # each source's validation pass (and an incremental run's comparison with the published
    # rows) is a Spark job of a few seconds, mostly fixed cost: the sources' jobs run at once
    # (five sources at 1.25M records, warm: the validation alone 23-24 s one after another,
    # 17-19 s at once); what they found is then logged and acted on in order, and the first
    # source's error (in configuration order) is raised once all have finished
    with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT_SOURCES, len(datasets))) as pool:
        checks = {name: pool.submit(check, name) for name in datasets}
    # every source that stops the run is reported (logged), not only the first, so one run
    # names all the extracts to fix; the first in configuration order is raised
    stops: list[tuple[str, BaseException]] = []
    for name, ds in datasets.items():
        error = checks[name].exception()
        if error is not None:
            stops.append((name, error))
            continue
        validated, c, reasons, diff = checks[name].result()
        counts[name], reason_counts[name] = c, reasons
        inputs[name] = input_size(spark, uris[name])
        logger.info(
            "source %-13s %9d rows in, %9d accepted, %7d quarantined (%s)",
            name, c["rows_in"], c["accepted"], c["quarantined"], uris[name],
        )
        if ds.is_change_file:
            logger.info("source %s (change file): %d added, %d updated, %d deleted; %d records "
                        "published before, %d after", name, c["added"], c["updated"],
                        c["deleted"], c["published"], c["records"])
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
        applied = c["accepted"] + c.get("deleted", 0)
        if applied == 0 and (c["rows_in"] or not ds.is_change_file):
            what = "change file (operation column and change_values, " if ds.is_change_file else "("
            stops.append((name, InputError(
                f"source '{name}': none of the {c['rows_in']} rows of {uris[name]} was accepted "
                f"({shown}); a source with no accepted rows stops the run: check its dataset "
                f"config {ds.file or name} {what}mapped columns, date formats, encoding)"
            )))
            continue
        snapshot = ds.snapshot_date or today
        ok = accepted(validated)
        if ds.is_change_file:
            deletes.append(ok.where(F.col(CHANGE_COL) == "delete").select(
                record_key(key, name, F.col(ID_COL)).alias("record_key"), F.lit(name).alias("source")))
            ok = ok.where(F.col(CHANGE_COL) != "delete")
        if previous_key is not None:
            crosswalk.append(ok.select(
                record_key(key, name, F.col(ID_COL)).alias("record_key"),
                record_key(previous_key, name, F.col(ID_COL)).alias("previous_record_key")))
        if diff is not None:
            ok, same = diff
            unchanged.append(same)
        else:
            ok = ok.withColumn(RAW_FINGERPRINT, fingerprint_of(ds))
        records.append(to_canonical(ok, ds, key, snapshot, run_id))
        q, r = quarantine_frames(validated, name, run_id, record_key(key, name, F.col(ID_COL)))
        quarantine.append(q)
        restricted.append(r)
    if stops:
        for df in persisted:
            df.unpersist()
        if len(stops) > 1:
            logger.error("%d sources stop the run: %s; the first is raised, the others are:",
                         len(stops), ", ".join(name for name, _ in stops))
            for name, error in stops[1:]:
                logger.error("source %s: %s", name, redact_error(error))
        raise stops[0][1]
    # quarantined rows are few: one file per core, not one per source and partition (an
    # incremental run over five sources wrote 2,613 rows as 40 files)
    cores = spark.sparkContext.defaultParallelism
    return IngestedSources(
        records=_union(records), quarantine=_union(quarantine).coalesce(cores),
        quarantine_restricted=_union(restricted).coalesce(cores), counts=counts, reason_counts=reason_counts,
        inputs=inputs, deletes=_union(deletes) if deletes else None,
        change_sources=change_sources, unchanged=_union(unchanged) if unchanged else None,
        crosswalk=_union(crosswalk) if crosswalk else None,
        _persisted=persisted,
    )
