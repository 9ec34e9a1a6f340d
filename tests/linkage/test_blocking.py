"""Pre-flight comparison counts and the cap that refuses a blow-up."""

import pytest
from pyspark.sql import functions as F

from bold_spark.exceptions import BlockingCapExceeded
from bold_spark.linkage.blocking import (
    RuleCount,
    check_blocking,
    count_comparisons,
    count_rule_comparisons,
    either_flag,
    prefer_keyed,
)
from bold_spark.linkage.incremental import with_focus
from bold_spark.linkage.pairs import blocked_pairs, keyed, keyed_pairs, symmetric_rule
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import BlockingRule

ALL = PairScope()
ANCHOR_A = PairScope(anchor_sources=["a"])


@pytest.fixture()
def recs(spark):
    rows = [(f"r{i:02d}", "a" if i < 3 else "b", "SMITH" if i < 8 else f"N{i}", "1980-01-01" if i % 2 else "1990-05-05")
            for i in range(12)]
    return spark.createDataFrame(rows, "record_key string, source string, surname string, dob string")


def test_counts_match_generated_pairs(spark, recs):
    rule = BlockingRule(0, "l.surname = r.surname")
    assert count_rule_comparisons(recs, rule, ALL).comparisons == 8 * 7 // 2
    assert blocked_pairs(recs, [rule], ALL).count() == 28
    # with anchors: only pairs including source 'a' (3 SMITHs in a, 5 in b): 3 + 3*5
    c = count_rule_comparisons(recs, rule, ANCHOR_A)
    assert c.comparisons == 3 + 15 and c.largest_block == 8
    assert blocked_pairs(recs, [rule], ANCHOR_A).count() == 18


def test_each_pair_generated_once_across_rules(spark, recs):
    rules = [BlockingRule(0, "l.surname = r.surname"), BlockingRule(1, "l.dob = r.dob")]
    pairs = blocked_pairs(recs, rules, ALL)
    keys = [(r["record_key_l"], r["record_key_r"]) for r in pairs.collect()]
    assert len(keys) == len(set(keys))
    assert all(left < right for left, right in keys)
    # dob blocks of 6 and 6 -> 30 pairs; 28 surname pairs; overlap = SMITH pairs with equal dob (4C2+4C2=12)
    assert len(keys) == 28 + 30 - 12


def test_cap_refusal_names_the_rule(spark, recs):
    rules = [BlockingRule(0, "l.dob = r.dob and l.surname = r.surname"), BlockingRule(1, "l.surname = r.surname")]
    with pytest.raises(BlockingCapExceeded) as e:
        check_blocking(recs, rules, ALL, max_comparisons=20, link_group="g")
    msg = str(e.value)
    assert "rule 1 `l.surname = r.surname`" in msg and "28 comparisons" in msg and "cap of 20" in msg
    counts = check_blocking(recs, rules, ALL, max_comparisons=1000, link_group="g")
    assert [c.comparisons for c in counts] == [12, 28]
    # no cap (None, as training takes it; the benchmarks score every pair): counted, not refused
    uncapped = check_blocking(recs, rules, ALL, max_comparisons=None, link_group="g")
    assert [c.comparisons for c in uncapped] == [12, 28]


@pytest.mark.parametrize("scope", [PairScope(), PairScope(["a"]), PairScope(link_only=True),
                                   PairScope(["a"], link_only=True), PairScope(["a", "c"], link_only=True)])
def test_pair_count_formula_matches_generated_pairs_for_every_scope(spark, scope):
    rows = [(f"r{i:02d}", "abc"[i % 3], "SMITH" if i < 9 else "JONES") for i in range(14)]
    recs = spark.createDataFrame(rows, "record_key string, source string, surname string")
    rule = BlockingRule(0, "l.surname = r.surname")
    assert count_rule_comparisons(recs, rule, scope).comparisons == blocked_pairs(recs, [rule], scope).count()
    assert scope.total_pairs(recs) == blocked_pairs(recs, [BlockingRule(0, "1 = 1")], scope).count()


@pytest.mark.parametrize("rule, symmetric", [
    ("l.surname = r.surname", True),
    ("l.dob = r.dob and least(l.first_name, l.surname) = least(r.first_name, r.surname)", True),
    # an `or` of one-sided terms that swap into each other (a 1 January rule, tried on the rich model)
    ("l.surname = r.surname and l.dob_year = r.dob_year and (l.dob_is_placeholder or r.dob_is_placeholder)", True),
    ("l.surname = r.surname and (l.a = r.b or l.b = r.a)", True),
    ("l.surname = r.surname and l.dob > '1985'", False),
    ("l.surname = r.surname and (l.dob_is_placeholder or r.sex = 'F')", False),
    ("l.surname = r.surname and (l.a = r.b or l.b = r.c)", False),
    ("l.first_name = r.surname", False),
    # an `and` inside the parentheses splits the term: left as written, so not symmetric
    ("l.x = r.x and (l.p or (r.p and l.q))", False),
])
def test_symmetric_rule(rule, symmetric):
    assert symmetric_rule(rule) is symmetric


@pytest.mark.parametrize("rules, broadcast", [
    # symmetric: one join per rule, pairs oriented afterwards
    ([BlockingRule(0, "l.surname = r.surname"), BlockingRule(1, "l.dob = r.dob")], True),
    ([BlockingRule(0, "l.surname = r.surname and (l.dob = '1980-01-01' or r.dob = '1980-01-01')"),
      BlockingRule(1, "l.dob = r.dob")], True),
    # not symmetric (a one-sided term): the two joins per rule
    ([BlockingRule(0, "l.surname = r.surname and l.dob > '1985'"), BlockingRule(1, "l.dob = r.dob")], False),
])
def test_focus_pairs_are_the_pairs_touching_the_focus(spark, recs, rules, broadcast):
    scope = ANCHOR_A
    assert all(symmetric_rule(r.sql) for r in rules) == broadcast
    focus = spark.createDataFrame([("r01",), ("r04",), ("r05",), ("r09",)], "record_key string")
    keys = {"r01", "r04", "r05", "r09"}
    cols = ["record_key_l", "record_key_r", "source_l", "surname_r", "dob_l", "match_key"]
    everything = {tuple(r) for r in blocked_pairs(recs, rules, scope).select(*cols).collect()}
    expected = {p for p in everything if p[0] in keys or p[1] in keys}
    got = blocked_pairs(with_focus(recs, focus), rules, scope, broadcast_focus=broadcast) \
        .select(*cols).collect()
    assert len(got) == len(expected) and {tuple(r) for r in got} == expected
    assert 0 < len(expected) < len(everything)
    assert blocked_pairs(with_focus(recs, focus), rules, scope).where(
        F.col("record_key_l") >= F.col("record_key_r")).count() == 0


@pytest.mark.parametrize("scope", [ALL, ANCHOR_A, PairScope(link_only=True)])
def test_keyed_pairs_are_the_per_rule_joins_pairs(spark, scope):
    # the keyed path (one join of hashed block keys for all rules) against the per-rule joins of
    # the records (what every record in focus runs): the same pairs, orientation and first rule,
    # with nulls, an expression key, a filter beyond the equi-join, a one-sided term; and with
    # the hash cut to 2 bits, so that blocks of different keys collide all the time
    import random

    rnd = random.Random(1)
    rows = [(f"k{i:03d}", rnd.choice("abc"), rnd.choice(["x", "y", None]), rnd.choice("xyz"),
             rnd.randint(1, 3), rnd.random() < 0.3) for i in range(120)]
    rnd.shuffle(rows)
    recs = spark.createDataFrame(rows, "record_key string, source string, f string, s string, n int, flag boolean")
    rules = [BlockingRule(0, "l.f = r.f and l.n = r.n"),
             BlockingRule(1, "least(l.f, l.s) = least(r.f, r.s) and l.n = r.n"),
             BlockingRule(2, "l.s = r.s and (l.flag or r.flag)"),
             BlockingRule(3, "l.n = r.n and l.s < r.s")]
    assert keyed(rules) and not keyed([*rules, BlockingRule(4, "l.f = r.s")])
    cols = ["record_key_l", "record_key_r", "source_l", "s_l", "s_r", "flag_r", "match_key"]
    joins = sorted(map(tuple, blocked_pairs(recs.withColumn("_focus", F.lit(True)), rules, scope)
                       .select(*cols).collect()))
    assert {p[-1] for p in joins} == {0, 1, 2, 3}
    assert sorted(map(tuple, blocked_pairs(recs, rules, scope, keyed_join=True).select(*cols).collect())) == joins
    assert sorted(map(tuple, keyed_pairs(recs, rules, scope, key_bits=2).select(*cols).collect())) == joins
    # with a focus (an incremental run): the pairs with a focus record on a side, each once, two
    # focus records paired included, broadcast or not
    picked = {f"k{i:03d}" for i in rnd.sample(range(120), 15)}
    focused = recs.withColumn("_focus", F.col("record_key").isin(*picked))
    touching = [p for p in joins if p[0] in picked or p[1] in picked]
    assert any(p[0] in picked and p[1] in picked for p in touching) and 0 < len(touching) < len(joins)
    for broadcast in (True, False):
        got = blocked_pairs(focused, rules, scope, broadcast_focus=broadcast, keyed_join=True)
        assert sorted(map(tuple, got.select(*cols).collect())) == touching
    assert sorted(map(tuple, keyed_pairs(focused, rules, scope, key_bits=2, broadcast_focus=True)
                      .select(*cols).collect())) == touching
    with pytest.raises(ValueError, match="symmetric equi-join"):
        keyed_pairs(recs, [*rules, BlockingRule(4, "l.f = r.s")], scope)


def test_prefer_keyed_compares_records_read_with_pairs(spark, recs):
    # 12 records: surname blocks of 8 (+4 singles), dob blocks of 6 and 6
    rules = [BlockingRule(0, "l.surname = r.surname"), BlockingRule(1, "l.dob = r.dob")]
    counts = count_comparisons(recs, rules, ALL)
    assert [c.records for c in counts] == [12, 12] and [c.comparisons for c in counts] == [28, 30]
    assert not prefer_keyed(counts)  # 24 records read for 58 pairs
    many = [RuleCount(BlockingRule(i, "l.dob = r.dob"), 10, 2, records=100) for i in range(3)]
    assert prefer_keyed(many)
    assert not prefer_keyed([*many, RuleCount(BlockingRule(3, "l.dob = r.surname"), 10, 2, records=100)])


@pytest.mark.parametrize("scope", [ALL, ANCHOR_A, PairScope(link_only=True)])
def test_either_flag_rule_is_counted_exactly(spark, scope):
    # `(l.f or r.f)`: only pairs with the flag on one side at least are made, so only those are
    # counted (null is no flag); the block's size is still all its records
    rows = [(f"r{i:02d}", "a" if i < 4 else "b", "SMITH" if i < 10 else "JONES",
             [True, False, None][i % 3] if i != 11 else False) for i in range(14)]
    recs = spark.createDataFrame(rows, "record_key string, source string, surname string, ph boolean")
    for sql in ("l.surname = r.surname and (l.ph or r.ph)", "l.surname = r.surname and (r.ph or l.ph)"):
        rule = BlockingRule(0, sql)
        c = count_rule_comparisons(recs, rule, scope)
        made = blocked_pairs(recs, [rule], scope).count()
        assert c.comparisons == made
        assert 0 < made < count_rule_comparisons(recs, BlockingRule(0, "l.surname = r.surname"), scope).comparisons
        assert c.largest_block == 10


def test_either_flag_only_for_the_same_column_on_both_sides():
    assert either_flag(BlockingRule(0, "l.s = r.s and (l.dob_is_placeholder or r.dob_is_placeholder)")) \
        == "dob_is_placeholder"
    assert either_flag(BlockingRule(0, "l.s = r.s and (l.a or r.b)")) is None
    assert either_flag(BlockingRule(0, "l.s = r.s and (l.a or l.a)")) is None
    assert either_flag(BlockingRule(0, "l.s = r.s and l.a")) is None
