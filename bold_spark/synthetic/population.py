"""The true population: one row per person with their real attributes and source memberships.

Membership model (documented in docs/synthetic.md). A person is either justice-involved
(probation and/or prison) or not; the other sources are drawn with probabilities that depend on
that, so the overlaps mirror the direction of the published BOLD findings. Everyone is in at
least one source, so ``people`` is the size of the union.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.lookups import (
    FORENAMES,
    OUTWARD_CODES,
    STREETS,
    SURNAMES,
    LookupJoin,
    Lookups,
    join_lookups,
    load_lookups,
)
from bold_spark.synthetic.randomness import SEED_COL, Draws, below, categorical, num, pick
from bold_spark.synthetic.spec import Pathways, SyntheticSpec


@dataclass(frozen=True)
class MembershipModel:
    """Who appears in which source: shares of the population and conditional probabilities."""

    justice_share: float = 0.30
    prison_given_justice: float = 0.50
    probation_given_prison: float = (
        0.80  # justice-involved people not in prison are all on probation
    )
    ndtms_given_justice: float = 0.40
    ndtms_otherwise: float = 0.115
    homelessness_given_justice: float = 0.20
    homelessness_otherwise: float = 0.06
    benefits_given_justice: float = 0.85
    benefits_given_ndtms_or_homeless: float = 0.75  # people in no other source are all on benefits
    male_share_justice: float = 0.85
    male_share_otherwise: float = 0.48


MEMBERSHIP = MembershipModel()

#: Records per person: probabilities of 1, 2, 3, ... rows.
NDTMS_EPISODES = (0.45, 0.30, 0.15, 0.10)
PRISON_RECEPTIONS = (0.50, 0.27, 0.15, 0.08)
HOMELESSNESS_APPLICATIONS = (0.85, 0.15)

MIDDLE_NAME_SHARE = 0.55
DOUBLE_BARRELLED_SHARE = 0.02
MOVED_LOCALLY_SHARE = 0.5  # previous address in the same postcode district
#: Last day covered by the extracts; every event date is on or before it.
EXTRACT_DATE = dt.date(2025, 3, 31)
EARLIEST_DOB_JUSTICE = dt.date(1958, 1, 1)
EARLIEST_DOB_OTHERWISE = dt.date(1940, 1, 1)
LATEST_DOB = dt.date(2006, 12, 31)
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
PEOPLE_PER_PARTITION = 250_000

#: Columns of ``true_people``.
PERSON_COLUMNS = (
    "person_id",
    "justice",
    "sex",
    "dob",
    "first_name",
    "middle_name",
    "surname",
    "other_surname",
    "nickname",
    "postcode",
    "previous_postcode",
    "ni_number",
    "pnc_year",
    "pnc_serial",
    "noms_number",
    "in_ndtms",
    "in_prison",
    "in_probation",
    "in_benefits",
    "in_homelessness",
    "drr",
    "drr_sentence_date",
    "treatment_delay_days",
)

#: The latest DRR sentence date: every DRR sentence has its whole 6-month follow-up in the extracts.
FOLLOW_UP_DAYS = 183
EARLIEST_DRR_SENTENCE = dt.date(2010, 1, 1)
#: Delays (days after the sentence) of the two pathway bins: uniform in the first, falling in
#: the second (most later starts come soon after three weeks).
WITHIN_3_WEEKS = 21
WITHIN_6_MONTHS = 182


def partitions_for(people: int) -> int:
    """Spark partitions for a population (one per :data:`PEOPLE_PER_PARTITION` people)."""
    return max(1, math.ceil(people / PEOPLE_PER_PARTITION))


def _dob(d: Draws, justice: str) -> str:
    """Triangular between the earliest DOB (later for justice-involved people) and the latest:
    most people are middle-aged."""
    triangular = f"(({d.u('dob1')} + {d.u('dob2')}) / 2)"
    span_j = (LATEST_DOB - EARLIEST_DOB_JUSTICE).days
    span_o = (LATEST_DOB - EARLIEST_DOB_OTHERWISE).days
    young = f"date_add(DATE'{EARLIEST_DOB_JUSTICE}', {pick(triangular, span_j)})"
    otherwise = f"date_add(DATE'{EARLIEST_DOB_OTHERWISE}', {pick(triangular, span_o)})"
    return f"CASE WHEN {justice} THEN {young} ELSE {otherwise} END"


def _inward(d: Draws, salt: str) -> str:
    letters = [
        f"substr('{_INWARD_LETTERS}', {pick(d.u(f'{salt}_l{i}'), 20)} + 1, 1)" for i in (1, 2)
    ]
    return f"concat(CAST({pick(d.u(f'{salt}_digit'), 10)} AS STRING), {letters[0]}, {letters[1]})"


def _memberships(d: Draws, justice: str) -> list[str]:
    m = MEMBERSHIP
    probation_if_prison = below(d.u("probation"), m.probation_given_prison)
    in_prison = f"({justice} AND {below(d.u('prison'), m.prison_given_justice)})"
    ndtms_p = (
        f"CASE WHEN {justice} THEN {num(m.ndtms_given_justice)} ELSE {num(m.ndtms_otherwise)} END"
    )
    homeless_p = (
        f"CASE WHEN {justice} THEN {num(m.homelessness_given_justice)} "
        f"ELSE {num(m.homelessness_otherwise)} END"
    )
    in_ndtms = below(d.u("ndtms"), ndtms_p)
    in_homelessness = below(d.u("homelessness"), homeless_p)
    return [
        f"{in_ndtms} AS in_ndtms",
        f"{in_prison} AS in_prison",
        f"({justice} AND (NOT {in_prison} OR {probation_if_prison})) AS in_probation",
        f"{in_homelessness} AS in_homelessness",
        f"""CASE WHEN {justice} THEN {below(d.u("benefits"), m.benefits_given_justice)}
                 WHEN {in_ndtms} OR {in_homelessness}
                 THEN {below(d.u("benefits"), m.benefits_given_ndtms_or_homeless)}
                 ELSE true END AS in_benefits""",
    ]


#: Lookup draws: slot column -> lookup list.
_SLOTS = {
    "first_slot": f"{FORENAMES}:M",  # both sexes have the same number of slots
    "middle_slot": f"{FORENAMES}:M",
    "alias_first_slot": f"{FORENAMES}:M",
    "surname_slot": SURNAMES,
    "other_surname_slot": SURNAMES,
    "outward_slot": OUTWARD_CODES,
    "previous_outward_slot": OUTWARD_CODES,
    "street_slot": STREETS,
    "previous_street_slot": STREETS,
}
_FORENAME_KEY = f"concat('{FORENAMES}:', sex)"
_JOINS = [
    LookupJoin("lk_first", _FORENAME_KEY, "first_slot"),
    LookupJoin("lk_middle", _FORENAME_KEY, "middle_slot"),
    LookupJoin("lk_alias", _FORENAME_KEY, "alias_first_slot"),
    LookupJoin("lk_surname", f"'{SURNAMES}'", "surname_slot"),
    LookupJoin("lk_other", f"'{SURNAMES}'", "other_surname_slot"),
    LookupJoin("lk_out", f"'{OUTWARD_CODES}'", "outward_slot"),
    LookupJoin("lk_prev_out", f"'{OUTWARD_CODES}'", "previous_outward_slot"),
    LookupJoin("lk_street", f"'{STREETS}'", "street_slot"),
    LookupJoin("lk_prev_street", f"'{STREETS}'", "previous_street_slot"),
]


def _base(spark: SparkSession, spec: SyntheticSpec, lk: Lookups) -> DataFrame:
    """Hash-derived attributes and lookup slots (one projection over ``spark.range``)."""
    d = Draws("person", ("person_id",))
    m = MEMBERSHIP
    justice = below(d.u("justice"), m.justice_share)
    male_share = (
        f"CASE WHEN {justice} THEN {num(m.male_share_justice)} "
        f"ELSE {num(m.male_share_otherwise)} END"
    )
    duplicate_crn = below(d.u("n_probation"), spec.errors.probation_duplicate)
    ids_of = spark.range(0, spec.people, 1, partitions_for(spec.people))
    # The seed as data, not as a literal in generated code (see randomness.py).
    seed_row = spark.sql(f"SELECT * FROM VALUES ({int(spec.seed)}) AS t({SEED_COL})")
    with_seed = ids_of.withColumnRenamed("id", "person_id").crossJoin(F.broadcast(seed_row))
    return with_seed.selectExpr(
        "person_id",
        SEED_COL,
        f"{justice} AS justice",
        f"CASE WHEN {below(d.u('sex'), male_share)} THEN 'M' ELSE 'F' END AS sex",
        f"{_dob(d, justice)} AS dob",
        *_memberships(d, justice),
        f"{categorical(d.u('n_ndtms'), NDTMS_EPISODES)} + 1 AS n_ndtms",
        f"{categorical(d.u('n_prison'), PRISON_RECEPTIONS)} + 1 AS n_prison",
        f"CAST({duplicate_crn} AS INT) + 1 AS n_probation",
        f"{categorical(d.u('n_homelessness'), HOMELESSNESS_APPLICATIONS)} + 1 AS n_homelessness",
        f"{below(d.u('has_middle'), MIDDLE_NAME_SHARE)} AS has_middle",
        f"{below(d.u('double_barrelled'), DOUBLE_BARRELLED_SHARE)} AS double_barrelled",
        f"{below(d.u('moved_locally'), MOVED_LOCALLY_SHARE)} AS moved_locally",
        f"{_inward(d, 'inward')} AS inward",
        f"{_inward(d, 'previous_inward')} AS previous_inward",
        f"{pick(d.u('house'), 180)} + 1 AS house_number",
        f"{pick(d.u('previous_house'), 180)} + 1 AS previous_house_number",
        f"{ids.ni_number('person_id', d.u('ni_suffix'))} AS ni_number",
        f"{ids.pnc_serial('person_id')} AS pnc_serial",
        f"1990 + {pick(d.u('pnc_year'), 35)} AS _arrest_year",
        f"{ids.noms_number('person_id')} AS noms_number",
        f"{d.u('housing')} AS housing_instability",
        f"{d.u('pnc_recorded')} AS pnc_recorded_draw",
        *[f"{pick(d.u(name), lk.slots[lookup])} AS {name}" for name, lookup in _SLOTS.items()],
    )


#: The person columns, from the base projection and the lookup joins.
_PERSON_SQL = {
    "person_id": "person_id",
    SEED_COL: SEED_COL,
    "justice": "justice",
    "sex": "sex",
    "dob": "dob",
    **{c: c for c in ("in_ndtms", "in_prison", "in_probation", "in_benefits", "in_homelessness")},
    **{c: c for c in ("n_ndtms", "n_prison", "n_probation", "n_homelessness")},
    "first_name": "lk_first.value",
    "middle_name": "CASE WHEN has_middle AND lk_middle.value != lk_first.value "
    "THEN lk_middle.value END",
    "surname": "CASE WHEN double_barrelled AND lk_other.value != lk_surname.value "
    "THEN concat(lk_surname.value, '-', lk_other.value) ELSE lk_surname.value END",
    "other_surname": "lk_other.value",
    "nickname": "lk_first.nickname",
    "alias_first_name": "lk_alias.value",
    "postcode": "concat(lk_out.value, ' ', inward)",
    "previous_postcode": "concat(CASE WHEN moved_locally THEN lk_out.value "
    "ELSE lk_prev_out.value END, ' ', previous_inward)",
    "address": "concat(CAST(house_number AS STRING), ' ', lk_street.value)",
    "previous_address": "concat(CAST(previous_house_number AS STRING), ' ', lk_prev_street.value)",
    "ni_number": "ni_number",
    # first arrest: from age 14, before the extract year
    "pnc_year": f"least({EXTRACT_DATE.year - 1}, greatest(year(dob) + 14, _arrest_year))",
    "pnc_serial": "pnc_serial",
    "noms_number": "noms_number",
    "housing_instability": "housing_instability",
    "pnc_recorded_draw": "pnc_recorded_draw",
}


def probation_share_of_justice(m: MembershipModel = MEMBERSHIP) -> float:
    """P(on probation | justice-involved): everyone not in prison, and most of those who are."""
    return 1.0 - m.prison_given_justice * (1.0 - m.probation_given_prison)


def pathway_sql(p: Pathways, m: MembershipModel = MEMBERSHIP) -> dict[str, str]:
    """Person columns of the DRR -> treatment pathway (SQL over the base columns), and
    ``in_ndtms`` redrawn for justice-involved people.

    A DRR person who starts treatment within 6 months is in NDTMS; one who does not is in it
    with the usual justice probability. The other justice-involved people are in NDTMS with a
    probability lowered so that P(NDTMS | justice) stays ``ndtms_given_justice``: the overlaps
    of docs/synthetic.md are unchanged by the pathway."""
    d = Draws("person", ("person_id",))
    drr = f"(in_probation AND {below(d.u('drr'), p.drr_share)})"
    path, u_delay = d.u("pathway"), d.u("delay")
    later = WITHIN_6_MONTHS - WITHIN_3_WEEKS
    delay = (f"CASE WHEN {drr} THEN CASE "
             f"WHEN {path} < {num(p.start_within_3_weeks)} THEN {pick(u_delay, WITHIN_3_WEEKS + 1)} "
             f"WHEN {path} < {num(p.start_within_6_months)} "
             f"THEN {WITHIN_3_WEEKS + 1} + {pick(f'pow({u_delay}, 2)', later)} END END")
    end = f"date_sub(DATE'{EXTRACT_DATE}', {FOLLOW_UP_DAYS})"
    start = f"least(greatest(DATE'{EARLIEST_DRR_SENTENCE}', add_months(dob, 16 * 12)), {end})"
    days = pick(d.u("drr_sentence"), f"datediff({end}, {start}) + 1")
    sentence = f"CASE WHEN {drr} THEN date_add({start}, {days}) END"
    drr_justice = p.drr_share * probation_share_of_justice(m)
    p_ndtms_drr = p.start_within_6_months + (1 - p.start_within_6_months) * m.ndtms_given_justice
    others = max(0.0, (m.ndtms_given_justice - drr_justice * p_ndtms_drr) / max(1e-9, 1 - drr_justice))
    u_ndtms = d.u("ndtms")
    in_ndtms = (f"CASE WHEN {drr} THEN ({delay}) IS NOT NULL OR {below(u_ndtms, m.ndtms_given_justice)} "
                f"WHEN justice THEN {below(u_ndtms, others)} ELSE in_ndtms END")
    return {"in_ndtms": in_ndtms, "drr": drr, "drr_sentence_date": sentence,
            "treatment_delay_days": delay}


def build_people(spark: SparkSession, spec: SyntheticSpec) -> DataFrame:
    """Every person attribute the source builders need (internal columns included)."""
    lk = load_lookups(spark)
    if lk.slots[f"{FORENAMES}:M"] != lk.slots[f"{FORENAMES}:F"]:
        raise ValueError("forename lists must have the same number of slots for each sex")
    joined = join_lookups(_base(spark, spec, lk), lk, _JOINS)
    person_sql = {**_PERSON_SQL, **pathway_sql(spec.pathways)}
    return joined.selectExpr(*[f"{sql} AS `{name}`" for name, sql in person_sql.items()])
