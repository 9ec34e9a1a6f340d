"""Pairwise precision, recall and F1 of a clustering against ground truth, by aggregation only.

No pairs are materialised: with clusters C and true persons T over the same records,
predicted pairs = sum C(|c|,2), true pairs = sum C(|t|,2), true positives = sum C(|c and t|,2).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import reduce
from typing import TYPE_CHECKING

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bold_spark.exceptions import InputError

if TYPE_CHECKING:
    from bold_spark.privacy.keys import SecretKey

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PairwiseAccuracy:
    """Pair counts of a clustering against the truth, and the rates they give."""

    records: int
    predicted_pairs: int
    true_pairs: int
    true_positives: int

    @property
    def precision(self) -> float:
        """True positives over predicted pairs (1.0 when no pair is predicted)."""
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        """True positives over true pairs (1.0 when there is no true pair)."""
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (0.0 when both are 0)."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict:
        """The counts and the three rates, for the run record's metrics."""
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass(frozen=True)
class Evaluation:
    """A clustering's accuracy at each threshold (``levels``) and, at threshold ``level``, per
    source pair (``source_pairs``, named by :func:`source_pair_name`), over the records the
    ground truth covers (``levels[...].records``) of the ``records_clustered``;
    ``truth_unmatched``: ground-truth rows matching no clustered record."""

    levels: dict[str, PairwiseAccuracy]
    level: str
    source_pairs: dict[str, PairwiseAccuracy]
    records_clustered: int = 0
    truth_unmatched: int = 0

    @property
    def records_evaluated(self) -> int:
        """The clustered records the ground truth covers (those the figures are over)."""
        return next(iter(self.levels.values())).records

    @property
    def partial(self) -> bool:
        """Whether the ground truth covers only some of the clustered records."""
        return self.records_evaluated < self.records_clustered


def keyed_truth(spark: SparkSession, uri: str, key: SecretKey, sources: list[str],
                truth_col: str = "true_person") -> DataFrame:
    """A ground-truth table (Parquet: ``source``, ``source_record_id``, ``person_id``) keyed
    like the records: one row per record of ``sources`` with its ``record_key`` (the keyed hash
    of its source and id) and its true entity as ``truth_col``; a row repeated in the file
    counts once."""
    from bold_spark.standardise.person import record_key

    truth = spark.read.parquet(uri).dropDuplicates(["source", "source_record_id"])
    return reduce(lambda a, b: a.unionByName(b), [
        truth.where(F.col("source") == s).select(
            record_key(key, s, F.col("source_record_id").cast("string")).alias("record_key"),
            F.col("person_id").alias(truth_col))
        for s in sources])


def _pairs(n: F.Column) -> F.Column:
    return n * (n - 1) / 2


def pairwise_accuracy(
    assignments: DataFrame, cluster_col: str, truth_col: str
) -> PairwiseAccuracy:
    """Pairwise precision and recall of a clustering, counted by aggregation (one Spark job).

    Parameters:
        assignments: one row per record, with its predicted cluster and its true entity.
        cluster_col: the predicted cluster column (e.g. ``person_id_medium``).
        truth_col: the true entity column. Neither column may be null: nulls would count
            as one cluster (or one entity).

    Returns the record, predicted-pair, true-pair and true-positive counts, with precision,
    recall and F1 as properties.
    """
    joint = assignments.groupBy(cluster_col, truth_col).agg(F.count(F.lit(1)).alias("n"))
    pred = joint.groupBy(cluster_col).agg(F.sum("n").alias("n"))
    true = joint.groupBy(truth_col).agg(F.sum("n").alias("n"))
    tp = joint.agg(F.sum(_pairs(F.col("n"))).alias("v"), F.sum("n").alias("records"))
    pp = pred.agg(F.sum(_pairs(F.col("n"))).alias("v"))
    tt = true.agg(F.sum(_pairs(F.col("n"))).alias("v"))
    row = (tp.crossJoin(pp.withColumnRenamed("v", "pp"))
           .crossJoin(tt.withColumnRenamed("v", "tt")).collect()[0])
    return PairwiseAccuracy(int(row["records"] or 0), int(row["pp"] or 0), int(row["tt"] or 0),
                            int(row["v"] or 0))


def source_pair_name(a: str, b: str) -> str:
    """The name of the pairs between sources ``a`` and ``b`` (either order): ``'a-b'`` sorted,
    ``'a-a'`` for pairs within one source."""
    return "-".join(sorted((a, b)))


def _pair_sums(counts: DataFrame, by: list[str], source_col: str, kind: str) -> DataFrame:
    """Per source pair, the pairs of records that share ``by``: with ``n_s`` records of source s
    in a group, n_s * n_t pairs between s and t (s < t) and n_s * (n_s - 1) / 2 within s."""
    g = counts.groupBy(*by, source_col).agg(F.sum("n").alias("n"))
    left = g.select(*by, F.col(source_col).alias("s"), F.col("n").alias("ns"))
    right = g.select(*by, F.col(source_col).alias("t"), F.col("n").alias("nt"))
    both = left.join(right, by).where(F.col("s") <= F.col("t"))
    pairs = F.when(F.col("s") == F.col("t"), _pairs(F.col("ns"))).otherwise(F.col("ns") * F.col("nt"))
    return both.groupBy("s", "t").agg(F.sum(pairs).alias("v")).withColumn("kind", F.lit(kind))


def source_pair_accuracy(
    assignments: DataFrame, cluster_col: str, truth_col: str, source_col: str = "source"
) -> dict[str, PairwiseAccuracy]:
    """Pairwise accuracy per source pair, counted by aggregation (one Spark job): which pairs of
    sources the missed and false links are between (a record-poor source against a rich one, or
    duplicates within one source).

    Parameters:
        assignments: one row per record, with its predicted cluster, its true entity and its
            source (none of them null).
        cluster_col: the predicted cluster column.
        truth_col: the true entity column.
        source_col: the record's source.

    Returns, per source pair named by :func:`source_pair_name` (every pair of sources that has
    a true or a predicted pair, and every source with itself), the counts of
    :func:`pairwise_accuracy` restricted to pairs between those sources; ``records`` is the
    records of the two sources (of the one, for a source with itself). Summed over the source
    pairs, the pair counts are :func:`pairwise_accuracy`'s.
    """
    joint = assignments.groupBy(cluster_col, truth_col, source_col).agg(F.count(F.lit(1)).alias("n"))
    sums = (_pair_sums(joint, [cluster_col, truth_col], source_col, "tp")
            .unionByName(_pair_sums(joint, [cluster_col], source_col, "pp"))
            .unionByName(_pair_sums(joint, [truth_col], source_col, "tt"))
            .unionByName(joint.groupBy(F.col(source_col).alias("s")).agg(F.sum("n").alias("v"))
                         .withColumn("t", F.col("s")).withColumn("kind", F.lit("records"))))
    rows = sums.collect()  # at most 3 rows per pair of sources and one per source
    records = {r["s"]: int(r["v"]) for r in rows if r["kind"] == "records"}
    sources = sorted(records)
    counts = {(s, t): {"tp": 0, "pp": 0, "tt": 0} for i, s in enumerate(sources) for t in sources[i:]}
    for r in rows:
        if r["kind"] != "records":
            counts[(r["s"], r["t"])][r["kind"]] = int(r["v"] or 0)
    return {
        source_pair_name(s, t): PairwiseAccuracy(records[s] + (records[t] if s != t else 0),
                                                 c["pp"], c["tt"], c["tp"])
        for (s, t), c in counts.items() if s == t or c["pp"] or c["tt"]
    }


def evaluate_clusters(clusters: DataFrame, keyed: DataFrame, levels: Sequence[str], level: str,
                      truth_uri: str, truth_col: str = "true_person") -> Evaluation:
    """The accuracy of a clustering against a ground truth: pairwise at each level, and per
    source pair at ``level``.

    The truth may cover only some records (a clerical sample): the figures are then over the
    pairs among the records it covers, with a warning (precision is then optimistic: a false
    link to a record outside the sample is not seen). Truth rows matching no clustered record
    (quarantined or withdrawn records) are counted and left out.

    Parameters:
        clusters: one row per clustered record: ``record_key``, ``source`` and
            ``person_id_<level>`` for each of ``levels``.
        keyed: the ground truth keyed like the records (:func:`keyed_truth`).
        levels: the thresholds to measure (e.g. high, medium, low).
        level: the threshold measured per source pair.
        truth_uri: where the truth was read from (named in messages).
        truth_col: ``keyed``'s true-entity column.

    Returns an :class:`Evaluation` (with the clustered records and the truth rows matching none).

    Raises:
        InputError: the truth matches no clustered record (another key, or another
            population); the message names ``truth_uri``.
    """
    joined, clustered, unmatched = truth_joined(clusters, keyed, levels, truth_uri)
    joined = joined.persist()
    try:
        return evaluate_joined(joined, levels, level, truth_col, clustered, unmatched)
    finally:
        joined.unpersist()


def truth_joined(clusters: DataFrame, keyed: DataFrame, levels: Sequence[str], truth_uri: str
                 ) -> tuple[DataFrame, int, int]:
    """The clustered records the truth covers, joined to it (``record_key``, ``source``,
    ``person_id_<level>`` per level and ``keyed``'s true-entity column), lazily; the number of
    clustered records and of truth rows matching none. Warns when the truth covers only some
    clustered records; raises :class:`InputError` (naming ``truth_uri``) when it covers none.
    :func:`evaluate_clusters` documents the arguments."""
    c, t = F.col("_clustered"), F.col("_truth")
    cover = (clusters.select("record_key", F.lit(True).alias("_clustered"))
             .join(keyed.select("record_key", F.lit(True).alias("_truth")), "record_key", "full_outer")
             .agg(F.count(F.when(c & t, 1)).alias("both"), F.count(c).alias("clustered"),
                  F.count(t).alias("truth")).first())
    both, clustered, unmatched = int(cover["both"]), int(cover["clustered"]), int(cover["truth"] - cover["both"])
    if not both:
        raise InputError(f"the ground truth {truth_uri} ({unmatched} rows) matches none of the "
                         f"{clustered} clustered records: hashed with another key, or for other records?")
    if both < clustered:
        logger.warning("the ground truth %s covers %d of the %d clustered records: accuracy is over "
                       "the pairs among those %d only, and precision is optimistic (a false link to "
                       "a record outside them is not seen)", truth_uri, both, clustered, both)
    if unmatched:
        logger.info("%d ground-truth rows match no clustered record (quarantined or withdrawn "
                    "records, or other sources): left out", unmatched)
    joined = clusters.select("record_key", "source", *(f"person_id_{lv}" for lv in levels)) \
        .join(keyed, "record_key")
    return joined, clustered, unmatched


def evaluate_joined(joined: DataFrame, levels: Sequence[str], level: str, truth_col: str,
                    clustered: int, unmatched: int) -> Evaluation:
    """:func:`evaluate_clusters`'s figures from :func:`truth_joined`'s frame (the caller
    persists it when it reads it again, as the report does for its bias groups)."""
    by_level = {lv: pairwise_accuracy(joined, f"person_id_{lv}", truth_col) for lv in levels}
    pairs = source_pair_accuracy(joined, f"person_id_{level}", truth_col)
    return Evaluation(by_level, level, pairs, clustered, unmatched)
