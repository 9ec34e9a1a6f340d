"""Row validation: every input row is either accepted or quarantined with its reasons.

A reason is ``"<code>: <detail>"``; the detail names columns, formats and counts, never a value.
Codes (see docs/bad_input.md): ``ragged_row``, ``malformed_row``, ``undecodable`` (found on
reading, :mod:`bold_spark.io.sources`), ``missing_id``, ``duplicate_id``, ``id_collision``,
``missing_mandatory``, ``unparseable_dob``, ``unparseable_event_date``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from bold_spark.config.datasets import DatasetConfig
from bold_spark.io.sources import (
    INTERNAL_COLUMNS,
    MALFORMED,
    RAGGED,
    RAW_TEXT_COL,
    READ_REASONS_COL,
    STRUCTURAL,
    UNDECODABLE,
    col_ref,
)
from bold_spark.standardise.dates import DEFAULT_DATE_FORMATS, is_blank, parse_date

REASONS_COL = "_reasons"
RAW_COL = "_raw"
ID_COL = "_source_record_id"
ROW_REF_COL = "_row_ref"
STRUCTURAL_COL = "_structural"

MISSING_ID = "missing_id"
DUPLICATE_ID = "duplicate_id"
ID_COLLISION = "id_collision"
MISSING_MANDATORY = "missing_mandatory"
DATE_FIELDS = ("dob", "event_date")

#: Every reason code a quarantine row can carry.
REASON_CODES = (RAGGED, MALFORMED, UNDECODABLE, MISSING_ID, DUPLICATE_ID, ID_COLLISION,
                MISSING_MANDATORY, *[f"unparseable_{f}" for f in DATE_FIELDS])

#: Columns of the analyst-zone quarantine table (no values read from the row).
QUARANTINE_COLUMNS = ("source", "row_ref", "record_key", "reason_codes", "reason", "run_id")
#: Columns of the restricted quarantine table (the row's values, for data stewards).
RESTRICTED_COLUMNS = ("source", "row_ref", "run_id", "source_record_id", "reason", "raw_row",
                      "raw_text")


def date_formats(ds: DatasetConfig, field: str) -> list[str]:
    return ds.date_formats.get(field) or DEFAULT_DATE_FORMATS


def reason_codes(reasons: Column) -> Column:
    return F.transform(reasons, lambda r: F.substring_index(r, ":", 1))


def _unparseable(ds: DatasetConfig, canon: str) -> Column:
    src = col_ref(ds.columns[canon])
    return ~is_blank(src) & parse_date(src, date_formats(ds, canon)).isNull()


def optional_dates_unparseable(ds: DatasetConfig) -> dict[str, Column]:
    """``<field>_unparseable`` -> a flag, for optional date fields: a value that parses in none of
    the declared formats is accepted as null (counted per source, logged as a warning)."""
    return {f"{canon}_unparseable": _unparseable(ds, canon)
            for canon in DATE_FIELDS if canon in ds.columns and canon not in ds.mandatory}


def with_validation(df: DataFrame, ds: DatasetConfig) -> DataFrame:
    """Add the raw row (JSON of the mapped columns), a row reference, the source record id and
    an array of rejection reasons. ``df`` comes from :func:`read_source` (its read reasons are
    kept) or is any DataFrame holding the mapped columns."""
    data_cols = [c for c in df.columns if c not in INTERNAL_COLUMNS]
    read = (F.col(READ_REASONS_COL) if READ_REASONS_COL in df.columns
            else F.array().cast("array<string>"))
    raw_text = F.col(RAW_TEXT_COL) if RAW_TEXT_COL in df.columns else F.lit(None).cast("string")
    raw_id = col_ref(ds.record_id)
    out = df.select(
        *[col_ref(c) for c in data_cols],
        read.alias(READ_REASONS_COL),
        raw_text.alias(RAW_TEXT_COL),
        # A row's reference, fixed by the scan, before any shuffle: joins the analyst-zone and
        # restricted quarantine rows.
        F.monotonically_increasing_id().alias(ROW_REF_COL),
        F.to_json(F.struct(*[col_ref(c) for c in data_cols])).alias(RAW_COL),
        F.trim(raw_id).alias(ID_COL),
        # A ragged or malformed row's fields are misaligned: it gets only its read reason and
        # takes no part in the duplicate-id check (its "id" may be any field).
        F.arrays_overlap(reason_codes(read), F.array(*[F.lit(c) for c in STRUCTURAL]))
        .alias(STRUCTURAL_COL),
    )
    structural = F.col(STRUCTURAL_COL)
    id_blank = is_blank(F.col(ID_COL))
    counted = ~structural & ~id_blank
    w = Window.partitionBy(ID_COL)
    n_same = F.sum(F.when(counted, 1).otherwise(0)).over(w)
    forms_differ = F.min(F.when(counted, raw_id)).over(w) != F.max(F.when(counted, raw_id)).over(w)
    rid = ds.record_id
    checks: list[Column] = [
        F.when(id_blank, F.lit(f"{MISSING_ID}: missing record id ({rid})")),
        F.when(
            ~id_blank & (n_same > 1) & forms_differ,
            F.concat(F.lit(f"{ID_COLLISION}: record id ({rid}) equal on "), n_same.cast("string"),
                     F.lit(" rows only after trimming spaces (written differently in the source)")),
        ).when(
            ~id_blank & (n_same > 1),
            F.concat(F.lit(f"{DUPLICATE_ID}: duplicate record id ({rid}) on "),
                     n_same.cast("string"), F.lit(" rows")),
        ),
    ]
    for canon in ds.mandatory:
        src = col_ref(ds.columns[canon])
        checks.append(F.when(is_blank(src), F.lit(
            f"{MISSING_MANDATORY}: missing mandatory {canon} ({ds.columns[canon]})")))
    for canon in DATE_FIELDS:
        if canon in ds.columns and canon in ds.mandatory:
            fmts = date_formats(ds, canon)
            checks.append(F.when(_unparseable(ds, canon), F.lit(
                f"unparseable_{canon}: unparseable {canon} ({ds.columns[canon]}; formats {fmts})")))
    row_checks = F.when(structural, F.array().cast("array<string>")).otherwise(
        F.array_compact(F.array(*checks)))
    return out.withColumn(REASONS_COL, F.concat(F.col(READ_REASONS_COL), row_checks))


def accepted(validated: DataFrame) -> DataFrame:
    return validated.where(F.size(REASONS_COL) == 0)


def quarantine_frames(
    validated: DataFrame, source: str, run_id: str, record_key: Column | None = None
) -> tuple[DataFrame, DataFrame]:
    """Rejected rows as (analyst-zone quarantine, restricted quarantine).

    The analyst-zone frame holds no value read from the row: source, ``row_ref``, the keyed
    ``record_key`` (``record_key`` expression over the validated row; null for a blank id),
    reason codes, reasons and run id. The restricted frame holds the same ``row_ref`` with the
    source record id, the mapped values as JSON (``raw_row``) and, for CSV, the row's text as
    read (``raw_text``). ``(source, run_id, row_ref)`` joins the two."""
    rejected = validated.where(F.size(REASONS_COL) > 0)
    key = F.when(~is_blank(F.col(ID_COL)), record_key) if record_key is not None else F.lit(None)
    reason = F.array_join(REASONS_COL, "; ")
    analyst = rejected.select(
        F.lit(source).alias("source"),
        F.col(ROW_REF_COL).alias("row_ref"),
        key.cast("string").alias("record_key"),
        reason_codes(F.col(REASONS_COL)).alias("reason_codes"),
        reason.alias("reason"),
        F.lit(run_id).alias("run_id"),
    )
    restricted = rejected.select(
        F.lit(source).alias("source"),
        F.col(ROW_REF_COL).alias("row_ref"),
        F.lit(run_id).alias("run_id"),
        F.col(ID_COL).alias("source_record_id"),
        reason.alias("reason"),
        F.col(RAW_COL).alias("raw_row"),
        F.col(RAW_TEXT_COL).alias("raw_text"),
    )
    return analyst, restricted
