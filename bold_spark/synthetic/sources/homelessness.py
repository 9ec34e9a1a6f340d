"""H-CLIC applications: names, DOB, NI number only sometimes, last settled postcode, NFA flag."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import with_recorded_identity
from bold_spark.synthetic.layouts import HOMELESSNESS
from bold_spark.synthetic.randomness import below
from bold_spark.synthetic.rows import (
    dob_text, event_date, explode_people, format_date, format_date_mixed, row_draws, sex_text,
    sticky_flag, with_bad_rows,
)
from bold_spark.synthetic.spec import SyntheticSpec

NFA_SHARE = 0.35
NI_GIVEN = 0.35
NI_SPACED = 0.25
LONG_SEX_SHARE = 0.30  # 'Male'/'Female'; the rest 'M'/'F'
NFA_POSTCODE_MISSING = 0.30  # on top of the error model's postcode_missing
DOB_FORMATS = [("dd/MM/yyyy", 0.8), ("yyyy-MM-dd", 0.2)]
EARLIEST_APPLICATION = dt.date(2018, 4, 1)  # H-CLIC started in April 2018


def homelessness_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """H-CLIC layout columns plus person_id. Names are in title case."""
    rows = explode_people(people, "in_homelessness", "n_homelessness")
    rows = with_bad_rows(rows, spec.seed, HOMELESSNESS.name, spec.errors.bad_rows)
    d = row_draws(spec.seed, HOMELESSNESS.name)
    rows = with_recorded_identity(rows, d, spec.errors)
    nfa = sticky_flag(F.col("housing_instability"), d.u("nfa"), NFA_SHARE, flip=0.05)
    postcode = F.when(nfa & below(d.u("nfa_postcode_missing"), NFA_POSTCODE_MISSING), F.lit(None)).otherwise(
        F.col("rec_postcode")
    )
    sex = F.when(
        below(d.u("sex_style"), LONG_SEX_SHARE),
        sex_text(F.col("sex"), d.u("sex_unknown"), {"M": "Male", "F": "Female"}, None),
    ).otherwise(sex_text(F.col("sex"), d.u("sex_unknown"), {"M": "M", "F": "F"}, None))
    ni = F.when(below(d.u("ni_spaced"), NI_SPACED), ids.spaced_ni_number(F.col("ni_number"))).otherwise(
        F.col("ni_number")
    )
    return rows.select(
        ids.numeric_id(F.col("person_id"), F.col("row_no") - 1, 2, 9, spec.seed, "hclic", prefix="HC")
        .alias("CASE_REF"),
        F.initcap("rec_first").alias("FIRST_NAME"),
        F.initcap("rec_surname").alias("LAST_NAME"),
        dob_text(format_date_mixed(F.col("rec_dob"), d.u("dob_format"), DOB_FORMATS), d, F.col("dob"),
                 "dd/MM/yyyy").alias("DOB"),
        sex.alias("SEX"),
        postcode.cast("string").alias("LAST_SETTLED_POSTCODE"),
        F.when(nfa, F.lit("TRUE")).otherwise(F.lit("FALSE")).alias("NO_FIXED_ABODE"),
        F.when(below(d.u("ni_given"), NI_GIVEN), ni).alias("NI_NUMBER"),
        format_date(event_date(d.u("event"), F.col("dob"), EARLIEST_APPLICATION), "dd/MM/yyyy")
        .alias("APPLICATION_DATE"),
        "person_id",
    )
