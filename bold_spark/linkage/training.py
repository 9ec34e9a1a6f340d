"""Training a Fellegi-Sunter model on Spark, the way Splink defines it, with Spark doing only
aggregations.

* prior (probability two random records match) from deterministic rules and their recall,
* u by one pass of random pair sampling, aggregated to counts per comparison level,
* m by expectation maximisation on aggregated comparison-vector counts: each EM session blocks
  on one rule, Spark counts each distinct comparison vector once, and the EM iterations run on
  that small table on the driver (Splink's ``estimate_without_term_frequencies`` approach), instead
  of a Spark job over every pair per iteration. Comparisons whose columns the session's rule
  uses are left out of that session, as Splink does; m values are the median over sessions.

``Trainer`` holds those steps as methods; ``train_model`` (``bold train``) runs them all, and
``bold_spark.tuning.stepwise`` runs them one at a time in the notebooks: one engine, so the
notebooks tune the estimator ``bold train`` runs.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
import math
import re
import time
from dataclasses import dataclass, field, replace
from typing import Self

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.linkage.blocking import (
    RuleCount,
    count_comparisons,
    enforce_cap,
    log_counts,
    skip_oversized_blocks,
)
from bold_spark.linkage.model import LinkModel, TrainingConfig
from bold_spark.linkage.pairs import blocked_pairs, comparison_vectors
from bold_spark.linkage.scope import PairScope, entry_rows
from bold_spark.linkage.sql import (
    RECORD_KEY,
    SOURCE,
    BlockingRule,
    columns_in_rule,
    gamma_columns,
)

logger = logging.getLogger(__name__)


@dataclass
class EMSession:
    """What one EM session did: its blocking rule, the pairs and distinct comparison vectors it
    counted, the iterations run, whether it converged, and the comparisons it left out."""

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


_EQUALS = re.compile(r"^\s*[`\"]?(\w+)_l[`\"]?\s*=\s*[`\"]?(\w+)_r[`\"]?\s*$")
_IS_NULL = re.compile(
    r"^\s*[`\"]?(\w+)_l[`\"]?\s+is\s+null\s+or\s+[`\"]?(\w+)_r[`\"]?\s+is\s+null\s*$", re.IGNORECASE)


def exact_match_levels(settings) -> dict[int, tuple[int, str, str | None]]:
    """Comparisons whose u of the first non-null level can be counted instead of sampled:
    comparison index -> (that level's comparison vector value, its column ``X``, the null
    level's column ``Y`` or None without a null level).

    The level must be ``X_l = X_r`` and the comparison's only null level, before it,
    ``Y_l IS NULL OR Y_r IS NULL``: then a pair falls in the level exactly when both records
    have a ``Y`` and the same ``X``, which block sizes count (no pair is made)."""
    out = {}
    for k, comp in enumerate(settings.comparisons):
        nulls = [(i, lv) for i, lv in enumerate(comp.comparison_levels) if lv.is_null_level]
        rest = [(i, lv) for i, lv in enumerate(comp.comparison_levels) if not lv.is_null_level]
        if not rest or len(nulls) > 1 or (nulls and nulls[0][0] > rest[0][0]):
            continue
        null_col = None
        if nulls:
            m = _IS_NULL.match(nulls[0][1].sql_condition)
            if not m or m.group(1) != m.group(2):
                continue
            null_col = m.group(1)
        m = _EQUALS.match(rest[0][1].sql_condition)
        if m and m.group(1) == m.group(2):
            out[k] = (rest[0][1].comparison_vector_value, m.group(1), null_col)
    return out


def exact_match_pairs(recs: DataFrame, exact: dict[int, tuple[int, str, str | None]],
                      scope: PairScope) -> dict[int, tuple[float, float]]:
    """Per comparison of :func:`exact_match_levels`: (pairs in scope that fall in the level,
    pairs in scope whose comparison is not null), counted from block sizes in one Spark job."""
    if not exact:
        return {}
    entries = []
    for k, (_, col, null_col) in exact.items():
        present = F.col(null_col).isNotNull() if null_col else F.lit(True)
        for agree, key in ((True, F.col(col).cast("string")), (False, F.lit(""))):
            entries.append(F.struct(F.lit(k).alias("k"), F.lit(agree).alias("agree"),
                                    F.when(present, key).alias("key")))
    counts = scope.block_counts(entry_rows(recs, [SOURCE], entries), [F.col("k"), F.col("agree"), F.col("key")]) \
        .groupBy("_k0", "_k1").agg(F.sum("pairs").alias("pairs")).collect()
    got = {(r["_k0"], r["_k1"]): float(r["pairs"] or 0.0) for r in counts}
    return {k: (got.get((k, True), 0.0), got.get((k, False), 0.0)) for k in exact}


def _levels(settings) -> list[list]:
    return [[lv for lv in c.comparison_levels if not lv.is_null_level] for c in settings.comparisons]


def fixed_m_levels(levels: list) -> set[int]:
    """The comparison vector values of ``levels`` (Splink comparison levels) whose m is fixed:
    ``"fix_m_probability": true`` in the model, for an m EM cannot estimate from the pairs it
    sees (README, How linkage works), which training then leaves as the model has it."""
    return {lv.comparison_vector_value for lv in levels if lv._fix_m_probability}


def level_proportions(patterns: pd.DataFrame, gamma: str, levels, weights: np.ndarray) -> dict[int, float]:
    """Share of each level among non-null comparisons, weighted, for the levels *observed* (some
    pattern has them with a positive weight). A level no pair fell in is absent: as in Splink
    (its "level not observed"), it keeps the value it had rather than getting an estimate."""
    g = patterns[gamma].to_numpy()
    denom = weights[g != -1].sum()
    out = {}
    for lv in levels:
        v = lv.comparison_vector_value
        num = weights[g == v].sum()
        if denom > 0 and num > 0:
            out[v] = float(num / denom)
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
    fixed: list[set[int]] | None = None,
) -> tuple[list[dict[int, float]], float, int, bool]:
    """EM over distinct comparison vectors weighted by their counts; u stays fixed. A level no
    pattern has keeps its value from ``m`` (it enters no pattern's Bayes factor), and so does a
    level in ``fixed`` (per comparison, the level values whose m is fixed: Splink's
    ``fix_m_probability``). A fixed level enters the Bayes factors with its value and its pairs
    count in the other levels' proportions, as in Splink, so the comparison's m may not add up
    to exactly 1."""
    counts = patterns["n"].to_numpy(dtype=float)
    G = [patterns[g].to_numpy() for g in gammas]
    lam = prior
    converged = False
    it = 0
    for it in range(1, max_iterations + 1):  # noqa: B007 (returned: the iterations run)
        log_bf = np.zeros(len(counts))
        for k, gk in enumerate(G):
            for v, mv in m[k].items():
                log_bf[gk == v] += math.log2(mv) - math.log2(u[k][v])
        log_odds = math.log2(lam / (1 - lam)) + log_bf
        p = 1.0 / (1.0 + np.power(2.0, -np.clip(log_odds, -1000, 1000)))
        wm = counts * p
        new_m = [m[k] | level_proportions(patterns, gammas[k], levels[k], wm) for k in range(len(G))]
        for k, vs in enumerate(fixed or []):
            new_m[k].update({v: m[k][v] for v in vs})
        new_lam = float(wm.sum() / counts.sum())
        delta = max(abs(new_m[k][v] - m[k][v]) for k in range(len(G)) for v in m[k])
        m, lam = new_m, min(max(new_lam, 1e-12), 1 - 1e-12)
        if delta < convergence:
            converged = True
            break
    return m, lam, it, converged


class Trainer:
    """Train ``model`` on one link group's records, one step per method.

    The steps, in order: ``estimate_prior``, ``estimate_u``, then ``em_session`` once per EM
    blocking rule; ``model()`` assembles the parameters estimated so far into a ``LinkModel``
    at any point. ``run()`` does every step with the model's own training settings: it is what
    ``train_model`` (``bold train``) does, and ``bold_spark.tuning.stepwise`` drives the same
    object one step at a time for the notebooks.

    Parameters:
        recs: the link group's records as ``pairs.group_records`` returns them. Persisted for
            the trainer's life unless already cached (``close()`` releases only what it made).
        model: the model to start from (comparisons, blocking rules, initial m values).
        scope: which pairs the link group scores.
        trained_on: provenance recorded in the trained model's metadata.
        training: overrides ``model.meta.training`` (the trained model records what was used).
        max_comparisons: the comparison cap (the pipeline config's ``max_comparisons``), or
            None for none: the deterministic rules together, and each EM rule, may generate at
            most this many comparisons (``linkage.blocking.enforce_cap``, predict's message).
        max_block_size: the per-block cap (the pipeline config's ``max_block_size``; 0: off):
            the prior's and EM sessions' joins skip blocks of more records, with a warning
            (``linkage.blocking.skip_oversized_blocks``); ``info()`` records what was skipped.
        link_group: the group's name, for the log and the errors.

    Counts the records and the pairs in scope (one Spark aggregation) when constructed; with
    either cap, the same job counts every training rule's comparisons from block sizes (no
    join), and a rule over the cap is refused before any training work.

    Raises:
        BlockingCapExceeded: a training rule passes ``max_comparisons`` (when constructed, or
            at a step given other rules).
    """

    def __init__(self, recs: DataFrame, model: LinkModel, scope: PairScope, trained_on: dict,
                 training: TrainingConfig | None = None, max_comparisons: int | None = None,
                 max_block_size: int = 0, link_group: str = ""):
        if training is not None:
            model = replace(model, meta=replace(model.meta, training=training))
        self.start = model
        self.scope = scope
        self.trained_on = trained_on
        self.settings = model.splink_settings()
        self.levels = _levels(self.settings)
        self.gammas = gamma_columns(self.settings)
        self.max_comparisons = max_comparisons
        self.max_block_size = max_block_size
        self.link_group = link_group or "training"
        self._counts: dict[str, RuleCount] = {}  # rule SQL -> its comparisons (with block cap)
        self._checked: set[tuple[str, ...]] = set()  # rule sets logged and capped already
        self._owns_cache = not recs.is_cached
        self.recs = recs.persist() if self._owns_cache else recs
        t0 = time.monotonic()
        try:
            if max_comparisons is None and max_block_size <= 0:
                totals = (scope.block_counts(self.recs, [F.lit(1)])
                          .agg(F.sum("n"), F.sum("pairs")).collect()[0])
                self.records: int = int(totals[0] or 0)
                self.pairs_in_scope: float = float(totals[1] or 0.0)
            else:  # one job: the totals (a rule without equi-join: one block) and every rule
                tr = self.training
                rules = list(dict.fromkeys([*tr.deterministic_rules, *tr.em_blocking_rules]))
                *counts, whole = count_comparisons(
                    self.recs, [*(BlockingRule(i, r) for i, r in enumerate(rules)),
                                BlockingRule(-1, "true")], scope, max_block_size)
                self._counts = {c.rule.sql: c for c in counts}
                self.records = whole.largest_block
                self.pairs_in_scope = float(whole.comparisons)
            logger.info("training on %d records, %.0f pairs in scope (%.1fs)",
                        self.records, self.pairs_in_scope, time.monotonic() - t0)
            if self._counts:
                self._preflight(self.training.deterministic_rules, _PRIOR)
                for j, rule in enumerate(self.training.em_blocking_rules):
                    self._preflight([rule], _EM, j)
        except Exception:
            self.close()
            raise
        self.prior: float | None = None
        self.deterministic_matches: int | None = None
        self.u: list[dict[int, float]] | None = None  # per comparison: level -> u
        self.u_pairs_sampled: int | None = None
        self.u_unobserved: set[tuple[int, int]] = set()  # (comparison, level) no sampled pair had
        self.u_start: list[dict[int, float | None]] = []  # per comparison: the start model's u
        self.u_counted: list[dict] = []  # exact-match levels whose u was counted, not sampled
        self.sessions: list[EMSession] = []
        # per EM session: comparison index -> level -> m (comparisons the session left out absent)
        self.session_m: list[dict[int, dict[int, float]]] = []

    @property
    def training(self) -> TrainingConfig:
        """The training settings in use (the model's, or the override, as changed by steps)."""
        return self.start.meta.training

    @property
    def _capped(self) -> bool:
        return self.max_comparisons is not None or self.max_block_size > 0

    def _preflight(self, rules: list[str], what: str, first_index: int = 0) -> list[RuleCount]:
        """Count ``rules`` (one Spark job for those not counted yet), log them and refuse them
        together over ``max_comparisons``, as predict does for its rules; once per rule set."""
        missing = [r for r in dict.fromkeys(rules) if r not in self._counts]
        if missing:
            counted = count_comparisons(self.recs, [BlockingRule(i, r) for i, r in enumerate(missing)],
                                        self.scope, self.max_block_size)
            self._counts.update({c.rule.sql: c for c in counted})
        counts = [replace(self._counts[r], rule=BlockingRule(first_index + i, r))
                  for i, r in enumerate(rules)]
        if (what, *rules) not in self._checked:
            self._checked.add((what, *rules))
            log_counts(counts, self.link_group, self.max_block_size, what)
            if self.max_comparisons is not None and counts:
                enforce_cap(counts, self.max_comparisons, self.link_group, what)
        return counts

    def _skipping(self, recs: DataFrame, rules: list[str]) -> tuple[DataFrame, list[str]]:
        """``recs`` and ``rules`` with the blocks over ``max_block_size`` left out of the rules'
        joins (unchanged when no rule has such a block)."""
        capped = [r for r in dict.fromkeys(rules) if self._counts[r].skipped_blocks]
        if self.max_block_size <= 0 or not capped:
            return recs, rules
        flagged, rewritten = skip_oversized_blocks(
            recs, [BlockingRule(i, r) for i, r in enumerate(capped)], self.max_block_size)
        sql = {r: w.sql for r, w in zip(capped, rewritten, strict=True)}
        return flagged, [sql.get(r, r) for r in rules]

    def estimate_prior(self, rules: list[str] | None = None, recall: float | None = None) -> float:
        """Estimate the probability that two random records in scope match, from the pairs the
        deterministic rules find and their assumed recall.

        Parameters:
            rules: deterministic rules to use instead of the training settings' (recorded).
            recall: their recall, instead of the training settings' (recorded).

        Returns the prior; also sets ``prior`` and ``deterministic_matches``.
        """
        tr = self.training
        if rules is not None or recall is not None:
            tr = replace(
                tr,
                deterministic_rules=tr.deterministic_rules if rules is None else list(rules),
                recall=tr.recall if recall is None else recall,
            )
            self.start = replace(self.start, meta=replace(self.start.meta, training=tr))
        t0 = time.monotonic()
        recs, rules = self.recs, tr.deterministic_rules
        if self._capped:
            self._preflight(rules, _PRIOR)
            recs, rules = self._skipping(recs, rules)
        self.prior, self.deterministic_matches = estimate_prior(
            recs, rules, tr.recall, self.scope, self.pairs_in_scope)
        logger.info("prior estimated (%.1fs)", time.monotonic() - t0)
        return self.prior

    def estimate_u(self) -> list[dict[int, float]]:
        """Estimate u for every non-null comparison level from one seeded sample of about
        ``training.u_max_pairs`` random pairs in scope; with ``training.count_exact_u`` the
        exact-match levels' u is counted over every pair in scope instead (one more Spark job,
        :func:`exact_match_levels`), and the other levels of their comparisons scaled to the rest.

        Returns u per comparison (level value -> u); also sets ``u`` and ``u_pairs_sampled``.
        """
        tr = self.training
        t0 = time.monotonic()
        sample = sample_random_pairs(
            self.recs, tr.u_max_pairs, tr.seed, self.scope, self.pairs_in_scope)
        vectors = comparison_vectors(sample, self.settings, _PAIR_KEYS)
        patterns = pattern_counts(vectors, self.gammas)
        weights = patterns["n"].to_numpy(dtype=float)
        observed = [level_proportions(patterns, self.gammas[k], self.levels[k], weights)
                    for k in range(len(self.gammas))]
        self.u_pairs_sampled = int(weights.sum())
        if tr.count_exact_u and self.u_pairs_sampled < self.pairs_in_scope:
            self._count_exact_levels(observed)
        self.u_start = [{lv.comparison_vector_value: lv.u_probability for lv in self.levels[k]}
                        for k in range(len(self.gammas))]
        self.u_unobserved = {(k, v) for k in range(len(self.gammas)) for v in self.u_start[k]
                             if v not in observed[k]}
        # a level no sampled pair fell in: Splink keeps the start model's u ("not observed"),
        # which can be far off (make bench, 1M records, one u-sample seed: the postcode
        # exact-match level kept 9.3e-4 where the population's is 1.4e-6; F1 0.735 against
        # 0.772-0.774 with two other seeds). With cap_unobserved_u it is at most 1 / pairs sampled.
        self.u = [self.u_start[k] | observed[k] | {
            v: self._unobserved_u(self.u_start[k][v]) for (kk, v) in self.u_unobserved if kk == k}
            for k in range(len(self.gammas))]
        logger.info("u estimated from %d random pairs (%.1fs)",
                    self.u_pairs_sampled, time.monotonic() - t0)
        if self.u_unobserved:
            capped = tr.cap_unobserved_u and self.u_pairs_sampled > 0
            logger.warning(
                "u not estimated for %d comparison level(s): none of the %d random pairs sampled "
                "fell in them, so %s: %s. Raise training.u_max_pairs "
                "(about 1 / the level's u pairs are needed to see one)", len(self.u_unobserved),
                self.u_pairs_sampled,
                "their u is at most 1 / pairs sampled (training.cap_unobserved_u)" if capped
                else "they keep the start model's u", "; ".join(
                    f"{d['comparison']} level {d['level']} ({d['label']}) u={d['u']:.3g}"
                    + (f" (start {d['u_start']:.3g})" if d["u_start"] is not None else "")
                    for d in self.unobserved_u_levels()))
        return self.u

    def _count_exact_levels(self, observed: list[dict[int, float]]) -> None:
        """Replace the sampled u of each exact-match level (:func:`exact_match_levels`) by its
        count over every pair in scope, and scale the comparison's other sampled levels to the
        rest, in place: a rare exact match (a postcode: 1.4e-6 of the benchmark's pairs) gets 0
        to a few sampled pairs, its count none of that noise."""
        t0 = time.monotonic()
        exact = exact_match_levels(self.settings)
        counts = exact_match_pairs(self.recs, exact, self.scope)
        self.u_counted = []
        for k, (v, _, _) in exact.items():
            agree, present = counts[k]
            if agree <= 0 or present <= 0:
                continue  # no pair in scope agrees: left to the sample (and the cap)
            u = agree / present
            sampled = observed[k].get(v, 0.0)
            scale = (1.0 - u) / (1.0 - sampled) if sampled < 1.0 else 0.0
            observed[k] = {w: q * scale for w, q in observed[k].items() if w != v and q * scale > 0} | {v: u}
            self.u_counted.append({**self._level_names(k, v), "pairs": agree, "of": present,
                                   "u_sampled": sampled})
        logger.info("u of %d exact-match level(s) counted over every pair in scope (%.1fs)",
                    len(self.u_counted), time.monotonic() - t0)

    def _unobserved_u(self, start: float | None) -> float | None:
        """u of a level no sampled pair fell in: the start model's, capped at one over the pairs
        sampled when ``training.cap_unobserved_u`` (and a pair was sampled)."""
        if not self.training.cap_unobserved_u or not self.u_pairs_sampled:
            return start
        ceiling = 1.0 / self.u_pairs_sampled
        return ceiling if start is None else min(start, ceiling)

    def unobserved_u_levels(self) -> list[dict]:
        """The levels :meth:`estimate_u` saw no sampled pair fall in: comparison, level value,
        the level's label in the model, the start model's u (``u_start``) and the u the model
        got (``u``: the start's, or at most 1 / pairs sampled with ``cap_unobserved_u``)."""
        return [{**self._level_names(k, v), "u_start": self.u_start[k][v], "u": self.u[k][v]}
                for k, v in sorted(self.u_unobserved)]

    def _level_names(self, k: int, v: int) -> dict:
        """How the training record names level ``v`` of comparison ``k``: comparison, level,
        label."""
        lv = next(lv for lv in self.levels[k] if lv.comparison_vector_value == v)
        return {"comparison": self.settings.comparisons[k].output_column_name, "level": v,
                "label": lv.label_for_charts}

    def em_session(self, rule: str) -> EMSession:
        """One EM session on the pairs ``rule`` blocks, starting from the start model's m values.

        Comparisons that read a column the rule uses are left out of the session (Splink's
        rule); its m estimates join those of earlier sessions (the model takes the median).

        Parameters:
            rule: a blocking rule over aliases ``l`` and ``r``.

        Returns the session's summary (also appended to ``sessions``).

        Raises:
            RuntimeError: the prior or u has not been estimated yet.
            BlockingCapExceeded: the rule passes ``max_comparisons``.
        """
        if self.prior is None or self.u is None:
            raise RuntimeError("estimate the prior and u before an EM session")
        t0 = time.monotonic()
        settings, levels, gammas = self.settings, self.levels, self.gammas
        active = _comparisons_not_blocked_on(settings, rule)
        index = len(self.sessions)
        recs, joined = self.recs, rule
        if self._capped:
            em_rules = self.training.em_blocking_rules
            self._preflight([rule], _EM, em_rules.index(rule) if rule in em_rules else index)
            recs, (joined,) = self._skipping(recs, [rule])
        pairs = blocked_pairs(recs, [BlockingRule(index, joined)], self.scope, False)
        vectors = comparison_vectors(pairs, settings, _PAIR_KEYS)
        patterns = pattern_counts(vectors, [gammas[k] for k in active])
        m0 = [{lv.comparison_vector_value: lv.m_probability for lv in levels[k]} for k in active]
        fixed = [fixed_m_levels(levels[k]) for k in active]
        m_hat, _, iters, converged = expectation_maximisation(
            patterns, [gammas[k] for k in active], [levels[k] for k in active], m0,
            [self.u[k] for k in active], self.prior, settings.training_settings.max_iterations,
            settings.training_settings.em_convergence, fixed,
        )
        session = EMSession(rule, int(patterns["n"].sum()), len(patterns), iters, converged,
                            [c.output_column_name for k, c in enumerate(settings.comparisons)
                             if k not in active])
        self.sessions.append(session)
        # only the levels the session observed: a level no pair of the rule fell in gets no
        # estimate from it (Splink's "not observed"), so the median is over the sessions that saw
        # it (a fixed level's "estimate" is its value: EM left it as it started)
        seen = {k: set(patterns[gammas[k]].unique().tolist()) for k in active}
        self.session_m.append({k: {v: p for v, p in m_k.items() if v in seen[k]}
                               for k, m_k in zip(active, m_hat, strict=True)})
        logger.info("EM session %d `%s`: %d pairs in %d patterns, %d iterations%s (%.1fs)",
                    index, rule, session.pairs, session.patterns, iters,
                    "" if converged else " (not converged)", time.monotonic() - t0)
        return session

    def m_estimates(self) -> list[dict[int, float]]:
        """Per comparison, level -> m: the median over the EM sessions that observed it
        (levels no session observed are absent: the model keeps their start value, as Splink
        does)."""
        out: list[dict[int, float]] = []
        for k, lvls in enumerate(self.levels):
            per_level = {}
            for lv in lvls:
                v = lv.comparison_vector_value
                ests = [s[k][v] for s in self.session_m if v in s.get(k, {})]
                if ests:
                    per_level[v] = float(np.median(ests))
            out.append(per_level)
        return out

    @property
    def is_complete(self) -> bool:
        """Prior and u estimated, and at least one EM session run (unless the training settings
        name no EM rules, when m stays as the start model has it)."""
        return (self.prior is not None and self.u is not None
                and (bool(self.sessions) or not self.training.em_blocking_rules))

    def info(self) -> dict:
        """The training record stored in the model's metadata (``meta.trained``)."""
        return {
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "trained_on": self.trained_on,
            "records": self.records,
            "pairs_in_scope": self.pairs_in_scope,
            "prior": self.prior,
            "deterministic_matches": self.deterministic_matches,
            "u_pairs_sampled": self.u_pairs_sampled,
            "u_not_estimated": self.unobserved_u_levels() if self.u is not None else [],
            "u_counted": self.u_counted,
            "em_sessions": [s.__dict__ for s in self.sessions],
            **({"max_block_size": self.max_block_size, "skipped_blocks": self.skipped_blocks()}
               if self.max_block_size > 0 else {}),
        }

    def skipped_blocks(self) -> list[dict]:
        """Per training rule that skipped blocks over ``max_block_size``: the rule, the blocks,
        the records in them and the comparisons not made (counts only)."""
        rules = dict.fromkeys([*self.training.deterministic_rules,
                               *(s.rule for s in self.sessions)])
        return [{"rule": r, "blocks": c.skipped_blocks, "records": c.skipped_records,
                 "comparisons": c.skipped_comparisons}
                for r in rules if (c := self._counts.get(r)) is not None and c.skipped_blocks]

    def model(self) -> LinkModel:
        """The start model with the parameters estimated so far: the prior, u, and m as the
        median over EM sessions. Its ``meta.trained`` is ``info()`` once ``is_complete``, else
        empty (the model is not marked trained)."""
        trained = copy.deepcopy(self.start.settings)
        if self.prior is not None:
            trained["probability_two_random_records_match"] = self.prior
        m = self.m_estimates()
        for k, comp in enumerate(trained["comparisons"]):
            obj_levels = self.settings.comparisons[k].comparison_levels
            for lvl_dict, lvl in zip(comp["comparison_levels"], obj_levels, strict=True):
                if lvl.is_null_level:
                    continue
                v = lvl.comparison_vector_value
                if self.u is not None:
                    lvl_dict["u_probability"] = self.u[k][v]
                if v in m[k]:
                    lvl_dict["m_probability"] = m[k][v]
        meta = replace(self.start.meta, trained=self.info() if self.is_complete else {})
        return LinkModel(self.start.path, trained, meta)

    def run(self) -> LinkModel:
        """Every step with the training settings (prior, u, one EM session per EM rule);
        returns the trained model."""
        self.estimate_prior()
        self.estimate_u()
        for rule in self.training.em_blocking_rules:
            self.em_session(rule)
        return self.model()

    def close(self) -> None:
        """Release the records cache, only if this trainer made it."""
        if self._owns_cache:
            self.recs.unpersist()
            self._owns_cache = False

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_PAIR_KEYS = [f"{RECORD_KEY}_l", f"{RECORD_KEY}_r"]
_PRIOR = "training's deterministic rules (the prior)"
_EM = "training's EM blocking rule"


def _comparisons_not_blocked_on(settings, rule_sql: str) -> list[int]:
    """Indexes of the comparisons that read none of the columns ``rule_sql`` uses."""
    rule_cols = set(columns_in_rule(rule_sql))
    return [k for k, c in enumerate(settings.comparisons)
            if not rule_cols & {col.input_name for lv in c.comparison_levels
                                for col in lv._input_columns_used_by_sql_condition}]


def train_model(
    recs: DataFrame, model: LinkModel, scope: PairScope, trained_on: dict,
    max_comparisons: int | None = None, max_block_size: int = 0, link_group: str = "",
) -> tuple[LinkModel, dict]:
    """Estimate prior, u and m for ``model`` on a link group's records (``Trainer.run``).

    Parameters:
        recs: the link group's records (``pairs.group_records``).
        model: the model to train, with its training settings in ``meta.training``.
        scope: which pairs the link group scores.
        trained_on: provenance to record in the trained model's metadata.
        max_comparisons, max_block_size, link_group: the caps on the training joins and the
            group's name (see :class:`Trainer`).

    Returns the trained model and its training record (``model.meta.trained``).

    Raises:
        BlockingCapExceeded: a training rule passes ``max_comparisons`` (before any training).
    """
    with Trainer(recs, model, scope, trained_on, max_comparisons=max_comparisons,
                 max_block_size=max_block_size, link_group=link_group) as trainer:
        trained = trainer.run()
    return trained, trained.meta.trained
