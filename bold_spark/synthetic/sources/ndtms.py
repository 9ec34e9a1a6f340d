"""NDTMS treatment episodes: initials, DOB, sex, postcode sector; many with no fixed abode.
Each episode has a triage date, a treatment start and a drug group; people with a drug
rehabilitation requirement start treatment after their sentence as population.py draws it."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.errors import recorded_identity
from bold_spark.synthetic.layouts import NDTMS
from bold_spark.synthetic.population import EXTRACT_DATE
from bold_spark.synthetic.randomness import categorical, sql_str
from bold_spark.synthetic.rows import (
    build_rows,
    date_sql,
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
#: Days from triage to treatment start: 0..MAX_WAIT_DAYS (most people start within 3 weeks).
MAX_WAIT_DAYS = 14
#: NDTMS substance groups and their shares, for people with a drug rehabilitation requirement
#: (DRR) and for everyone else.
DRUG_GROUPS = ("Opiate", "Non-opiate only", "Non-opiate and alcohol", "Alcohol only")
DRUG_GROUP_SHARES_DRR = (0.55, 0.30, 0.13, 0.02)
DRUG_GROUP_SHARES = (0.45, 0.17, 0.10, 0.28)


def drug_group_sql(u: str) -> str:
    """DRUG_GROUP of an episode: drawn from DRUG_GROUP_SHARES_DRR for DRR people, else from
    DRUG_GROUP_SHARES."""
    groups = ", ".join(sql_str(g) for g in DRUG_GROUPS)
    drr, other = categorical(u, DRUG_GROUP_SHARES_DRR), categorical(u, DRUG_GROUP_SHARES)
    return f"element_at(array({groups}), CASE WHEN drr THEN {drr} ELSE {other} END + 1)"


def episode_dates(u_event: str, u_wait: str) -> dict[str, str]:
    """``_triage`` and ``_start`` of each episode. A DRR person who starts treatment does so in
    their first episode, ``treatment_delay_days`` after the sentence (triage up to
    MAX_WAIT_DAYS before, never before the sentence); their other episodes end before the
    sentence, so no episode starts in the follow-up by chance and the drawn pathway is the
    truth. Everyone else's episodes fall anywhere from EARLIEST_TRIAGE to the extract date."""
    wait = f"CAST(floor({u_wait} * {MAX_WAIT_DAYS + 1}) AS INT)"
    pathway = "(row_no = 1 AND treatment_delay_days IS NOT NULL)"
    start_pathway = "date_add(drr_sentence_date, treatment_delay_days)"
    hi = f"date_sub(drr_sentence_date, {MAX_WAIT_DAYS + 2})"
    lo = f"least(greatest({date_sql(EARLIEST_TRIAGE)}, add_months(dob, 192)), {hi})"
    before = f"date_add({lo}, CAST(floor({u_event} * (datediff({hi}, {lo}) + 1)) AS INT))"
    triage = (f"CASE WHEN {pathway} THEN date_sub({start_pathway}, least({wait}, treatment_delay_days)) "
              f"WHEN drr THEN {before} ELSE {event_date(u_event, EARLIEST_TRIAGE)} END")
    start = (f"CASE WHEN {pathway} THEN {start_pathway} "
             f"ELSE least({date_sql(EXTRACT_DATE)}, date_add(_triage, {wait})) END")
    return {"_triage": triage, "_start": start}


def ndtms_rows(people: DataFrame, spec: SyntheticSpec) -> DataFrame:
    """NDTMS layout columns plus person_id: one row per treatment episode (1-4 per person)."""
    rows = source_rows_of(people, "in_ndtms", "n_ndtms", NDTMS.name, spec.errors.bad_rows)
    d = row_draws(NDTMS.name)
    nfa = sticky_flag("housing_instability", d.u("nfa"), NDTMS_NFA_SHARE, 0.05)
    dates = episode_dates(d.u("event"), d.u("wait"))
    stages = [*recorded_identity(d, spec.errors, spec.gaps(NDTMS.name)), {"_nfa": nfa, "_triage": dates["_triage"]},
              {"_start": dates["_start"]}]
    date_format = d.u("date_format")  # one provider, one format for both dates
    sector = "substr(rec_postcode, 1, length(rec_postcode) - 2)"  # 'SW1A 1AA' -> 'SW1A 1'
    output = {
        "EPISODE_ID": ids.numeric_id("person_id", "row_no - 1", 4, 10, "ndtms_episode"),
        "FINITIAL": "upper(substr(rec_first, 1, 1))",
        "SINITIAL": "upper(substr(rec_surname, 1, 1))",
        "DOB": dob_text(date_text_mixed("rec_dob", date_format, DATE_FORMATS), d, "dd/MM/yyyy"),
        "SEX": sex_text(d.u("sex_unknown"), "1", "2", "9"),
        "PC_SECTOR": f"CASE WHEN NOT _nfa THEN {sector} END",
        "NFA": "CASE WHEN _nfa THEN 'Y' ELSE 'N' END",
        "TRIAGE_DATE": date_text_mixed("_triage", date_format, DATE_FORMATS),
        "TREATMENT_START": date_text_mixed("_start", date_format, DATE_FORMATS),
        "DRUG_GROUP": drug_group_sql(d.u("drug_group")),
        "person_id": "person_id",
    }
    return build_rows(rows, d, stages, output)
