"""Reference lists shipped in bold_spark/data, as one small broadcast table keyed by a slot.

A weighted list (forenames, surnames) is expanded to a fixed number of slots, each value owning
slots in proportion to its frequency: drawing a uniform slot and joining on it samples the list
with the right skew, by an equi-join rather than a range join or a Python UDF. Unweighted lists
(outward codes, streets) get one slot per value.

All lists live in one table ``(lookup, slot, value, nickname)``: the joins of a query broadcast
a handful of small filtered copies of it (Spark reuses identical exchanges), and the nickname of
a first name comes with the first-name join.
"""

from __future__ import annotations

import csv
import json
import weakref
from dataclasses import dataclass
from functools import cache
from importlib import resources

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bold_spark.synthetic.randomness import sql_str

#: Slots per weighted list: the rarest name still gets several slots.
WEIGHTED_SLOTS = 10_000
#: ``SyntheticSpec.common_names``: people drawn from the first share of a weighted list's slots,
#: which the most frequent names own (the lists are in frequency order): the 8 commonest
#: forenames of each sex and the 13 commonest surnames.
COMMON_SLOT_SHARE = 0.2
#: Slots of each per-initial forename list (``forename_initial:<sex>:<letter>``, weighted like the
#: full list): a twin's first name can share the co-twin's initial (``Households.twin_same_initial``).
INITIAL_SLOTS = 100

FORENAMES = "forename"  # one list per sex: 'forename:M', 'forename:F'
FORENAME_INITIALS = "forename_initial"  # one list per sex and initial: 'forename_initial:M:A'
SURNAMES = "surname"
OUTWARD_CODES = "outward"
STREETS = "street"


#: ``SyntheticSpec.surname_tail``: surnames beyond the listed ones are numbered from
#: ``TAIL_FIRST`` to ``TAIL_END`` - 1 and drawn with probability proportional to 1 / number (a
#: Zipf tail: at a tail of 0.73 its commonest name is 0.018% of people, near the rarest listed
#: ones' 0.029%, and its rarest 1/60 of that), as slots ``WEIGHTED_SLOTS + number`` that match no
#: lookup row.
TAIL_FIRST = 1_000
TAIL_END = 60_000
#: Parts a tail surname is spelt from (onset + middle + ending: 40 x 25 x 59 names, one per number).
_TAIL_ONSETS = (
    "ASH", "BARN", "BRAD", "BRACK", "CALD", "CAR", "CHAD", "COLD", "CRAN", "DAL", "DUN", "ELM",
    "FAIR", "FEN", "GAR", "GLAS", "HAL", "HAR", "HAW", "HOL", "KEL", "KIN", "LANG", "LIN", "MAR",
    "MEL", "MOR", "NOR", "OAK", "PEN", "RAD", "RAV", "ROS", "SAL", "SHEL", "STAN", "TAL", "THORN",
    "WAL", "WIN",
)
_TAIL_MIDDLES = (
    "", "A", "E", "I", "O", "ER", "EN", "LE", "MER", "RING", "WOOD", "STON", "BER", "DEN", "LING",
    "SEL", "TER", "VER", "AN", "ING", "OR", "AL", "EL", "IS", "UM",
)
_TAIL_ENDINGS = (
    "BY", "TON", "LEY", "HAM", "FORD", "WELL", "WORTH", "FIELD", "BURY", "COTT", "DALE", "GATE",
    "HURST", "LOCK", "MORE", "SHAW", "STEAD", "THWAITE", "WICK", "WOOD", "BRIDGE", "BROOK",
    "COMBE", "CROFT", "DEN", "DON", "FOOT", "GREAVE", "HILL", "HOLME", "HOUSE", "LAND", "LOW",
    "MAN", "MARSH", "MILL", "MOOR", "NEY", "RIDGE", "SON", "STOW", "THORPE", "TREE", "WARD", "WAY",
    "WELLS", "WIN", "WORTHY", "YARD", "BECK", "CASTLE", "CLIFF", "COURT", "ER", "ES", "INS", "KINS",
    "LING", "SEY",
)
#: Multiplier of the bijection that scatters tail numbers over the parts (coprime to the
#: tail's size), so that the commonest tail names do not all share an ending.
_TAIL_SCATTER = 104_729


def tail_surname_slot(u: str) -> str:
    """SQL: a slot of the surname tail (``WEIGHTED_SLOTS + n``, ``TAIL_FIRST <= n < TAIL_END``)
    from the uniform draw ``u``, with P(n) proportional to 1 / n."""
    lo, hi = TAIL_FIRST, TAIL_END
    n = f"CAST(floor(exp(ln({lo}D) + {u} * ln({hi / lo!r}D))) AS INT)"
    return f"{WEIGHTED_SLOTS} + least(greatest({n}, {lo}), {hi - 1})"


def surname_value(tag: str, slot_sql: str) -> str:
    """SQL: the surname of a slot joined as ``tag`` (:class:`LookupJoin`): the listed name, or for
    a tail slot (no lookup row) the tail name spelt from its number."""
    size = TAIL_END - TAIL_FIRST
    m = f"pmod((CAST({slot_sql} AS BIGINT) - {WEIGHTED_SLOTS + TAIL_FIRST}) * {_TAIL_SCATTER}L, {size})"
    parts = [(_TAIL_ONSETS, "1"), (_TAIL_MIDDLES, str(len(_TAIL_ONSETS))),
             (_TAIL_ENDINGS, str(len(_TAIL_ONSETS) * len(_TAIL_MIDDLES)))]
    spelt = ", ".join(
        f"element_at(array({', '.join(sql_str(p) for p in words)}), "
        f"CAST(pmod(floor({m} / {div}), {len(words)}) AS INT) + 1)" for words, div in parts)
    return f"coalesce({tag}.value, concat({spelt}))"


@dataclass(frozen=True)
class Lookups:
    """The name, street and postcode lists as one small table of weighted slots, for joins."""

    # lookup string, slot int, value string, nickname string (forenames only), and the value's
    # slots: range_start int, range_size int
    table: DataFrame
    slots: dict[str, int]  # lookup -> number of slots


def _data_text(filename: str) -> str:
    return resources.files("bold_spark").joinpath("data", filename).read_text(encoding="utf-8")


def _read_rows(filename: str) -> list[dict[str, str]]:
    return list(csv.DictReader(_data_text(filename).splitlines()))


def slot_ranges(weights: list[float], slots: int) -> list[tuple[int, int]]:
    """(first slot, number of slots) per item, proportional to the weights, covering 0..slots-1.
    Every item gets at least one slot."""
    if len(weights) > slots:
        raise ValueError(f"{len(weights)} items do not fit in {slots} slots")
    total = float(sum(weights))
    bounds = [0]
    cumulative = 0.0
    for i, w in enumerate(weights):
        cumulative += w
        remaining_items = len(weights) - i - 1
        bound = round(cumulative / total * slots)
        bound = max(bound, bounds[-1] + 1)  # at least one slot
        bound = min(bound, slots - remaining_items)  # leave one slot for each later item
        bounds.append(bound)
    bounds[-1] = slots
    return [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(len(weights))]


@cache
def lookup_rows() -> tuple[tuple[tuple[str, str, str | None, int, int], ...], dict[str, int]]:
    """(lookup, value, nickname, first slot, slot count) rows and the slot count per lookup,
    read from the package data once per process."""
    nicknames = {r["forename"]: r["nickname"] for r in _read_rows("nicknames.csv")}
    rows: list[tuple[str, str, str | None, int, int]] = []
    slots: dict[str, int] = {}

    def add(lookup: str, values: list[str], weights: list[float], n_slots: int) -> None:
        for value, (start, count) in zip(values, slot_ranges(weights, n_slots), strict=True):
            rows.append(
                (
                    lookup,
                    value,
                    nicknames.get(value) if lookup.startswith(FORENAMES) else None,
                    start,
                    count,
                )
            )
        slots[lookup] = n_slots

    forenames = _read_rows("forenames.csv")
    for sex in ("M", "F"):
        chosen = [r for r in forenames if r["sex"] == sex]
        add(
            f"{FORENAMES}:{sex}",
            [r["forename"] for r in chosen],
            [float(r["weight"]) for r in chosen],
            WEIGHTED_SLOTS,
        )
        for initial in sorted({r["forename"][0] for r in chosen}):
            same = [r for r in chosen if r["forename"][0] == initial]
            add(
                f"{FORENAME_INITIALS}:{sex}:{initial}",
                [r["forename"] for r in same],
                [float(r["weight"]) for r in same],
                INITIAL_SLOTS,
            )
    surnames = _read_rows("surnames.csv")
    add(
        SURNAMES,
        [r["surname"] for r in surnames],
        [float(r["weight"]) for r in surnames],
        WEIGHTED_SLOTS,
    )
    outwards = [
        line.strip() for line in _data_text("outward_codes.txt").splitlines() if line.strip()
    ]
    add(OUTWARD_CODES, outwards, [1.0] * len(outwards), len(outwards))
    streets = [r["street"] for r in _read_rows("streets.csv")]
    add(STREETS, streets, [1.0] * len(streets), len(streets))
    return tuple(rows), slots


_SESSION_LOOKUPS: weakref.WeakKeyDictionary[SparkSession, Lookups] = weakref.WeakKeyDictionary()


def load_lookups(spark: SparkSession) -> Lookups:
    """The lookup table, built in the JVM from one JSON literal (no Python worker, unlike a
    ``createDataFrame`` from a Python list, which needs them on every use). Built once per
    session."""
    cached = _SESSION_LOOKUPS.get(spark)
    if cached is None:
        cached = _SESSION_LOOKUPS[spark] = _build_lookups(spark)
    return cached


def _build_lookups(spark: SparkSession) -> Lookups:
    rows, slots = lookup_rows()
    fields = ("lookup", "value", "nickname", "first_slot", "n_slots")
    as_json = json.dumps([dict(zip(fields, row, strict=True)) for row in rows])
    schema = "array<struct<lookup:string,value:string,nickname:string,first_slot:int,n_slots:int>>"
    # One JSON string literal: lexed as a single token, much cheaper to parse than a VALUES list.
    small = spark.range(1).selectExpr(f"inline(from_json({sql_str(as_json)}, '{schema}'))")
    table = small.selectExpr(
        "lookup",
        "explode(sequence(first_slot, first_slot + n_slots - 1)) AS slot",
        "value",
        "nickname",
        "first_slot AS range_start",
        "n_slots AS range_size",
    )
    return Lookups(table, dict(slots))


@dataclass(frozen=True)
class LookupJoin:
    """Join the lookup table as ``tag`` where lookup = ``lookup_sql`` and slot = ``slot_sql``
    (SQL over the left side); the joined values are then ``tag.value``/``tag.nickname``."""

    tag: str
    lookup_sql: str
    slot_sql: str


def join_lookups(df: DataFrame, lookups: Lookups, joins: list[LookupJoin]) -> DataFrame:
    """Left-join the broadcast lookup table once per ``LookupJoin``. The output keeps every
    column, the lookup's qualified by its tag: select what you need afterwards."""
    out = df
    for j in joins:
        right = F.broadcast(lookups.table).alias(j.tag)
        cond = F.expr(f"{j.tag}.lookup = {j.lookup_sql} AND {j.tag}.slot = {j.slot_sql}")
        out = out.join(right, cond, "left")
    return out
