"""What to generate: population size, seed and the error model's rates."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

#: Identifier formats used here can only number this many people without collisions
#: (probation CRNs: one letter + 6 digits, two per person).
MAX_PEOPLE = 10_000_000


@dataclass(frozen=True)
class ErrorBias:
    """One group's records carry more errors: for people of true sex ``sex``, every name, date
    of birth and postcode error rate is multiplied by ``multiplier`` (bad rows and probation
    duplicates are not). Used to build test data with a known linkage bias (the report's bias
    section must find it)."""

    sex: str = "F"
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.sex not in ("M", "F"):
            raise ValueError(f"ErrorBias.sex must be 'M' or 'F', got {self.sex!r}")
        if not isinstance(self.multiplier, (int, float)) or self.multiplier <= 0:
            raise ValueError(f"ErrorBias.multiplier must be > 0, got {self.multiplier!r}")


@dataclass(frozen=True)
class ErrorRates:
    """Probabilities of each error, per generated record (row) unless said otherwise.

    Errors of one field are mutually exclusive, so each rate is directly measurable:

    * first name: ``initials_only`` + ``nickname`` + ``typo`` + ``name_shift`` <= 1.
      ``nickname`` applies only to forenames that have one (see data/nicknames.csv), and
      ``name_shift`` (first and middle names swapped) only to people with a middle name.
    * surname: ``surname_change`` (other surname: maiden/married name) + ``hyphenated``
      (double-barrelled form, or one part of a true double-barrelled name) + ``typo`` <= 1.
    * date of birth: ``dob_placeholder`` (1 January of the true year) + ``dob_swap`` (day and
      month swapped; applies only where the true day <= 12 and differs from the month) +
      ``dob_typo`` (one day or one year out) + ``dob_wrong`` (another date altogether: a day and
      month drawn afresh in a year up to five years either side, as when a person gives another
      date of birth, or it is keyed for someone else) <= 1.
    * postcode: ``postcode_missing`` + ``postcode_out_of_date`` (previous address) <= 1.
    * ``name_swap`` (forename and surname recorded the wrong way round) has a draw of its own
      and applies after the name errors above.

    ``bad_rows`` is the expected share of each extract that row validation must quarantine:
    blank mandatory DOB, unparseable DOB, or a duplicated record id (a re-sent row: both copies
    carry the same id and the same person, so the ground truth holds that id twice).
    ``probation_duplicate`` is per person: the share of probation cases opened twice (two CRNs).
    ``id_typo``: the share of recorded identifiers (PNC, NOMS number, NI number) keyed with one
    digit wrong, drawn per identifier and row; the format stays valid, so the record carries
    another person's possible number (its own draw: not raised by ``bias``).
    """

    typo: float = 0.03
    nickname: float = 0.10
    surname_change: float = 0.02
    hyphenated: float = 0.01
    dob_swap: float = 0.02
    dob_placeholder: float = 0.005
    dob_typo: float = 0.01
    dob_wrong: float = 0.0
    postcode_missing: float = 0.05
    postcode_out_of_date: float = 0.10
    name_shift: float = 0.02
    initials_only: float = 0.02
    bad_rows: float = 0.002
    probation_duplicate: float = 0.03
    name_swap: float = 0.0
    id_typo: float = 0.0
    bias: ErrorBias | None = None  # one group's records carry more errors (see ErrorBias)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "bias":
                continue
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(
                    f"ErrorRates.{f.name} must be a probability in [0, 1], got {value!r}"
                )
        groups = {
            "first name": (self.initials_only, self.nickname, self.typo, self.name_shift),
            "surname": (self.surname_change, self.hyphenated, self.typo),
            "date of birth": (self.dob_placeholder, self.dob_swap, self.dob_typo, self.dob_wrong),
            "postcode": (self.postcode_missing, self.postcode_out_of_date),
        }
        scale = self.bias.multiplier if self.bias else 1.0
        for name, rates in groups.items():
            if sum(rates) > 1.0:
                raise ValueError(f"ErrorRates: the {name} error rates add up to more than 1")
            if sum(rates) * scale > 1.0:
                raise ValueError(f"ErrorRates: the {name} error rates times the bias multiplier "
                                 f"{scale} add up to more than 1")
        if self.bad_rows > 0.5:
            raise ValueError("ErrorRates.bad_rows above 0.5 makes no sense for an extract")

    @classmethod
    def none(cls) -> ErrorRates:
        """Clean data: every rate zero."""
        return cls(**{f.name: 0.0 for f in fields(cls) if f.name != "bias"})


@dataclass(frozen=True)
class Pathways:
    """The probation -> drug treatment pathway (docs/synthetic.md, docs/analysis.md).

    ``drr_share`` of people on probation have a sentence with a drug rehabilitation requirement
    (DRR). Of those, ``start_within_3_weeks`` start treatment in NDTMS 0-21 days after the
    sentence and ``start_within_6_months`` (cumulative, so at least the former) within 0-182
    days; the rest start no treatment after it. Illustrative rates in the direction of the BOLD
    findings (well under half start within 3 weeks), not official figures."""

    drr_share: float = 0.15
    start_within_3_weeks: float = 0.30
    start_within_6_months: float = 0.55

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
                raise ValueError(f"Pathways.{f.name} must be a probability in [0, 1], got {value!r}")
        if self.start_within_3_weeks > self.start_within_6_months:
            raise ValueError("Pathways.start_within_3_weeks must not exceed start_within_6_months "
                             "(the 6-month share includes the 3-week one)")


#: Consecutive person ids that make up one household block (see :class:`Households`).
HOUSEHOLD_SLOTS = 5
#: Largest number of children of a household's head in the data (slots 2..4 of a block).
MAX_CHILDREN = HOUSEHOLD_SLOTS - 2


def _check_probability(owner: str, name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{owner}.{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class Households:
    """Related people who share a surname and an address (docs/synthetic.md, Realistic preset).

    Person ids are taken in blocks of :data:`HOUSEHOLD_SLOTS` (0-4, 5-9, ...). The first id of a
    block is a household head; the second is the head's ``partner`` with that probability (else an
    unrelated single person); the next ``n`` ids are the head's children, ``n`` drawn per block
    from ``children`` (the probabilities of 0, 1, 2 and 3 children in the data); the remaining
    ids are unrelated single people. Every rate is per block, so each is the observed share.

    * ``partner_shares_surname``: a partner carries the head's surname (their own is then their
      other, maiden surname: what ``ErrorRates.surname_change`` records); else they keep theirs.
    * Children carry the head's surname; partners and children share the head's current and
      previous address (house, street, postcode).
    * ``twins``: a child after the first is the twin of the child before (same date of birth);
      otherwise siblings are born 10 months to 5 years apart.
    * ``twin_same_initial``: a twin's first name is another name with the co-twin's initial
      (``Ellie`` and ``Emma``), drawn from the same frequencies.
    * ``junior``: the first child has the head's sex and first name.

    Household members are different people (their own person ids, NI numbers, PNCs, ...): the
    ground truth is exact. ``Households.none()`` (every person on their own) is the standard
    preset and leaves the generated data exactly as it was before households existed.
    """

    partner: float = 0.45
    children: tuple[float, ...] = (0.55, 0.20, 0.15, 0.10)
    partner_shares_surname: float = 0.70
    twins: float = 0.015
    twin_same_initial: float = 0.5
    junior: float = 0.05

    def __post_init__(self) -> None:
        for name in ("partner", "partner_shares_surname", "twins", "twin_same_initial", "junior"):
            _check_probability("Households", name, getattr(self, name))
        children = tuple(self.children)
        object.__setattr__(self, "children", children)
        if len(children) != MAX_CHILDREN + 1:
            raise ValueError(f"Households.children must give the probabilities of 0..{MAX_CHILDREN} "
                             f"children ({MAX_CHILDREN + 1} values), got {children!r}")
        for i, value in enumerate(children):
            _check_probability("Households", f"children[{i}]", value)
        if abs(sum(children) - 1.0) > 1e-9:
            raise ValueError(f"Households.children must add up to 1, got {sum(children)!r}")

    @property
    def enabled(self) -> bool:
        """Whether any person lives with another (else every person is on their own)."""
        return self.partner > 0 or self.children[0] < 1

    @classmethod
    def none(cls) -> Households:
        """Nobody lives with anybody else in the data (the standard preset)."""
        return cls(partner=0.0, children=(1.0, 0.0, 0.0, 0.0), partner_shares_surname=0.0,
                   twins=0.0, twin_same_initial=0.0, junior=0.0)


@dataclass(frozen=True)
class SourceGaps:
    """Fields one source often lacks, per record, on top of the error model: ``dob_day_month``
    (the date of birth is recorded as 1 January of its year: day and month unknown) and
    ``postcode`` (no postcode, drawn independently of ``ErrorRates.postcode_missing``)."""

    source: str
    dob_day_month: float = 0.0
    postcode: float = 0.0

    def __post_init__(self) -> None:
        for name in ("dob_day_month", "postcode"):
            _check_probability("SourceGaps", name, getattr(self, name))

    @property
    def enabled(self) -> bool:
        """Whether the source has any gap (a rate above zero)."""
        return self.dob_day_month > 0 or self.postcode > 0


#: The presets ``SyntheticSpec.difficulty`` names.
DIFFICULTIES = ("standard", "realistic")

#: The realistic preset's error rates: the standard ones raised (docs/synthetic.md).
REALISTIC_ERRORS = ErrorRates(
    typo=0.05,
    nickname=0.20,
    surname_change=0.06,
    hyphenated=0.02,
    dob_swap=0.03,
    dob_placeholder=0.01,
    dob_typo=0.03,
    dob_wrong=0.01,
    postcode_missing=0.08,
    postcode_out_of_date=0.20,
    name_shift=0.05,
    initials_only=0.05,
    bad_rows=0.002,
    probation_duplicate=0.05,
    name_swap=0.02,
    id_typo=0.01,
)
#: The realistic preset's per-source gaps (illustrative: one source rarely has the day and month
#: of birth, another often lacks a postcode).
REALISTIC_GAPS = (
    SourceGaps("ndtms", dob_day_month=0.05, postcode=0.10),
    SourceGaps("prison", dob_day_month=0.02, postcode=0.10),
    SourceGaps("probation", dob_day_month=0.02, postcode=0.25),
    SourceGaps("benefits", dob_day_month=0.0, postcode=0.02),
    SourceGaps("homelessness", dob_day_month=0.30, postcode=0.30),
)
#: The realistic preset's share of people drawn from the most common names.
REALISTIC_COMMON_NAMES = 0.10
#: ``SyntheticSpec.surname_tail`` at which the realistic preset's 22 commonest surnames are
#: about 9% of people (33.8% with the listed names only, 200,000 people, seed 42).
NATIONAL_SURNAME_TAIL = 0.73


@dataclass(frozen=True)
class SyntheticSpec:
    """``people`` is the number of distinct true persons across all sources (their union).

    ``difficulty`` picks a preset for every field left unset (None): ``"standard"`` (the
    default: the error rates of :class:`ErrorRates`, nobody related, no source gaps, names as
    frequent as listed) or ``"realistic"`` (households, twins, more and harder errors, fields
    missing by source and common names; docs/synthetic.md). Fields given explicitly win over the
    preset, so ``SyntheticSpec(difficulty="realistic", errors=ErrorRates.none())`` has
    households but no record errors.

    ``common_names`` is the share of people whose first name and surname are both drawn from
    the most common names (the top :data:`~bold_spark.synthetic.lookups.COMMON_SLOT_SHARE` of
    each list's frequency), so that many unrelated people share a forename and surname.

    ``surname_tail`` (default 0 in both presets) is the share of surname draws taken from a long
    tail of about 59,000 rarer surnames instead of the 400 listed ones (Zipf: frequency
    proportional to 1 / rank; :func:`~bold_spark.synthetic.lookups.tail_surname_slot`). The
    listed names alone are about three times as concentrated as England and Wales' surnames;
    :data:`NATIONAL_SURNAME_TAIL` brings the 22 commonest to about 9% of people, as on the 1996
    electoral registers (docs/synthetic.md): for benchmarks at national scale.
    """

    people: int = 2000
    seed: int = 42
    errors: ErrorRates | None = None
    pathways: Pathways = field(default_factory=Pathways)
    difficulty: str = "standard"
    households: Households | None = None
    source_gaps: tuple[SourceGaps, ...] | None = None
    common_names: float | None = None
    surname_tail: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.people, int) or not 1 <= self.people <= MAX_PEOPLE:
            raise ValueError(f"SyntheticSpec.people must be 1..{MAX_PEOPLE:,}, got {self.people!r}")
        if not isinstance(self.seed, int) or not -(2**31) <= self.seed < 2**31:
            raise ValueError(f"SyntheticSpec.seed must be a 32-bit integer, got {self.seed!r}")
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(f"SyntheticSpec.difficulty must be one of {', '.join(DIFFICULTIES)}, "
                             f"got {self.difficulty!r}")
        realistic = self.difficulty == "realistic"
        preset = {
            "errors": REALISTIC_ERRORS if realistic else ErrorRates(),
            "households": Households() if realistic else Households.none(),
            "source_gaps": REALISTIC_GAPS if realistic else (),
            "common_names": REALISTIC_COMMON_NAMES if realistic else 0.0,
        }
        for name, value in preset.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "source_gaps", tuple(self.source_gaps))
        _check_probability("SyntheticSpec", "common_names", self.common_names)
        _check_probability("SyntheticSpec", "surname_tail", self.surname_tail)
        sources = [g.source for g in self.source_gaps]
        if len(set(sources)) != len(sources):
            raise ValueError(f"SyntheticSpec.source_gaps lists a source twice: {sources}")

    def gaps(self, source: str) -> SourceGaps:
        """The fields ``source`` lacks (none if ``source_gaps`` does not list it)."""
        return next((g for g in self.source_gaps if g.source == source), SourceGaps(source))
