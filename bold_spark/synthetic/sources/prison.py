"""p-NOMIS receptions: full names, aliases (name/DOB variants), prison number, PNC for most."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import dob_typo, swap_day_month, typo, with_recorded_identity
from bold_spark.synthetic.layouts import PRISON
from bold_spark.synthetic.randomness import Draws, below, pick
from bold_spark.synthetic.rows import (
    dob_text, event_date, explode_people, format_date, row_draws, sex_text, sticky_flag,
    with_bad_rows,
)
from bold_spark.synthetic.spec import SyntheticSpec

#: Share of receptions after the first that are booked under an alias (a name/DOB variant).
ALIAS_SHARE = 0.5
#: Share of people whose PNC number is recorded in p-NOMIS; rows then lose it on PNC_ROW_MISSING.
PNC_RECORDED = 0.92
PNC_ROW_MISSING = 0.03
PNC_SHORT_FORM = 0.20
NFA_SHARE = 0.12
EARLIEST_RECEPTION = dt.date(2005, 1, 1)


def _alias_variants(rows: DataFrame, d: Draws) -> DataFrame:
    """On alias rows, replace the recorded identity with one deliberate variant: a nickname (or a
    misspelt first name), the other surname, a different DOB, a different first name, a misspelt
    surname, or the middle name (or initial) used as the first name."""
    alias = (F.col("row_no") > 1) & below(d.u("alias"), ALIAS_SHARE)
    kind = F.when(alias, pick(d.u("alias_kind"), 6))
    draws = (d.u("alias_typo_kind"), d.u("alias_typo_pos"), d.u("alias_typo_letter"))
    has_middle = F.col("middle_name").isNotNull()
    swapped = swap_day_month(F.col("dob"))
    first = (
        F.when(kind == 0, F.coalesce(F.col("nickname"), typo(F.col("first_name"), *draws)))
        .when(kind == 3, F.col("alias_first_name"))
        .when(kind == 5, F.coalesce(F.col("middle_name"), F.substr(F.col("first_name"), F.lit(1), F.lit(1))))
        .otherwise(F.col("rec_first"))
    )
    middle = F.when((kind == 5) & has_middle, F.col("first_name")).otherwise(F.col("rec_middle"))
    surname = (
        F.when(kind == 1, F.col("other_surname"))
        .when(kind == 4, typo(F.col("surname"), *draws))
        .otherwise(F.col("rec_surname"))
    )
    dob = F.when(
        kind == 2, F.when(swapped != F.col("dob"), swapped).otherwise(dob_typo(F.col("dob"), d))
    ).otherwise(F.col("rec_dob"))
    return (
        rows.withColumn("rec_first", first)
        .withColumn("rec_middle", middle)
        .withColumn("rec_surname", surname)
        .withColumn("rec_dob", dob)
    )


def _pnc(d: Draws) -> Column:
    recorded = below(F.col("pnc_recorded_draw"), PNC_RECORDED) & ~below(d.u("pnc_missing"), PNC_ROW_MISSING)
    year, serial = F.col("pnc_year"), F.col("pnc_serial")
    text = F.when(below(d.u("pnc_format"), PNC_SHORT_FORM), ids.pnc_short(year, serial)).otherwise(
        ids.pnc_long(year, serial)
    )
    return F.when(recorded, text)


def prison_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """p-NOMIS layout columns plus person_id."""
    rows = explode_people(people, "in_prison", "n_prison")
    rows = with_bad_rows(rows, spec.seed, PRISON.name, spec.errors.bad_rows)
    d = row_draws(spec.seed, PRISON.name)
    rows = _alias_variants(with_recorded_identity(rows, d, spec.errors), d)
    nfa = sticky_flag(F.col("housing_instability"), d.u("nfa"), NFA_SHARE, flip=0.03)
    return rows.select(
        ids.numeric_id(F.col("person_id"), F.col("row_no") - 1, 4, 9, spec.seed, "prison_alias")
        .alias("OFFENDER_ALIAS_ID"),
        F.upper("rec_first").alias("FIRST_NAME"),
        F.upper("rec_middle").alias("MIDDLE_NAME"),
        F.upper("rec_surname").alias("LAST_NAME"),
        dob_text(format_date(F.col("rec_dob"), "yyyy-MM-dd"), d, F.col("dob"), "yyyy-MM-dd")
        .alias("BIRTH_DATE"),
        sex_text(F.col("sex"), d.u("sex_unknown"), {"M": "M", "F": "F"}, "NK").alias("SEX_CODE"),
        F.when(nfa, F.lit(ids.NFA_POSTCODE)).otherwise(F.col("rec_postcode")).alias("LAST_KNOWN_POSTCODE"),
        _pnc(d).alias("PNC_NUMBER"),
        F.col("noms_number").alias("NOMS_NUMBER"),
        format_date(event_date(d.u("event"), F.col("dob"), EARLIEST_RECEPTION), "yyyy-MM-dd")
        .alias("RECEPTION_DATE"),
        "person_id",
    )
