"""Training a Fellegi-Sunter model on Spark, the way Splink defines it, with Spark doing only
aggregations.

* prior (probability two random records match) from deterministic rules and their recall,
* u by one pass of random pair sampling, aggregated to counts per comparison level,
* m by expectation maximisation on aggregated comparison-vector counts: each EM session blocks
  on one rule, Spark counts each distinct comparison vector once, and the EM iterations run on
  that small table on the driver (Splink's ``estimate_without_term_frequencies`` approach), instead
  of a Spark job over every pair per iteration. Comparisons whose columns the session's rule
  uses are left out of that session, as Splink does; m values are the median over sessions.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.linkage.model import LinkModel
from bold_spark.linkage.pairs import blocked_pairs, comparison_vectors
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import (
    RECORD_KEY,
    SOURCE,
    BlockingRule,
    columns_in_rule,
    gamma_columns,
)

logger = logging.getLogger(__name__)

LEVEL_NOT_OBSERVED = 1e-6  # Splink's value for a level never seen in training


@dataclass
class EMSession:
    rule: str
    pairs: int
    patterns: int
    iterations: int
    converged: bool
    deactivated: list[str] = field(default_factory=list)


def pattern_counts(vectors: DataFrame, gammas: list[str]) -> pd.DataFrame:
    """Distinct comparison vectors and how many pairs have each (small: product of levels)."""
    return vectors.groupBy(*gammas).agg(F.count(F.lit(1)).alias("n")).toPandas()


def estimate_prior(
    recs: DataFrame, rules: list[str], recall: float, scope: PairScope, total: float
) -> tuple[float, int]:
    """Pairs the deterministic rules match, over all pairs in scope, divided by their recall."""
    det_rules = [BlockingRule(i, r) for i, r in enumerate(rules)]
    matched = blocked_pairs(recs.select(RECORD_KEY, SOURCE, *_rule_cols(rules)), det_rules,
                            scope).count()
    prior = min(max(matched / max(total, 1) / recall, 1e-12), 0.5)
    logger.info("prior: %d deterministic matches of %.0f pairs, recall %.2f -> %.3g",
                matched, total, recall, prior)
    return prior, matched


def _rule_cols(rules: list[str]) -> list[str]:
    cols = [c for r in rules for c in columns_in_rule(r)]
    return [c for c in dict.fromkeys(cols) if c not in (RECORD_KEY, SOURCE)]


def sample_random_pairs(
    recs: DataFrame, max_pairs: int, seed: int, scope: PairScope, total: float
) -> DataFrame:
    """About ``max_pairs`` random pairs in scope: a seeded sample of records crossed with itself."""
    fraction = min(1.0, math.sqrt(max_pairs / max(total, 1)))
    u01 = (F.abs(F.xxhash64(F.col(RECORD_KEY), F.lit(seed))) % 1_000_000) / 1_000_000.0
    sample = recs.where(u01 < fraction)
    # The sample is small (about sqrt(2 * max_pairs) records): broadcasting one side makes the
    # cross join one pass over the records, where a cartesian product of their partitions
    # re-reads every partition once per partition (71 s of training at 10M records).
    left, right = sample.alias("l"), F.broadcast(sample).alias("r")
    cols = recs.columns
    select = [F.col(f"l.`{c}`").alias(f"{c}_l") for c in cols] + [
        F.col(f"r.`{c}`").alias(f"{c}_r") for c in cols
    ]
    cond = F.expr(f"l.{RECORD_KEY} < r.{RECORD_KEY} and {scope.sql()}")
    return left.crossJoin(right).where(cond).select(*select)


def _levels(settings) -> list[list]:
    return [[lv for lv in c.comparison_levels if not lv.is_null_level] for c in settings.comparisons]


def level_proportions(patterns: pd.DataFrame, gamma: str, levels, weights: np.ndarray) -> dict[int, float]:
    """Share of each level among non-null comparisons, weighted."""
    g = patterns[gamma].to_numpy()
    denom = weights[g != -1].sum()
    out = {}
    for lv in levels:
        v = lv.comparison_vector_value
        num = weights[g == v].sum()
        out[v] = float(num / denom) if denom > 0 and num > 0 else LEVEL_NOT_OBSERVED
    return out


def expectation_maximisation(
    patterns: pd.DataFrame,
    gammas: list[str],
    levels: list[list],
    m: list[dict[int, float]],
    u: list[dict[int, float]],
    prior: float,
    max_iterations: int,
    convergence: float,
) -> tuple[list[dict[int, float]], float, int, bool]:
    """EM over distinct comparison vectors weighted by their counts; u stays fixed."""
    counts = patterns["n"].to_numpy(dtype=float)
    G = [patterns[g].to_numpy() for g in gammas]
    lam = prior
    converged = False
    it = 0
    for it in range(1, max_iterations + 1):
        log_bf = np.zeros(len(counts))
        for k, gk in enumerate(G):
            for v, mv in m[k].items():
                log_bf[gk == v] += math.log2(mv) - math.log2(u[k][v])
        log_odds = math.log2(lam / (1 - lam)) + log_bf
        p = 1.0 / (1.0 + np.power(2.0, -np.clip(log_odds, -1000, 1000)))
        wm = counts * p
        new_m = [level_proportions(patterns, gammas[k], levels[k], wm) for k in range(len(G))]
        new_lam = float(wm.sum() / counts.sum())
        delta = max(abs(new_m[k][v] - m[k][v]) for k in range(len(G)) for v in m[k])
        m, lam = new_m, min(max(new_lam, 1e-12), 1 - 1e-12)
        if delta < convergence:
            converged = True
            break
    return m, lam, it, converged


def train_model(
    recs: DataFrame, model: LinkModel, scope: PairScope, trained_on: dict
) -> tuple[LinkModel, dict]:
    """Estimate prior, u and m for ``model`` on a link group's records; returns the trained model."""
    settings = model.splink_settings()
    tr = model.meta.training
    levels = _levels(settings)
    gammas = gamma_columns(settings)
    recs = recs.persist()
    t0 = time.monotonic()
    totals = scope.block_counts(recs, [F.lit(1)]).agg(F.sum("n"), F.sum("pairs")).collect()[0]
    n_records, total = int(totals[0] or 0), float(totals[1] or 0.0)
    logger.info("training on %d records, %.0f pairs in scope (%.1fs)", n_records, total, time.monotonic() - t0)

    t0 = time.monotonic()
    prior, det_matches = estimate_prior(recs, tr.deterministic_rules, tr.recall, scope, total)
    logger.info("prior estimated (%.1fs)", time.monotonic() - t0)
    t0 = time.monotonic()

    keep = [f"{RECORD_KEY}_l", f"{RECORD_KEY}_r"]
    sample = sample_random_pairs(recs, tr.u_max_pairs, tr.seed, scope, total)
    u_patterns = pattern_counts(comparison_vectors(sample, settings, keep), gammas)
    u_weights = u_patterns["n"].to_numpy(dtype=float)
    u = [level_proportions(u_patterns, gammas[k], levels[k], u_weights) for k in range(len(gammas))]
    logger.info("u estimated from %d random pairs (%.1fs)", int(u_weights.sum()), time.monotonic() - t0)

    m_estimates: list[dict[int, list[float]]] = [{lv.comparison_vector_value: [] for lv in lvls} for lvls in levels]
    sessions = []
    for i, rule_sql in enumerate(tr.em_blocking_rules):
        t0 = time.monotonic()
        rule_cols = set(columns_in_rule(rule_sql))
        active = [k for k, c in enumerate(settings.comparisons)
                  if not rule_cols & {col.input_name for lv in c.comparison_levels
                                      for col in lv._input_columns_used_by_sql_condition}]
        pairs = blocked_pairs(recs, [BlockingRule(i, rule_sql)], scope, False)
        patterns = pattern_counts(comparison_vectors(pairs, settings, keep), [gammas[k] for k in active])
        m0 = [{lv.comparison_vector_value: lv.m_probability for lv in levels[k]} for k in active]
        m_hat, lam, iters, converged = expectation_maximisation(
            patterns, [gammas[k] for k in active], [levels[k] for k in active], m0,
            [u[k] for k in active], prior, settings.training_settings.max_iterations, settings.training_settings.em_convergence,
        )
        for j, k in enumerate(active):
            for v, val in m_hat[j].items():
                m_estimates[k][v].append(val)
        session = EMSession(rule_sql, int(patterns["n"].sum()), len(patterns), iters, converged,
                            [settings.comparisons[k].output_column_name for k in range(len(gammas)) if k not in active])
        sessions.append(session)
        logger.info("EM session %d `%s`: %d pairs in %d patterns, %d iterations%s (%.1fs)",
                    i, rule_sql, session.pairs, session.patterns, iters,
                    "" if converged else " (not converged)", time.monotonic() - t0)
    recs.unpersist()

    trained = copy.deepcopy(model.settings)
    trained["probability_two_random_records_match"] = prior
    for k, comp in enumerate(trained["comparisons"]):
        obj_levels = settings.comparisons[k].comparison_levels
        for lvl_dict, lvl in zip(comp["comparison_levels"], obj_levels, strict=True):
            if lvl.is_null_level:
                continue
            v = lvl.comparison_vector_value
            lvl_dict["u_probability"] = u[k][v]
            ests = m_estimates[k][v]
            if ests:
                lvl_dict["m_probability"] = float(np.median(ests))
    info = {
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "trained_on": trained_on,
        "records": n_records,
        "pairs_in_scope": total,
        "prior": prior,
        "deterministic_matches": det_matches,
        "u_pairs_sampled": int(u_weights.sum()),
        "em_sessions": [s.__dict__ for s in sessions],
    }
    meta = replace(model.meta, trained=info)
    return LinkModel(model.path, trained, meta), info
