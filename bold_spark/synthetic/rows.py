"""Shared steps of every source builder: people -> rows, bad rows, dates, codes (SQL text)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import digit_typo_sql
from bold_spark.synthetic.population import EXTRACT_DATE
from bold_spark.synthetic.randomness import (
    Draws,
    MaterialisedDraws,
    below,
    categorical,
    num,
    pick,
    sql_str,
)

#: Keys of every per-row random draw.
ROW_KEYS = ("person_id", "row_no", "copy_no")

#: Kinds of deliberately bad row and their shares among bad rows.
BAD_BLANK_DOB = "blank_dob"
BAD_UNPARSEABLE_DOB = "unparseable_dob"
BAD_DUPLICATE_ID = "duplicate_id"
BAD_ROW_KINDS = ((BAD_BLANK_DOB, 0.4), (BAD_UNPARSEABLE_DOB, 0.4), (BAD_DUPLICATE_ID, 0.2))
_DUPLICATE_SHARE = dict(BAD_ROW_KINDS)[BAD_DUPLICATE_ID]


def row_draws(source: str) -> MaterialisedDraws:
    """Draws keyed on a source row (person, row number, copy), salted with the source name."""
    return MaterialisedDraws(source, ROW_KEYS)


def date_sql(d: dt.date) -> str:
    """A date literal in Spark SQL (``DATE'2026-12-01'``)."""
    return f"DATE'{d.isoformat()}'"


def source_rows_of(
    people: DataFrame, member_col: str, count: str | int, source: str, bad_rows: float
) -> DataFrame:
    """One row per (member person, row_no 1..count), with ``bad_kind`` (null on good rows) and
    ``copy_no``: a duplicate-id bad row is emitted twice (copy_no 0 and 1), as a re-sent row.

    Both copies of a duplicated id are quarantined, so rows turn bad with probability
    ``bad_rows / (1 + duplicate share)``, which makes the quarantined share equal ``bad_rows``."""
    count_sql = f"`{count}`" if isinstance(count, str) else str(int(count))
    rows = people.selectExpr(
        "*",
        f"explode(CASE WHEN `{member_col}` THEN sequence(1, CAST({count_sql} AS INT)) "
        "ELSE CAST(array() AS ARRAY<INT>) END) AS row_no",
    )
    d = Draws(f"{source}/bad", ("person_id", "row_no"))
    kinds = ", ".join(sql_str(k) for k, _ in BAD_ROW_KINDS)
    kind_index = categorical(d.u("kind"), [share for _, share in BAD_ROW_KINDS])
    pick_probability = bad_rows / (1.0 + _DUPLICATE_SHARE)
    kind = (
        f"CASE WHEN {below(d.u('is_bad'), pick_probability)} "
        f"THEN element_at(array({kinds}), {kind_index} + 1) END"
    )
    return rows.selectExpr(
        "*",
        f"{kind} AS bad_kind",
        f"explode(sequence(0, CASE WHEN {kind} = '{BAD_DUPLICATE_ID}' THEN 1 ELSE 0 END))"
        " AS copy_no",
    )


def date_text(date: str, fmt: str) -> str:
    """SQL writing the date expression ``date`` as text in the Spark pattern ``fmt``."""
    return f"date_format({date}, '{fmt}')"


def date_text_mixed(date: str, u: str, formats: Sequence[tuple[str, float]]) -> str:
    """Different providers/systems write dates differently: a format per row."""
    index = categorical(u, [share for _, share in formats])
    whens = " ".join(f"WHEN {i} THEN {date_text(date, fmt)}" for i, (fmt, _) in enumerate(formats))
    return f"(CASE {index} {whens} END)"


def unparseable_dob(dob: str, u: str, fmt: str) -> str:
    """DOB text that no listed format parses: an impossible date in the source's own format, a
    word, or zeros."""
    year = f"CAST(year({dob}) AS STRING)"
    if fmt.startswith("dd"):
        impossible, zeros = f"concat('31/02/', {year})", "'00/00/0000'"
    else:
        impossible, zeros = f"concat({year}, '-02-30')", "'0000-00-00'"
    return f"element_at(array({impossible}, 'UNKNOWN', {zeros}), {pick(u, 3)} + 1)"


def dob_text(formatted: str, d: Draws, fmt: str) -> str:
    """The DOB column as written: the formatted recorded DOB, or a bad value on bad rows."""
    return (
        f"(CASE bad_kind WHEN '{BAD_BLANK_DOB}' THEN CAST(NULL AS STRING) "
        f"WHEN '{BAD_UNPARSEABLE_DOB}' THEN {unparseable_dob('dob', d.u('unparseable_dob'), fmt)} "
        f"ELSE {formatted} END)"
    )


def event_date(u: str, earliest: dt.date, min_age_years: int = 16) -> str:
    """A date between ``earliest`` (or the person's 16th birthday, if later) and EXTRACT_DATE."""
    end = date_sql(EXTRACT_DATE)
    start = f"least(greatest({date_sql(earliest)}, add_months(dob, {12 * min_age_years})), {end})"
    return f"date_add({start}, {pick(u, f'datediff({end}, {start}) + 1')})"


def sticky_flag(person_draw: str, row_draw: str, share: float, flip: float) -> str:
    """A flag that mostly stays the same across a person's records (and across sources sharing
    ``person_draw``), flipped on a share ``flip`` of rows, with overall share ``share``."""
    if not flip < share < 1 - flip:
        raise ValueError("sticky_flag needs flip < share < 1 - flip")
    threshold = (share - flip) / (1 - 2 * flip)
    base = below(person_draw, threshold)
    return f"(CASE WHEN {below(row_draw, flip)} THEN NOT {base} ELSE {base} END)"


def sex_text(
    u: str, male: str, female: str, unknown: str | None, unknown_share: float = 0.01
) -> str:
    """The source's code for the true sex, or its unknown code (or null) on a small share."""
    unknown_sql = sql_str(unknown) if unknown is not None else "CAST(NULL AS STRING)"
    return (
        f"(CASE WHEN {u} < {num(unknown_share)} THEN {unknown_sql} "
        f"WHEN sex = 'M' THEN {sql_str(male)} ELSE {sql_str(female)} END)"
    )


def optional(value: str, u: str, present: float) -> str:
    """``value`` on a share ``present`` of rows, else null."""
    return f"(CASE WHEN {below(u, present)} THEN {value} END)"


def pnc_text(d: Draws, recorded: float, row_missing: float, short_form: float,
             typo: float = 0.0) -> str:
    """The PNC as one system records it: missing for people it never recorded (a person-level
    draw shared by prison and probation) and on a few rows; long or short form; on a share
    ``typo`` of rows one digit of the serial keyed wrong (the check letter as it was)."""
    long_form = digit_typo_sql(ids.pnc_long("pnc_year", "pnc_serial"), 6, 7, d, "pnc_typo", typo)
    plain = ids.pnc_short("pnc_year", "pnc_serial")  # 'YY/' + 1-7 digits + the check letter
    short = digit_typo_sql(plain, 4, f"length({plain}) - 4", d, "pnc_typo", typo)
    text = f"(CASE WHEN {below(d.u('pnc_format'), short_form)} THEN {short} ELSE {long_form} END)"
    kept = (
        f"{below('pnc_recorded_draw', recorded)} AND NOT {below(d.u('pnc_missing'), row_missing)}"
    )
    return f"(CASE WHEN {kept} THEN {text} END)"


def select_as(df: DataFrame, columns: dict[str, str]) -> DataFrame:
    """One projection: output column name -> SQL expression."""
    return df.selectExpr(*[f"{sql} AS `{name}`" for name, sql in columns.items()])


def add_columns(df: DataFrame, columns: dict[str, str]) -> DataFrame:
    """Add (or replace) columns given as name -> SQL, all computed from ``df`` as it is."""
    if any(name in df.columns for name in columns):
        return df.withColumns({name: F.expr(sql) for name, sql in columns.items()})
    return df.selectExpr("*", *[f"{sql} AS `{name}`" for name, sql in columns.items()])


def build_rows(
    rows: DataFrame, d: MaterialisedDraws, stages: list[dict[str, str]], output: dict[str, str]
) -> DataFrame:
    """Materialise the draws the SQL asked for, add each stage of columns, then project to
    ``output`` (name -> SQL). Build every SQL string before calling this."""
    out = d.materialise(rows)
    for stage in stages:
        out = add_columns(out, stage)
    return select_as(out, output)
