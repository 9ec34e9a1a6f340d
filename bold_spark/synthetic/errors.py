"""The error model: expressions that turn a true value into the value a record carries.

Each field has one uniform draw split into consecutive bins, one per error kind, so the errors of
one field are mutually exclusive and each rate in ``ErrorRates`` is the observed share of records.

Expressions are Spark SQL text (see randomness.py for why); arguments are SQL expressions, and
a plain column name is one.
"""

from __future__ import annotations

import string

from bold_spark.synthetic.randomness import Draws, below, case_by_bins, num, pick, sql_str
from bold_spark.synthetic.spec import ErrorBias, ErrorRates, SourceGaps

_ALPHABET = string.ascii_uppercase


def digit_typo_sql(text: str, first: int, digits: int | str, d: Draws, salt: str,
                   rate: float) -> str:
    """``text`` (an identifier) with, on a share ``rate`` of rows, one of its ``digits`` digits
    from position ``first`` (1-based) keyed as another digit: the format stays valid, so the
    number reads as another person's. Draws ``<salt>``, ``<salt>_at`` and ``<salt>_to``; none
    when ``rate`` is 0 (``text`` is returned as it is)."""
    if rate <= 0:
        return text
    at = f"({first} + {pick(d.u(f'{salt}_at'), digits)})"
    old = f"CAST(substr({text}, {at}, 1) AS INT)"
    new = f"CAST(pmod({old} + 1 + {pick(d.u(f'{salt}_to'), 9)}, 10) AS STRING)"
    typo = f"concat(substr({text}, 1, {at} - 1), {new}, substr({text}, {at} + 1))"
    return f"(CASE WHEN {below(d.u(salt), rate)} THEN {typo} ELSE {text} END)"


def typo_inputs(tag: str, name_sql: str, d: Draws) -> dict[str, str]:
    """Helper columns of one typo (``_typo_<tag>_*``): length, position, neighbour position for a
    swap, kind, and the substitute letter (never the letter it replaces). Computed in a stage of
    their own so the typo itself stays a small expression."""
    n = f"length({name_sql})"
    pos = f"({pick(d.u(f'{tag}_typo_pos'), n)} + 1)"
    current = f"(instr('{_ALPHABET}', substr({name_sql}, {pos}, 1)) - 1)"
    shift = pick(d.u(f"{tag}_typo_letter"), 25)
    return {
        f"_typo_{tag}_len": n,
        f"_typo_{tag}_pos": pos,
        f"_typo_{tag}_swap": f"({pick(d.u(f'{tag}_typo_pos'), f'{n} - 1')} + 1)",
        f"_typo_{tag}_kind": pick(d.u(f"{tag}_typo_kind"), 4),
        f"_typo_{tag}_letter": f"substr('{_ALPHABET}', pmod({current} + 1 + {shift}, 26) + 1, 1)",
    }


def typo_sql(tag: str, name_sql: str) -> str:
    """One keyboard error in ``name_sql`` (needs ``typo_inputs(tag, name_sql, ...)`` computed
    first): substitute a letter, delete one, swap two neighbours or double one. Names shorter
    than three letters are left alone."""
    n, pos, swap = f"_typo_{tag}_len", f"_typo_{tag}_pos", f"_typo_{tag}_swap"
    before = f"substr({name_sql}, 1, {pos} - 1)"
    after = f"substr({name_sql}, {pos} + 1, {n})"
    swapped = (
        f"concat(substr({name_sql}, 1, {swap} - 1), substr({name_sql}, {swap} + 1, 1), "
        f"substr({name_sql}, {swap}, 1), substr({name_sql}, {swap} + 2, {n}))"
    )
    return (
        f"(CASE WHEN {name_sql} IS NULL OR {n} < 3 THEN {name_sql} "
        f"WHEN _typo_{tag}_kind = 0 THEN concat({before}, _typo_{tag}_letter, {after}) "
        f"WHEN _typo_{tag}_kind = 1 THEN concat({before}, {after}) "
        f"WHEN _typo_{tag}_kind = 2 THEN {swapped} "
        f"ELSE concat(substr({name_sql}, 1, {pos}), substr({name_sql}, {pos}, {n})) END)"
    )


def forename_variant_sql(
    first: str, middle: str, nickname: str, d: Draws, rates: ErrorRates
) -> tuple[str, str]:
    """(first name, middle name) as recorded: an initial, a nickname (where the name has one),
    a typo, or first and middle names swapped (where there is a middle name)."""
    u = d.u("first")
    shifted = (
        f"({u} >= {num(rates.initials_only + rates.nickname + rates.typo)} AND "
        f"{u} < {num(rates.initials_only + rates.nickname + rates.typo + rates.name_shift)} AND "
        f"{middle} IS NOT NULL)"
    )
    new_first = case_by_bins(
        u,
        [
            (rates.initials_only, f"substr({first}, 1, 1)"),
            (rates.nickname, f"coalesce({nickname}, {first})"),
            (rates.typo, typo_sql("first", first)),
            (rates.name_shift, f"coalesce({middle}, {first})"),
        ],
        first,
    )
    new_middle = (
        f"(CASE WHEN {shifted} THEN {first} ELSE {middle} END)" if rates.name_shift else middle
    )
    return new_first, new_middle


def surname_variant_sql(surname: str, other_surname: str, d: Draws, rates: ErrorRates) -> str:
    """Surname as recorded: the other (maiden/married) surname, a double-barrelled form (or the
    first part of a true double-barrelled name), or a typo."""
    hyphenated = (
        f"(CASE WHEN instr({surname}, '-') > 0 THEN substring_index({surname}, '-', 1) "
        f"WHEN {d.u('hyphen_order')} < 0.5D THEN concat({surname}, '-', {other_surname}) "
        f"ELSE concat({other_surname}, '-', {surname}) END)"
    )
    return case_by_bins(
        d.u("surname"),
        [
            (rates.surname_change, other_surname),
            (rates.hyphenated, hyphenated),
            (rates.typo, typo_sql("surname", surname)),
        ],
        surname,
    )


def swap_day_month_sql(dob: str) -> str:
    """Day and month swapped where that gives a different date, else unchanged."""
    return (
        f"(CASE WHEN day({dob}) <= 12 AND day({dob}) != month({dob}) "
        f"THEN make_date(year({dob}), day({dob}), month({dob})) ELSE {dob} END)"
    )


def dob_typo_sql(dob: str, d: Draws) -> str:
    """One day or one year out."""
    direction = f"(CASE WHEN {d.u('dob_typo_direction')} < 0.5D THEN -1 ELSE 1 END)"
    return (
        f"(CASE WHEN {d.u('dob_typo_kind')} < 0.5D THEN date_add({dob}, {direction}) "
        f"ELSE add_months({dob}, {direction} * 12) END)"
    )


def dob_wrong_sql(dob: str, d: Draws) -> str:
    """Another date of birth: a year up to five either side of the true one (uniform over the
    eleven), a month and a day (1-28) drawn afresh."""
    return (f"make_date(year({dob}) + CAST(floor({d.u('dob_wrong_year')} * 11D) AS INT) - 5, "
            f"1 + CAST(floor({d.u('dob_wrong_month')} * 12D) AS INT), "
            f"1 + CAST(floor({d.u('dob_wrong_day')} * 28D) AS INT))")


def dob_variant_sql(dob: str, d: Draws, rates: ErrorRates) -> str:
    """SQL of the DOB a record carries: the true ``dob`` or, at the spec's rates, 1 January of
    its year (a placeholder), day and month swapped, a typo, or another date altogether."""
    return case_by_bins(
        d.u("dob"),
        [
            (rates.dob_placeholder, f"make_date(year({dob}), 1, 1)"),
            (rates.dob_swap, swap_day_month_sql(dob)),
            (rates.dob_typo, dob_typo_sql(dob, d)),
            (rates.dob_wrong, dob_wrong_sql(dob, d) if rates.dob_wrong else dob),
        ],
        dob,
    )


def postcode_state_sql(d: Draws, rates: ErrorRates) -> str:
    """Which address the record carries: 'current', 'previous' (out of date) or 'missing'."""
    return case_by_bins(
        d.u("postcode"),
        [
            (rates.postcode_missing, "'missing'"),
            (rates.postcode_out_of_date, "'previous'"),
        ],
        "'current'",
    )


#: The draws that choose each field's error (their bins are the rates in ``ErrorRates``).
BIASED_DRAWS = ("first", "surname", "dob", "postcode")


class GroupBiasedDraws(Draws):
    """``d``'s draws, except that for people in ``bias``'s group the draws choosing an error
    (:data:`BIASED_DRAWS`) are divided by the multiplier: a draw in [0, 1/k) lands in the error
    bins k times as often, so every error rate of the group is multiplied by k (``ErrorRates``
    checks that the bins still fit in [0, 1)). Other draws (which letter a typo changes) are
    ``d``'s own. Needs the people column ``sex``."""

    def __init__(self, d: Draws, bias: ErrorBias):
        super().__init__(d.namespace, d.keys)
        object.__setattr__(self, "_base", d)
        object.__setattr__(self, "_bias", bias)

    def u(self, salt: str) -> str:
        """``d.u(salt)``, scaled for the biased group where ``salt`` chooses an error."""
        u = self._base.u(salt)
        if salt not in BIASED_DRAWS:
            return u
        return (f"(CASE WHEN sex = {sql_str(self._bias.sex)} "
                f"THEN {u} / {num(self._bias.multiplier)} ELSE {u} END)")


def swaps_and_gaps(d: Draws, rates: ErrorRates, gaps: SourceGaps | None) -> dict[str, str]:
    """A stage over the recorded identity: forename and surname swapped (``rates.name_swap``),
    and the source's gaps (``gaps``): DOB day and month unknown (recorded as 1 January of the
    year), no postcode. Empty when all those rates are zero."""
    stage = {}
    if rates.name_swap > 0:
        swap = below(d.u("name_swap"), rates.name_swap)
        stage["rec_first"] = f"CASE WHEN {swap} THEN rec_surname ELSE rec_first END"
        stage["rec_surname"] = f"CASE WHEN {swap} THEN rec_first ELSE rec_surname END"
    if gaps is not None and gaps.dob_day_month > 0:
        stage["rec_dob"] = (f"CASE WHEN {below(d.u('gap_dob'), gaps.dob_day_month)} "
                            "THEN make_date(year(rec_dob), 1, 1) ELSE rec_dob END")
    if gaps is not None and gaps.postcode > 0:
        stage["rec_postcode"] = (f"CASE WHEN {below(d.u('gap_postcode'), gaps.postcode)} "
                                 "THEN CAST(NULL AS STRING) ELSE rec_postcode END")
    return stage


def recorded_identity(
    d: Draws, rates: ErrorRates, gaps: SourceGaps | None = None
) -> list[dict[str, str]]:
    """Stages of columns giving rec_first, rec_middle, rec_surname, rec_dob, rec_postcode_state
    and rec_postcode: the values a record carries after the error model (with ``rates.bias``,
    one group's records carry more errors: see :class:`GroupBiasedDraws`), then forename/surname
    swaps and the source's ``gaps`` (:func:`swaps_and_gaps`)."""
    if rates.bias is not None and rates.bias.multiplier != 1.0:
        d = GroupBiasedDraws(d, rates.bias)
    first, middle = forename_variant_sql("first_name", "middle_name", "nickname", d, rates)
    state = postcode_state_sql(d, rates)
    typos = {**typo_inputs("first", "first_name", d), **typo_inputs("surname", "surname", d)}
    identity = {
        "rec_first": first,
        "rec_middle": middle,
        "rec_surname": surname_variant_sql("surname", "other_surname", d, rates),
        "rec_dob": dob_variant_sql("dob", d, rates),
        "rec_postcode_state": state,
        "rec_postcode": f"CASE {state} WHEN 'current' THEN postcode "
        "WHEN 'previous' THEN previous_postcode END",
    }
    last = swaps_and_gaps(d, rates, gaps)
    return [typos, identity, last] if last else [typos, identity]
