"""Row validation: every input row is either accepted or quarantined with its reasons.

A reason is ``"<code>: <detail>"``; the detail names columns, formats and counts, never a value.
Codes (see docs/bad_input.md): ``ragged_row``, ``malformed_row``, ``undecodable`` (found on
reading, :mod:`bold_spark.io.sources`), ``missing_id``, ``duplicate_id``, ``id_collision``,
``missing_mandatory``, ``unparseable_dob``, ``unparseable_event_date``; and for change files
(``delivery: change_file``) ``unknown_change``, ``add_existing_id``, ``update_unknown_id``,
``delete_unknown_id`` (:func:`with_change_checks`).
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
#: Change files only: the row's operation (``add``, ``update``, ``delete``), null when the
#: operation column holds none of the declared values.
CHANGE_COL = "_change"

MISSING_ID = "missing_id"
DUPLICATE_ID = "duplicate_id"
ID_COLLISION = "id_collision"
MISSING_MANDATORY = "missing_mandatory"
DATE_FIELDS = ("dob", "event_date")
UNKNOWN_CHANGE = "unknown_change"
ADD_EXISTING_ID = "add_existing_id"
UPDATE_UNKNOWN_ID = "update_unknown_id"
DELETE_UNKNOWN_ID = "delete_unknown_id"
#: Reason codes only change files' rows can carry.
CHANGE_REASON_CODES = (UNKNOWN_CHANGE, ADD_EXISTING_ID, UPDATE_UNKNOWN_ID, DELETE_UNKNOWN_ID)

#: Every reason code a quarantine row can carry.
REASON_CODES = (RAGGED, MALFORMED, UNDECODABLE, MISSING_ID, DUPLICATE_ID, ID_COLLISION,
                MISSING_MANDATORY, *[f"unparseable_{f}" for f in DATE_FIELDS],
                *CHANGE_REASON_CODES)

_KEY = "_change_key"
_PUBLISHED = "_change_published"

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


def change_op(ds: DatasetConfig) -> Column:
    """A change file's operation column as ``add``, ``update`` or ``delete`` (its value trimmed,
    ignoring case, against ``change_values``); null for any other value, blank included."""
    value = F.upper(F.trim(col_ref(ds.change_column)))
    op: Column | None = None
    for name, code in ds.change_codes.items():
        cond = value == F.lit(code.strip().upper())
        op = F.when(cond, F.lit(name)) if op is None else op.when(cond, F.lit(name))
    return op


def carries_content(ds: DatasetConfig) -> Column:
    """True where a row carries a whole record to check: every row of a full extract, a change
    file's add and update rows (a delete needs only its record id; a row of unknown operation
    is rejected for that alone)."""
    if not ds.is_change_file:
        return F.lit(True)
    return F.coalesce(F.col(CHANGE_COL).isin("add", "update"), F.lit(False))


def with_validation(df: DataFrame, ds: DatasetConfig) -> DataFrame:
    """Add the raw row (JSON of the mapped columns), a row reference, the source record id and
    an array of rejection reasons. ``df`` comes from :func:`read_source` (its read reasons are
    kept) or is any DataFrame holding the mapped columns.

    A change file's rows also get :data:`CHANGE_COL`; an unknown operation is ``unknown_change``,
    and a delete row is checked for its record id only (its other fields may be blank)."""
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
        *([change_op(ds).alias(CHANGE_COL)] if ds.is_change_file else []),
    )
    structural = F.col(STRUCTURAL_COL)
    content = carries_content(ds)
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
    if ds.is_change_file:
        shown = ", ".join(f"{op} = {code}" for op, code in ds.change_codes.items())
        checks.append(F.when(F.col(CHANGE_COL).isNull(), F.lit(
            f"{UNKNOWN_CHANGE}: the operation ({ds.change_column}) is none of the declared values "
            f"({shown}; change_values)")))
    for canon in ds.mandatory:
        src = col_ref(ds.columns[canon])
        checks.append(F.when(content & is_blank(src), F.lit(
            f"{MISSING_MANDATORY}: missing mandatory {canon} ({ds.columns[canon]})")))
    for canon in DATE_FIELDS:
        if canon in ds.columns and canon in ds.mandatory:
            fmts = date_formats(ds, canon)
            checks.append(F.when(content & _unparseable(ds, canon), F.lit(
                f"unparseable_{canon}: unparseable {canon} ({ds.columns[canon]}; formats {fmts})")))
    row_checks = F.when(structural, F.array().cast("array<string>")).otherwise(
        F.array_compact(F.array(*checks)))
    return out.withColumn(REASONS_COL, F.concat(F.col(READ_REASONS_COL), row_checks))


def with_change_checks(validated: DataFrame, ds: DatasetConfig, published: DataFrame,
                       record_key: Column) -> DataFrame:
    """A validated change file's rows checked against the source's published records
    (``published``: their ``record_key``): an add of a published id is ``add_existing_id``, an
    update or delete of an id not published ``update_unknown_id`` / ``delete_unknown_id``.
    ``record_key`` is the keyed hash over the validated row (as records are keyed). Rows
    without a usable id (blank, or structurally broken) are not looked up."""
    usable = ~F.col(STRUCTURAL_COL) & ~is_blank(F.col(ID_COL))
    marks = published.select(F.col("record_key").alias(_KEY), F.lit(True).alias(_PUBLISHED))
    joined = validated.withColumn(_KEY, F.when(usable, record_key)).join(marks, _KEY, "left")
    op, known = F.col(CHANGE_COL), F.coalesce(F.col(_PUBLISHED), F.lit(False))
    rid = ds.record_id
    found = F.array_compact(F.array(
        F.when((op == "add") & known, F.lit(
            f"{ADD_EXISTING_ID}: add of a record id ({rid}) that is already published")),
        F.when((op == "update") & ~known, F.lit(
            f"{UPDATE_UNKNOWN_ID}: update of a record id ({rid}) that is not published")),
        F.when((op == "delete") & ~known, F.lit(
            f"{DELETE_UNKNOWN_ID}: delete of a record id ({rid}) that is not published")),
    ))
    reasons = F.when(F.col(_KEY).isNull(), F.col(REASONS_COL)).otherwise(
        F.concat(F.col(REASONS_COL), found))
    return joined.withColumn(REASONS_COL, reasons).drop(_KEY, _PUBLISHED)


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
