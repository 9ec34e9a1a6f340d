"""NDTMS treatment episodes: initials, DOB, sex, postcode sector; many with no fixed abode."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import recorded_identity
from bold_spark.synthetic.layouts import NDTMS
from bold_spark.synthetic.rows import (
    build_rows,
    date_text_mixed,
    dob_text,
    event_date,
    row_draws,
    sex_text,
    source_rows_of,
    sticky_flag,
)
from bold_spark.synthetic.spec import SyntheticSpec

#: Share of episodes recorded with no fixed abode.
NDTMS_NFA_SHARE = 0.20
#: Providers' systems write dates in either format (both are in the dataset config).
DATE_FORMATS = (("dd/MM/yyyy", 0.85), ("yyyy-MM-dd", 0.15))
EARLIEST_TRIAGE = dt.date(2012, 4, 1)


def ndtms_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """NDTMS layout columns plus person_id: one row per treatment episode (1-4 per person)."""
    rows = source_rows_of(people, "in_ndtms", "n_ndtms", NDTMS.name, spec.errors.bad_rows)
    d = row_draws(NDTMS.name)
    nfa = sticky_flag("housing_instability", d.u("nfa"), NDTMS_NFA_SHARE, 0.05)
    stages = [*recorded_identity(d, spec.errors), {"_nfa": nfa}]
    date_format = d.u("date_format")  # one provider, one format for both dates
    sector = "substr(rec_postcode, 1, length(rec_postcode) - 2)"  # 'SW1A 1AA' -> 'SW1A 1'
    triage = event_date(d.u("event"), EARLIEST_TRIAGE)
    output = {
        "EPISODE_ID": ids.numeric_id("person_id", "row_no - 1", 4, 10, "ndtms_episode"),
        "FINITIAL": "upper(substr(rec_first, 1, 1))",
        "SINITIAL": "upper(substr(rec_surname, 1, 1))",
        "DOB": dob_text(date_text_mixed("rec_dob", date_format, DATE_FORMATS), d, "dd/MM/yyyy"),
        "SEX": sex_text(d.u("sex_unknown"), "1", "2", "9"),
        "PC_SECTOR": f"CASE WHEN NOT _nfa THEN {sector} END",
        "NFA": "CASE WHEN _nfa THEN 'Y' ELSE 'N' END",
        "TRIAGE_DATE": date_text_mixed(triage, date_format, DATE_FORMATS),
        "person_id": "person_id",
    }
    return build_rows(rows, d, stages, output)
