"""H-CLIC applications: names, DOB, NI number only sometimes, last settled postcode, NFA flag."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import digit_typo_sql, recorded_identity
from bold_spark.synthetic.layouts import HOMELESSNESS
from bold_spark.synthetic.randomness import below
from bold_spark.synthetic.rows import (
    build_rows,
    date_text,
    date_text_mixed,
    dob_text,
    event_date,
    optional,
    row_draws,
    sex_text,
    source_rows_of,
    sticky_flag,
)
from bold_spark.synthetic.spec import SyntheticSpec

NFA_SHARE = 0.35
NI_PRESENT = 0.35
NI_SPACED = 0.25
LONG_SEX_SHARE = 0.30  # 'Male'/'Female'; the rest 'M'/'F'
NFA_POSTCODE_MISSING = 0.30  # on top of the error model's postcode_missing
DOB_FORMATS = (("dd/MM/yyyy", 0.8), ("yyyy-MM-dd", 0.2))
EARLIEST_APPLICATION = dt.date(2018, 4, 1)  # H-CLIC started in April 2018


def homelessness_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """H-CLIC layout columns plus person_id: one row per application (1-2 per person)."""
    rows = source_rows_of(
        people,
        "in_homelessness",
        "n_homelessness",
        HOMELESSNESS.name,
        spec.errors.bad_rows,
    )
    d = row_draws(HOMELESSNESS.name)
    nfa = sticky_flag("housing_instability", d.u("nfa"), NFA_SHARE, 0.05)
    stages = [*recorded_identity(d, spec.errors, spec.gaps(HOMELESSNESS.name)), {"_nfa": nfa}]
    sex = (
        f"CASE WHEN {below(d.u('sex_style'), LONG_SEX_SHARE)} "
        f"THEN {sex_text(d.u('sex_unknown'), 'Male', 'Female', None)} "
        f"ELSE {sex_text(d.u('sex_unknown'), 'M', 'F', None)} END"
    )
    spaced = below(d.u("ni_spaced"), NI_SPACED)
    typed = digit_typo_sql("ni_number", 3, 6, d, "ni_typo", spec.errors.id_typo)
    ni = f"CASE WHEN {spaced} THEN {ids.spaced_ni_number(typed)} ELSE {typed} END"
    lost = below(d.u("nfa_postcode_missing"), NFA_POSTCODE_MISSING)
    dob = date_text_mixed("rec_dob", d.u("dob_format"), DOB_FORMATS)
    application = event_date(d.u("event"), EARLIEST_APPLICATION)
    output = {
        "CASE_REF": ids.numeric_id("person_id", "row_no - 1", 2, 9, "hclic", prefix="HC"),
        "FIRST_NAME": "initcap(rec_first)",
        "LAST_NAME": "initcap(rec_surname)",
        "DOB": dob_text(dob, d, "dd/MM/yyyy"),
        "SEX": sex,
        "LAST_SETTLED_POSTCODE": f"CASE WHEN NOT (_nfa AND {lost}) THEN rec_postcode END",
        "NO_FIXED_ABODE": "CASE WHEN _nfa THEN 'TRUE' ELSE 'FALSE' END",
        "NI_NUMBER": optional(ni, d.u("ni_present"), NI_PRESENT),
        "APPLICATION_DATE": date_text(application, "dd/MM/yyyy"),
        "person_id": "person_id",
    }
    return build_rows(rows, d, stages, output)
