"""NDTMS treatment episodes: initials, DOB, sex, postcode sector; many with no fixed abode."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import with_recorded_identity
from bold_spark.synthetic.layouts import NDTMS
from bold_spark.synthetic.rows import (
    dob_text, event_date, explode_people, format_date_mixed, row_draws, sex_text, sticky_flag, with_bad_rows,
)
from bold_spark.synthetic.spec import SyntheticSpec

#: Share of episodes recorded with no fixed abode.
NDTMS_NFA_SHARE = 0.20
#: Providers' systems write dates in either format (both are in the dataset config).
DATE_FORMATS = [("dd/MM/yyyy", 0.85), ("yyyy-MM-dd", 0.15)]
EARLIEST_TRIAGE = dt.date(2012, 4, 1)


def ndtms_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """NDTMS layout columns plus person_id."""
    rows = explode_people(people, "in_ndtms", "n_ndtms")
    rows = with_bad_rows(rows, spec.seed, NDTMS.name, spec.errors.bad_rows)
    d = row_draws(spec.seed, NDTMS.name)
    rows = with_recorded_identity(rows, d, spec.errors)
    nfa = sticky_flag(F.col("housing_instability"), d.u("nfa"), NDTMS_NFA_SHARE, flip=0.05)
    postcode = F.col("rec_postcode")
    sector = F.when(~nfa, F.substr(postcode, F.lit(1), F.length(postcode) - 2))
    date_format_draw = d.u("date_format")
    triage = event_date(d.u("event"), F.col("dob"), EARLIEST_TRIAGE)
    return rows.select(
        ids.numeric_id(F.col("person_id"), F.col("row_no") - 1, 4, 10, spec.seed, "ndtms_episode")
        .alias("EPISODE_ID"),
        F.upper(F.substr(F.col("rec_first"), F.lit(1), F.lit(1))).alias("FINITIAL"),
        F.upper(F.substr(F.col("rec_surname"), F.lit(1), F.lit(1))).alias("SINITIAL"),
        dob_text(format_date_mixed(F.col("rec_dob"), date_format_draw, DATE_FORMATS), d,
                 F.col("dob"), "dd/MM/yyyy").alias("DOB"),
        sex_text(F.col("sex"), d.u("sex_unknown"), {"M": "1", "F": "2"}, "9").alias("SEX"),
        sector.alias("PC_SECTOR"),
        F.when(nfa, F.lit("Y")).otherwise(F.lit("N")).alias("NFA"),
        format_date_mixed(triage, date_format_draw, DATE_FORMATS).alias("TRIAGE_DATE"),
        "person_id",
    )
