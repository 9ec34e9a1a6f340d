"""Clerical review: pairs sampled around thresholds with their comparison levels, the records
behind chosen pairs (for waterfall charts), and cluster-size summaries.

The review CSV holds the compared values of both records (names, dates of birth, postcodes):
it is linkage-zone data and stays where the records table is allowed to be.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from functools import reduce
from pathlib import Path

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from bold_spark.exceptions import InputError
from bold_spark.linkage.model import LinkModel
from bold_spark.linkage.pairs import comparison_vectors, group_records
from bold_spark.linkage.scoring import score_vectors
from bold_spark.linkage.sql import RECORD_KEY, comparison_input_columns, needed_columns
from bold_spark.tuning.thresholds import probability_to_weight

logger = logging.getLogger(__name__)

REVIEW_LABEL_COLUMN = "clerical_match_score"  # left blank for the reviewer: 1 match, 0 not, or a probability


def level_label_map(model: LinkModel) -> dict[str, dict[int, str]]:
    """gamma column -> comparison vector value -> the level's chart label."""
    out = {}
    for comp in model.splink_settings().comparisons:
        out[comp._gamma_column_name] = {lv.comparison_vector_value: lv.label_for_charts
                                        for lv in comp.comparison_levels}
    return out


def with_level_labels(edges: DataFrame, model: LinkModel) -> DataFrame:
    """Add ``<comparison>_level`` (the level's label) beside each ``gamma_<comparison>``."""
    out = edges
    for gamma, labels in level_label_map(model).items():
        if gamma not in edges.columns:
            continue
        mapping = F.create_map(*[x for v, lab in labels.items() for x in (F.lit(v), F.lit(lab))])
        out = out.withColumn(gamma.removeprefix("gamma_") + "_level", mapping[F.col(gamma)])
    return out


def sample_around_thresholds(
    edges: DataFrame, thresholds: Mapping[str, float], per_threshold: int = 20,
    window: float = 1.0, seed: int = 1,
) -> DataFrame:
    """Up to ``per_threshold`` edges whose match weight is within ``window`` of each
    match-probability threshold, drawn reproducibly (hash of the pair and ``seed``); column
    ``near_threshold`` names the threshold. An edge near two thresholds appears under each."""
    parts = []
    for name, p in thresholds.items():
        w = probability_to_weight(p)
        parts.append(edges.where(F.abs(F.col("match_weight") - F.lit(w)) <= window).select(
            F.lit(name).alias("near_threshold"), F.lit(float(p)).alias("threshold_probability"), "*"))
    near = reduce(lambda a, b: a.unionByName(b), parts)
    draw = F.xxhash64(F.col("record_key_l"), F.col("record_key_r"), F.lit(seed))
    rank = F.row_number().over(Window.partitionBy("near_threshold").orderBy(draw))
    return near.withColumn("_rank", rank).where(F.col("_rank") <= per_threshold).drop("_rank")


def with_record_values(pairs: DataFrame, records: DataFrame, columns: Sequence[str]) -> DataFrame:
    """Join both records of each pair and add ``<col>_l``/``<col>_r`` for ``columns``."""
    cols = [c for c in dict.fromkeys(columns) if c != RECORD_KEY]
    left = records.select(F.col(RECORD_KEY).alias("record_key_l"), *[F.col(c).alias(f"{c}_l") for c in cols])
    right = records.select(F.col(RECORD_KEY).alias("record_key_r"), *[F.col(c).alias(f"{c}_r") for c in cols])
    drop = [c for c in pairs.columns if c in {f"{x}_{s}" for x in cols for s in "lr"}]
    return pairs.drop(*drop).join(left, "record_key_l", "left").join(right, "record_key_r", "left")


def review_sample(
    edges: DataFrame, records: DataFrame, models: Mapping[str, LinkModel], thresholds: Mapping[str, float],
    per_threshold: int = 20, window: float = 1.0, seed: int = 1,
) -> pd.DataFrame:
    """Pairs around each threshold for clerical review, per link group (``models``: group name
    -> its model): the pair, its score, comparison levels (``gamma_*`` and ``*_level`` labels),
    both records' compared values, and an empty ``clerical_match_score`` column to fill in."""
    frames = []
    for group, model in models.items():
        sample = sample_around_thresholds(edges.where(F.col("link_group") == group), thresholds,
                                          per_threshold, window, seed)
        labelled = with_level_labels(sample, model)
        values = comparison_input_columns(model.splink_settings())
        frames.append(with_record_values(labelled, records, values))
    out = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames).toPandas()
    out[REVIEW_LABEL_COLUMN] = pd.NA
    first = ["near_threshold", "threshold_probability", "link_group", "record_key_l", "record_key_r",
             "source_l", "source_r", "match_weight", "match_probability"]
    levels = sorted(c for c in out.columns if c.endswith("_level"))
    gammas = sorted(c for c in out.columns if c.startswith("gamma_"))
    values = sorted(c for c in out.columns if c.endswith(("_l", "_r")) and c not in first)
    rest = [c for c in out.columns if c not in {*first, *levels, *gammas, *values, REVIEW_LABEL_COLUMN}]
    order = [*first, *levels, *gammas, *values, *rest, REVIEW_LABEL_COLUMN]
    return out[order].sort_values(["near_threshold", "link_group", "match_weight"],
                                  ascending=[True, True, False]).reset_index(drop=True)


def write_review_csv(sample: pd.DataFrame, path: str | Path) -> Path:
    """Write a (small, collected) review sample as CSV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sample.to_csv(path, index=False)
    logger.info("review sample of %d pairs written to %s", len(sample), path)
    return path


def read_review(path: str | Path) -> pd.DataFrame:
    """A review CSV (:func:`write_review_csv`) back after the reviewers filled in
    ``clerical_match_score``: 1 a match, 0 not, a probability in between, blank not reviewed.

    Raises :class:`InputError` naming the file, the column and how many rows (with their CSV
    line numbers) hold anything else, or when the column or the pair's score is missing."""
    path = Path(path)
    df = pd.read_csv(path, dtype={REVIEW_LABEL_COLUMN: str}, keep_default_na=False)
    for col in (REVIEW_LABEL_COLUMN, "near_threshold", "threshold_probability", "match_probability"):
        if col not in df.columns:
            raise InputError(f"{path}: column {col!r} is missing (a review CSV written by "
                             "bold_spark.tuning.review.write_review_csv has it)")
    text = df[REVIEW_LABEL_COLUMN].str.strip()
    score = pd.to_numeric(text.where(text != ""), errors="coerce")
    bad = (text != "") & ~score.between(0, 1)
    if bad.any():
        lines = [str(i + 2) for i in df.index[bad][:10]]  # line 1 is the header
        raise InputError(f"{path}: column {REVIEW_LABEL_COLUMN!r}: {int(bad.sum())} row(s) hold "
                         "something other than a number from 0 (not a match) to 1 (a match) or a "
                         f"blank (not reviewed): CSV line(s) {', '.join(lines)}"
                         f"{' ...' if bad.sum() > 10 else ''}")
    out = df.copy()
    out[REVIEW_LABEL_COLUMN] = score
    return out


def _interval(share: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a share over ``n`` reviewed pairs (95% by default)."""
    if n == 0:
        return math.nan, math.nan
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def review_calibration(labelled: pd.DataFrame) -> pd.DataFrame:
    """Does the model's match probability hold up against the reviewers? Per threshold the
    sample was drawn around and per side of it (``accepted``: p >= the threshold, linked there;
    ``rejected``: below it): pairs reviewed, the model's mean match probability, the share the
    reviewers judged matches with its 95% Wilson interval, and the pairs left blank.

    A reviewed share well below the model's mean on the accepted side means the threshold
    links more non-matches than the model claims (precision near the threshold is lower); well
    above it on the rejected side, that it misses matches. The pairs are a sample near the
    threshold, not of all links: these are calibration checks, not precision and recall.

    :param labelled: :func:`read_review`'s frame.
    :returns: one row per (near_threshold, side) with at least one pair in the sample.
    """
    df = labelled.assign(side=(labelled["match_probability"] >= labelled["threshold_probability"])
                         .map({True: "accepted", False: "rejected"}))
    rows = []
    for (near, p, side), g in df.groupby(["near_threshold", "threshold_probability", "side"], sort=True):
        done = g[g[REVIEW_LABEL_COLUMN].notna()]
        n = len(done)
        share = float(done[REVIEW_LABEL_COLUMN].mean()) if n else math.nan
        low, high = _interval(share, n)
        rows.append({"near_threshold": near, "threshold_probability": p, "side": side,
                     "reviewed": n, "model_mean_probability": float(done["match_probability"].mean())
                     if n else math.nan, "reviewed_match_share": share, "share_low_95": low,
                     "share_high_95": high, "not_reviewed": len(g) - n})
    return pd.DataFrame(rows, columns=["near_threshold", "threshold_probability", "side", "reviewed",
                                       "model_mean_probability", "reviewed_match_share",
                                       "share_low_95", "share_high_95", "not_reviewed"])


def scored_pair_records(
    records: DataFrame, model: LinkModel, sources: Sequence[str], pairs: DataFrame
) -> list[dict]:
    """Chosen pairs (columns record_key_l, record_key_r) rescored with ``model``, with every
    column Splink's waterfall chart reads: compared values, gammas, per-comparison weights and
    term-frequency adjustments, match_weight. For ``linker.visualisations.waterfall_chart``.
    Collects one row per pair: pass a handful."""
    settings = model.splink_settings()
    recs = group_records(records, list(sources), needed_columns(settings), settings)
    value_cols = [c for c in recs.columns if c != RECORD_KEY]
    joined = with_record_values(pairs.select("record_key_l", "record_key_r"), recs, value_cols)
    keep = ["record_key_l", "record_key_r", *[f"{c}_{s}" for c in value_cols for s in "lr"
                                              if not c.startswith("tf_")]]
    scored = score_vectors(comparison_vectors(joined, settings, keep), settings)
    rows = [r.asDict(recursive=True) for r in scored.orderBy(F.col("match_weight").desc()).collect()]
    return rows


def pairs_across_scores(edges: DataFrame, n: int = 5) -> DataFrame:
    """``n`` edges spread over the match-weight range (at approximate quantiles), for waterfall
    charts: one small top-1 query per quantile, no global sort."""
    qs = [i / (n - 1) for i in range(n)] if n > 1 else [0.5]
    values = edges.approxQuantile("match_weight", qs, 0.001)
    parts = [
        edges.where(F.col("match_weight") >= v).orderBy("match_weight", "record_key_l", "record_key_r")
        .limit(1).select("record_key_l", "record_key_r", "match_weight")
        for v in values
    ]
    return reduce(lambda a, b: a.unionByName(b), parts).dropDuplicates(["record_key_l", "record_key_r"])


def cluster_size_distribution(clusters: DataFrame, levels: Sequence[str] = ("high", "medium", "low")) -> pd.DataFrame:
    """Number of clusters of each size at each threshold level: columns level, cluster_size,
    clusters, records. One job."""
    stacked = reduce(lambda a, b: a.unionByName(b), [
        clusters.select(F.lit(lv).alias("level"), F.col(f"cluster_size_{lv}").alias("cluster_size"))
        for lv in levels
    ])
    out = stacked.groupBy("level", "cluster_size").agg(F.count(F.lit(1)).alias("records")).toPandas()
    out["clusters"] = (out["records"] // out["cluster_size"]).astype(int)
    order = {lv: i for i, lv in enumerate(levels)}
    out = out.sort_values(["level", "cluster_size"], key=lambda s: s.map(order) if s.name == "level" else s)
    return out[["level", "cluster_size", "clusters", "records"]].reset_index(drop=True)


def largest_clusters(clusters: DataFrame, level: str = "medium", top: int = 10) -> pd.DataFrame:
    """The ``top`` largest clusters at ``level``: person_id, size, records per source."""
    pid = f"person_id_{level}"
    per_source = clusters.groupBy(pid, "source").agg(F.count(F.lit(1)).alias("n"))
    sizes = per_source.groupBy(pid).agg(
        F.sum("n").alias("size"),
        F.concat_ws(", ", F.sort_array(F.collect_list(
            F.concat(F.col("source"), F.lit(" "), F.col("n").cast("string"))))).alias("by_source"),
    )
    out = sizes.orderBy(F.col("size").desc(), pid).limit(top).toPandas()
    return out.rename(columns={pid: "person_id"})


def cluster_records(
    clusters: DataFrame, records: DataFrame, person_id: str, level: str = "medium",
    columns: Sequence[str] = ("source", "first_name", "surname", "dob", "sex", "postcode"),
) -> pd.DataFrame:
    """The records of one cluster, with the fields a reviewer looks at."""
    keys = clusters.where(F.col(f"person_id_{level}") == person_id).select(RECORD_KEY)
    cols = [c for c in columns if c in records.columns]
    return records.join(keys, RECORD_KEY).select(RECORD_KEY, *cols).orderBy(*cols[:1], RECORD_KEY).toPandas()
