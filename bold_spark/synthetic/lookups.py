"""Small reference lists shipped in bold_spark/data, as broadcastable DataFrames keyed by a slot.

A weighted list is expanded to a fixed number of slots, each value owning a number of slots in
proportion to its frequency; drawing a uniform slot index and joining on it samples the list with
the right skew, using an equi-join instead of a range join or a Python UDF.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

#: Slots per weighted list: the rarest name still gets several slots.
WEIGHTED_SLOTS = 10_000


@dataclass(frozen=True)
class Lookup:
    """``df`` has columns ``slot`` (0..slots-1), the value columns, and optional key columns."""

    df: DataFrame
    slots: int


@dataclass(frozen=True)
class Lookups:
    forenames: Lookup  # columns: sex, slot, forename (the same slot count for each sex)
    surnames: Lookup  # columns: slot, surname
    outward_codes: Lookup  # columns: slot, outward
    streets: Lookup  # columns: slot, street
    nicknames: DataFrame  # columns: forename, nickname (one nickname per forename)


def _read_rows(filename: str) -> list[dict[str, str]]:
    text = resources.files("bold_spark").joinpath("data", filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _read_lines(filename: str) -> list[str]:
    text = resources.files("bold_spark").joinpath("data", filename).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def slot_ranges(weights: list[float], slots: int) -> list[tuple[int, int]]:
    """(first slot, number of slots) per item, proportional to the weights, covering 0..slots-1.
    Every item with a positive weight gets at least one slot."""
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


def _expand(spark: SparkSession, rows: list[tuple], value_cols: list[str]) -> DataFrame:
    """rows: (*values, first_slot, n_slots) -> one row per slot."""
    schema = ", ".join([f"{c} string" for c in value_cols] + ["first_slot int", "n_slots int"])
    small = spark.createDataFrame(rows, schema)
    slot = F.explode(F.sequence(F.col("first_slot"), F.col("first_slot") + F.col("n_slots") - 1))
    return small.select(*value_cols, slot.alias("slot"))


def weighted_lookup(
    spark: SparkSession, values: list[str], weights: list[float], value_col: str,
    slots: int = WEIGHTED_SLOTS, extra: dict[str, str] | None = None,
) -> DataFrame:
    ranges = slot_ranges(weights, slots)
    extra = extra or {}
    rows = [(*extra.values(), v, start, n) for v, (start, n) in zip(values, ranges)]
    return _expand(spark, rows, [*extra.keys(), value_col])


def load_lookups(spark: SparkSession) -> Lookups:
    forename_rows = _read_rows("forenames.csv")
    by_sex = []
    for sex in ("M", "F"):
        rows = [r for r in forename_rows if r["sex"] == sex]
        by_sex.append(weighted_lookup(
            spark, [r["forename"] for r in rows], [float(r["weight"]) for r in rows],
            "forename", extra={"sex": sex},
        ))
    surname_rows = _read_rows("surnames.csv")
    surnames = weighted_lookup(
        spark, [r["surname"] for r in surname_rows], [float(r["weight"]) for r in surname_rows],
        "surname",
    )
    outwards = _read_lines("outward_codes.txt")
    streets = [r["street"] for r in _read_rows("streets.csv")]
    nickname_rows = [(r["forename"], r["nickname"]) for r in _read_rows("nicknames.csv")]
    return Lookups(
        forenames=Lookup(by_sex[0].unionByName(by_sex[1]), WEIGHTED_SLOTS),
        surnames=Lookup(surnames, WEIGHTED_SLOTS),
        outward_codes=Lookup(
            weighted_lookup(spark, outwards, [1.0] * len(outwards), "outward", len(outwards)),
            len(outwards),
        ),
        streets=Lookup(
            weighted_lookup(spark, streets, [1.0] * len(streets), "street", len(streets)),
            len(streets),
        ),
        nicknames=spark.createDataFrame(nickname_rows, "forename string, nickname string"),
    )


def join_lookup(
    df: DataFrame, lookup: DataFrame, slot_col: str, renames: dict[str, str],
    keys: dict[str, str] | None = None,
) -> DataFrame:
    """Left-join a broadcast lookup on ``df[slot_col] == lookup.slot`` (and ``keys``:
    df column -> lookup column), adding the lookup's columns renamed by ``renames``."""
    keys = keys or {}
    right = lookup.select(
        F.col("slot").alias("_lk_slot"),
        *[F.col(src).alias(f"_lk_key_{i}") for i, src in enumerate(keys.values())],
        *[F.col(src).alias(dst) for src, dst in renames.items()],
    )
    cond = F.col(slot_col) == F.col("_lk_slot")
    for i, left_col in enumerate(keys):
        cond = cond & (F.col(left_col) == F.col(f"_lk_key_{i}"))
    joined = df.join(F.broadcast(right), cond, "left")
    return joined.drop("_lk_slot", *[f"_lk_key_{i}" for i in range(len(keys))])
