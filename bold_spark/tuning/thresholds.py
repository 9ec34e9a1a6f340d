"""Pairwise precision and recall of the scored edges by threshold, against ground truth.

Edges are labelled by joining each side to the ground truth; Spark then counts labelled edges
per match-weight bin (a few hundred rows at most), and the cumulative sums are taken on the
driver. Recall's denominator is every true pair in scope, blocked or not, counted by
aggregation (``PairScope.block_counts`` keyed on the true person): true matches that blocking
never found count as missed, as they should.
"""

from __future__ import annotations

import math
from functools import reduce

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from bold_spark.linkage.scope import PairScope
from bold_spark.privacy.keys import SecretKey

TRUTH_COLUMNS = ("record_key", "true_person")


def probability_to_weight(p: float) -> float:
    """Match weight (log2 odds) of a match probability strictly between 0 and 1."""
    return math.log2(p / (1 - p))


def weight_to_probability(w: float) -> float:
    """Match probability of a match weight (no overflow for large weights of either sign)."""
    return 1 / (1 + 2.0 ** -w) if w >= 0 else 2.0**w / (1 + 2.0**w)


def keyed_truth(spark: SparkSession, truth_uri: str, sources: list[str], key: SecretKey) -> DataFrame:
    """Ground truth (source, source_record_id, person_id) as (record_key, true_person), hashing
    the ids with the pipeline's key the way ingest does."""
    from bold_spark.standardise.person import record_key

    truth = spark.read.parquet(truth_uri).dropDuplicates(["source", "source_record_id"])
    return reduce(lambda a, b: a.unionByName(b), [
        truth.where(F.col("source") == s).select(
            record_key(key, s, F.col("source_record_id").cast("string")).alias("record_key"),
            F.col("person_id").cast("string").alias("true_person"))
        for s in sources
    ])


def label_edges(edges: DataFrame, truth: DataFrame) -> DataFrame:
    """Edges with ``is_match``: both records belong to the same true person (null when either
    record has no ground truth)."""
    left = truth.select(F.col("record_key").alias("record_key_l"), F.col("true_person").alias("_tp_l"))
    right = truth.select(F.col("record_key").alias("record_key_r"), F.col("true_person").alias("_tp_r"))
    return (edges.join(left, "record_key_l", "left").join(right, "record_key_r", "left")
            .withColumn("is_match", F.col("_tp_l") == F.col("_tp_r")).drop("_tp_l", "_tp_r"))


def pair_totals(records: DataFrame, truth: DataFrame, scope: PairScope | None = None) -> tuple[float, float]:
    """(true pairs, all pairs) among ``records`` within ``scope`` (default: all), by aggregation."""
    scope = scope or PairScope()
    with_truth = records.select("record_key", "source").join(truth, "record_key", "inner")
    true_pairs = scope.block_counts(with_truth, [F.col("true_person")]).agg(F.sum("pairs")).collect()[0][0]
    return float(true_pairs or 0.0), scope.total_pairs(records.select("record_key", "source"))


def _confusion(tp: np.ndarray, fp: np.ndarray, true_pairs: float, all_pairs: float) -> dict:
    fn = true_pairs - tp
    tn = all_pairs - true_pairs - fp
    predicted = tp + fp
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 1.0)
        recall = np.where(true_pairs > 0, tp / true_pairs, 1.0) * np.ones_like(tp, dtype=float)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        fp_rate = np.where(all_pairs - true_pairs > 0, fp / max(all_pairs - true_pairs, 1.0), 0.0)
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "predicted": predicted, "precision": precision,
            "recall": recall, "f1": f1, "tp_rate": recall, "fp_rate": fp_rate}


def precision_recall_table(
    labelled: DataFrame, true_pairs: float, all_pairs: float, step: float = 0.25
) -> pd.DataFrame:
    """Precision, recall, F1 (and tp/fp/fn/tn, fp_rate) when edges with ``match_weight`` >= each
    threshold are taken as matches; one row per match-weight bin of width ``step``, highest
    threshold first. ``truth_threshold`` is the match weight, ``match_probability`` the same
    threshold as a probability (Splink's column names, so Splink's accuracy charts read it).
    Edges with no ground truth are left out."""
    bins = (
        labelled.where(F.col("is_match").isNotNull())
        .groupBy((F.floor(F.col("match_weight") / step) * step).alias("truth_threshold"))
        .agg(F.sum(F.col("is_match").cast("long")).alias("tp"),
             F.sum((~F.col("is_match")).cast("long")).alias("fp"))
        .toPandas()
        .sort_values("truth_threshold", ascending=False)
        .reset_index(drop=True)
    )
    tp = bins["tp"].cumsum().to_numpy(dtype=float)
    fp = bins["fp"].cumsum().to_numpy(dtype=float)
    out = pd.DataFrame({"truth_threshold": bins["truth_threshold"].astype(float)})
    out["match_probability"] = out["truth_threshold"].map(weight_to_probability)
    out["bin_tp"] = bins["tp"].to_numpy()
    out["bin_fp"] = bins["fp"].to_numpy()
    for k, v in _confusion(tp, fp, true_pairs, all_pairs).items():
        out[k] = v
    return out


def metrics_at(
    labelled: DataFrame, true_pairs: float, all_pairs: float, thresholds: dict[str, float]
) -> pd.DataFrame:
    """Exact precision/recall/F1 at named match-probability thresholds (e.g. the pipeline's
    high/medium/low), with one aggregation of conditional sums."""
    known = labelled.where(F.col("is_match").isNotNull())
    row = known.agg(*[
        agg for i, p in enumerate(thresholds.values()) for agg in (
            F.sum(F.when((F.col("match_probability") >= p) & F.col("is_match"), 1).otherwise(0)).alias(f"tp{i}"),
            F.sum(F.when((F.col("match_probability") >= p) & ~F.col("is_match"), 1).otherwise(0)).alias(f"fp{i}"),
        )
    ]).collect()[0]
    tp = np.array([float(row[f"tp{i}"] or 0) for i in range(len(thresholds))])
    fp = np.array([float(row[f"fp{i}"] or 0) for i in range(len(thresholds))])
    out = pd.DataFrame({"threshold": list(thresholds), "match_probability": list(thresholds.values())})
    out["match_weight"] = out["match_probability"].map(probability_to_weight)
    for k, v in _confusion(tp, fp, true_pairs, all_pairs).items():
        out[k] = v
    return out


def precision_recall(
    edges: DataFrame, records: DataFrame, truth: DataFrame, scope: PairScope | None = None,
    step: float = 0.25, thresholds: dict[str, float] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The table by threshold, and the metrics at ``thresholds`` (None when not given), for
    ``edges`` scored over ``records`` within ``scope`` (all pairs by default: every link group's
    edges together). The truth and the labelled edges are cached while the aggregations run."""
    truth = truth.persist()
    labelled = label_edges(edges.select("record_key_l", "record_key_r", "match_weight", "match_probability"),
                           truth).persist()
    try:
        true_pairs, all_pairs = pair_totals(records, truth, scope)
        table = precision_recall_table(labelled, true_pairs, all_pairs, step)
        at = metrics_at(labelled, true_pairs, all_pairs, thresholds) if thresholds else None
    finally:
        labelled.unpersist()
        truth.unpersist()
    return table, at


def suggest_threshold(table: pd.DataFrame, min_precision: float) -> float:
    """The match-probability threshold with the most recall among those whose precision is at
    least ``min_precision`` (the highest of them on a tie); the highest threshold when none
    reaches it."""
    ok = table[table["precision"] >= min_precision]
    if ok.empty:
        return float(table["match_probability"].max())
    return float(ok.loc[ok["recall"].idxmax(), "match_probability"])
