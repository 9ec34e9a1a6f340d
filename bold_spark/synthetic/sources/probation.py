"""nDelius cases: CRN, names, DOB, PNC; a few people have two CRNs (opened twice by mistake).
Each case has a sentence date and the sentence's requirement (DRR people: see population.py)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import recorded_identity
from bold_spark.synthetic.layouts import PROBATION
from bold_spark.synthetic.randomness import below, categorical, sql_str
from bold_spark.synthetic.rows import (
    build_rows,
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

#: The same person-level draw as prison's, so a PNC missing in one system tends to be missing
#: in both.
PNC_RECORDED = 0.82
PNC_ROW_MISSING = 0.03
PNC_SHORT_FORM = 0.15
NFA_SHARE = 0.08
LONG_GENDER_SHARE = 0.85  # 'MALE'/'FEMALE'; the rest 'M'/'F'
EARLIEST_SENTENCE = dt.date(2010, 1, 1)
DRR = "Drug rehabilitation requirement"
#: Requirement of the sentence of people without a DRR (None: a custodial sentence or licence,
#: no community requirement).
OTHER_REQUIREMENTS = (
    ("Rehabilitation activity requirement", 0.30),
    ("Unpaid work requirement", 0.30),
    ("Curfew requirement", 0.10),
    ("Alcohol treatment requirement", 0.08),
    ("Mental health treatment requirement", 0.04),
    (None, 0.18),
)


def requirement_sql(u: str) -> str:
    """REQUIREMENT_TYPE: the DRR for DRR people (every CRN of theirs: a case opened twice is one
    sentence), else one of :data:`OTHER_REQUIREMENTS`."""
    values = ", ".join(sql_str(v) if v else "CAST(NULL AS STRING)" for v, _ in OTHER_REQUIREMENTS)
    index = categorical(u, [share for _, share in OTHER_REQUIREMENTS])
    return f"CASE WHEN drr THEN {sql_str(DRR)} ELSE element_at(array({values}), {index} + 1) END"


def probation_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """nDelius layout columns plus person_id: one row per CRN."""
    rows = source_rows_of(
        people, "in_probation", "n_probation", PROBATION.name, spec.errors.bad_rows
    )
    d = row_draws(PROBATION.name)
    stages = recorded_identity(d, spec.errors, spec.gaps(PROBATION.name))
    nfa = sticky_flag("housing_instability", d.u("nfa"), NFA_SHARE, flip=0.02)
    gender = (
        f"CASE WHEN {below(d.u('gender_style'), LONG_GENDER_SHARE)} "
        f"THEN {sex_text(d.u('sex_unknown'), 'MALE', 'FEMALE', None)} "
        f"ELSE {sex_text(d.u('sex_unknown'), 'M', 'F', None)} END"
    )
    output = {
        "CRN": ids.crn("person_id", "row_no - 1"),
        "FORENAMES": "upper(concat_ws(' ', rec_first, rec_middle))",
        "SURNAME": "upper(rec_surname)",
        "DATE_OF_BIRTH": dob_text(date_text("rec_dob", "dd/MM/yyyy"), d, "dd/MM/yyyy"),
        "GENDER": gender,
        "POSTCODE": f"CASE WHEN {nfa} THEN '{ids.NFA_POSTCODE}' ELSE rec_postcode END",
        "PNC": pnc_text(d, PNC_RECORDED, PNC_ROW_MISSING, PNC_SHORT_FORM, spec.errors.id_typo),
        "SENTENCE_DATE": date_text(
            f"coalesce(drr_sentence_date, {event_date(d.u('event'), EARLIEST_SENTENCE)})", "dd/MM/yyyy"
        ),
        "REQUIREMENT_TYPE": requirement_sql(d.u("requirement")),
        "person_id": "person_id",
    }
    return build_rows(rows, d, stages, output)
