"""Which pairs a link group scores: all pairs, only those with an anchor-source record, and/or
only pairs across sources; with the pair-count formula that goes with each, and
:func:`entry_rows`, the row per record and block key that counts and key joins read."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

SOURCE = "source"


@dataclass(frozen=True)
class PairScope:
    """Which pairs a link group scores: with ``anchor_sources``, only pairs including a record
    of one of them; with ``link_only``, only pairs across sources; else every pair."""

    anchor_sources: list[str] = field(default_factory=list)
    link_only: bool = False

    def sql(self) -> str:
        """Condition over aliases l and r."""
        parts = []
        if self.anchor_sources:
            names = ", ".join(f"'{s}'" for s in self.anchor_sources)
            parts.append(f"(l.{SOURCE} in ({names}) or r.{SOURCE} in ({names}))")
        if self.link_only:
            parts.append(f"l.{SOURCE} <> r.{SOURCE}")
        return " and ".join(parts) or "true"

    def pair_count(self, n: Column, sq: Column, a: Column, asq: Column) -> Column:
        """Pairs in scope among a block of records, from: n records, sq = sum over sources of
        (records of that source)^2, a anchor records, asq = the same sum over anchor sources."""
        cross = (n * n - sq) / 2
        if not self.anchor_sources:
            return cross if self.link_only else (n * n - n) / 2
        non_anchor_cross = ((n - a) * (n - a) - (sq - asq)) / 2
        anchored_cross = cross - non_anchor_cross
        if self.link_only:
            return anchored_cross
        return anchored_cross + (asq - a) / 2

    def block_counts(self, recs: DataFrame, keys: list[Column]) -> DataFrame:
        """Per block key: n, sq, a, asq and the number of in-scope pairs (``pairs``)."""
        is_anchor = F.col(SOURCE).isin(*self.anchor_sources) if self.anchor_sources else F.lit(True)
        key_names = [f"_k{i}" for i in range(len(keys))]
        per_source = (
            recs.select(*[k.alias(n) for k, n in zip(keys, key_names, strict=True)], F.col(SOURCE),
                        is_anchor.alias("_a"))
            .where(" and ".join(f"{k} is not null" for k in key_names) or "true")
            .groupBy(*key_names, SOURCE, "_a")
            .agg(F.count(F.lit(1)).cast("double").alias("ns"))
        )
        per_key = per_source.groupBy(*key_names).agg(
            F.sum("ns").alias("n"),
            F.sum(F.col("ns") * F.col("ns")).alias("sq"),
            F.sum(F.when(F.col("_a"), F.col("ns")).otherwise(0.0)).alias("a"),
            F.sum(F.when(F.col("_a"), F.col("ns") * F.col("ns")).otherwise(0.0)).alias("asq"),
        )
        return per_key.withColumn(
            "pairs", self.pair_count(F.col("n"), F.col("sq"), F.col("a"), F.col("asq"))
        )

    def total_pairs(self, recs: DataFrame) -> float:
        """Pairs in scope among all of ``recs`` (one Spark aggregation)."""
        row = self.block_counts(recs, [F.lit(1)]).agg(F.sum("pairs")).collect()[0]
        return float(row[0] or 0.0)


def entry_rows(df: DataFrame, keep: list[str], entries: list[Column]) -> DataFrame:
    """One row per row of ``df`` and struct of ``entries`` (structs of the same fields): the
    columns ``keep`` beside the struct's fields. One pass over ``df`` for all entries (the rows
    of every blocking rule or counted level, say), where a union of a select per entry would
    read it once per entry."""
    return df.select(*keep, F.explode(F.array(*entries)).alias("_e")).select(*keep, "_e.*")
