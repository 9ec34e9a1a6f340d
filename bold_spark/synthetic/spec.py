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
      ``dob_typo`` (one day or one year out) <= 1.
    * postcode: ``postcode_missing`` + ``postcode_out_of_date`` (previous address) <= 1.

    ``bad_rows`` is the expected share of each extract that row validation must quarantine:
    blank mandatory DOB, unparseable DOB, or a duplicated record id (a re-sent row: both copies
    carry the same id and the same person, so the ground truth holds that id twice).
    ``probation_duplicate`` is per person: the share of probation cases opened twice (two CRNs).
    """

    typo: float = 0.03
    nickname: float = 0.10
    surname_change: float = 0.02
    hyphenated: float = 0.01
    dob_swap: float = 0.02
    dob_placeholder: float = 0.005
    dob_typo: float = 0.01
    postcode_missing: float = 0.05
    postcode_out_of_date: float = 0.10
    name_shift: float = 0.02
    initials_only: float = 0.02
    bad_rows: float = 0.002
    probation_duplicate: float = 0.03
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
            "date of birth": (self.dob_placeholder, self.dob_swap, self.dob_typo),
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


@dataclass(frozen=True)
class SyntheticSpec:
    """``people`` is the number of distinct true persons across all sources (their union)."""

    people: int = 2000
    seed: int = 42
    errors: ErrorRates = field(default_factory=ErrorRates)
    pathways: Pathways = field(default_factory=Pathways)

    def __post_init__(self) -> None:
        if not isinstance(self.people, int) or not 1 <= self.people <= MAX_PEOPLE:
            raise ValueError(f"SyntheticSpec.people must be 1..{MAX_PEOPLE:,}, got {self.people!r}")
        if not isinstance(self.seed, int) or not -(2**31) <= self.seed < 2**31:
            raise ValueError(f"SyntheticSpec.seed must be a 32-bit integer, got {self.seed!r}")
