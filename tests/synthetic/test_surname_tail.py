"""``SyntheticSpec.surname_tail``: surnames beyond the 400 listed ones, so that a population of
national size has as few same-surname strangers as a real one (docs/synthetic.md)."""

from __future__ import annotations

import math

import pytest
from pyspark.sql import functions as F

from bold_spark.synthetic import SyntheticSpec
from bold_spark.synthetic.lookups import (
    TAIL_END,
    TAIL_FIRST,
    WEIGHTED_SLOTS,
    lookup_rows,
    surname_value,
    tail_surname_slot,
)
from bold_spark.synthetic.population import build_people

TAIL = 0.73


def test_surname_tail_must_be_a_probability():
    assert SyntheticSpec().surname_tail == 0.0
    assert SyntheticSpec(difficulty="realistic").surname_tail == 0.0
    with pytest.raises(ValueError, match="surname_tail"):
        SyntheticSpec(surname_tail=1.5)


def test_tail_slots_follow_one_over_rank_and_spell_distinct_names(spark):
    n = 200_000
    u = "((CAST(id AS DOUBLE) + 0.5D) / 200000D)"
    slots = spark.range(n).selectExpr(f"{tail_surname_slot(u)} - {WEIGHTED_SLOTS} AS k")
    s = slots.agg(F.min("k").alias("lo"), F.max("k").alias("hi"),
                  F.expr(f"avg(CASE WHEN k < {math.sqrt(TAIL_FIRST * TAIL_END)} THEN 1 ELSE 0 END)")
                  .alias("below_geometric_mean"),
                  F.expr(f"avg(CASE WHEN k < {2 * TAIL_FIRST} THEN 1 ELSE 0 END)").alias("below_double")).first()
    assert s["lo"] == TAIL_FIRST and s["hi"] == TAIL_END - 1
    # P(k) proportional to 1/k: half the draws below the geometric mean of the bounds, and
    # ln 2 / ln(TAIL_END / TAIL_FIRST) of them below twice the first number
    assert abs(s["below_geometric_mean"] - 0.5) < 0.001
    assert abs(s["below_double"] - math.log(2) / math.log(TAIL_END / TAIL_FIRST)) < 0.001
    # every tail number is its own name; a listed slot keeps its listed name
    every = spark.range(TAIL_FIRST, TAIL_END).selectExpr(
        f"id + {WEIGHTED_SLOTS} AS s", "CAST(NULL AS STRING) AS value").alias("t") \
        .selectExpr(f"{surname_value('t', 's')} AS name")
    spelt = every.agg(F.countDistinct("name").alias("names"),
                      F.expr("sum(CASE WHEN name RLIKE '^[A-Z]{4,}$' THEN 1 ELSE 0 END)").alias("plain")).first()
    assert spelt["names"] == TAIL_END - TAIL_FIRST == spelt["plain"]
    listed = spark.sql("SELECT 'SMITH' AS value, 3 AS s").alias("t").selectExpr(f"{surname_value('t', 's')} AS n")
    assert listed.first()["n"] == "SMITH"


def test_realistic_population_with_a_tail(spark):
    """The listed names lose the tail's share, households still share the head's surname, and the
    commonest surnames become as rare as the spec says."""
    people = 6000
    spec = SyntheticSpec(people=people, seed=9, difficulty="realistic", surname_tail=TAIL)
    p = build_people(spark, spec).select("person_id", "household_id", "household_role", "surname",
                                         "other_surname").localCheckpoint()
    listed = {value for lookup, value, *_ in lookup_rows()[0] if lookup == "surname"}
    in_list = F.col("surname").isin(sorted(listed))
    heads = p.where("household_role = 'head'").select("household_id", F.col("surname").alias("head_surname"))
    s = p.join(heads, "household_id", "left").agg(
        F.count("*").alias("n"),
        F.avg(F.when(~F.col("surname").contains("-"), in_list.cast("int"))).alias("listed"),
        F.sum(F.when((F.col("household_role") == "child") & (F.col("surname") != F.col("head_surname")), 1)
              .otherwise(0)).alias("child_differs"),
        F.countDistinct(F.when(~F.col("surname").contains("-"), F.col("surname"))).alias("distinct"),
        F.avg(F.col("other_surname").isin(sorted(listed)).cast("int")).alias("other_listed"),
    ).first()
    # single people and heads draw their own; members take the head's: the share of listed
    # surnames is the listed share (13 tail names are also listed ones: a few tenths of a point)
    assert abs(s["listed"] - (1 - TAIL)) < 0.04, s["listed"]
    assert abs(s["other_listed"] - (1 - TAIL)) < 0.04, s["other_listed"]
    assert s["child_differs"] == 0
    assert s["distinct"] > 2.5 * len(listed)  # at most the 400 listed without a tail
    without = build_people(spark, SyntheticSpec(people=people, seed=9, difficulty="realistic")) \
        .where(~F.col("surname").contains("-")).agg(F.countDistinct("surname").alias("d")).first()["d"]
    assert without <= len(listed)
