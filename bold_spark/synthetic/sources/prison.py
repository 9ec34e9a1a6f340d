"""p-NOMIS receptions: full names, aliases (name/DOB variants), prison number, PNC for most."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import (
    digit_typo_sql,
    dob_typo_sql,
    recorded_identity,
    swap_day_month_sql,
    typo_inputs,
    typo_sql,
)
from bold_spark.synthetic.layouts import PRISON
from bold_spark.synthetic.population import EXTRACT_DATE
from bold_spark.synthetic.randomness import Draws, below, pick
from bold_spark.synthetic.rows import (
    build_rows,
    date_sql,
    date_text,
    dob_text,
    event_date,
    pnc_text,
    row_draws,
    sex_text,
    source_rows_of,
    sticky_flag,
)
from bold_spark.synthetic.spec import SyntheticSpec

#: Share of receptions after the first that are booked under an alias (a name/DOB variant).
ALIAS_SHARE = 0.5
#: Share of people whose PNC number p-NOMIS holds; rows then lose it on PNC_ROW_MISSING.
PNC_RECORDED = 0.92
PNC_ROW_MISSING = 0.03
PNC_SHORT_FORM = 0.20
NFA_SHARE = 0.12
EARLIEST_RECEPTION = dt.date(2005, 1, 1)
#: Days in custody: 14 + a share of MAX_CUSTODY_DAYS falling with length (most stays are short);
#: a release after the extract date is not yet known (null: still in custody).
MIN_CUSTODY_DAYS = 14
MAX_CUSTODY_DAYS = 1460


def alias_stages(d: Draws) -> list[dict[str, str]]:
    """On alias rows, replace the recorded identity with one deliberate variant: a nickname (or a
    misspelt first name), the other surname, a different DOB, a different first name, a misspelt
    surname, or the middle name (or initial) used as the first name."""
    alias = f"(row_no > 1 AND {below(d.u('alias'), ALIAS_SHARE)})"
    swapped = swap_day_month_sql("dob")
    kind = {
        "_alias_kind": f"CASE WHEN {alias} THEN {pick(d.u('alias_kind'), 6)} END",
        **typo_inputs("alias_first", "first_name", d),
        **typo_inputs("alias_surname", "surname", d),
    }
    variants = {
        "rec_first": f"""CASE _alias_kind
              WHEN 0 THEN coalesce(nickname, {typo_sql("alias_first", "first_name")})
              WHEN 3 THEN alias_first_name
              WHEN 5 THEN coalesce(middle_name, substr(first_name, 1, 1))
              ELSE rec_first END""",
        "rec_middle": "CASE WHEN _alias_kind = 5 AND middle_name IS NOT NULL THEN first_name "
        "ELSE rec_middle END",
        "rec_surname": f"""CASE _alias_kind
              WHEN 1 THEN other_surname
              WHEN 4 THEN {typo_sql("alias_surname", "surname")}
              ELSE rec_surname END""",
        "rec_dob": f"""CASE WHEN _alias_kind = 2 THEN
              CASE WHEN {swapped} != dob THEN {swapped} ELSE {dob_typo_sql("dob", d)} END
              ELSE rec_dob END""",
    }
    return [kind, variants]


def prison_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """p-NOMIS layout columns plus person_id: one row per reception (1-4 per person), about half
    of the later ones under an alias."""
    rows = source_rows_of(people, "in_prison", "n_prison", PRISON.name, spec.errors.bad_rows)
    d = row_draws(PRISON.name)
    stages = [*recorded_identity(d, spec.errors, spec.gaps(PRISON.name)), *alias_stages(d)]
    nfa = sticky_flag("housing_instability", d.u("nfa"), NFA_SHARE, flip=0.03)
    reception = event_date(d.u("event"), EARLIEST_RECEPTION)
    u_custody = d.u("custody")
    custody = f"{MIN_CUSTODY_DAYS} + {pick(f'pow({u_custody}, 3)', MAX_CUSTODY_DAYS)}"
    release = f"date_add({reception}, {custody})"
    output = {
        "OFFENDER_ALIAS_ID": ids.numeric_id("person_id", "row_no - 1", 4, 9, "prison_alias"),
        "FIRST_NAME": "upper(rec_first)",
        "MIDDLE_NAME": "upper(rec_middle)",
        "LAST_NAME": "upper(rec_surname)",
        "BIRTH_DATE": dob_text(date_text("rec_dob", "yyyy-MM-dd"), d, "yyyy-MM-dd"),
        "SEX_CODE": sex_text(d.u("sex_unknown"), "M", "F", "NK"),
        "LAST_KNOWN_POSTCODE": f"CASE WHEN {nfa} THEN '{ids.NFA_POSTCODE}' ELSE rec_postcode END",
        "PNC_NUMBER": pnc_text(d, PNC_RECORDED, PNC_ROW_MISSING, PNC_SHORT_FORM, spec.errors.id_typo),
        "NOMS_NUMBER": digit_typo_sql("noms_number", 2, 4, d, "noms_typo", spec.errors.id_typo),
        "RECEPTION_DATE": date_text(reception, "yyyy-MM-dd"),
        "RELEASE_DATE": date_text(
            f"CASE WHEN {release} <= {date_sql(EXTRACT_DATE)} THEN {release} END", "yyyy-MM-dd"
        ),
        "person_id": "person_id",
    }
    return build_rows(rows, d, stages, output)
