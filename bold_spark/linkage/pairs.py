"""Blocked pairs and comparison vectors as Spark DataFrames (pure transforms)."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import (
    RECORD_KEY,
    SOURCE,
    BlockingRule,
    gamma_expressions,
    tf_columns,
)


def with_term_frequencies(records: DataFrame, columns: list[str]) -> DataFrame:
    """Add ``tf_<col>``: the relative frequency of the record's value among non-null values,
    as Splink computes it, from a small broadcast lookup per column."""
    out = records
    for col in columns:
        counts = records.where(F.col(col).isNotNull()).groupBy(col).agg(F.count(F.lit(1)).alias("_n"))
        total = counts.agg(F.sum("_n").alias("_t"))
        tf = counts.crossJoin(F.broadcast(total)).select(
            col, (F.col("_n") / F.col("_t")).cast("double").alias(f"tf_{col}")
        )
        out = out.join(F.broadcast(tf), on=col, how="left")
    return out


def group_records(
    records: DataFrame, sources: list[str], columns: list[str], settings
) -> DataFrame:
    """The records of a link group with just the columns the model reads, plus tf columns."""
    recs = records.where(F.col(SOURCE).isin(*sources)).select(*columns)
    return with_term_frequencies(recs, tf_columns(settings))


def pair_columns(recs: DataFrame) -> list[str]:
    return list(recs.columns)


def blocked_pairs(
    recs: DataFrame,
    rules: list[BlockingRule],
    scope: PairScope,
    exclude_earlier_rules: bool = True,
) -> DataFrame:
    """Every pair the rules find, once, with ``<col>_l``/``<col>_r`` columns and ``match_key``."""
    cols = pair_columns(recs)
    left, right = recs.alias("l"), recs.alias("r")
    select = [F.col(f"l.`{c}`").alias(f"{c}_l") for c in cols] + [
        F.col(f"r.`{c}`").alias(f"{c}_r") for c in cols
    ]
    parts = []
    for rule in rules:
        cond = F.expr(rule.sql)
        where = F.expr(f"l.{RECORD_KEY} < r.{RECORD_KEY} and {scope.sql()}")
        if exclude_earlier_rules:
            for prev in rules:
                if prev.index < rule.index:
                    where = where & ~F.coalesce(F.expr(f"({prev.sql})"), F.lit(False))
        parts.append(
            left.join(right, cond, "inner").where(where).select(*select, F.lit(rule.index).alias("match_key"))
        )
    return reduce(lambda a, b: a.unionByName(b), parts)


def comparison_vectors(pairs: DataFrame, settings, keep: list[str]) -> DataFrame:
    """Gamma (comparison level) per comparison, keeping ``keep`` columns and tf columns."""
    tf_cols = [f"tf_{c}_{side}" for c in tf_columns(settings) for side in ("l", "r")]
    return pairs.selectExpr(*keep, *gamma_expressions(settings), *[f"`{c}`" for c in tf_cols])
