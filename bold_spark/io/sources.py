"""Reading source extracts (CSV, Parquet, Delta) as string columns.

Whole-input problems (missing, empty or header-only input, mapped columns the input lacks,
column types that cannot be read as text, wrong delimiter) raise an error naming the source, the
input and the columns. Row problems never alter a row silently: :func:`read_source` adds an
array of read reasons per row (``ragged_row``, ``malformed_row``, ``undecodable``) that row
validation turns into quarantine rows.

CSV is read in one of two ways:

* line mode (the default): ``spark.read.text`` keeps files splittable, decodes each line in the
  declared encoding, and parses it with ``from_csv``. The field count of each line is checked
  explicitly on its text (quoted fields removed, delimiters counted) as well as by Spark's
  corrupt-record column, because Spark pads short rows and truncates long ones silently when the
  query needs only some of the columns (CSV column pruning). A quoted field left open at the end
  of its line is ``malformed_row``: a line break inside a quoted field needs ``multiline: true``.
* ``multiline: true``: Spark's CSV reader with ``multiLine`` (each file is read by one task), its
  corrupt-record column, and every column referenced so that pruning cannot hide a ragged row.

Messages name files, config keys and column names, never values read from a row.
"""

from __future__ import annotations

import csv
import logging
from typing import TYPE_CHECKING

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from bold_spark.config.datasets import DatasetConfig
from bold_spark.exceptions import ConfigError, InputError
from bold_spark.io import fs
from bold_spark.io.delta import normalise_uri, read_table, table_exists
from bold_spark.standardise.dates import DEFAULT_DATE_FORMATS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

logger = logging.getLogger(__name__)

#: Internal columns :func:`read_source` adds beside the mapped source columns.
READ_REASONS_COL = "_read_reasons"  # array<string>, "code: detail" per problem found on reading
RAW_TEXT_COL = "_raw_text"  # CSV: the row's text as read (restricted zone only); else null
INTERNAL_COLUMNS = (READ_REASONS_COL, RAW_TEXT_COL)

#: Read reason codes. Structural problems mean the row's fields cannot be trusted at all.
RAGGED = "ragged_row"
MALFORMED = "malformed_row"
UNDECODABLE = "undecodable"
STRUCTURAL = (RAGGED, MALFORMED)

_CORRUPT = "__bold_corrupt_record"
_LINE = "__bold_line"
_PARSED = "__bold_parsed"

#: Characters that often delimit extracts, for the wrong-delimiter hint.
_LIKELY_DELIMITERS = (",", ";", "\t", "|")

#: windows-1252 differs from ISO-8859-1 only in bytes 0x80-0x9F; its five undefined bytes map to
#: U+FFFD, so a row holding one is quarantined as undecodable.
_C1 = "".join(chr(b) for b in range(0x80, 0xA0))
_CP1252_C1 = bytes(range(0x80, 0xA0)).decode("cp1252", errors="replace")
_CONTROL = "".join(chr(c) for c in range(0x20))

_TEXT_TYPES = (T.StringType, T.VarcharType, T.CharType, T.ByteType, T.ShortType, T.IntegerType,
               T.LongType, T.DecimalType, T.BooleanType, T.DateType, T.TimestampType,
               T.TimestampNTZType, T.NullType)
_DATE_TYPES = (T.DateType, T.TimestampType, T.TimestampNTZType)


class SourceColumnsError(ConfigError, InputError):
    """An input lacks columns its dataset config maps. Names the config file and the key of the
    first missing column, the input, every missing column and how many; never header cells that
    could be values (a file without a header row)."""

    def __init__(self, config_file: str, key: str, uri: str, missing: list[tuple[str, str]],
                 problem: str):
        self.uri = uri
        self.missing = missing
        super().__init__(config_file, key, problem)


#: Java exceptions (class names in a failure's cause chain) whose cause a user can act on,
#: with what to say: never the exception's message, which may quote a row or a path's content.
_CAUSE_HINTS = {
    "org.apache.hadoop.fs.ChecksumException": (
        "a checksum error: a file of the input was changed after Hadoop wrote the checksum beside "
        "it (the hidden .<file>.crc next to a file written by Spark and then edited or replaced "
        "in place); delete the stale .crc file(s) or write the extract anew"),
}


def _java_causes(e: BaseException):
    """The Java exception behind ``e`` (a py4j error) and its causes, outermost first."""
    java = getattr(e, "java_exception", None)
    for _ in range(20):
        if java is None:
            return
        yield java
        java = _call(java, "getCause")


def cause_hint(e: BaseException) -> str | None:
    """What to do about ``e`` when its cause chain holds an exception a user can act on
    (:data:`_CAUSE_HINTS`, e.g. a stale Hadoop checksum), else None."""
    for java in _java_causes(e):
        hint = _CAUSE_HINTS.get(str(_call(_call(java, "getClass"), "getName")))
        if hint:
            return hint
    return None


def error_condition(e: BaseException) -> str:
    """Spark's error condition (e.g. ``FAILED_READ_FILE.NO_HINT``) of ``e`` or of the first Java
    exception in its cause chain that has one, else the exception type: safe to show, unlike a
    message, which may quote a row. With :func:`cause_hint`'s advice appended when there is
    some."""
    cond = _call(e, "getCondition") or _call(e, "getErrorClass") or next(
        filter(None, (_call(java, "getCondition") for java in _java_causes(e))), None)
    out = str(cond) if cond else type(e).__name__
    hint = cause_hint(e)
    return f"{out}: {hint}" if hint else out


def _call(obj, method: str):
    fn = getattr(obj, method, None)
    if fn is None:
        return None
    try:
        return fn()
    except Exception:  # noqa: BLE001 - a py4j lookup failure must not hide the real error
        return None


def _input_bytes(spark: SparkSession, uri: str) -> int:
    return fs.content_size(spark, uri)[0]


def read_source(spark: SparkSession, ds: DatasetConfig, uri: str) -> DataFrame:
    """Read one extract: the columns ``ds`` needs, as strings, plus :data:`READ_REASONS_COL` and
    :data:`RAW_TEXT_COL`. Raises :class:`InputError` (or :class:`SourceColumnsError`) naming the
    input when it is missing, empty, holds no rows, lacks mapped columns or has unreadable types.
    A change file (``delivery: change_file``) with a header and no rows is no change, not an
    error."""
    uri = normalise_uri(uri)
    where = f"source '{ds.name}': input {uri}"
    if not fs.exists(spark, uri):
        raise InputError(f"{where} does not exist (dataset config {ds.file})")
    if _input_bytes(spark, uri) == 0:
        raise InputError(f"{where} is empty: the file has 0 bytes (not even a header)")
    try:
        if ds.format == "csv":
            reader = _read_csv_multiline if ds.multiline else _read_csv_lines
            df, header, sep = reader(spark, ds, uri, where)
        else:
            df, sep = _read_table(spark, ds, uri, where), None
            header = df.columns
    except InputError:
        raise
    except Exception as e:
        ask = "" if cause_hint(e) else f"; is it a {ds.format} file?"
        raise InputError(f"{where}: cannot be read as {ds.format} ({error_condition(e)}){ask}") from e
    _check_columns(ds, uri, header, sep)
    if ds.format != "csv":
        _check_types(ds, df, where)
    out = _select_needed(df, ds)
    try:
        empty = not out.head(1)
    except Exception as e:
        raise InputError(f"{where}: reading rows failed ({error_condition(e)})") from e
    if empty and ds.is_change_file:
        logger.info("%s: the change file holds no rows: no change to the source's records", where)
    elif empty:
        raise InputError(f"{where} holds no rows: a header or schema but no data (a source with "
                         "no rows stops the run; see docs/bad_input.md)")
    return out


# ------------------------------------------------------------------ CSV, line mode


def col_ref(name: str) -> Column:
    """A column by its exact name, whatever characters it holds (dots, spaces, backticks)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _jre(s: str) -> str:
    """``s`` as a literal in a Java regex."""
    return "".join(ch if ch.isalnum() else "\\" + ch for ch in s)


def _csv_chars(ds: DatasetConfig) -> tuple[str, str, str]:
    opts = ds.read_options
    sep = opts.get("sep", opts.get("delimiter", ","))
    sep = "\t" if sep == "\\t" else sep
    return sep, opts.get("quote", '"'), opts.get("escape", "\\")


def decode_line(raw: Column, encoding: str) -> Column:
    """Bytes of a line (as read by ``spark.read.text``) -> text in ``encoding``. Undecodable
    bytes become U+FFFD, which the undecodable check then finds."""
    if encoding == "utf-8":
        return F.make_valid_utf8(raw)
    latin = F.decode(raw.cast("binary"), "ISO-8859-1")
    if encoding == "iso-8859-1":
        return latin
    return F.translate(latin, _C1, _CP1252_C1)


def _split_header(line: str, sep: str, quote: str, escape: str) -> list[str]:
    if len(sep) != 1:
        return line.split(sep)
    kwargs = {"delimiter": sep, "escapechar": escape or None}
    if quote:
        kwargs["quotechar"] = quote
    else:
        kwargs["quoting"] = csv.QUOTE_NONE
    return next(csv.reader([line], **kwargs))


def safe_names(raw: list[str | None]) -> list[str]:
    """Spark's header rules: an empty name becomes ``_c<i>``, names repeated (ignoring case) get
    their position appended, so a repeated mapped column is reported as missing."""
    names = [n if n else f"_c{i}" for i, n in enumerate(raw)]
    lower = [n.lower() for n in names]
    return [f"{n}{i}" if lower.count(n.lower()) > 1 else n for i, n in enumerate(names)]


def _ddl(names: list[str]) -> str:
    return ", ".join("`" + n.replace("`", "``") + "` STRING" for n in names)


_STRIPPED = "__bold_stripped"
_UNCLOSED = "__bold_unclosed"
_N_FIELDS = "__bold_n_fields"


def with_line_checks(rows: DataFrame, line: str, sep: str, quote: str, escape: str) -> DataFrame:
    """Add the explicit structural facts of each CSV line: whether a quoted field is left open,
    and the number of fields (quoted fields removed, then delimiters counted). Each step is its
    own column so Spark evaluates the regular expressions once per line."""
    s = _jre(sep)
    text = F.col(line)
    if quote:
        q = _jre(quote)
        if escape and escape != quote:
            e = _jre(escape)
            body = f"(?:[^{q}{e}]++|{e}.|{q}{q})*+"
        else:
            body = f"(?:[^{q}]++|{q}{q})*+"
        # Most lines hold no quote at all; only those that do pay for the regular expression.
        stripped = F.when(F.instr(text, quote) == 0, text).otherwise(
            F.regexp_replace(text, f"(^|{s}){q}{body}{q}(?={s}|$)", "$1"))
        unclosed = F.when(F.instr(F.col(_STRIPPED), quote) == 0, F.lit(False)).otherwise(
            F.col(_STRIPPED).rlike(f"(^|{s}){q}"))
    else:
        stripped, unclosed = text, F.lit(False)
    return (
        rows.withColumn(_STRIPPED, stripped)
        .withColumn(_UNCLOSED, unclosed)
        .withColumn(_N_FIELDS, F.size(F.split(F.col(_STRIPPED), s, -1)))
    )


def _line_problems(corrupt: Column, width: int) -> list[Column]:
    unclosed, n_fields = F.col(_UNCLOSED), F.col(_N_FIELDS)
    malformed = F.when(unclosed, F.lit(
        f"{MALFORMED}: a quoted field is not closed on its line (a line break inside a quoted "
        "field needs `multiline: true` in the dataset config)"))
    ragged = F.when(
        ~unclosed & (n_fields != width),
        F.concat(F.lit(f"{RAGGED}: "), n_fields.cast("string"),
                 F.lit(f" fields where the header has {width}")),
    ).when(
        ~unclosed & corrupt.isNotNull(),
        F.lit(f"{RAGGED}: Spark's CSV parser found a field count other than the header's {width}"),
    )
    return [malformed, ragged]


def _read_csv_lines(spark: SparkSession, ds: DatasetConfig, uri: str, where: str):
    sep, quote, escape = _csv_chars(ds)
    opts = dict(ds.read_options)
    text_opts = {"lineSep": opts.pop("lineSep")} if "lineSep" in opts else {}
    decoded = decode_line(F.col("value"), ds.encoding)
    no_bom = F.when(decoded.startswith("\ufeff"), F.substring(decoded, 2, 1 << 30)).otherwise(decoded)
    lines = (
        spark.read.options(**text_opts).text(uri)
        .select(no_bom.alias(_LINE))
        # Spark's CSV reader skips blank lines (nothing but characters up to a space) too.
        .where(F.length(F.trim(F.translate(F.col(_LINE), _CONTROL, " " * len(_CONTROL)))) > 0)
    )
    first = lines.head(1)
    if not first:
        raise InputError(f"{where} holds only blank lines: no header, no rows")
    header_line = first[0][_LINE]
    _check_header_text(header_line, ds, where)
    names = safe_names(_split_header(header_line, sep, quote, escape))
    parsed = F.from_csv(
        F.col(_LINE), _ddl([*names, _CORRUPT]),
        {**opts, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT},
    )
    rows = (lines.where(F.col(_LINE) != F.lit(header_line))
            .select(F.col(_LINE), parsed.alias(_PARSED)))
    rows = with_line_checks(rows, _LINE, sep, quote, escape)
    problems = _line_problems(F.col(_PARSED).getField(_CORRUPT), len(names))
    df = rows.select(
        *[F.col(_PARSED).getField(n).alias(n) for n in names],
        F.array(*problems).alias(READ_REASONS_COL),
        F.col(_LINE).alias(RAW_TEXT_COL),
    )
    return df, names, sep


def _check_header_text(header: str, ds: DatasetConfig, where: str) -> None:
    if any(ord(ch) < 9 or ch == "\ufffd" for ch in header):
        raise InputError(
            f"{where}: the header line holds bytes that are not text in the declared encoding "
            f"{ds.encoding} (a binary file, or a different encoding: set `encoding:` in "
            f"{ds.file or 'the dataset config'})"
        )


# ------------------------------------------------------------------ CSV, multiLine


def _read_csv_multiline(spark: SparkSession, ds: DatasetConfig, uri: str, where: str):
    sep, _, _ = _csv_chars(ds)
    # Spark 4's CSV reader accepts only a few charsets; windows-1252 is read as ISO-8859-1 (the
    # same byte for every character the CSV syntax uses) and its 0x80-0x9F range mapped after.
    cp1252 = ds.encoding == "windows-1252"
    reader_encoding = "iso-8859-1" if cp1252 else ds.encoding
    fix_text = (lambda c: F.translate(c, _C1, _CP1252_C1)) if cp1252 else (lambda c: c)
    fix_name = str.maketrans(_C1, _CP1252_C1) if cp1252 else {}
    opts = {**ds.read_options, "header": "true", "multiLine": "true", "encoding": reader_encoding}
    raw_names = spark.read.options(**opts).csv(uri).columns
    if not raw_names:
        raise InputError(f"{where} holds only blank lines: no header, no rows")
    names = [n.translate(fix_name) for n in [raw_names[0].lstrip("\ufeff"), *raw_names[1:]]]
    _check_header_text("".join(names), ds, where)
    schema = T.StructType([T.StructField(n, T.StringType()) for n in [*raw_names, _CORRUPT]])
    df = (
        spark.read.options(**opts, mode="PERMISSIVE", columnNameOfCorruptRecord=_CORRUPT)
        .schema(schema).csv(uri)
    )
    width = len(names)
    # A quoted field left open swallows the lines after it: a line inside a field that holds as
    # many fields as a whole record is taken as such a swallowed record.
    s = _jre(sep)
    threshold = max(width, 3)
    swallowed = F.exists(
        F.array(*[F.coalesce(col_ref(n), F.lit("")) for n in raw_names]),
        lambda v: F.exists(F.split(v, "\r?\n"), lambda ln: F.size(F.split(ln, s, -1)) >= threshold),
    )
    problems = [
        F.when(swallowed, F.lit(
            f"{MALFORMED}: a quoted field holds a whole record's worth of fields after a line "
            "break (an unclosed quote that swallowed the following rows)")),
        F.when(~swallowed & F.col(_CORRUPT).isNotNull(), F.lit(
            f"{RAGGED}: Spark's CSV parser found a field count other than the header's {width}")),
    ]
    out = df.select(
        *[fix_text(col_ref(r)).alias(n) for r, n in zip(raw_names, names, strict=True)],
        F.array(*problems).alias(READ_REASONS_COL),
        fix_text(F.col(_CORRUPT)).alias(RAW_TEXT_COL),
    )
    return out, names, sep


# ------------------------------------------------------------------ Parquet, Delta


def _read_table(spark: SparkSession, ds: DatasetConfig, uri: str, where: str) -> DataFrame:
    if ds.format == "parquet":
        df = spark.read.options(**ds.read_options).parquet(uri)
    else:
        if not table_exists(uri):
            raise InputError(f"{where} is not a Delta table")
        df = read_table(spark, uri)
    return df.select("*", F.array().cast("array<string>").alias(READ_REASONS_COL),
                     F.lit(None).cast("string").alias(RAW_TEXT_COL))


def _check_types(ds: DatasetConfig, df: DataFrame, where: str) -> None:
    wrong = []
    for key, src in _mapped(ds):
        dtype = df.schema[src].dataType
        if not isinstance(dtype, _TEXT_TYPES):
            wrong.append(f"'{src}' ({key}) is {dtype.simpleString()}")
    if wrong:
        raise InputError(
            f"{where}: {len(wrong)} mapped column(s) have a type ingest cannot read as text: "
            f"{'; '.join(wrong)}. Expected string, integer, decimal, boolean, date or timestamp "
            "(floating point would alter identifiers and dates)"
        )


# ------------------------------------------------------------------ common


def _mapped(ds: DatasetConfig) -> list[tuple[str, str]]:
    """(config key, source column) of every column the config reads."""
    return [
        ("record_id", ds.record_id),
        *[(f"columns.{k}", v) for k, v in ds.columns.items()],
        *[(f"extra_columns.{k}", v) for k, v in ds.extra_columns.items()],
        *[(f"extra_identifiers.{k}", v) for k, v in ds.extra_identifiers.items()],
        *[(f"analysis_columns.{k}.column", a.column) for k, a in ds.analysis_columns.items()],
        *([("change_column", ds.change_column)] if ds.is_change_file and ds.change_column else []),
    ]


def _check_columns(ds: DatasetConfig, uri: str, header: list[str], sep: str | None) -> None:
    present = set(header)
    missing = list(dict.fromkeys((k, src) for k, src in _mapped(ds) if src not in present))
    if not missing:
        return
    lower = {h.lower().strip(): h for h in header}
    hints = []
    for _, src in missing:
        if src.lower().strip() in lower:
            hints.append(f"'{src}' is in the header as '{lower[src.lower().strip()]}' (names are "
                         "matched exactly: case and spaces count)")
    if any(h[: len(src)].lower() == src.lower() and h[len(src):].isdigit()
           for _, src in missing for h in header):
        hints.append("the header names a mapped column more than once")
    if sep is not None:
        others = [d for d in _LIKELY_DELIMITERS if d != sep and any(d in h for h in header)]
        if others:
            shown = ", ".join(repr(d) for d in others)
            hints.append(f"the header split on {sep!r} gives {len(header)} column(s) and holds "
                         f"{shown}: the file may use another delimiter (set read_options.sep)")
    cols = ", ".join(f"'{src}' ({k})" for k, src in missing)
    problem = (
        f"input {uri} lacks {len(missing)} of the {len(_mapped(ds))} mapped column(s): {cols}; "
        f"its header has {len(header)} column(s)" + "".join(f"; {h}" for h in hints)
    )
    raise SourceColumnsError(ds.file, missing[0][0], uri, missing, problem)


def _date_format_of(ds: DatasetConfig, src: str) -> str | None:
    for canon in ("dob", "event_date"):
        if ds.columns.get(canon) == src:
            return (ds.date_formats.get(canon) or DEFAULT_DATE_FORMATS)[0]
    for a in ds.analysis_columns.values():
        if a.column == src and a.type == "date":
            return (a.formats or DEFAULT_DATE_FORMATS)[0]
    return None


def _as_text(df: DataFrame, ds: DatasetConfig, src: str) -> Column:
    """A column as a string; a typed date mapped to a date field (or a date analysis column) is
    written in that field's first declared format, so it parses the way a text date would."""
    col = col_ref(src)
    fmt = _date_format_of(ds, src)
    if fmt and isinstance(df.schema[src].dataType, _DATE_TYPES):
        return F.date_format(col, fmt)
    return col.cast("string")


def _select_needed(df: DataFrame, ds: DatasetConfig) -> DataFrame:
    cols = ds.source_columns_needed()
    text = {c: _as_text(df, ds, c) for c in cols}
    bad = [F.when(t.contains("\ufffd") | ~F.is_valid_utf8(t), F.lit(c)) for c, t in text.items()]
    bad_names = F.array_compact(F.array(*bad))
    undecodable = F.when(
        F.size(bad_names) > 0,
        F.concat(F.lit(f"{UNDECODABLE}: "), F.array_join(bad_names, ", "),
                 F.lit(f" hold(s) bytes that are not valid {ds.encoding} text")),
    )
    reasons = F.array_compact(F.concat(F.col(READ_REASONS_COL), F.array(undecodable)))
    return df.select(
        *[t.alias(c) for c, t in text.items()],
        reasons.alias(READ_REASONS_COL),
        F.col(RAW_TEXT_COL),
    )
