"""DWP/HMRC benefit claimants: names, DOB, NI number, address; the largest source (Parquet)."""

from __future__ import annotations

from pyspark.sql import DataFrame

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import digit_typo_sql, recorded_identity
from bold_spark.synthetic.layouts import BENEFITS
from bold_spark.synthetic.randomness import below
from bold_spark.synthetic.rows import (
    build_rows,
    date_text,
    dob_text,
    optional,
    row_draws,
    sex_text,
    source_rows_of,
    sticky_flag,
)
from bold_spark.synthetic.spec import SyntheticSpec

NFA_SHARE = 0.02
NFA_ADDRESS = "NO FIXED ABODE"
NFA_POSTCODE_GIVEN = 0.7  # the other NFA claimants have no postcode at all
NINO_PRESENT = 0.99


def benefits_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """Benefits layout columns plus person_id: one row per claimant; names in title case."""
    rows = source_rows_of(people, "in_benefits", 1, BENEFITS.name, spec.errors.bad_rows)
    d = row_draws(BENEFITS.name)
    nfa = sticky_flag("housing_instability", d.u("nfa"), NFA_SHARE, 0.005)
    stages = [*recorded_identity(d, spec.errors, spec.gaps(BENEFITS.name)), {"_nfa": nfa}]
    address = "CASE WHEN rec_postcode_state = 'previous' THEN previous_address ELSE address END"
    nfa_postcode = below(d.u("nfa_postcode"), NFA_POSTCODE_GIVEN)
    output = {
        "CLAIMANT_ID": ids.numeric_id("person_id", "0", 1, 10, "claimant", prefix="C"),
        "FORENAME": "initcap(rec_first)",
        "MIDDLE_NAMES": "initcap(rec_middle)",
        "SURNAME": "initcap(rec_surname)",
        "DOB": dob_text(date_text("rec_dob", "yyyy-MM-dd"), d, "yyyy-MM-dd"),
        "SEX": sex_text(d.u("sex_unknown"), "M", "F", None),
        "ADDRESS_LINE_1": f"CASE WHEN _nfa THEN '{NFA_ADDRESS}' ELSE initcap({address}) END",
        "POSTCODE": f"CASE WHEN NOT _nfa THEN rec_postcode "
        f"WHEN {nfa_postcode} THEN '{ids.NFA_POSTCODE}' END",
        "NINO": optional(digit_typo_sql("ni_number", 3, 6, d, "ni_typo", spec.errors.id_typo),
                         d.u("nino_present"), NINO_PRESENT),
        "person_id": "person_id",
    }
    return build_rows(rows, d, stages, output)
