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
    COMMON_SLOT_SHARE,
    FORENAME_INITIALS,
    FORENAMES,
    INITIAL_SLOTS,
    OUTWARD_CODES,
    STREETS,
    SURNAMES,
    LookupJoin,
    Lookups,
    join_lookups,
    load_lookups,
    surname_value,
    tail_surname_slot,
)
from bold_spark.synthetic.randomness import SEED_COL, Draws, below, categorical, num, pick
from bold_spark.synthetic.spec import (
    HOUSEHOLD_SLOTS,
    Households,
    Pathways,
    SyntheticSpec,
)


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
    "household_id",
    "household_role",
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

#: Households (realistic preset): a head with children in the data is born at most this late,
#: their first child 20-40 years after them and at least SIBLING_SPAN_DAYS before LATEST_DOB, and
#: later children 300 + 0..SIBLING_GAP_DAYS days after the one before (unless twins).
PARENT_LATEST_DOB = dt.date(LATEST_DOB.year - 36, 12, 31)
SIBLING_GAP_MIN_DAYS = 300
SIBLING_GAP_DAYS = 1500
SIBLING_SPAN_DAYS = 3652  # room for two gaps after the first child
#: A partner is born within this many days of the head (triangular around the head's DOB).
PARTNER_AGE_GAP_DAYS = 11 * 365  # 30% of couples 5+ years apart, as in Census 2021


def partitions_for(people: int) -> int:
    """Spark partitions for a population (one per :data:`PEOPLE_PER_PARTITION` people)."""
    return max(1, math.ceil(people / PEOPLE_PER_PARTITION))


def _dob(d: Draws, justice: str, latest: dt.date = LATEST_DOB) -> str:
    """Triangular between the earliest DOB (later for justice-involved people) and ``latest``:
    most people are middle-aged."""
    triangular = f"(({d.u('dob1')} + {d.u('dob2')}) / 2)"
    span_j = (latest - EARLIEST_DOB_JUSTICE).days
    span_o = (latest - EARLIEST_DOB_OTHERWISE).days
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


def _justice(d: Draws) -> str:
    return below(d.u("justice"), MEMBERSHIP.justice_share)


def _sex(d: Draws, justice: str) -> str:
    m = MEMBERSHIP
    male_share = (
        f"CASE WHEN {justice} THEN {num(m.male_share_justice)} "
        f"ELSE {num(m.male_share_otherwise)} END"
    )
    return f"CASE WHEN {below(d.u('sex'), male_share)} THEN 'M' ELSE 'F' END"


def _name_slot(d: Draws, salt: str, slots: int, common: float) -> str:
    """A weighted-list slot; with ``common`` > 0, that share of people (a draw of their own,
    the same for their first name and surname) take it from the list's first
    ``COMMON_SLOT_SHARE`` of slots: its most frequent names."""
    if common <= 0:
        return pick(d.u(salt), slots)
    top = max(1, int(slots * COMMON_SLOT_SHARE))
    return (f"CASE WHEN {below(d.u('common_name'), common)} THEN {pick(d.u(salt), top)} "
            f"ELSE {pick(d.u(salt), slots)} END")


def _surname_slot(d: Draws, salt: str, listed: str, tail: float) -> str:
    """A surname slot: with probability ``tail`` (``SyntheticSpec.surname_tail``, draws of
    ``d`` salted ``<salt>_tail``) one of the long tail beyond the listed names
    (:func:`~bold_spark.synthetic.lookups.tail_surname_slot`), else ``listed``."""
    if tail <= 0:
        return listed
    return (f"CASE WHEN {below(d.u(salt + '_tail'), tail)} "
            f"THEN {tail_surname_slot(d.u(salt + '_tail_n'))} ELSE {listed} END")


def _household_roles(df: DataFrame, hh: Households) -> DataFrame:
    """Household columns from the person id alone (see :class:`Households`): ``_role`` (head,
    partner, child or single), ``household_id`` (the head's person id; a person's own for heads
    and single people), ``_surname_key`` (whose surname draws a person takes), ``_junior``,
    and ``_twin1``/``_twin2`` (the second/third child is the twin of the one before)."""
    b = Draws("household", ("_block",))
    k = HOUSEHOLD_SLOTS
    blocks = df.selectExpr("*", f"div(person_id, {k}) AS _block",
                           f"CAST(pmod(person_id, {k}) AS INT) AS _pos")
    n_children = categorical(b.u("children"), hh.children)
    partner = below(b.u("partner"), hh.partner)
    draws = blocks.selectExpr(
        "*",
        f"{n_children} AS _n_children",
        f"{partner} AS _has_partner",
        f"{below(b.u('partner_surname'), hh.partner_shares_surname)} AS _partner_shares",
        f"{below(b.u('junior'), hh.junior)} AS _junior_draw",
        f"{below(b.u('twin1'), hh.twins)} AS _twin1",
        f"{below(b.u('twin2'), hh.twins)} AS _twin2",
        f"{b.u('first_child')} AS _u_first_child",
        f"{pick(b.u('gap1'), SIBLING_GAP_DAYS)} AS _gap1",
        f"{pick(b.u('gap2'), SIBLING_GAP_DAYS)} AS _gap2",
    )
    role = ("CASE WHEN _pos = 0 AND (_has_partner OR _n_children > 0) THEN 'head' "
            "WHEN _pos = 1 AND _has_partner THEN 'partner' "
            "WHEN _pos >= 2 AND _pos - 2 < _n_children THEN 'child' ELSE 'single' END")
    roles = draws.selectExpr("*", f"{role} AS _role")
    return roles.selectExpr(
        "*",
        f"CASE WHEN _role IN ('partner', 'child') THEN _block * {k} ELSE person_id END "
        "AS household_id",
        "(_role = 'child' AND _pos = 2 AND _junior_draw) AS _junior",
        "person_id - 1 AS _cotwin_id",
    ).selectExpr(
        "*",
        "CASE WHEN _role = 'child' OR (_role = 'partner' AND _partner_shares) THEN household_id "
        "ELSE person_id END AS _surname_key",
    )


def _household_dob(d: Draws, head: Draws, justice: str) -> tuple[str, str]:
    """(SQL of the head's DOB, SQL of the person's DOB) by household role. A head with children
    in the data is born by PARENT_LATEST_DOB; a partner within PARTNER_AGE_GAP_DAYS of the head;
    the first child 20-40 years after the head, each later child SIBLING_GAP_MIN_DAYS +
    0..SIBLING_GAP_DAYS days after the one before, or on the same day (a twin)."""
    head_justice = _justice(head)
    head_dob = (f"CASE WHEN _n_children > 0 THEN {_dob(head, head_justice, PARENT_LATEST_DOB)} "
                f"ELSE {_dob(head, head_justice)} END")
    offset = f"(({d.u('partner_age1')} + {d.u('partner_age2')}) - 1.0D)"
    partner = (f"least(DATE'{LATEST_DOB}', greatest(DATE'{EARLIEST_DOB_OTHERWISE}', "
               f"date_add(_head_dob, CAST(round({offset} * {PARTNER_AGE_GAP_DAYS}) AS INT))))")
    lo = "add_months(_head_dob, 240)"
    hi = f"least(add_months(_head_dob, 480), date_sub(DATE'{LATEST_DOB}', {SIBLING_SPAN_DAYS}))"
    first_child = f"date_add({lo}, {pick('_u_first_child', f'datediff({hi}, {lo}) + 1')})"
    gap1 = f"CASE WHEN _twin1 THEN 0 ELSE {SIBLING_GAP_MIN_DAYS} + _gap1 END"
    gap2 = f"CASE WHEN _twin2 THEN 0 ELSE {SIBLING_GAP_MIN_DAYS} + _gap2 END"
    after = f"CASE _pos WHEN 2 THEN 0 WHEN 3 THEN {gap1} ELSE ({gap1}) + ({gap2}) END"
    dob = (f"CASE _role WHEN 'head' THEN _head_dob WHEN 'partner' THEN {partner} "
           f"WHEN 'child' THEN date_add({first_child}, {after}) ELSE {_dob(d, justice)} END")
    return head_dob, dob


def _twin_name_columns(d: Draws, head: Draws, head_sex: str, head_first: str, hh: Households,
                       lk: Lookups, common: float) -> list[str]:
    """Columns for a twin named like their co-twin (the child before): ``_twin_initial`` (this
    twin takes a name with the co-twin's initial), the co-twin's sex and ordinary first-name
    slot (the head's for a junior), and the twin's draw in the per-initial list (``_twin_u``).
    Null keys for everyone else, so their lookups find nothing."""
    cotwin = Draws("person", ("_cotwin_id",))
    twin = (f"(_role = 'child' AND ((_pos = 3 AND _twin1) OR (_pos = 4 AND _twin2)) "
            f"AND {below(d.u('twin_initial'), hh.twin_same_initial)})")
    junior_cotwin = "(_pos = 3 AND _junior_draw)"  # the co-twin is the first child, a junior
    cotwin_sex = _sex(cotwin, _justice(cotwin))
    cotwin_slot = _name_slot(cotwin, "first_slot", lk.slots[f"{FORENAMES}:M"], common)
    return [
        f"{twin} AS _twin_initial",
        f"CASE WHEN {twin} THEN CASE WHEN {junior_cotwin} THEN {head_sex} ELSE {cotwin_sex} END "
        "END AS _cotwin_sex",
        f"CASE WHEN {junior_cotwin} THEN {head_first} ELSE {cotwin_slot} END AS _cotwin_slot",
        f"{d.u('twin_first_slot')} AS _twin_u",
    ]


def _base(spark: SparkSession, spec: SyntheticSpec, lk: Lookups) -> DataFrame:
    """Hash-derived attributes and lookup slots (one projection over ``spark.range``; with
    households, a few projections of household columns first)."""
    d = Draws("person", ("person_id",))
    hh, common = spec.households, spec.common_names
    justice = _justice(d)
    duplicate_crn = below(d.u("n_probation"), spec.errors.probation_duplicate)
    ids_of = spark.range(0, spec.people, 1, partitions_for(spec.people))
    # The seed as data, not as a literal in generated code (see randomness.py).
    seed_row = spark.sql(f"SELECT * FROM VALUES ({int(spec.seed)}) AS t({SEED_COL})")
    with_seed = ids_of.withColumnRenamed("id", "person_id").crossJoin(F.broadcast(seed_row))
    sex, dob = _sex(d, justice), _dob(d, justice)
    # Draws of shared attributes: the surname (for members who take the head's) and the address
    # (every member) are the head's draws; everyone else's keys are their own person id.
    surname_d = address_d = d
    slots = {name: _name_slot(d, name, lk.slots[lookup], common if name == "first_slot" else 0)
             for name, lookup in _SLOTS.items()}
    tail = spec.surname_tail
    slots["other_surname_slot"] = _surname_slot(d, "other_surname_slot", slots["other_surname_slot"], tail)
    household = ["person_id AS household_id", "'single' AS household_role"]
    if hh.enabled:
        with_seed = _household_roles(with_seed, hh)
        head = Draws("person", ("household_id",))
        surname_d, address_d = Draws("person", ("_surname_key",)), head
        head_sex = _sex(head, _justice(head))
        sex = (f"CASE WHEN _role = 'partner' THEN CASE WHEN {head_sex} = 'M' THEN 'F' ELSE 'M' END "
               f"WHEN _junior THEN {head_sex} ELSE {sex} END")
        head_dob, dob = _household_dob(d, head, justice)
        with_seed = with_seed.selectExpr("*", f"{head_dob} AS _head_dob")
        own_surname = _surname_slot(d, "surname_slot", _name_slot(d, "surname_slot", lk.slots[SURNAMES], common),
                                    tail)
        head_first = _name_slot(head, "first_slot", lk.slots[f"{FORENAMES}:M"], common)
        slots["first_slot"] = f"CASE WHEN _junior THEN {head_first} ELSE {slots['first_slot']} END"
        # A partner who took the head's surname has their own as their other (maiden) surname.
        slots["other_surname_slot"] = (f"CASE WHEN _role = 'partner' AND _partner_shares "
                                       f"THEN {own_surname} ELSE {slots['other_surname_slot']} END")
        # The second part of a double-barrelled surname: the surname owner's other surname.
        slots["surname2_slot"] = _surname_slot(
            surname_d, "other_surname_slot", pick(surname_d.u("other_surname_slot"), lk.slots[SURNAMES]), tail)
        household = ["household_id", "_role AS household_role"]
        if hh.twin_same_initial > 0:
            household += _twin_name_columns(d, head, head_sex, head_first, hh, lk, common)
    slots["surname_slot"] = _surname_slot(
        surname_d, "surname_slot", _name_slot(surname_d, "surname_slot", lk.slots[SURNAMES], common), tail)
    for name in ("outward_slot", "previous_outward_slot", "street_slot", "previous_street_slot"):
        slots[name] = pick(address_d.u(name), lk.slots[_SLOTS[name]])
    a = address_d
    return with_seed.selectExpr(
        "person_id",
        SEED_COL,
        *household,
        f"{justice} AS justice",
        f"{sex} AS sex",
        f"{dob} AS dob",
        *_memberships(d, justice),
        f"{categorical(d.u('n_ndtms'), NDTMS_EPISODES)} + 1 AS n_ndtms",
        f"{categorical(d.u('n_prison'), PRISON_RECEPTIONS)} + 1 AS n_prison",
        f"CAST({duplicate_crn} AS INT) + 1 AS n_probation",
        f"{categorical(d.u('n_homelessness'), HOMELESSNESS_APPLICATIONS)} + 1 AS n_homelessness",
        f"{below(d.u('has_middle'), MIDDLE_NAME_SHARE)} AS has_middle",
        f"{below(surname_d.u('double_barrelled'), DOUBLE_BARRELLED_SHARE)} AS double_barrelled",
        f"{below(a.u('moved_locally'), MOVED_LOCALLY_SHARE)} AS moved_locally",
        f"{_inward(a, 'inward')} AS inward",
        f"{_inward(a, 'previous_inward')} AS previous_inward",
        f"{pick(a.u('house'), 180)} + 1 AS house_number",
        f"{pick(a.u('previous_house'), 180)} + 1 AS previous_house_number",
        f"{ids.ni_number('person_id', d.u('ni_suffix'))} AS ni_number",
        f"{ids.pnc_serial('person_id')} AS pnc_serial",
        f"1990 + {pick(d.u('pnc_year'), 35)} AS _arrest_year",
        f"{ids.noms_number('person_id')} AS noms_number",
        f"{d.u('housing')} AS housing_instability",
        f"{d.u('pnc_recorded')} AS pnc_recorded_draw",
        *[f"{sql} AS {name}" for name, sql in slots.items()],
    )


def _surname_sql(spec: SyntheticSpec) -> dict[str, str]:
    """``surname`` and ``other_surname`` from the lookup joins: the listed name, or with a
    ``surname_tail`` a tail name spelt from its slot where the join found none. A
    double-barrelled surname's second part is the household's ``lk_surname2`` (with households)
    or the person's other surname."""
    def value(tag: str, slot: str) -> str:
        return surname_value(tag, slot) if spec.surname_tail > 0 else f"{tag}.value"

    own, other = value("lk_surname", "surname_slot"), value("lk_other", "other_surname_slot")
    second = value("lk_surname2", "surname2_slot") if spec.households.enabled else other
    return {"surname": f"CASE WHEN double_barrelled AND {second} != {own} "
                       f"THEN concat({own}, '-', {second}) ELSE {own} END",
            "other_surname": other}


#: The person columns, from the base projection and the lookup joins (and the surnames,
#: :func:`_surname_sql`).
_PERSON_SQL: dict[str, str | None] = {
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
    "surname": None,  # from _surname_sql (the key keeps the column's place)
    "other_surname": None,
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
    "household_id": "household_id",
    "household_role": "household_role",
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


def _join_twin_names(joined: DataFrame, lk: Lookups) -> DataFrame:
    """A twin's name from the per-initial list of the co-twin's initial (lk_twin), never the
    co-twin's own name: the draw skips that name's slots (lk_excl: where it sits in the list).
    Where the initial has no other name, lk_twin finds nothing and the twin keeps their own."""
    initial_list = f"concat('{FORENAME_INITIALS}:', sex, ':', substr(lk_cotwin.value, 1, 1))"
    excl = F.broadcast(lk.table.where("slot = range_start")).alias("lk_excl")
    cond = F.expr(f"lk_excl.lookup = {initial_list} AND lk_excl.value = lk_cotwin.value")
    with_excl = joined.join(excl, cond, "left")
    size = "coalesce(lk_excl.range_size, 0)"
    drawn = pick("_twin_u", f"{INITIAL_SLOTS} - {size}")
    slot = (f"({drawn} + CASE WHEN {drawn} >= coalesce(lk_excl.range_start, {INITIAL_SLOTS}) "
            f"THEN {size} ELSE 0 END)")
    return join_lookups(with_excl, lk, [LookupJoin("lk_twin", initial_list, slot)])


def build_people(spark: SparkSession, spec: SyntheticSpec) -> DataFrame:
    """Every person attribute the source builders need (internal columns included)."""
    lk = load_lookups(spark)
    if lk.slots[f"{FORENAMES}:M"] != lk.slots[f"{FORENAMES}:F"]:
        raise ValueError("forename lists must have the same number of slots for each sex")
    joins, person_sql = _JOINS, {**_PERSON_SQL, **_surname_sql(spec), **pathway_sql(spec.pathways)}
    if spec.households.enabled:  # double-barrelled surnames shared by the household
        joins = [*_JOINS, LookupJoin("lk_surname2", f"'{SURNAMES}'", "surname2_slot")]
    twins_alike = spec.households.twin_same_initial > 0
    if twins_alike:
        joins = [*joins, LookupJoin("lk_cotwin", f"concat('{FORENAMES}:', _cotwin_sex)", "_cotwin_slot")]
        alike = "_twin_initial AND lk_twin.value IS NOT NULL"
        person_sql["first_name"] = f"CASE WHEN {alike} THEN lk_twin.value ELSE lk_first.value END"
        person_sql["nickname"] = f"CASE WHEN {alike} THEN lk_twin.nickname ELSE lk_first.nickname END"
    joined = join_lookups(_base(spark, spec, lk), lk, joins)
    if twins_alike:
        joined = _join_twin_names(joined, lk)
    return joined.selectExpr(*[f"{sql} AS `{name}`" for name, sql in person_sql.items()])
