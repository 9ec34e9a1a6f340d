"""Date parsing with several formats, impossible dates nulled and flagged."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# Defined with the other definitions reading and validation share; still importable from here.
from bold_spark.schema import DEFAULT_DATE_FORMATS as DEFAULT_DATE_FORMATS

EARLIEST_DOB = "1900-01-01"


def parse_date(col: Column, formats: list[str]) -> Column:
    """Parse a date written in any of several formats.

    Parameters:
        col: the raw value (any type; cast to string and trimmed).
        formats: Spark datetime patterns, tried in order (``yyyy-MM-dd``, ``dd/MM/yyyy``...).

    Returns a date column: the first format that parses wins; nothing parses -> null. Parsing
    is strict (``31/02/1980`` never parses), and never fails the query. Leading and trailing
    white space of any kind (tabs, line breaks, no-break spaces) is trimmed first.
    """
    raw = F.regexp_replace(col.cast("string"), r"(?U)^\s+|\s+$", "")
    return F.coalesce(*[F.try_to_date(raw, fmt) for fmt in formats])


def is_blank(col: Column) -> Column:
    """Whether a value is missing.

    Parameters:
        col: any column.

    Returns a boolean column: true where ``col`` is null or only spaces once cast to string.
    """
    return col.isNull() | (F.trim(col.cast("string")) == "")


def with_dob_parts(df: DataFrame, reference_date: Column | None = None) -> DataFrame:
    """Null impossible dates of birth, flag them, and split the rest into parts.

    Parameters:
        df: rows with a date column ``dob``.
        reference_date: a DOB after it is impossible (the extract's snapshot date); default
            today. A DOB before 1900-01-01 is impossible too.

    Returns ``df`` with ``dob`` nulled where impossible, and ``dob_impossible``, ``dob_year``,
    ``dob_month``, ``dob_day``, ``dob_string`` (ISO) and ``dob_is_placeholder`` (1 January,
    often written for an unknown day and month) added.
    """
    ref = reference_date if reference_date is not None else F.current_date()
    impossible = F.col("dob").isNotNull() & (
        (F.col("dob") < F.lit(EARLIEST_DOB).cast("date")) | (F.col("dob") > ref)
    )
    out = df.withColumn("dob_impossible", impossible).withColumn(
        "dob", F.when(impossible, None).otherwise(F.col("dob"))
    )
    return (
        out.withColumn("dob_year", F.year("dob"))
        .withColumn("dob_month", F.month("dob"))
        .withColumn("dob_day", F.dayofmonth("dob"))
        .withColumn("dob_string", F.date_format("dob", "yyyy-MM-dd"))
        .withColumn(
            "dob_is_placeholder",
            F.coalesce((F.col("dob_month") == 1) & (F.col("dob_day") == 1), F.lit(False)),
        )
    )
