"""Date parsing with several formats, impossible dates nulled and flagged."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

DEFAULT_DATE_FORMATS = ["yyyy-MM-dd", "dd/MM/yyyy", "yyyyMMdd", "dd-MM-yyyy"]
EARLIEST_DOB = "1900-01-01"


def parse_date(col: Column, formats: list[str]) -> Column:
    """First format that parses wins; nothing parses -> null. Strict: 31/02 never parses."""
    raw = F.trim(col.cast("string"))
    return F.coalesce(*[F.try_to_date(raw, fmt) for fmt in formats])


def is_blank(col: Column) -> Column:
    return col.isNull() | (F.trim(col.cast("string")) == "")


def with_dob_parts(df: DataFrame, reference_date: Column | None = None) -> DataFrame:
    """Null a DOB before 1900 or after the reference date (impossible) and flag it; split it."""
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
