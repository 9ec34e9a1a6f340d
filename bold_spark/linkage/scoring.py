"""Scoring: blocked pairs -> edges with match weights, in one Spark SQL pass per link group."""

from __future__ import annotations

import logging
import math
from functools import reduce
from operator import add

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.linkage.blocking import RuleCount, check_blocking, prefer_keyed
from bold_spark.linkage.model import LinkModel
from bold_spark.linkage.pairs import (
    FOCUS,
    blocked_pairs,
    comparison_vectors,
    group_records,
    is_numbered,
    keyed,
    numbered,
    pair_columns,
)
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import (
    blocking_rules,
    final_score_expressions,
    gamma_columns,
    match_weight_part_expressions,
    needed_columns,
)

logger = logging.getLogger(__name__)

EDGE_KEY_COLUMNS = [
    "record_key_l", "record_key_r", "source_l", "source_r", "match_weight", "match_probability",
]


def score_vectors(vectors: DataFrame, settings) -> DataFrame:
    """Add Splink's per-comparison weights, then match_weight and match_probability."""
    mw_expr, mp_expr = final_score_expressions(settings)
    with_parts = vectors.selectExpr("*", *match_weight_part_expressions(settings))
    return with_parts.selectExpr("*", f"{mw_expr} as match_weight",
                                 f"{mp_expr} as match_probability")


def _group(records: DataFrame, sources: list[str], settings, group_recs: DataFrame | None) -> DataFrame:
    """The caller's group records when given, else the group's records made from ``records``."""
    return group_recs if group_recs is not None else group_records(
        records, sources, needed_columns(settings), settings)


def predict_edges(
    records: DataFrame,
    model: LinkModel,
    link_group: str,
    sources: list[str],
    scope: PairScope,
    run_id: str,
    focus: DataFrame | None = None,
    group_recs: DataFrame | None = None,
    keyed_join: bool = False,
) -> DataFrame:
    """The edges of one link group: every blocked pair scored once with the group's model.

    Parameters:
        records: the ``records`` table.
        model: the group's trained model.
        link_group: the group's name (written in each edge).
        sources: the group's sources.
        scope: which pairs the group scores.
        run_id: the run writing the edges.
        focus: record keys (``record_key``) of an incremental run's new, changed and moved
            records: only pairs with one of them on a side are blocked and scored.
        group_recs: the group's records as :func:`bold_spark.linkage.pairs.group_records`
            makes them, materialised (and :func:`~bold_spark.linkage.pairs.numbered` for the
            keyed path, or it numbers and materialises them again), when the caller has them
            (an incremental run reads them for the moved term frequencies and the rescoring
            too, a full run for the blocking pre-flight: :func:`score_link_group`); made from
            ``records`` otherwise.
        keyed_join: find the pairs by :func:`bold_spark.linkage.pairs.keyed_pairs` when the
            rules allow it (:func:`bold_spark.linkage.blocking.prefer_keyed` says when that
            pays for every pair; with a focus it is taken whenever the rules allow, and the
            path taken is logged).

    Returns a lazy frame, one row per pair: :data:`EDGE_KEY_COLUMNS`, the ``gamma_*`` levels,
    ``match_key`` and ``blocking_rule`` (which rule found it), ``link_group``,
    ``model_version`` and ``run_id``.
    """
    settings = model.splink_settings()
    rules = blocking_rules(settings)
    recs = _group(records, sources, settings, group_recs)
    small, focus_rows = False, None
    keyed_join = keyed_join and keyed(rules)
    # the caller's records serve as they are when materialised for this path: numbered for the
    # keyed one; with a focus, the keyed path reads them three times, each with the same
    # broadcast of the focus keys, the per-rule joins once per rule (so materialised with it)
    ready = group_recs is not None and (
        is_numbered(group_recs) if keyed_join else focus is None)
    if focus is not None:
        from bold_spark.linkage.incremental import FOCUS_BROADCAST_MAX_ROWS, with_focus

        recs = with_focus(recs, focus)
        small = focus.count() <= FOCUS_BROADCAST_MAX_ROWS
        logger.info("link group %s: pairs of new, changed and moved records found by %s", link_group,
                    "one join of block keys" if keyed_join else "a join per rule")
    if not ready:
        # materialised once: every rule's join reads it (lazily, each read re-ran the records
        # and their term frequencies: 20 reads for 10 rules without a focus), the keyed path
        # three times, numbered
        recs = (numbered(recs) if keyed_join else recs).localCheckpoint(eager=True)
    if small and not keyed_join:
        # and the focus records apart (a few thousand): each rule's broadcast reads them, not
        # all of ``recs`` filtered again (a pass over every record per rule)
        focus_rows = recs.where(F.col(FOCUS)).localCheckpoint(eager=True)
    return _edges(blocked_pairs(recs, rules, scope, broadcast_focus=small, focus_rows=focus_rows,
                                keyed_join=keyed_join),
                  model, settings, link_group, run_id)


def score_link_group(
    records: DataFrame,
    model: LinkModel,
    link_group: str,
    sources: list[str],
    scope: PairScope,
    run_id: str,
    max_comparisons: int | None = None,
    group_recs: DataFrame | None = None,
) -> tuple[DataFrame, list[RuleCount]]:
    """Every blocked pair of a link group scored, as a full run scores them: the group's records
    materialised once and numbered, the blocking pre-flight over them
    (:func:`~bold_spark.linkage.blocking.check_blocking`: the comparisons per rule logged, a
    blow-up refused), then :func:`predict_edges` by the path
    :func:`~bold_spark.linkage.blocking.prefer_keyed` chooses from those counts (logged).

    Parameters:
        records, model, link_group, sources, scope, run_id: as for :func:`predict_edges`.
        max_comparisons: the pre-flight's cap on the group's comparisons (None: no cap, the
            counts still logged and used to choose the path).
        group_recs: the group's records (:func:`~bold_spark.linkage.pairs.group_records`),
            when the caller has them; made from ``records`` otherwise.

    Returns the lazy edges (:func:`predict_edges`) and the pre-flight's counts per rule.

    Raises:
        BlockingCapExceeded: the rules would make more than ``max_comparisons`` comparisons
            (when given).
    """
    settings = model.splink_settings()
    recs = _group(records, sources, settings, group_recs)
    # materialised once, numbered for the keyed path: the pre-flight counts and the scoring
    # both read it (each made the records and their term frequencies again)
    recs = numbered(recs).localCheckpoint(eager=True)
    counts = check_blocking(recs, blocking_rules(settings), scope, max_comparisons, link_group)
    keyed_join = prefer_keyed(counts)
    logger.info("link group %s: pairs found by %s (%s records read by the rules' joins, %s "
                "comparisons at most)", link_group,
                "one join of block keys" if keyed_join else "a join per rule",
                f"{sum(c.records for c in counts):,}", f"{sum(c.comparisons for c in counts):,}")
    return predict_edges(records, model, link_group, sources, scope, run_id, group_recs=recs,
                         keyed_join=keyed_join), counts


def rescore_edges(
    records: DataFrame,
    model: LinkModel,
    edges: DataFrame,
    link_group: str,
    sources: list[str],
    run_id: str,
    group_recs: DataFrame | None = None,
) -> DataFrame:
    """``edges`` (pairs already found: ``record_key_l``, ``record_key_r``, ``match_key``) scored
    again against the current ``records``, exactly as :func:`predict_edges` scores them (same
    columns, term frequencies from the current records of the group; ``group_recs`` as there).
    An incremental run uses it for kept edges whose weight may have drifted across a threshold."""
    settings = model.splink_settings()
    recs = _group(records, sources, settings, group_recs)
    cols = pair_columns(recs)
    left = recs.select(*[F.col(f"`{c}`").alias(f"{c}_l") for c in cols])
    right = recs.select(*[F.col(f"`{c}`").alias(f"{c}_r") for c in cols])
    pairs = edges.select("record_key_l", "record_key_r", F.col("match_key").cast("int").alias("match_key")) \
        .join(left, "record_key_l").join(right, "record_key_r")
    return _edges(pairs, model, settings, link_group, run_id)


def _edges(pairs: DataFrame, model: LinkModel, settings, link_group: str, run_id: str) -> DataFrame:
    """Scored edges (the columns :func:`predict_edges` documents) of pairs with ``<col>_l`` /
    ``<col>_r`` record columns and ``match_key``."""
    rules = blocking_rules(settings)
    keep = ["record_key_l", "record_key_r", "source_l", "source_r", "match_key"]
    scored = score_vectors(comparison_vectors(pairs, settings, keep), settings)
    rule_sql = F.array(*[F.lit(r.sql) for r in rules])
    return scored.select(
        *EDGE_KEY_COLUMNS,
        *gamma_columns(settings),
        F.col("match_key").cast("string").alias("match_key"),
        F.element_at(rule_sql, F.col("match_key") + 1).alias("blocking_rule"),
        F.lit(link_group).alias("link_group"),
        F.lit(model.version).alias("model_version"),
        F.lit(run_id).alias("run_id"),
    )


def weight_without_tf(settings) -> Column:
    """An edge's match weight from its ``gamma_`` columns and the model alone: the prior's log2
    odds plus each comparison's level log2(m/u), without term-frequency adjustments (a null
    level, or a level without m or u, adds 0). Two runs that agree on an edge's comparison
    vector agree on this exactly, whatever the term frequencies did in between, which an
    incremental run's kept edges are only within a bound of (their ``match_weight``)."""
    prior = settings._probability_two_random_records_match
    terms = [F.lit(math.log2(prior / (1 - prior)) if prior and 0 < prior < 1 else 0.0)]
    for c in settings.comparisons:
        weights = [(lv.comparison_vector_value, math.log2(lv.m_probability / lv.u_probability))
                   for lv in c.comparison_levels if not lv.is_null_level
                   and lv.m_probability and lv.u_probability]
        if weights:
            lookup = F.create_map(*[F.lit(x) for v, w in weights for x in (v, float(w))])
            terms.append(F.coalesce(lookup[F.col(c._gamma_column_name)], F.lit(0.0)))
    return reduce(add, terms)
