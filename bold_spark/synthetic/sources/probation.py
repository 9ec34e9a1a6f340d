"""nDelius cases: CRN, names, DOB, PNC; a few people have two CRNs (opened twice by mistake)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import with_recorded_identity
from bold_spark.synthetic.layouts import PROBATION
from bold_spark.synthetic.randomness import Draws, below
from bold_spark.synthetic.rows import (
    dob_text, event_date, explode_people, format_date, row_draws, sex_text, sticky_flag,
    with_bad_rows,
)
from bold_spark.synthetic.spec import SyntheticSpec

#: Same person-level draw as prison's, so a PNC missing in one system tends to be missing in both.
PNC_RECORDED = 0.82
PNC_ROW_MISSING = 0.03
PNC_SHORT_FORM = 0.15
NFA_SHARE = 0.08
LONG_GENDER_SHARE = 0.85  # 'MALE'/'FEMALE'; the rest 'M'/'F'
EARLIEST_SENTENCE = dt.date(2010, 1, 1)


def _pnc(d: Draws) -> Column:
    recorded = below(F.col("pnc_recorded_draw"), PNC_RECORDED) & ~below(d.u("pnc_missing"), PNC_ROW_MISSING)
    year, serial = F.col("pnc_year"), F.col("pnc_serial")
    text = F.when(below(d.u("pnc_format"), PNC_SHORT_FORM), ids.pnc_short(year, serial)).otherwise(
        ids.pnc_long(year, serial)
    )
    return F.when(recorded, text)


def probation_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """nDelius layout columns plus person_id."""
    rows = explode_people(people, "in_probation", "n_probation")
    rows = with_bad_rows(rows, spec.seed, PROBATION.name, spec.errors.bad_rows)
    d = row_draws(spec.seed, PROBATION.name)
    rows = with_recorded_identity(rows, d, spec.errors)
    nfa = sticky_flag(F.col("housing_instability"), d.u("nfa"), NFA_SHARE, flip=0.02)
    long_gender = below(d.u("gender_style"), LONG_GENDER_SHARE)
    gender = F.when(
        long_gender, sex_text(F.col("sex"), d.u("sex_unknown"), {"M": "MALE", "F": "FEMALE"}, None)
    ).otherwise(sex_text(F.col("sex"), d.u("sex_unknown"), {"M": "M", "F": "F"}, None))
    return rows.select(
        ids.crn(F.col("person_id"), F.col("row_no") - 1, spec.seed).alias("CRN"),
        F.upper(F.concat_ws(" ", "rec_first", "rec_middle")).alias("FORENAMES"),
        F.upper("rec_surname").alias("SURNAME"),
        dob_text(format_date(F.col("rec_dob"), "dd/MM/yyyy"), d, F.col("dob"), "dd/MM/yyyy")
        .alias("DATE_OF_BIRTH"),
        gender.alias("GENDER"),
        F.when(nfa, F.lit(ids.NFA_POSTCODE)).otherwise(F.col("rec_postcode")).alias("POSTCODE"),
        _pnc(d).alias("PNC"),
        format_date(event_date(d.u("event"), F.col("dob"), EARLIEST_SENTENCE), "dd/MM/yyyy")
        .alias("SENTENCE_DATE"),
        "person_id",
    )
