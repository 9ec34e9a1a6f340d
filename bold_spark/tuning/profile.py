"""Profiles of the standardised records: completeness per field, top values, blocking rule sizes.

Each function runs one Spark aggregation and collects only its small result (a pandas
DataFrame): per source and field, the top values, or the few largest blocks per rule.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from bold_spark.config.pipeline import LinkGroupConfig
from bold_spark.linkage.blocking import count_comparisons
from bold_spark.linkage.model import LinkModel
from bold_spark.linkage.pairs import blocked_pairs, group_records
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import (
    SOURCE,
    BlockingRule,
    blocking_rules,
    columns_in_rule,
    equi_join_keys,
    needed_columns,
)

logger = logging.getLogger(__name__)

#: The canonical person fields worth profiling (those present in the frame are used).
PERSON_FIELDS = (
    "first_name", "middle_names", "surname", "first_initial", "surname_initial", "dob", "sex",
    "postcode", "postcode_sector", "postcode_district", "pnc_hash", "ni_number_hash", "crn_hash",
    "prison_number_hash",
)


def link_group_records(
    records: DataFrame, group: LinkGroupConfig, model: LinkModel, extra_rules: Sequence[str] = (),
    term_frequencies: bool = True,
) -> DataFrame:
    """The records of a link group with the columns ``model`` and ``extra_rules`` read, plus
    term-frequency columns (as training and scoring see them) unless ``term_frequencies`` is
    False (block counts do not need them). Persist it when it feeds several steps."""
    settings = model.splink_settings()
    extra = [*model.meta.training.deterministic_rules, *model.meta.training.em_blocking_rules, *extra_rules]
    columns = needed_columns(settings, extra)
    if not term_frequencies:
        return records.where(F.col(SOURCE).isin(*group.sources)).select(*columns)
    return group_records(records, group.sources, columns, settings)


def model_rules(model: LinkModel) -> list[str]:
    """The model's blocking rules for predictions, as Spark SQL."""
    return [r.sql for r in blocking_rules(model.splink_settings())]


def _fields(df: DataFrame, columns: Sequence[str] | None) -> list[str]:
    if columns is None:
        return [c for c in PERSON_FIELDS if c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the records (have {df.columns})")
    return list(columns)


def completeness(records: DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Share of non-null values per source and field: columns source, field, rows, non_null,
    completeness (0..1). One Spark job."""
    cols = _fields(records, columns)
    agg = records.groupBy(SOURCE).agg(
        F.count(F.lit(1)).alias("_rows"),
        *[F.count(F.col(c)).alias(f"_nn_{i}") for i, c in enumerate(cols)],
    ).collect()
    rows = [
        {"source": r[SOURCE], "field": c, "rows": int(r["_rows"]), "non_null": int(r[f"_nn_{i}"])}
        for r in agg for i, c in enumerate(cols)
    ]
    out = pd.DataFrame(rows, columns=["source", "field", "rows", "non_null"])
    out["completeness"] = out["non_null"] / out["rows"].where(out["rows"] > 0)
    return out.sort_values(["source", "field"], key=_field_order(cols)).reset_index(drop=True)


def _field_order(cols: list[str]):
    rank = {c: i for i, c in enumerate(cols)}
    return lambda s: s.map(rank) if s.name == "field" else s


def value_frequencies(
    records: DataFrame, columns: Sequence[str] | None = None, top: int = 10, by_source: bool = False
) -> pd.DataFrame:
    """The ``top`` most frequent non-null values of each field (per source if ``by_source``):
    columns [source,] field, value (as text), count, share (of the non-null values). One job."""
    cols = _fields(records, columns)
    keys = [SOURCE] if by_source else []
    long = records.select(
        *keys,
        F.explode(F.array(*[
            F.struct(F.lit(c).alias("field"), F.col(c).cast("string").alias("value")) for c in cols
        ])).alias("_fv"),
    ).select(*keys, "_fv.field", "_fv.value").where(F.col("value").isNotNull())
    counts = long.groupBy(*keys, "field", "value").agg(F.count(F.lit(1)).alias("count"))
    part = Window.partitionBy(*keys, "field")
    ranked = counts.select(
        "*",
        (F.col("count") / F.sum("count").over(part)).alias("share"),
        F.row_number().over(part.orderBy(F.col("count").desc(), F.col("value"))).alias("_rank"),
    ).where(F.col("_rank") <= top)
    out = ranked.drop("_rank").toPandas()
    return out.sort_values([*keys, "field", "count"], ascending=[*[True] * len(keys), True, False],
                           key=_field_order(cols)).reset_index(drop=True)


def _rules(rules: Sequence[str | BlockingRule]) -> list[BlockingRule]:
    return [r if isinstance(r, BlockingRule) else BlockingRule(i, r) for i, r in enumerate(rules)]


def _rule_columns(recs: DataFrame, rules: list[BlockingRule]) -> DataFrame:
    """Just the key, the source and the columns the rules read (no tf lookups to recompute)."""
    used = {c for r in rules for c in columns_in_rule(r.sql)} | {"record_key", SOURCE}
    return recs.select(*[c for c in recs.columns if c in used])


def rule_comparisons(
    recs: DataFrame, rules: Sequence[str | BlockingRule], scope: PairScope | None = None,
    exact: bool = False,
) -> pd.DataFrame:
    """Comparisons each blocking rule generates: columns rule_index, rule, comparisons (upper
    bound, from block sizes, no join: what ``bold predict`` checks against its cap),
    largest_block, and ``cumulative`` (running sum of the upper bounds).

    With ``exact=True`` it also runs the blocking joins and adds ``new_pairs``: pairs each rule
    finds that no earlier rule found, and ``cumulative_pairs``. That runs the joins: use it on
    a sample or a small population."""
    scope = scope or PairScope()
    brs = _rules(rules)
    recs = _rule_columns(recs, brs)
    counts = count_comparisons(recs, brs, scope)
    out = pd.DataFrame({
        "rule_index": [c.rule.index for c in counts],
        "rule": [c.rule.sql for c in counts],
        "comparisons": [c.comparisons for c in counts],
        "largest_block": [c.largest_block for c in counts],
    })
    out["cumulative"] = out["comparisons"].cumsum()
    if exact:
        found = blocked_pairs(recs, brs, scope).groupBy("match_key").count().collect()
        by_rule = {r["match_key"]: int(r["count"]) for r in found}
        out["new_pairs"] = [by_rule.get(i, 0) for i in out["rule_index"]]
        out["cumulative_pairs"] = out["new_pairs"].cumsum()
    return out


def largest_blocks(
    recs: DataFrame, rules: Sequence[str | BlockingRule], scope: PairScope | None = None, top: int = 5
) -> pd.DataFrame:
    """The ``top`` blocks of each rule by in-scope pairs: columns rule_index, rule, block (the
    key values, ' | '-joined), records, pairs. A rule with no symmetric equality condition is
    one block of every record. Aggregation only; one job for all rules."""
    scope = scope or PairScope()
    brs = _rules(rules)
    recs = _rule_columns(recs, brs)
    parts = []
    for rule in brs:
        keys = equi_join_keys(rule)
        symmetric = bool(keys) and all(left == right for left, right in keys)
        key_exprs = [F.expr(left) for left, _ in keys] if symmetric else [F.lit("(all records)")]
        blocks = scope.block_counts(recs, key_exprs)
        key_cols = [c for c in blocks.columns if c.startswith("_k")]
        parts.append(blocks.select(
            F.lit(rule.index).alias("rule_index"), F.lit(rule.sql).alias("rule"),
            F.concat_ws(" | ", *[F.col(c).cast("string") for c in key_cols]).alias("block"),
            F.col("n").cast("long").alias("records"), F.col("pairs").cast("long").alias("pairs"),
        ))
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    w = Window.partitionBy("rule_index").orderBy(F.col("pairs").desc(), F.col("records").desc(), "block")
    out = union.withColumn("_rank", F.row_number().over(w)).where(F.col("_rank") <= top).drop("_rank")
    return (out.toPandas()
            .sort_values(["rule_index", "pairs", "block"], ascending=[True, False, True])
            .reset_index(drop=True))


def blocking_profile(
    records: DataFrame, group: LinkGroupConfig, model: LinkModel, rules: Sequence[str] | None = None,
    top: int = 5,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For a link group: comparisons per rule (``rule_comparisons``, upper bounds) and the
    largest blocks per rule (``largest_blocks``), for ``rules`` (default: the model's)."""
    rules = list(rules) if rules is not None else model_rules(model)
    recs = link_group_records(records, group, model, rules, term_frequencies=False)
    scope = PairScope(group.anchor_sources, group.link_only)
    return rule_comparisons(recs, rules, scope), largest_blocks(recs, rules, scope, top)
