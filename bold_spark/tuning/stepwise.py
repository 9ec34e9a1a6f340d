"""``bold train`` one step at a time, for a notebook: the prior, then u, then each EM session,
with the model available (and chartable) after every step.

The estimation is ``bold_spark.linkage.training.Trainer``, the engine ``train_model`` (``bold
train``) runs: ``StepwiseTrainer`` drives it and adds only what a notebook shows (parameter
tables, m per EM session side by side). Run through every step with the model's own training
settings, ``model()`` equals what ``train_model`` returns (tests/linkage/test_training.py).
"""

from __future__ import annotations

import copy
import logging
from typing import Self

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame

from bold_spark.linkage.model import LinkModel, TrainingConfig
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.training import EMSession, Trainer

logger = logging.getLogger(__name__)


class StepwiseTrainer:
    """A notebook's handle on ``Trainer``: the same steps, returning tables to look at.

    Parameters are ``Trainer``'s: the link group's records (as ``group_records`` returns
    them), the start model, the pair scope, provenance, and optional training settings that
    override the model's (the saved model's metadata records what was used). The engine
    itself is ``self.engine``."""

    def __init__(self, recs: DataFrame, model: LinkModel, scope: PairScope, trained_on: dict,
                 training: TrainingConfig | None = None):
        self.engine = Trainer(recs, model, scope, trained_on, training)

    @property
    def training(self) -> TrainingConfig:
        """The training settings in use (the engine's)."""
        return self.engine.training

    @property
    def prior(self) -> float | None:
        """The prior, once :meth:`estimate_prior` has run."""
        return self.engine.prior

    @property
    def deterministic_matches(self) -> int | None:
        """Pairs the deterministic rules matched, once :meth:`estimate_prior` has run."""
        return self.engine.deterministic_matches

    @property
    def sessions(self) -> list[EMSession]:
        """The EM sessions run so far, in order."""
        return self.engine.sessions

    def estimate_prior(self, rules: list[str] | None = None, recall: float | None = None) -> float:
        """Probability two random records match, from deterministic rules and their recall
        (``rules``/``recall`` override the training settings)."""
        return self.engine.estimate_prior(rules, recall)

    def estimate_u(self) -> pd.DataFrame:
        """Estimate u from one seeded sample of random pairs; returns ``parameters()``."""
        self.engine.estimate_u()
        return self.parameters()

    def em_session(self, rule: str) -> EMSession:
        """One EM session blocked on ``rule`` (comparisons using the rule's columns are left
        out), starting from the model's initial m values as ``bold train`` does."""
        return self.engine.em_session(rule)

    def run_all(self) -> LinkModel:
        """Every step with the model's training settings: what ``bold train`` does."""
        return self.engine.run()

    def model(self) -> LinkModel:
        """The model with the parameters estimated so far (m: median over EM sessions)."""
        return self.engine.model()

    def parameters(self) -> pd.DataFrame:
        """One row per comparison level: comparison, level, label, m, u, match_weight."""
        return parameters_table(self.model())

    def session_estimates(self) -> pd.DataFrame:
        """m per comparison level (rows, ``<comparison>:<level>``) estimated by each EM session
        (columns, ``<n>: <rule>``); a level a session left out is missing in its column."""
        names = [c.output_column_name for c in self.engine.settings.comparisons]
        sessions = zip(self.engine.sessions, self.engine.session_m, strict=True)
        cols = {
            f"{i}: {s.rule}": {f"{names[k]}:{v}": m for k, per_level in est.items()
                               for v, m in per_level.items()}
            for i, (s, est) in enumerate(sessions)
        }
        return pd.DataFrame(cols)

    def close(self) -> None:
        """Release the records cache (only if the trainer made it)."""
        self.engine.close()

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
