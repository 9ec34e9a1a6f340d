"""Accuracy of the published clusters against a ground truth (``bold evaluate``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bold_spark.config.pipeline import PipelineConfig
from bold_spark.evaluate.accuracy import Evaluation, evaluate_clusters, keyed_truth
from bold_spark.exceptions import InputError
from bold_spark.privacy.keys import SecretKey
from bold_spark.publish import read_published

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


def evaluate_stage(
    spark: SparkSession, cfg: PipelineConfig, key: SecretKey, ground_truth: str | None = None
) -> Evaluation:
    """Pairwise precision/recall/F1 of the clusters at each threshold against ground truth
    (source, source_record_id, person_id), and per source pair at the report's threshold
    (``report.level``).

    The ground truth may cover only some records (a clerical sample of records): accuracy is
    then over the pairs among the records it covers, with a warning saying how many those are;
    precision is then optimistic (a false link to a record outside the sample is not seen).
    Rows of the truth that match no clustered record (quarantined or withdrawn records) are
    counted and left out. Raises InputError when it matches no clustered record at all (another
    key, or another population)."""
    uri = ground_truth or cfg.ground_truth
    if not uri:
        raise InputError("no ground truth given (pipeline key ground_truth or --ground-truth)")
    keyed = keyed_truth(spark, uri, key, cfg.sources)
    clusters = read_published(spark, cfg.output_root)["clusters"]
    ev = evaluate_clusters(clusters, keyed, ("high", "medium", "low"), cfg.report.level, uri)
    for lv, acc in ev.levels.items():
        logger.info("accuracy at %-6s precision %.4f recall %.4f F1 %.4f (%d true pairs)",
                    lv, acc.precision, acc.recall, acc.f1, acc.true_pairs)
    for name, acc in ev.source_pairs.items():
        logger.info("accuracy at %s, %-28s precision %.4f recall %.4f F1 %.4f (%d true pairs, "
                    "%d predicted)", ev.level, name, acc.precision, acc.recall, acc.f1, acc.true_pairs,
                    acc.predicted_pairs)
    return ev
