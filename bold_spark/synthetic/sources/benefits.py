"""DWP/HMRC benefit claimants: names, DOB, NI number, address; the largest source (Parquet)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import with_recorded_identity
from bold_spark.synthetic.layouts import BENEFITS
from bold_spark.synthetic.randomness import below
from bold_spark.synthetic.rows import (
    dob_text, explode_people, format_date, row_draws, sex_text, sticky_flag, with_bad_rows,
)
from bold_spark.synthetic.spec import SyntheticSpec

NFA_SHARE = 0.02
NFA_ADDRESS = "NO FIXED ABODE"
NFA_POSTCODE_GIVEN = 0.7  # the rest of NFA claimants have no postcode at all
NINO_MISSING = 0.01


def benefits_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """Benefits layout columns plus person_id. Names are in title case, as keyed in."""
    rows = explode_people(people, "in_benefits", 1)
    rows = with_bad_rows(rows, spec.seed, BENEFITS.name, spec.errors.bad_rows)
    d = row_draws(spec.seed, BENEFITS.name)
    rows = with_recorded_identity(rows, d, spec.errors)
    nfa = sticky_flag(F.col("housing_instability"), d.u("nfa"), NFA_SHARE, flip=0.005)
    address = F.when(F.col("rec_postcode_state") == "previous", F.col("previous_address")).otherwise(
        F.col("address")
    )
    postcode = F.when(
        nfa, F.when(below(d.u("nfa_postcode"), NFA_POSTCODE_GIVEN), F.lit(ids.NFA_POSTCODE))
    ).otherwise(F.col("rec_postcode"))
    return rows.select(
        ids.numeric_id(F.col("person_id"), F.lit(0), 1, 10, spec.seed, "claimant", prefix="C")
        .alias("CLAIMANT_ID"),
        F.initcap("rec_first").alias("FORENAME"),
        F.initcap("rec_middle").alias("MIDDLE_NAMES"),
        F.initcap("rec_surname").alias("SURNAME"),
        dob_text(format_date(F.col("rec_dob"), "yyyy-MM-dd"), d, F.col("dob"), "yyyy-MM-dd").alias("DOB"),
        sex_text(F.col("sex"), d.u("sex_unknown"), {"M": "M", "F": "F"}, None).alias("SEX"),
        F.when(nfa, F.lit(NFA_ADDRESS)).otherwise(F.initcap(address)).alias("ADDRESS_LINE_1"),
        postcode.alias("POSTCODE"),
        F.when(~below(d.u("nino_missing"), NINO_MISSING), F.col("ni_number")).alias("NINO"),
        "person_id",
    )
