"""The error model: column expressions that turn a true value into the value a record carries.

Each field has one uniform draw split into bins, one per error kind, so the errors of one field
are mutually exclusive and each rate in ``ErrorRates`` is the observed share of records.
"""

from __future__ import annotations

import string

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic.randomness import Draws, pick
from bold_spark.synthetic.spec import ErrorRates

_ALPHABET = string.ascii_uppercase


def _bins(u: Column, rates: list[float]) -> list[Column]:
    """One condition per rate: u falls in that rate's slice of [0, 1)."""
    conds = []
    low = 0.0
    for rate in rates:
        conds.append((u >= low) & (u < low + rate))
        low += rate
    return conds


def typo(name: Column, u_kind: Column, u_position: Column, u_letter: Column) -> Column:
    """One keyboard error: substitute, delete, swap two neighbours or double a letter.
    Names shorter than three letters are left alone."""
    n = F.length(name)
    pos = pick(u_position, n) + 1  # 1..n
    swap_pos = pick(u_position, n - 1) + 1  # 1..n-1
    current = F.instr(F.lit(_ALPHABET), F.substr(name, pos, F.lit(1))) - 1  # -1 if not a letter
    new_letter = F.substr(
        F.lit(_ALPHABET), F.pmod(current + 1 + pick(u_letter, 25), F.lit(26)) + 1, F.lit(1)
    )  # never the letter it replaces
    before = F.substr(name, F.lit(1), pos - 1)
    after = F.substr(name, pos + 1, n)
    kind = pick(u_kind, 4)
    return (
        F.when(name.isNull() | (n < 3), name)
        .when(kind == 0, F.concat(before, new_letter, after))
        .when(kind == 1, F.concat(before, after))
        .when(
            kind == 2,
            F.concat(
                F.substr(name, F.lit(1), swap_pos - 1), F.substr(name, swap_pos + 1, F.lit(1)),
                F.substr(name, swap_pos, F.lit(1)), F.substr(name, swap_pos + 2, n),
            ),
        )
        .otherwise(F.concat(F.substr(name, F.lit(1), pos), F.substr(name, pos, n)))
    )


def _typo(name: Column, d: Draws, field: str) -> Column:
    return typo(name, d.u(f"{field}_typo_kind"), d.u(f"{field}_typo_pos"), d.u(f"{field}_typo_letter"))


def forename_variant(first: Column, middle: Column, nickname: Column, d: Draws,
                     rates: ErrorRates) -> tuple[Column, Column]:
    """(first name, middle name) as recorded."""
    initials, nick, typo_, shift = _bins(
        d.u("first"), [rates.initials_only, rates.nickname, rates.typo, rates.name_shift]
    )
    shifted = shift & middle.isNotNull()
    new_first = (
        F.when(initials, F.substr(first, F.lit(1), F.lit(1)))
        .when(nick, F.coalesce(nickname, first))
        .when(typo_, _typo(first, d, "first"))
        .when(shifted, middle)
        .otherwise(first)
    )
    new_middle = F.when(shifted, first).otherwise(middle)
    return new_first, new_middle


def surname_variant(surname: Column, other_surname: Column, d: Draws, rates: ErrorRates) -> Column:
    """Surname as recorded: the other (maiden/married) surname, a double-barrelled form (or one
    part of a true double-barrelled name), or a typo."""
    changed, hyphenated, typo_ = _bins(
        d.u("surname"), [rates.surname_change, rates.hyphenated, rates.typo]
    )
    double_barrelled = F.when(F.contains(surname, F.lit("-")), F.substring_index(surname, "-", 1))
    joined = (
        F.when(d.u("hyphen_order") < 0.5, F.concat(surname, F.lit("-"), other_surname))
        .otherwise(F.concat(other_surname, F.lit("-"), surname))
    )
    return (
        F.when(changed, other_surname)
        .when(hyphenated, F.coalesce(double_barrelled, joined))
        .when(typo_, _typo(surname, d, "surname"))
        .otherwise(surname)
    )


def swap_day_month(dob: Column) -> Column:
    """Day and month swapped where that gives a different valid date, else unchanged."""
    day, month = F.dayofmonth(dob), F.month(dob)
    return F.when((day <= 12) & (day != month), F.make_date(F.year(dob), day, month)).otherwise(dob)


def dob_typo(dob: Column, d: Draws) -> Column:
    """One day or one year out."""
    direction = F.when(d.u("dob_typo_direction") < 0.5, F.lit(-1)).otherwise(F.lit(1))
    return (
        F.when(d.u("dob_typo_kind") < 0.5, F.date_add(dob, direction))
        .otherwise(F.add_months(dob, direction * 12))
    )


def dob_variant(dob: Column, d: Draws, rates: ErrorRates) -> Column:
    placeholder, swapped, typo_ = _bins(
        d.u("dob"), [rates.dob_placeholder, rates.dob_swap, rates.dob_typo]
    )
    return (
        F.when(placeholder, F.make_date(F.year(dob), F.lit(1), F.lit(1)))
        .when(swapped, swap_day_month(dob))
        .when(typo_, dob_typo(dob, d))
        .otherwise(dob)
    )


def postcode_state(d: Draws, rates: ErrorRates) -> Column:
    """Which address the record carries: 'current', 'previous' (out of date) or 'missing'."""
    missing, out_of_date = _bins(d.u("postcode"), [rates.postcode_missing, rates.postcode_out_of_date])
    return F.when(missing, F.lit("missing")).when(out_of_date, F.lit("previous")).otherwise(F.lit("current"))


def by_postcode_state(state: Column, current: Column, previous: Column) -> Column:
    return (
        F.when(state == "current", current)
        .when(state == "previous", previous)
        .otherwise(F.lit(None).cast("string"))
    )


def with_recorded_identity(rows: DataFrame, d: Draws, rates: ErrorRates) -> DataFrame:
    """Add rec_first, rec_middle, rec_surname, rec_dob, rec_postcode_state and rec_postcode:
    the values this record carries after the error model."""
    first, middle = forename_variant(F.col("first_name"), F.col("middle_name"), F.col("nickname"), d, rates)
    out = rows.select(
        "*",
        first.alias("rec_first"),
        middle.alias("rec_middle"),
        surname_variant(F.col("surname"), F.col("other_surname"), d, rates).alias("rec_surname"),
        dob_variant(F.col("dob"), d, rates).alias("rec_dob"),
        postcode_state(d, rates).alias("rec_postcode_state"),
    )
    return out.withColumn(
        "rec_postcode",
        by_postcode_state(F.col("rec_postcode_state"), F.col("postcode"), F.col("previous_postcode")),
    )
