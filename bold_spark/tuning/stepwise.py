"""``bold train`` one step at a time, for a notebook: the prior, then u, then each EM session,
with the model available (and chartable) after every step.

It calls the same functions as ``bold_spark.linkage.training.train_model`` in the same order;
run through every step with the model's own training settings, ``model()`` equals what
``train_model`` returns (a test checks it). Between steps an analyst can look at the
parameters, try another EM blocking rule, or start again.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from dataclasses import replace
from typing import Self

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from bold_spark.linkage.model import LinkModel, TrainingConfig
from bold_spark.linkage.pairs import blocked_pairs, comparison_vectors
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import RECORD_KEY, BlockingRule, columns_in_rule, gamma_columns
from bold_spark.linkage.training import (
    EMSession,
    estimate_prior,
    expectation_maximisation,
    level_proportions,
    pattern_counts,
    sample_random_pairs,
)

logger = logging.getLogger(__name__)


class StepwiseTrainer:
    """Train ``model`` on a link group's records (``recs`` as ``group_records`` returns them).

    ``training`` overrides the model's training settings (deterministic rules, recall, EM
    rules, u sample size, seed); the saved model's metadata records what was used."""

    def __init__(self, recs: DataFrame, model: LinkModel, scope: PairScope, trained_on: dict,
                 training: TrainingConfig | None = None):
        if training is not None:
            model = replace(model, meta=replace(model.meta, training=training))
        self.start = model
        self.scope = scope
        self.trained_on = trained_on
        self._settings = model.splink_settings()
        self._levels = [[lv for lv in c.comparison_levels if not lv.is_null_level]
                        for c in self._settings.comparisons]
        self._gammas = gamma_columns(self._settings)
        self._owns_cache = not recs.is_cached
        self.recs = recs.persist() if self._owns_cache else recs
        self.records = self.recs.count()
        self.pairs_in_scope = scope.total_pairs(self.recs)
        self.prior: float | None = None
        self.deterministic_matches: int | None = None
        self.u: list[dict[int, float]] | None = None
        self.u_pairs_sampled: int | None = None
        self.sessions: list[EMSession] = []
        self._m_estimates: list[dict[int, list[float]]] = [
            {lv.comparison_vector_value: [] for lv in lvls} for lvls in self._levels]
        self.session_m: list[dict[str, float]] = []  # per session: "<comparison>:<level>" -> m

    @property
    def training(self) -> TrainingConfig:
        return self.start.meta.training

    def estimate_prior(self, rules: list[str] | None = None, recall: float | None = None) -> float:
        """Probability two random records match, from deterministic rules and their recall."""
        tr = self.training
        if rules is not None or recall is not None:
            self.start = replace(self.start, meta=replace(self.start.meta, training=replace(
                tr, deterministic_rules=rules if rules is not None else tr.deterministic_rules,
                recall=recall if recall is not None else tr.recall)))
            tr = self.training
        self.prior, self.deterministic_matches = estimate_prior(
            self.recs, tr.deterministic_rules, tr.recall, self.scope, self.pairs_in_scope)
        return self.prior

    def estimate_u(self) -> pd.DataFrame:
        """u per comparison level from one seeded sample of random pairs; returns the parameters."""
        tr = self.training
        keep = [f"{RECORD_KEY}_l", f"{RECORD_KEY}_r"]
        sample = sample_random_pairs(self.recs, tr.u_max_pairs, tr.seed, self.scope, self.pairs_in_scope)
        patterns = pattern_counts(comparison_vectors(sample, self._settings, keep), self._gammas)
        weights = patterns["n"].to_numpy(dtype=float)
        self.u = [level_proportions(patterns, self._gammas[k], self._levels[k], weights)
                  for k in range(len(self._gammas))]
        self.u_pairs_sampled = int(weights.sum())
        return self.parameters()

    def em_session(self, rule: str) -> EMSession:
        """One EM session blocked on ``rule`` (comparisons using the rule's columns are left out),
        starting from the model's initial m values as ``bold train`` does."""
        if self.prior is None or self.u is None:
            raise RuntimeError("estimate the prior and u before an EM session")
        settings, levels, gammas = self._settings, self._levels, self._gammas
        rule_cols = set(columns_in_rule(rule))
        active = [k for k, c in enumerate(settings.comparisons)
                  if not rule_cols & {col.input_name for lv in c.comparison_levels
                                      for col in lv._input_columns_used_by_sql_condition}]
        keep = [f"{RECORD_KEY}_l", f"{RECORD_KEY}_r"]
        pairs = blocked_pairs(self.recs, [BlockingRule(len(self.sessions), rule)], self.scope, False)
        patterns = pattern_counts(comparison_vectors(pairs, settings, keep), [gammas[k] for k in active])
        m0 = [{lv.comparison_vector_value: lv.m_probability for lv in levels[k]} for k in active]
        m_hat, _, iters, converged = expectation_maximisation(
            patterns, [gammas[k] for k in active], [levels[k] for k in active], m0,
            [self.u[k] for k in active], self.prior, settings.training_settings.max_iterations,
            settings.training_settings.em_convergence,
        )
        estimates = {}
        for j, k in enumerate(active):
            name = settings.comparisons[k].output_column_name
            for v, val in m_hat[j].items():
                self._m_estimates[k][v].append(val)
                estimates[f"{name}:{v}"] = val
        session = EMSession(rule, int(patterns["n"].sum()), len(patterns), iters, converged,
                            [settings.comparisons[k].output_column_name
                             for k in range(len(gammas)) if k not in active])
        self.sessions.append(session)
        self.session_m.append(estimates)
        logger.info("EM session `%s`: %d pairs in %d patterns, %d iterations%s", rule, session.pairs,
                    session.patterns, iters, "" if converged else " (not converged)")
        return session

    def run_all(self) -> LinkModel:
        """Every step with the model's training settings: what ``bold train`` does."""
        self.estimate_prior()
        self.estimate_u()
        for rule in self.training.em_blocking_rules:
            self.em_session(rule)
        return self.model()

    def model(self) -> LinkModel:
        """The model with the parameters estimated so far (m: median over EM sessions)."""
        trained = copy.deepcopy(self.start.settings)
        if self.prior is not None:
            trained["probability_two_random_records_match"] = self.prior
        for k, comp in enumerate(trained["comparisons"]):
            obj_levels = self._settings.comparisons[k].comparison_levels
            for lvl_dict, lvl in zip(comp["comparison_levels"], obj_levels, strict=True):
                if lvl.is_null_level:
                    continue
                v = lvl.comparison_vector_value
                if self.u is not None:
                    lvl_dict["u_probability"] = self.u[k][v]
                if self._m_estimates[k][v]:
                    lvl_dict["m_probability"] = float(np.median(self._m_estimates[k][v]))
        info = {
            "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "trained_on": self.trained_on,
            "records": self.records,
            "pairs_in_scope": self.pairs_in_scope,
            "prior": self.prior,
            "deterministic_matches": self.deterministic_matches,
            "u_pairs_sampled": self.u_pairs_sampled,
            "em_sessions": [s.__dict__ for s in self.sessions],
        }
        complete = self.prior is not None and self.u is not None and bool(self.sessions)
        meta = replace(self.start.meta, trained=info if complete else {})
        return LinkModel(self.start.path, trained, meta)

    def parameters(self) -> pd.DataFrame:
        """One row per comparison level: comparison, level, label, m, u, match_weight."""
        return parameters_table(self.model())

    def session_estimates(self) -> pd.DataFrame:
        """m per comparison level (rows) estimated by each EM session (columns)."""
        cols = {f"{i}: {s.rule}": est for i, (s, est) in enumerate(zip(self.sessions, self.session_m, strict=True))}
        return pd.DataFrame(cols)

    def close(self) -> None:
        """Release the records cache (only if this trainer made it)."""
        if self._owns_cache:
            self.recs.unpersist()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def with_blocking_rules(model: LinkModel, rules: list[str]) -> LinkModel:
    """``model`` with ``rules`` as its blocking rules for predictions (in that order)."""
    settings = copy.deepcopy(model.settings)
    settings["blocking_rules_to_generate_predictions"] = [{"blocking_rule": r} for r in rules]
    changed = LinkModel(model.path, settings, model.meta)
    changed.splink_settings()  # Splink validates the rules
    return changed


def parameters_table(model: LinkModel) -> pd.DataFrame:
    """m, u and match weight (log2 m/u) of every non-null comparison level of ``model``."""
    rows = []
    for comp in model.splink_settings().comparisons:
        for lv in comp.comparison_levels:
            if lv.is_null_level:
                continue
            m, u = lv.m_probability, lv.u_probability
            weight = float(np.log2(m / u)) if m and u else None
            rows.append({"comparison": comp.output_column_name, "level": lv.comparison_vector_value,
                         "label": lv.label_for_charts, "m": m, "u": u, "match_weight": weight})
    return pd.DataFrame(rows)
