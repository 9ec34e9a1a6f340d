"""Blocked pairs and comparison vectors as Spark DataFrames (pure transforms)."""

from __future__ import annotations

import re
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.linkage.scope import PairScope, entry_rows
from bold_spark.linkage.sql import (
    RECORD_KEY,
    SOURCE,
    BlockingRule,
    and_terms,
    block_keys,
    gamma_expressions,
    rule_term,
    tf_columns,
)


def term_frequencies(records: DataFrame, col: str, name: str | None = None) -> DataFrame:
    """One row per non-null value of ``col``: the value and its relative frequency among the
    non-null values (as Splink computes it), named ``name`` (default ``tf_<col>``)."""
    counts = records.where(F.col(col).isNotNull()).groupBy(col).agg(F.count(F.lit(1)).alias("_n"))
    total = counts.agg(F.sum("_n").alias("_t"))
    return counts.crossJoin(F.broadcast(total)).select(
        col, (F.col("_n") / F.col("_t")).cast("double").alias(name or f"tf_{col}")
    )


def with_term_frequencies(records: DataFrame, columns: list[str]) -> DataFrame:
    """Add ``tf_<col>`` (:func:`term_frequencies`) to each record, from a small broadcast
    lookup per column."""
    out = records
    for col in columns:
        out = out.join(F.broadcast(term_frequencies(records, col)), on=col, how="left")
    return out


def group_records(
    records: DataFrame, sources: list[str], columns: list[str], settings
) -> DataFrame:
    """The records of a link group, narrowed to what the model reads.

    Parameters:
        records: the ``records`` table (or any frame with its columns).
        sources: the link group's sources.
        columns: the columns to keep (``sql.needed_columns``).
        settings: the model as Splink's Settings object (for its term-frequency columns).

    Returns the group's records with ``columns`` and a ``tf_<col>`` column per
    term-frequency-adjusted column.
    """
    recs = records.where(F.col(SOURCE).isin(*sources)).select(*columns)
    return with_term_frequencies(recs, tf_columns(settings))


#: An incremental run's flag on a link group's records: the record is new, changed or moved
#: (:mod:`bold_spark.linkage.incremental`), and only pairs with one on a side are scored.
FOCUS = "_focus"
#: The record number the keyed path joins on, in place of the (long) record key.
_RID = "_rid"
#: The most rules the keyed path takes: each is a bit of a long.
KEYED_MAX_RULES = 63


def keyed(rules: list[BlockingRule]) -> bool:
    """True when :func:`keyed_pairs` can find the rules' pairs: each rule has a symmetric
    equi-join (:func:`~bold_spark.linkage.sql.block_keys`) and there are at most
    :data:`KEYED_MAX_RULES` of them."""
    return 0 < len(rules) <= KEYED_MAX_RULES and all(block_keys(r) for r in rules)


def block_hash(rule: BlockingRule, position: int) -> Column | None:
    """A 64-bit hash of ``position`` and the rule's block key values over one record, null when
    a key value is null (the equi-join pairs no such record); None for a rule without block
    keys. Equal keys give equal hashes; distinct keys share one with a chance of about 2^-64
    per pair of keys."""
    exprs = [F.expr(k) for k in block_keys(rule)]
    if not exprs:
        return None
    complete = reduce(lambda a, b: a & b, [e.isNotNull() for e in exprs])
    return F.when(complete, F.xxhash64(F.lit(position), *exprs))


def _oriented(a, b, cols: list[str]) -> list[Column]:
    """Each of ``cols`` from a pair's two sides (``a(c)`` and ``b(c)`` give a side's column) as
    ``<c>_l`` and ``<c>_r``, the side with the smaller record key on the left."""
    swap = a(RECORD_KEY) > b(RECORD_KEY)
    return ([F.when(swap, b(c)).otherwise(a(c)).alias(f"{c}_l") for c in cols]
            + [F.when(swap, a(c)).otherwise(b(c)).alias(f"{c}_r") for c in cols])


def pair_columns(recs: DataFrame) -> list[str]:
    """The record columns each side of a pair carries (as ``<col>_l`` and ``<col>_r``): all but
    the focus flag and the record number."""
    return [c for c in recs.columns if c not in (FOCUS, _RID)]


def numbered(recs: DataFrame) -> DataFrame:
    """``recs`` with a record number, the key :func:`keyed_pairs` joins on (as it is when it has
    one). Materialise the result (``localCheckpoint``) before it is read twice: the numbers are
    only fixed once stored."""
    return recs if is_numbered(recs) else recs.withColumn(_RID, F.monotonically_increasing_id())


def is_numbered(recs: DataFrame) -> bool:
    """True when ``recs`` carries :func:`numbered`'s record numbers."""
    return _RID in recs.columns


def blocked_pairs(
    recs: DataFrame,
    rules: list[BlockingRule],
    scope: PairScope,
    exclude_earlier_rules: bool = True,
    broadcast_focus: bool = False,
    focus_rows: DataFrame | None = None,
    keyed_join: bool = False,
) -> DataFrame:
    """The pairs blocking rules find, as a Spark join per rule (no pair materialised apart), or
    with ``keyed_join`` by :func:`keyed_pairs` (the rules must be :func:`keyed`; see
    :func:`~bold_spark.linkage.blocking.prefer_keyed` for when that pays).

    Parameters:
        recs: the link group's records (:func:`group_records`).
        rules: the blocking rules, in order.
        scope: which pairs the link group scores (anchor sources, link only).
        exclude_earlier_rules: skip pairs an earlier rule finds, so each pair appears once
            (False for training, which blocks on one rule at a time).
        broadcast_focus: broadcast the focus records into each rule's join (below).
        focus_rows: the rows of ``recs`` whose ``_focus`` is true, materialised by the caller:
            each rule's join then reads them instead of filtering all of ``recs`` again (one
            pass over every record per rule, when broadcast).
        keyed_join: find the pairs by :func:`keyed_pairs` instead (each pair once, so with
            ``exclude_earlier_rules``; ``focus_rows`` unused).

    Returns one row per pair (``record_key_l < record_key_r``) with every column of ``recs``
    as ``<col>_l`` and ``<col>_r``, and ``match_key``: the index of the rule that found it.

    Raises:
        ValueError: ``keyed_join`` without ``exclude_earlier_rules``, or with rules that are not
            all :func:`keyed` (from :func:`keyed_pairs`).

    With a boolean ``_focus`` column in ``recs`` (incremental runs), only pairs with a focus
    record on at least one side: each rule joins the focus records against all records twice
    (focus on the left, then on the right with a non-focus left), so the work grows with the
    focus, not with all pairs, and each pair still appears once. ``broadcast_focus``: the focus
    records are few enough to broadcast, so all records stream through each join unshuffled
    (sort-merge joins shuffled every record twice per rule: 5.9 GB of shuffle for one
    incremental predict over 1.25M records and 16 rules). When every rule is symmetric in l and
    r (:func:`symmetric_rule`; the scope always is), one join per rule serves: focus records
    against all records, each pair kept once and oriented so that ``record_key_l <
    record_key_r`` (half the joins).
    """
    if keyed_join:
        if not exclude_earlier_rules:
            raise ValueError("blocked_pairs: keyed_join finds each pair once (exclude_earlier_rules)")
        return keyed_pairs(recs, rules, scope, broadcast_focus=broadcast_focus)
    cols = pair_columns(recs)
    focused = FOCUS in recs.columns
    one_join = focused and all(symmetric_rule(r.sql) for r in rules)
    left, right = recs.alias("l"), recs.alias("r")
    if one_join:
        # l is a focus record; a pair of two focus records is kept from its smaller key's side,
        # then every pair is oriented (the rules and the scope hold either way round)
        keys = f"l.{RECORD_KEY} <> r.{RECORD_KEY} and (not r.{FOCUS} or l.{RECORD_KEY} < r.{RECORD_KEY})"
        select = _oriented(lambda c: F.col(f"l.`{c}`"), lambda c: F.col(f"r.`{c}`"), cols)
    else:
        keys = f"l.{RECORD_KEY} < r.{RECORD_KEY}"
        select = [F.col(f"l.`{c}`").alias(f"{c}_l") for c in cols] + [
            F.col(f"r.`{c}`").alias(f"{c}_r") for c in cols
        ]
    focus = (focus_rows if focus_rows is not None else recs.where(F.col(FOCUS))) if focused else None
    if focused and broadcast_focus:
        focus = F.broadcast(focus)
    parts = []
    for rule in rules:
        cond = F.expr(rule.sql)
        where = F.expr(f"{keys} and {scope.sql()}")
        if exclude_earlier_rules:
            for prev in rules:
                if prev.index < rule.index:
                    where = where & ~F.coalesce(F.expr(f"({prev.sql})"), F.lit(False))
        tag = F.lit(rule.index).alias("match_key")
        if not focused:
            parts.append(left.join(right, cond, "inner").where(where).select(*select, tag))
            continue
        parts.append(focus.alias("l").join(right, cond, "inner").where(where).select(*select, tag))
        if not one_join:
            parts.append(left.join(focus.alias("r"), cond, "inner")
                         .where(where & ~F.col(f"l.{FOCUS}")).select(*select, tag))
    return reduce(lambda a, b: a.unionByName(b), parts)


def keyed_pairs(recs: DataFrame, rules: list[BlockingRule], scope: PairScope,
                key_bits: int = 64, broadcast_focus: bool = False) -> DataFrame:
    """:func:`blocked_pairs` (each pair once, by the first rule that finds it; with a ``_focus``
    column only pairs with a focus record on a side) for rules that are all :func:`keyed`, with
    one join of narrow rows for all rules instead of a join of the wide records per rule.

    Each record is numbered (``recs`` is materialised once, with the numbers, unless it holds
    them already: :func:`numbered`, materialised by the caller). Each record and
    rule whose block key is complete gives a narrow row: the record's number, its source and a
    64-bit hash of the rule's position and key values. One self-join of those rows on (rule,
    hash), within the scope, and a group-by per pair give every candidate pair with the set of
    rules whose hash it shares (a bit each). Each candidate is then joined to its two records
    once, oriented so that ``record_key_l < record_key_r``, and given the first rule of its set
    whose whole condition holds on the pair: that is the first rule that finds it, because a
    rule that holds has equal keys on both sides, so equal hashes. A hash collision only adds
    a candidate no rule holds on, which is dropped; filters beyond the equi-join (``(l.f or
    r.f)``) are applied there too.

    With a focus (an incremental run), the focus records' rows are joined against every
    record's rows (broadcast with ``broadcast_focus``, so the rows of all records stream
    through unshuffled), a pair of two focus records kept from its smaller number's side; the
    records are then attached as above. That is one pass over the records for the rows and one
    to attach them, instead of a pass per rule.

    Measured on 1,000,605 records of the benchmark's population and the ``rich`` model (14
    rules, 1.88M pairs, warm): about 22 s to find the pairs' numbers, 2.5 s to join them to
    their records; the group's predict 57.6 s against 90.2 s by per-rule joins, with the same
    pairs. It costs more than it saves when the rules make many pairs per record they read
    (:func:`~bold_spark.linkage.blocking.prefer_keyed`).

    Parameters:
        recs: the link group's records, with a boolean ``_focus`` for an incremental run.
        rules: the blocking rules, in order; all :func:`keyed`.
        scope: which pairs the link group scores (a condition symmetric in l and r).
        key_bits: the hash's bits kept (below 64 only in tests, to force collisions).
        broadcast_focus: the focus records are few enough to broadcast their rows.

    Returns the columns :func:`blocked_pairs` returns.

    Raises:
        ValueError: a rule without a symmetric equi-join, or more than :data:`KEYED_MAX_RULES`.
    """
    if not keyed(rules):
        raise ValueError("keyed_pairs: every blocking rule needs a symmetric equi-join "
                         f"(block keys) and at most {KEYED_MAX_RULES} rules")
    focused = FOCUS in recs.columns
    cols = pair_columns(recs)
    ordered = sorted(rules, key=lambda r: r.index)
    rows = recs if is_numbered(recs) else numbered(recs).localCheckpoint(eager=True)
    entries = []
    for position, rule in enumerate(ordered):
        key = block_hash(rule, position)
        if key_bits < 64:
            key = key.bitwiseAND(F.lit((1 << key_bits) - 1))
        entries.append(F.struct(F.lit(position).alias("rule"), key.alias("key")))
    flags = [FOCUS] if focused else []
    keys = entry_rows(rows, [_RID, SOURCE, *flags], entries).where(F.col("key").isNotNull())
    if focused:
        # l is a focus record; a pair of two focus records is kept from its smaller number's side
        left = keys.where(F.col(FOCUS))
        left = F.broadcast(left) if broadcast_focus else left
        pair = f"l.{_RID} <> r.{_RID} and (not r.{FOCUS} or l.{_RID} < r.{_RID})"
    else:
        left, pair = keys, f"l.{_RID} < r.{_RID}"
    candidates = (
        left.alias("l").join(keys.alias("r"), ["rule", "key"])
        .where(F.expr(f"{pair} and {scope.sql()}"))
        .groupBy(F.col(f"l.{_RID}").alias("_rid_a"), F.col(f"r.{_RID}").alias("_rid_b"))
        .agg(F.expr("bit_or(shiftleft(cast(1 as bigint), rule))").alias("_rules"))
    )
    # a focused pair's a side is a focus record: only those are read for it
    side_rows = {"a": rows.where(F.col(FOCUS)) if focused else rows, "b": rows}
    sides = {s: side.select(F.col(_RID).alias(f"_rid_{s}"),
                            *[F.col(f"`{c}`").alias(f"{c}_{s}") for c in cols])
             for s, side in side_rows.items()}
    joined = candidates.join(sides["b"], "_rid_b").join(sides["a"], "_rid_a")
    oriented = joined.select(
        "_rules", *_oriented(lambda c: F.col(f"`{c}_a`"), lambda c: F.col(f"`{c}_b`"), cols))
    # each rule's SQL reads l.<col> and r.<col>: the two sides as structs
    sided = oriented.select("*", *[F.struct(*[F.col(f"`{c}_{s}`").alias(c) for c in cols]).alias(s)
                                   for s in "lr"])
    first = None
    for position, rule in enumerate(ordered):
        holds = (F.col("_rules").bitwiseAND(F.lit(1 << position)) != 0) \
            & F.coalesce(F.expr(f"({rule.sql})"), F.lit(False))
        first = F.when(holds, F.lit(rule.index)) if first is None else first.when(holds, F.lit(rule.index))
    return sided.select(*[f"`{c}_l`" for c in cols], *[f"`{c}_r`" for c in cols],
                        first.alias("match_key")).where(F.col("match_key").isNotNull())


def _conjuncts(sql: str) -> set[tuple[str, ...]]:
    """The top-level ``and`` terms of ``sql``, each as :func:`~bold_spark.linkage.sql.rule_term`
    gives it (a split inside parentheses leaves unbalanced terms, kept as written: that only
    makes :func:`symmetric_rule` more conservative)."""
    return {rule_term(term) for term in and_terms(sql)}


def symmetric_rule(sql: str) -> bool:
    """True when swapping the aliases ``l`` and ``r`` leaves the rule's terms the same (each term
    an equality or itself symmetric), so ``rule(a, b) == rule(b, a)`` for every pair."""
    swapped = re.sub(r"\b([lr])\.", lambda m: "r." if m.group(1) == "l" else "l.", sql)
    return _conjuncts(sql) == _conjuncts(swapped)


def comparison_vectors(pairs: DataFrame, settings, keep: list[str]) -> DataFrame:
    """The comparison vector of each pair: its level in every comparison.

    Parameters:
        pairs: pairs from :func:`blocked_pairs`.
        settings: the model as Splink's Settings object.
        keep: pair columns to carry through (keys, sources, ``match_key``...).

    Returns ``keep``, a ``gamma_<comparison>`` column per comparison (Splink's own CASE
    expressions) and the pair's term-frequency columns.
    """
    tf_cols = [f"tf_{c}_{side}" for c in tf_columns(settings) for side in ("l", "r")]
    return pairs.selectExpr(*keep, *gamma_expressions(settings), *[f"`{c}`" for c in tf_cols])
