"""p-NOMIS receptions: full names, aliases (name/DOB variants), prison number, PNC for most."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import (
    dob_typo_sql, num, swap_day_month_sql, typo_sql, with_recorded_identity,
)
from bold_spark.synthetic.layouts import PRISON
from bold_spark.synthetic.randomness import Draws, below
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
    alias = f"(row_no > 1 AND {d.sql('alias')} < {num(ALIAS_SHARE)})"
    kind = f"(CASE WHEN {alias} THEN CAST(least(floor({d.sql('alias_kind')} * 6), 5) AS INT) END)"
    draws = (d.sql("alias_typo_kind"), d.sql("alias_typo_pos"), d.sql("alias_typo_letter"))
    swapped = swap_day_month_sql("dob")
    variants = {
        "rec_first": f"""CASE _alias_kind
              WHEN 0 THEN coalesce(nickname, {typo_sql('first_name', *draws)})
              WHEN 3 THEN alias_first_name
              WHEN 5 THEN coalesce(middle_name, substr(first_name, 1, 1))
              ELSE rec_first END""",
        "rec_middle": "CASE WHEN _alias_kind = 5 AND middle_name IS NOT NULL THEN first_name "
                      "ELSE rec_middle END",
        "rec_surname": f"""CASE _alias_kind
              WHEN 1 THEN other_surname
              WHEN 4 THEN {typo_sql('surname', *draws)}
              ELSE rec_surname END""",
        "rec_dob": f"""CASE WHEN _alias_kind = 2 THEN
              CASE WHEN {swapped} != dob THEN {swapped} ELSE {dob_typo_sql('dob', d)} END
              ELSE rec_dob END""",
    }
    with_kind = rows.withColumn("_alias_kind", F.expr(kind))
    return with_kind.withColumns({c: F.expr(e) for c, e in variants.items()}).drop("_alias_kind")


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
