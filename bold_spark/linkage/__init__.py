"""Linkage on Spark: models, blocking, training, scoring and clustering.

    from bold_spark.linkage import load_model, group_records, predict_edges, cluster_records

A model is a Splink JSON file with a ``.meta.json`` sidecar (:class:`LinkModel`). Scoring runs
the SQL Splink generates for the model as one Spark pass (:func:`predict_edges`; with the
blocking pre-flight and the pair-finding path it chooses, as a run scores a link group:
:func:`score_link_group`); training
(:class:`Trainer`, :func:`train_model`) and clustering (:func:`cluster_records`) aggregate in
Spark. Stable person IDs across runs: :mod:`bold_spark.linkage.identify`.
"""

from bold_spark.linkage.blocking import RuleCount, check_blocking, count_comparisons
from bold_spark.linkage.clustering import cluster_records, threshold_edges
from bold_spark.linkage.model import (
    LinkModel,
    ModelMeta,
    TrainingConfig,
    load_model,
    save_model,
)
from bold_spark.linkage.pairs import blocked_pairs, comparison_vectors, group_records
from bold_spark.linkage.pprl_templates import PPRL_TEMPLATES
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.scoring import predict_edges, score_link_group
from bold_spark.linkage.sql import BlockingRule, blocking_rules, needed_columns
from bold_spark.linkage.templates import TEMPLATES
from bold_spark.linkage.training import EMSession, Trainer, train_model

__all__ = [
    "PPRL_TEMPLATES",
    "TEMPLATES",
    "BlockingRule",
    "EMSession",
    "LinkModel",
    "ModelMeta",
    "PairScope",
    "RuleCount",
    "Trainer",
    "TrainingConfig",
    "blocked_pairs",
    "blocking_rules",
    "check_blocking",
    "cluster_records",
    "comparison_vectors",
    "count_comparisons",
    "group_records",
    "load_model",
    "needed_columns",
    "predict_edges",
    "save_model",
    "score_link_group",
    "threshold_edges",
    "train_model",
]
