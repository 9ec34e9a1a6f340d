"""Shared steps of every source builder: people -> rows, bad rows, dates, sticky flags."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic.population import EXTRACT_DATE
from bold_spark.synthetic.randomness import Draws, below, categorical, pick

#: Keys of every per-row random draw.
ROW_KEYS = ("person_id", "row_no", "copy_no")

#: Kinds of deliberately bad row and their shares among bad rows.
BAD_BLANK_DOB = "blank_dob"
BAD_UNPARSEABLE_DOB = "unparseable_dob"
BAD_DUPLICATE_ID = "duplicate_id"
BAD_ROW_KINDS = ((BAD_BLANK_DOB, 0.4), (BAD_UNPARSEABLE_DOB, 0.4), (BAD_DUPLICATE_ID, 0.2))
_DUPLICATE_SHARE = dict(BAD_ROW_KINDS)[BAD_DUPLICATE_ID]


def row_draws(seed: int, source: str) -> Draws:
    return Draws(seed, source, ROW_KEYS)


def person_draws(seed: int, source: str) -> Draws:
    """Draws that are the same on every row of a person in one source."""
    return Draws(seed, f"{source}/person", ("person_id",))


def explode_people(people: DataFrame, member_col: str, count: str | int) -> DataFrame:
    """One row per (member person, row_no 1..count); ``count`` is a column name or a constant."""
    n = F.col(count) if isinstance(count, str) else F.lit(count)
    return people.where(F.col(member_col)).withColumn(
        "row_no", F.explode(F.sequence(F.lit(1), n.cast("int")))
    )


def with_bad_rows(rows: DataFrame, seed: int, source: str, bad_rows: float) -> DataFrame:
    """Add ``bad_kind`` (null for good rows) and ``copy_no``; a duplicate-id row is emitted twice.

    Both copies of a duplicated id are quarantined, so rows are picked with probability
    ``bad_rows / (1 + duplicate share)`` to make the quarantined share equal ``bad_rows``."""
    d = Draws(seed, f"{source}/bad", ("person_id", "row_no"))
    pick_probability = bad_rows / (1.0 + _DUPLICATE_SHARE)
    kind_index = categorical(d.u("kind"), [share for _, share in BAD_ROW_KINDS])
    kind = F.when(below(d.u("is_bad"), pick_probability), F.element_at(
        F.array(*[F.lit(k) for k, _ in BAD_ROW_KINDS]), kind_index + 1
    ))
    copies = F.when(kind == BAD_DUPLICATE_ID, F.lit(1)).otherwise(F.lit(0))
    return rows.withColumn("bad_kind", kind).withColumn(
        "copy_no", F.explode(F.sequence(F.lit(0), copies))
    )


def format_date(date: Column, fmt: str) -> Column:
    return F.date_format(date, fmt)


def format_date_mixed(date: Column, u: Column, formats: list[tuple[str, float]]) -> Column:
    """Different providers/systems write dates differently: pick a format per row."""
    index = categorical(u, [share for _, share in formats])
    expr = None
    for i, (fmt, _) in enumerate(formats):
        expr = F.when(index == i, F.date_format(date, fmt)) if expr is None else expr.when(
            index == i, F.date_format(date, fmt)
        )
    return expr


def unparseable_dob(dob: Column, u: Column, fmt: str) -> Column:
    """A DOB text no listed format can parse: an impossible date in the source's own format, a
    word, or zeros."""
    year = F.year(dob).cast("string")
    impossible = (
        F.concat(F.lit("31/02/"), year) if fmt.startswith("dd") else F.concat(year, F.lit("-02-30"))
    )
    zeros = F.lit("00/00/0000") if fmt.startswith("dd") else F.lit("0000-00-00")
    return F.element_at(F.array(impossible, F.lit("UNKNOWN"), zeros), pick(u, 3) + 1)


def dob_text(formatted: Column, d: Draws, dob: Column, fmt: str) -> Column:
    """The DOB column as written: the formatted recorded DOB, or a bad value on bad rows."""
    kind = F.col("bad_kind")
    return (
        F.when(kind == BAD_BLANK_DOB, F.lit(None).cast("string"))
        .when(kind == BAD_UNPARSEABLE_DOB, unparseable_dob(dob, d.u("unparseable_dob"), fmt))
        .otherwise(formatted)
    )


def event_date(u: Column, dob: Column, earliest: dt.date, min_age_years: int = 16) -> Column:
    """A date between ``earliest`` (or the person's 16th birthday, if later) and EXTRACT_DATE."""
    start = F.least(
        F.greatest(F.lit(earliest), F.add_months(dob, 12 * min_age_years)), F.lit(EXTRACT_DATE)
    )
    days = F.datediff(F.lit(EXTRACT_DATE), start)
    return F.date_add(start, pick(u, days + 1))


def sticky_flag(person_level: Column, row_level: Column, share: float, flip: float) -> Column:
    """A flag that mostly stays the same across a person's records (and across sources sharing
    ``person_level``), flipped on a share ``flip`` of rows, with overall share ``share``."""
    if not flip < share < 1 - flip:
        raise ValueError("sticky_flag needs flip < share < 1 - flip")
    threshold = (share - flip) / (1 - 2 * flip)
    base = person_level < threshold
    return F.when(row_level < flip, ~base).otherwise(base)


def sex_text(sex: Column, u: Column, codes: dict[str, str], unknown: str | None,
             unknown_share: float = 0.01) -> Column:
    """The source's code for the true sex ('M'/'F'), or its unknown code on a small share."""
    mapped = F.when(sex == "M", F.lit(codes["M"])).otherwise(F.lit(codes["F"]))
    return F.when(u < unknown_share, F.lit(unknown).cast("string")).otherwise(mapped)
