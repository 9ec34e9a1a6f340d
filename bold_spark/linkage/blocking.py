"""Pre-flight comparison counts per blocking rule, and the cap that refuses a blow-up.

Counts come from group-by on each rule's equi-join keys (no join is run), with the pair
count of the link group's scope per block (see ``PairScope.pair_count``). They are upper
bounds: filters and pairs already found by earlier rules are not subtracted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.exceptions import BlockingCapExceeded
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import BlockingRule

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleCount:
    """A blocking rule's comparisons (an upper bound) and its largest block's record count."""

    rule: BlockingRule
    comparisons: int
    largest_block: int


def equi_join_keys(rule: BlockingRule) -> list[tuple[str, str]]:
    """(left expression, right expression) pairs of the rule's equality conditions."""
    from splink.internals.blocking import BlockingRule as SplinkRule

    return SplinkRule(rule.sql, sql_dialect_str="spark")._equi_join_conditions


def _rule_blocks(recs: DataFrame, rule: BlockingRule, scope: PairScope) -> DataFrame:
    """Per block of the rule: its size ``n`` and in-scope ``pairs``, tagged with the rule index."""
    keys = equi_join_keys(rule)
    symmetric = bool(keys) and all(left == right for left, right in keys)
    # Without a symmetric equi-join every pair is a candidate: counted as one block.
    key_exprs = [F.expr(left) for left, _ in keys] if symmetric else [F.lit(1)]
    return scope.block_counts(recs, key_exprs).select(F.lit(rule.index).alias("rule"), "n", "pairs")


def count_comparisons(
    recs: DataFrame, rules: list[BlockingRule], scope: PairScope
) -> list[RuleCount]:
    """Comparisons each blocking rule generates, from block sizes (no join), in one Spark job.

    Parameters:
        recs: the link group's records.
        rules: the blocking rules.
        scope: which pairs the link group scores.

    Returns one :class:`RuleCount` per rule, in order: upper bounds (pairs an earlier rule
    finds, and filters beyond the equi-join, are not subtracted).
    """
    parts = [_rule_blocks(recs, r, scope) for r in rules]
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    rows = (union.groupBy("rule")
            .agg(F.sum("pairs").alias("pairs"), F.max("n").alias("largest")).collect())
    by_rule = {r["rule"]: r for r in rows}
    return [
        RuleCount(r, int((by_rule.get(r.index) or {"pairs": 0})["pairs"] or 0),
                  int((by_rule.get(r.index) or {"largest": 0})["largest"] or 0))
        for r in rules
    ]


def count_rule_comparisons(recs: DataFrame, rule: BlockingRule, scope: PairScope) -> RuleCount:
    """:func:`count_comparisons` for one rule."""
    return count_comparisons(recs, [rule], scope)[0]


def check_blocking(
    recs: DataFrame,
    rules: list[BlockingRule],
    scope: PairScope,
    max_comparisons: int,
    link_group: str,
) -> list[RuleCount]:
    """The blocking pre-flight: count comparisons per rule, log them, refuse a blow-up.

    Parameters:
        recs: the link group's records.
        rules: the model's blocking rules.
        scope: which pairs the link group scores.
        max_comparisons: the cap on the total (the pipeline config's ``max_comparisons``).
        link_group: the group's name, for the log and the error.

    Returns the counts per rule (:func:`count_comparisons`).

    Raises:
        BlockingCapExceeded: the total passes the cap; the message names the rule with the
            most comparisons and its largest block.
    """
    counts = count_comparisons(recs, rules, scope)
    total = sum(c.comparisons for c in counts)
    for c in counts:
        logger.info(
            "[%s] blocking rule %d: %d comparisons (largest block %d records): %s",
            link_group, c.rule.index, c.comparisons, c.largest_block, c.rule.sql,
        )
    logger.info("[%s] blocking total: %d comparisons (cap %d)", link_group, total, max_comparisons)
    if total > max_comparisons:
        worst = max(counts, key=lambda c: c.comparisons)
        raise BlockingCapExceeded(
            f"link group '{link_group}': blocking rules would generate {total:,} comparisons, "
            f"over the cap of {max_comparisons:,} (max_comparisons). The rule that blows up is "
            f"rule {worst.rule.index} `{worst.rule.sql}` with {worst.comparisons:,} comparisons "
            f"(largest block {worst.largest_block:,} records): tighten it, or raise the cap."
        )
    return counts
