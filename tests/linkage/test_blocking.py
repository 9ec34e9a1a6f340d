"""Pre-flight comparison counts and the cap that refuses a blow-up."""

import pytest
from pyspark.sql import functions as F

from bold_spark.exceptions import BlockingCapExceeded
from bold_spark.linkage.blocking import check_blocking, count_rule_comparisons
from bold_spark.linkage.incremental import with_focus
from bold_spark.linkage.pairs import blocked_pairs, symmetric_rule
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


@pytest.mark.parametrize("scope", [PairScope(), PairScope(["a"]), PairScope(link_only=True),
                                   PairScope(["a"], link_only=True), PairScope(["a", "c"], link_only=True)])
def test_pair_count_formula_matches_generated_pairs_for_every_scope(spark, scope):
    rows = [(f"r{i:02d}", "abc"[i % 3], "SMITH" if i < 9 else "JONES") for i in range(14)]
    recs = spark.createDataFrame(rows, "record_key string, source string, surname string")
    rule = BlockingRule(0, "l.surname = r.surname")
    assert count_rule_comparisons(recs, rule, scope).comparisons == blocked_pairs(recs, [rule], scope).count()
    assert scope.total_pairs(recs) == blocked_pairs(recs, [BlockingRule(0, "1 = 1")], scope).count()


@pytest.mark.parametrize("rules, broadcast", [
    # symmetric: one join per rule, pairs oriented afterwards
    ([BlockingRule(0, "l.surname = r.surname"), BlockingRule(1, "l.dob = r.dob")], True),
    # not symmetric (a one-sided term): the two joins per rule
    ([BlockingRule(0, "l.surname = r.surname and l.dob > '1985'"), BlockingRule(1, "l.dob = r.dob")], False),
])
def test_focus_pairs_are_the_pairs_touching_the_focus(spark, recs, rules, broadcast):
    scope = ANCHOR_A
    assert all(symmetric_rule(r.sql) for r in rules) == (rules[0].sql == "l.surname = r.surname")
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
