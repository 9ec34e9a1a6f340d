"""Pre-flight checks before any join: comparison counts per blocking rule with the cap that
refuses a blow-up, the per-block cap that skips oversized blocks, and a model's SQL checked
against the records' columns.

Counts come from group-by on each rule's equi-join keys (no join is run), with the pair
count of the link group's scope per block (see ``PairScope.pair_count``). They are upper
bounds: filters and pairs already found by earlier rules are not subtracted, except a term that
asks for a flag on either side, ``(l.f or r.f)`` with ``f`` a column: a block's pairs among its
records without the flag are taken off (a rule on a surname, an initial, a year and
``(l.dob_is_placeholder or r.dob_is_placeholder)`` joins blocks of the first three but makes
only the pairs with a 1 January date on one side).

The per-block cap (``max_block_size``, off when 0): a block of a rule with more records than
the cap (a placeholder date of birth shared by thousands of records) is skipped by that rule,
not joined: the rule's other blocks and the other rules are unaffected. Only rules whose
equality conditions compare the same expression on both sides (``l.dob = r.dob``) have blocks
to skip; a rule without one is a single block and is left to ``max_comparisons``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.exceptions import BlockingCapExceeded, ConfigError
from bold_spark.linkage.model import meta_path
from bold_spark.linkage.pairs import block_hash, keyed
from bold_spark.linkage.scope import SOURCE, PairScope, entry_rows
from bold_spark.linkage.sql import (
    BlockingRule,
    and_terms,
    block_keys,
    blocking_rules,
    final_score_expressions,
    gamma_expressions,
    match_weight_part_expressions,
    rule_term,
    spark_sql,
    tf_columns,
)

if TYPE_CHECKING:
    from bold_spark.linkage.model import LinkModel

logger = logging.getLogger(__name__)

#: Column flagging the records of a rule's oversized blocks (``{prefix}{rule position}``).
SKIP_FLAG = "_skip_block_"


@dataclass(frozen=True)
class RuleCount:
    """A blocking rule's comparisons (an upper bound) and its largest block's record count,
    over the blocks it joins; with a per-block cap, what it skips: blocks over the cap, the
    records in them and the comparisons they would have made; ``records``: the records in the
    blocks it joins (what a join of the rule reads)."""

    rule: BlockingRule
    comparisons: int
    largest_block: int
    skipped_blocks: int = 0
    skipped_records: int = 0
    skipped_comparisons: int = 0
    records: int = 0


def either_flag(rule: BlockingRule) -> str | None:
    """The column ``f`` of the rule's top-level term ``(l.f or r.f)`` (either order), if it has
    one: the pairs with the flag on one side at least."""
    for term in and_terms(rule.sql):
        t = rule_term(term)
        if len(t) == 3 and t[0] == "or" and t[1].startswith("l.") and t[2] == "r." + t[1][2:] \
                and t[1][2:].isidentifier():
            return t[1][2:]
    return None


def _rule_keys(recs: DataFrame, rules: list[BlockingRule]) -> DataFrame:
    """One row per record and rule whose block key is complete: ``rule`` (position),
    ``skippable`` (the rule has block keys) and ``key``, a 64-bit hash of the rule's key values
    (:func:`~bold_spark.linkage.pairs.block_hash`; 0 for a rule without keys: one block),
    beside ``source``; ``unflagged`` rows repeat a record without the flag of an
    :func:`either_flag` rule, whose pairs that rule never makes. One pass over ``recs`` for all
    rules: each rule read on its own re-ran the records' plan (term frequencies included) once
    per rule, dozens of small stages per pre-flight. The hash rather than the key values as
    strings: the count at 1,000,605 records and 14 rules took 21.5 s instead of 26.3 s. Two
    blocks whose keys share a hash (a chance of about 2^-64 per pair of distinct keys) would be
    counted as one, which only raises the upper bound."""
    entries = []
    for i, rule in enumerate(rules):
        hashed = block_hash(rule, i)
        skippable = hashed is not None
        key = hashed if skippable else F.lit(0).cast("bigint")
        entries.append(F.struct(F.lit(i).alias("rule"), F.lit(skippable).alias("skippable"),
                                key.alias("key"), F.lit(False).alias("unflagged")))
        flag = either_flag(rule)
        if flag is not None:
            # null counts as unflagged: `null or null` is not true, the join drops the pair
            entries.append(F.struct(
                F.lit(i).alias("rule"), F.lit(skippable).alias("skippable"),
                F.when(~F.coalesce(F.col(flag).cast("boolean"), F.lit(False)), key).alias("key"),
                F.lit(True).alias("unflagged")))
    return entry_rows(recs, [SOURCE], entries).where(F.col("key").isNotNull())


def count_comparisons(
    recs: DataFrame, rules: list[BlockingRule], scope: PairScope, max_block_size: int = 0,
) -> list[RuleCount]:
    """Comparisons each blocking rule generates, from block sizes (no join), in one Spark job
    over one pass of ``recs``.

    Parameters:
        recs: the link group's records.
        rules: the blocking rules (any indexes: counted by position).
        scope: which pairs the link group scores.
        max_block_size: with a value over 0, blocks of more records are counted as skipped
            (see the module docstring), not in ``comparisons`` and ``largest_block``.

    Returns one :class:`RuleCount` per rule, in order: upper bounds (pairs an earlier rule
    finds, and filters beyond the equi-join, are not subtracted).
    """
    blocks = scope.block_counts(_rule_keys(recs, rules),
                                [F.col("rule"), F.col("skippable"), F.col("key"), F.col("unflagged")])
    # a block's size is all its records (what the join reads); its pairs less the unflagged ones
    union = blocks.groupBy(F.col("_k0").alias("rule"), F.col("_k1").alias("skippable"), "_k2").agg(
        F.max(F.when(~F.col("_k3"), F.col("n"))).alias("n"),
        F.sum(F.when(F.col("_k3"), -F.col("pairs")).otherwise(F.col("pairs"))).alias("pairs"),
    ).where(F.col("n").isNotNull())
    big = (F.col("skippable") & (F.col("n") > max_block_size)) if max_block_size > 0 else F.lit(False)
    rows = union.groupBy("rule").agg(
        F.sum(F.when(~big, F.col("pairs"))).alias("pairs"),
        F.max(F.when(~big, F.col("n"))).alias("largest"),
        F.count(F.when(big, F.lit(1))).alias("skipped_blocks"),
        F.sum(F.when(big, F.col("n"))).alias("skipped_records"),
        F.sum(F.when(big, F.col("pairs"))).alias("skipped_pairs"),
        F.sum(F.when(~big, F.col("n"))).alias("records"),
    ).collect()
    by_rule = {r["rule"]: r for r in rows}

    def get(i: int, name: str) -> int:
        row = by_rule.get(i)
        return int(row[name] or 0) if row is not None else 0

    return [RuleCount(r, get(i, "pairs"), get(i, "largest"), get(i, "skipped_blocks"),
                      get(i, "skipped_records"), get(i, "skipped_pairs"), get(i, "records"))
            for i, r in enumerate(rules)]


#: :func:`prefer_keyed`'s break-even: records the per-rule joins read per pair they may make.
KEYED_MIN_READS_PER_PAIR = 1.25


def prefer_keyed(counts: list[RuleCount]) -> bool:
    """Whether a link group's pairs are cheaper found by
    :func:`~bold_spark.linkage.pairs.keyed_pairs` (one join of narrow rows for all rules, then
    each pair joined to its two records) than by a join of the records per rule.

    The per-rule joins shuffle the group's records once per rule (the ``records`` of each
    count); the keyed path shuffles each candidate pair with one side's record attached. So the
    keyed path is chosen when the rules are keyed and their joins would read at least
    :data:`KEYED_MIN_READS_PER_PAIR` records per pair they may make. Measured on the benchmark's
    population (2026-12-05, predict of one group, warm, same edges either way): the ``rich``
    group's 14 rules read about 1.8 records per pair (1,000,605 records, 7.2M pairs at most,
    1.88M made): 57.6 s keyed against 90.2 s by rule joins; the ``ndtms`` group's 6 rules read
    about 0.8 (1,240,132 records, 8.8M pairs at most, 5.95M made): 60.7 s against 32.2 s.
    """
    reads = sum(c.records for c in counts)
    return keyed([c.rule for c in counts]) and reads >= KEYED_MIN_READS_PER_PAIR * max(
        1, sum(c.comparisons for c in counts))


def count_rule_comparisons(recs: DataFrame, rule: BlockingRule, scope: PairScope) -> RuleCount:
    """:func:`count_comparisons` for one rule."""
    return count_comparisons(recs, [rule], scope)[0]


def log_counts(counts: list[RuleCount], link_group: str, max_block_size: int = 0,
               what: str = "blocking rule") -> None:
    """One line per rule (comparisons, largest block), and a warning per rule that skips
    blocks over ``max_block_size``: counts only, never a block's key values."""
    for c in counts:
        logger.info("[%s] %s %d: %d comparisons (largest block %d records): %s",
                    link_group, what, c.rule.index, c.comparisons, c.largest_block, c.rule.sql)
        if c.skipped_blocks:
            logger.warning(
                "[%s] %s %d `%s`: %d block(s) over max_block_size (%d records) skipped: %d "
                "records in them, %d comparisons not made by this rule",
                link_group, what, c.rule.index, c.rule.sql, c.skipped_blocks, max_block_size,
                c.skipped_records, c.skipped_comparisons)


def enforce_cap(counts: list[RuleCount], max_comparisons: int, link_group: str,
                what: str = "blocking rules") -> int:
    """Refuse when the rules' comparisons together pass ``max_comparisons``.

    Parameters:
        counts: the rules run in one join (:func:`count_comparisons`).
        max_comparisons: the cap (the pipeline config's ``max_comparisons``).
        link_group: the group's name, for the error.
        what: what the rules are, for the error ("blocking rules", "training's EM blocking
            rule"...).

    Returns the total.

    Raises:
        BlockingCapExceeded: the total passes the cap; the message names the rule with the
            most comparisons and its largest block.
    """
    total = sum(c.comparisons for c in counts)
    if total > max_comparisons:
        worst = max(counts, key=lambda c: c.comparisons)
        raise BlockingCapExceeded(
            f"link group '{link_group}': {what} would generate {total:,} comparisons, "
            f"over the cap of {max_comparisons:,} (max_comparisons). The rule that blows up is "
            f"rule {worst.rule.index} `{worst.rule.sql}` with {worst.comparisons:,} comparisons "
            f"(largest block {worst.largest_block:,} records): tighten it, or raise the cap."
        )
    return total


def check_blocking(
    recs: DataFrame,
    rules: list[BlockingRule],
    scope: PairScope,
    max_comparisons: int | None,
    link_group: str,
    max_block_size: int = 0,
) -> list[RuleCount]:
    """The blocking pre-flight: count comparisons per rule, log them, refuse a blow-up.

    Parameters:
        recs: the link group's records.
        rules: the model's blocking rules.
        scope: which pairs the link group scores.
        max_comparisons: the cap on the total (the pipeline config's ``max_comparisons``);
            None counts and logs without a cap (as training takes it).
        link_group: the group's name, for the log and the error.
        max_block_size: the per-block cap (0: off): blocks over it are counted as skipped, so
            pass it only where the joins skip them (:func:`skip_oversized_blocks`).

    Returns the counts per rule (:func:`count_comparisons`).

    Raises:
        BlockingCapExceeded: the total passes the cap; the message names the rule with the
            most comparisons and its largest block.
    """
    counts = count_comparisons(recs, rules, scope, max_block_size)
    log_counts(counts, link_group, max_block_size)
    total = sum(c.comparisons for c in counts)
    logger.info("[%s] blocking total: %d comparisons (cap %s)", link_group, total,
                "none" if max_comparisons is None else max_comparisons)
    if max_comparisons is not None:
        enforce_cap(counts, max_comparisons, link_group)
    return counts


def skip_oversized_blocks(
    recs: DataFrame, rules: list[BlockingRule], max_block_size: int,
) -> tuple[DataFrame, list[BlockingRule]]:
    """Make the rules' joins skip their blocks of more than ``max_block_size`` records.

    Parameters:
        recs: the link group's records.
        rules: the rules to cap (pass only those :func:`count_comparisons` found skipping
            blocks: each costs an aggregation of ``recs`` in the join's plan).
        max_block_size: the per-block cap, over 0.

    Returns ``recs`` with a boolean column per capped rule (``_skip_block_<position>``: the
    record is in one of the rule's oversized blocks) and the rules rewritten to leave those
    records out (``(<rule>) and not l._skip_block_<i> and not r._skip_block_<i>``); rules
    without a symmetric equi-join are returned as they are. Lazy: no Spark job.
    """
    out_rules = []
    for i, rule in enumerate(rules):
        keys = block_keys(rule)
        if not keys or max_block_size <= 0:
            out_rules.append(rule)
            continue
        flag = f"{SKIP_FLAG}{i}"
        names = [f"_bk{i}_{j}" for j in range(len(keys))]
        keyed = recs.select("*", *[F.expr(k).alias(n) for k, n in zip(keys, names, strict=True)])
        big = (keyed.where(" and ".join(f"{n} is not null" for n in names))
               .groupBy(*names).agg(F.count(F.lit(1)).alias("_n"))
               .where(F.col("_n") > max_block_size).select(*names, F.lit(True).alias(flag)))
        recs = (keyed.join(big, names, "left")
                .withColumn(flag, F.coalesce(F.col(flag), F.lit(False))).drop(*names))
        out_rules.append(BlockingRule(rule.index, f"({rule.sql}) and not l.{flag} and not r.{flag}"))
    return recs, out_rules


# ------------------------------------------------------------------ the model's SQL


def _spark_reason(e: AnalysisException) -> str:
    """Spark's error condition and its parameters (names from the SQL and the schema)."""
    params = "; ".join(f"{k} {v}" for k, v in (e.getMessageParameters() or {}).items() if v)
    return f"{e.getCondition() or type(e).__name__}" + (f" ({params})" if params else "")


def check_model_sql(records: DataFrame, model: LinkModel, training: bool = False) -> None:
    """Check that Spark can run every SQL condition of ``model`` on ``records``' columns: each
    blocking rule (and with ``training``, each deterministic and EM rule of its metadata) and
    each comparison level. Analysis only, on an empty frame: no Spark job, no data read.

    Parameters:
        records: the ``records`` table (its schema is what is checked against).
        model: the model to check.
        training: check the training rules of ``model.meta.training`` too.

    Raises:
        ConfigError: naming the model file (or its ``.meta.json``), the key of the failing
            rule or comparison level, the SQL and Spark's error condition (a typo'd column or
            function, a syntax error); or a model Splink cannot score.
    """
    settings = model.splink_settings()
    _check_scoring(model, settings)
    empty = records.limit(0)
    left, right = empty.alias("l"), empty.alias("r")
    rules = [(model.path, f"blocking_rules_to_generate_predictions[{r.index}]", r.sql)
             for r in blocking_rules(settings)]
    if training:
        tr = model.meta.training
        mpath = meta_path(model.path)
        rules += [(mpath, f"training.deterministic_rules[{i}]", sql)
                  for i, sql in enumerate(tr.deterministic_rules)]
        rules += [(mpath, f"training.em_blocking_rules[{i}]", sql)
                  for i, sql in enumerate(tr.em_blocking_rules)]
    for file, key, sql in rules:
        try:
            left.join(right, F.expr(sql))
        except AnalysisException as e:
            raise ConfigError(file, key, f"Spark cannot run rule `{sql}` on the records "
                                         f"table: {_spark_reason(e)}") from e
    sides = [F.col(f"`{c}`").alias(f"{c}_{s}") for s in ("l", "r") for c in empty.columns]
    tfs = [F.lit(None).cast("double").alias(f"tf_{c}_{s}") for c in tf_columns(settings) for s in ("l", "r")]
    pairs = empty.select(*sides, *tfs)
    try:
        pairs.selectExpr(*gamma_expressions(settings))
        return
    except AnalysisException:
        pass  # find the level
    for k, comparison in enumerate(settings.comparisons):
        for j, level in enumerate(comparison.comparison_levels):
            if level._is_else_level:
                continue
            sql = level.sql_condition
            try:
                pairs.selectExpr(f"CASE WHEN {spark_sql(sql)} THEN 1 END")
            except AnalysisException as e:
                raise ConfigError(
                    model.path, f"comparisons[{k}].comparison_levels[{j}].sql_condition",
                    f"Spark cannot run `{sql}` (comparison '{comparison.output_column_name}') on "
                    f"the records table: {_spark_reason(e)}") from e
    try:  # a problem no single level shows (Splink's CASE around them)
        pairs.selectExpr(*gamma_expressions(settings))
    except AnalysisException as e:
        raise ConfigError(model.path, "comparisons", "Spark cannot run the comparisons on the "
                          f"records table: {_spark_reason(e)}") from e


def _check_scoring(model: LinkModel, settings) -> None:
    """Splink can write the model's match-weight SQL (it raises ValueError for a term-frequency
    adjustment without an exact-match level, for one): a ConfigError naming the file."""
    try:
        match_weight_part_expressions(settings)
        final_score_expressions(settings)
    except ValueError as e:
        raise ConfigError(model.path, "comparisons", f"Splink cannot score this model: {e}") from e
