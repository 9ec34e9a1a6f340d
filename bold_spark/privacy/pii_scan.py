"""Scan tables and logs for clear-text values taken from the input extracts.

    from bold_spark.privacy.pii_scan import identifying_values, scan_outputs
    values = identifying_values(spark, cfg)          # (value, label) from the extracts
    findings = scan_outputs(spark, cfg, values)      # [] when no output holds any of them

Matching is on normalised words, so formatting does not hide a value: both sides are upper
cased, accents folded, apostrophes dropped and every other run of non-alphanumerics becomes one
space; a value is found in a cell when its words appear as consecutive whole words of the cell,
or, written without spaces (``SW1A 1AA`` -> ``SW1A1AA``), as one word of it. Whole words only,
so a value never "appears" inside a hex digest by chance. :func:`identifying_values` adds the
forms the pipeline itself writes (cleaned names and each name part, ISO dates, normalised
identifiers), so a value is found in whatever form ingest gave it.

A finding names the table, the column and where the value came from (``prison.FIRST_NAME``)
and counts rows; it never holds the value, so findings can be logged safely.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from bold_spark.schema import DEFAULT_DATE_FORMATS
from bold_spark.standardise.dates import parse_date
from bold_spark.standardise.identifiers import NORMALISERS
from bold_spark.standardise.names import ACCENT_FOLD, clean_name, fold_accents

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from bold_spark.config.pipeline import PipelineConfig

logger = logging.getLogger(__name__)

MIN_LENGTH = 4
MAX_WORDS = 8
NAME_FIELDS = ("first_name", "middle_names", "forenames", "surname")
#: Canonical fields whose source columns are scanned for (besides the record id).
PII_FIELDS = (*NAME_FIELDS, "dob", "postcode", "postcode_sector", "address",
              "pnc", "ni_number", "crn", "prison_number")
#: Default output tables to scan (the analyst zone, ``quarantine`` included: its raw values
#: belong in the restricted zone); PPRL mode adds ``records``.
ANALYST_TABLES = ("edges", "clusters", "analysis", "person_events", "quarantine", "runs",
                  "published")
DATE_FORMS = ("yyyy-MM-dd", "yyyyMMdd", "dd/MM/yyyy")

_APOSTROPHES = "['’`]"
_NON_ALNUM = "[^A-Z0-9]+"


@dataclass(frozen=True)
class Finding:
    """Rows of an output column holding values from one source column (never the value)."""

    table: str
    column: str
    label: str  # where the value came from, e.g. "prison.FIRST_NAME"; never the value
    rows: int

    def __str__(self) -> str:
        return f"{self.table}.{self.column}: {self.rows} row(s) hold values from {self.label}"


# ------------------------------------------------------------------ normalisation


def normalise_text(col: Column) -> Column:
    """Upper case, accents folded, apostrophes dropped, non-alphanumerics -> single spaces."""
    s = fold_accents(F.upper(col.cast("string")))
    s = F.regexp_replace(F.regexp_replace(s, _APOSTROPHES, ""), _NON_ALNUM, " ")
    return F.trim(s)


def normalise_py(text: str) -> str:
    """:func:`normalise_text` in Python (for log lines)."""
    s = re.sub(_APOSTROPHES, "", text.upper().translate(ACCENT_FOLD))
    return re.sub(_NON_ALNUM, " ", s).strip()


def _as_text(df: DataFrame, field: T.StructField) -> Column:
    col = F.col(f"`{field.name}`")
    if isinstance(field.dataType, (T.ArrayType, T.MapType, T.StructType)):
        return F.to_json(col)
    if isinstance(field.dataType, T.BinaryType):
        return F.hex(col)
    return col.cast("string")


# ------------------------------------------------------------------ values


def _values_frame(spark: SparkSession, values) -> DataFrame:
    if isinstance(values, DataFrame):
        return values.select(F.col("value").cast("string"), F.col("label").cast("string"))
    pairs = values.items() if isinstance(values, Mapping) else ((v, "value") for v in values)
    rows = [(str(v), str(label)) for v, label in pairs if v is not None]
    return spark.createDataFrame(rows, "value string, label string")


def value_keys(values: DataFrame, min_length: int = MIN_LENGTH) -> DataFrame:
    """(key, label): each value's normalised words and its no-space form, when that is at
    least ``min_length`` characters."""
    spaced = normalise_text(F.col("value"))
    compact = F.regexp_replace(spaced, " ", "")
    keyed = values.where(F.length(compact) >= min_length).select(
        F.explode(F.array_distinct(F.array(spaced, compact))).alias("key"), "label")
    return keyed.distinct()


def table_cells(df: DataFrame, table: str = "", exclude_columns: Iterable[str] = ()) -> DataFrame:
    """(table, column, _row, text): every non-null cell of ``df`` as text (complex types as
    JSON), except columns named in ``exclude_columns`` (``column`` or ``table.column``)."""
    skip = set(exclude_columns)
    fields = [f for f in df.schema.fields if f.name not in skip and f"{table}.{f.name}" not in skip]
    if not fields:
        return df.sparkSession.createDataFrame([], "table string, column string, _row long, text string")
    texts = [_as_text(df, f) for f in fields]
    # A deterministic row id (a hash of the row), so later window functions may partition on
    # it; identical rows count once.
    cells = df.select(
        F.xxhash64(*texts).alias("_row"),
        F.explode(F.array(*[
            F.struct(F.lit(f.name).alias("column"), t.alias("text"))
            for f, t in zip(fields, texts, strict=True)
        ])).alias("cell"),
    )
    return cells.select(F.lit(table).alias("table"), F.col("cell.column").alias("column"), "_row",
                        F.col("cell.text").alias("text")).where(F.col("text").isNotNull())


def scan_cells(cells: DataFrame, values, min_length: int = MIN_LENGTH) -> list[Finding]:
    """Findings among ``cells`` (see :func:`table_cells`), in one Spark job plus a small one
    for the longest value."""
    keys = value_keys(_values_frame(cells.sparkSession, values), min_length).persist()
    max_words = keys.agg(F.max(F.size(F.split("key", " ")))).collect()[0][0]
    if not max_words:
        keys.unpersist()
        return []
    max_words = min(int(max_words), MAX_WORDS)
    # One row per word; n-grams from the following words (window functions, which Spark
    # compiles, rather than higher-order functions over arrays, which it interprets).
    words = cells.select("table", "column", "_row", F.posexplode(F.split(normalise_text(F.col("text")), " "))
                         .alias("pos", "word"))
    following = Window.partitionBy("table", "column", "_row").orderBy("pos")
    nexts = [F.lead("word", k).over(following) for k in range(1, max_words)]
    grams = [F.col("word")] + [
        F.when(nexts[n - 2].isNotNull(), F.concat_ws(" ", F.col("word"), *nexts[: n - 1]))
        for n in range(2, max_words + 1)
    ]
    with_grams = words.select("table", "column", "_row", *[g.alias(f"_g{i}") for i, g in enumerate(grams)])
    exploded = with_grams.select("table", "column", "_row", F.explode(F.array(
        *[f"_g{i}" for i in range(len(grams))])).alias("key"))
    hits = exploded.where(F.col("key").isNotNull()).join(F.broadcast(keys), "key").groupBy(
        "table", "column", "label").agg(F.countDistinct("_row").alias("rows")).collect()
    keys.unpersist()
    findings = sorted((Finding(r["table"], r["column"], r["label"], int(r["rows"])) for r in hits),
                      key=lambda f: (f.table, f.column, f.label))
    for f in findings:
        logger.warning("PII scan: %s", f)
    return findings


def scan_for_values(
    df: DataFrame,
    values: DataFrame | Mapping[str, str] | Iterable[str],
    table: str = "",
    min_length: int = MIN_LENGTH,
    exclude_columns: Iterable[str] = (),
) -> list[Finding]:
    """Columns of ``df`` holding any of ``values`` (a (value, label) DataFrame, a mapping
    value -> label, or plain values), as findings per column and label. Every column is
    scanned, cast to text (complex types as JSON), except ``exclude_columns``."""
    return scan_cells(table_cells(df, table, exclude_columns), values, min_length)


def scan_text(lines: Iterable[str], values: Mapping[str, str], source: str = "log",
              min_length: int = MIN_LENGTH) -> list[Finding]:
    """Lines of text (log messages) holding any of ``values`` (value -> label)."""
    keys: dict[str, str] = {}
    for value, label in values.items():
        spaced = normalise_py(str(value))
        compact = spaced.replace(" ", "")
        if len(compact) >= min_length:
            keys.setdefault(spaced, label)
            keys.setdefault(compact, label)
    max_words = min(max((k.count(" ") + 1 for k in keys), default=0), MAX_WORDS)
    rows: dict[str, int] = {}
    for line in lines:
        words = normalise_py(line).split()
        labels = {keys[g] for n in range(1, max_words + 1) for i in range(len(words) - n + 1)
                  if (g := " ".join(words[i:i + n])) in keys}
        for label in labels:
            rows[label] = rows.get(label, 0) + 1
    return [Finding(source, "text", label, n) for label, n in sorted(rows.items())]


# ------------------------------------------------------------------ values from the extracts


def _variants(field: str, raw: Column, date_formats: list[str]) -> list[Column]:
    out = [raw]
    if field in NAME_FIELDS:
        out.append(clean_name(raw))
    elif field == "dob":
        parsed = parse_date(raw, date_formats)
        out.extend(F.date_format(parsed, fmt) for fmt in DATE_FORMS)
    elif field in NORMALISERS:
        out.append(NORMALISERS[field](raw))
    return out


def _labelled(values: Column, label: str) -> Column:
    """``values`` (an array) as (value, label) structs. (A two-argument lambda, even with a
    default, would be handed each element's index by ``F.transform``, not the label.)"""
    return F.transform(values, lambda v: F.struct(v.alias("value"), F.lit(label).alias("label")))


def source_values(df: DataFrame, source: str, columns: dict[str, str], record_id: str,
                  date_formats: dict[str, list[str]] | None = None,
                  extra_columns: Iterable[str] = ()) -> DataFrame:
    """(value, label) of one extract: every PII-mapped column (``columns``: canonical field ->
    source column) in the forms ingest can write it, each name part, and the record id."""
    date_formats = date_formats or {}
    items = []
    for field, col in [*columns.items(), ("record_id", record_id),
                       *[("extra", c) for c in extra_columns]]:
        if field not in PII_FIELDS and field not in ("record_id", "extra"):
            continue
        raw = F.col(f"`{col}`").cast("string")
        found = F.array(*_variants(field, raw, date_formats.get(field) or DEFAULT_DATE_FORMATS))
        if field in NAME_FIELDS:  # each part of a name on its own, too
            found = F.concat(found, F.split(F.coalesce(clean_name(raw), F.lit("")), " "))
        items.append(_labelled(found, f"{source}.{col}"))
    pairs = df.select(F.explode(F.flatten(F.array(*items))).alias("p")).select("p.value", "p.label")
    return pairs.where(F.col("value").isNotNull() & (F.trim("value") != "")).distinct()


def identifying_values(spark: SparkSession, cfg: PipelineConfig, include_extra_columns: bool = True) -> DataFrame:
    """(value, label) from every input extract of ``cfg``: names, dates of birth, addresses,
    postcodes, direct identifiers, record ids (and dataset extra columns and identifiers)."""
    from bold_spark.io.sources import read_source

    parts = []
    for name, ds in cfg.dataset_configs().items():
        df = read_source(spark, ds, cfg.source_uri(ds))
        extras = [*ds.extra_identifiers.values(), *(ds.extra_columns.values() if include_extra_columns else [])]
        parts.append(source_values(df, name, ds.columns, ds.record_id, ds.date_formats, extras))
    return reduce(lambda a, b: a.unionByName(b), parts).distinct()


def scan_outputs(
    spark: SparkSession, cfg: PipelineConfig, values, tables: Iterable[str] | None = None,
    exclude_columns: Iterable[str] = (),
) -> list[Finding]:
    """Scan the pipeline's output tables (edges, clusters, runs; plus records in PPRL mode)
    together, in one Spark job. ``exclude_columns`` takes ``table.column`` names."""
    from bold_spark.io.delta import read_table, table_exists

    if tables is None:
        tables = [*ANALYST_TABLES, *(["records"] if cfg.privacy.mode == "pprl" else [])]
    tables = list(tables)
    parts = []
    for table in tables:
        uri = cfg.table_uri(table)
        if not table_exists(uri, spark):
            logger.warning("PII scan: table %s not found at %s; skipped", table, uri)
            continue
        parts.append(table_cells(read_table(spark, uri), table, exclude_columns))
    if not parts:
        return []
    findings = scan_cells(reduce(lambda a, b: a.unionByName(b), parts), values)
    logger.info("PII scan of %s: %d finding(s)", ", ".join(tables), len(findings))
    return findings
