"""Connected components over the union of all edges, at several thresholds in one pass.

Distributed min-label propagation with pointer jumping: each node's label is the smallest
record key it is connected to. Nodes are (threshold, record_key), so the high, medium and low
clusterings are solved together; records with no edge are their own cluster.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)

MAX_ITERATIONS = 60


def threshold_edges(edges: DataFrame, thresholds: dict[str, float]) -> DataFrame:
    """(level, src, dst) for each edge at or above each level's match-probability threshold."""
    parts = [
        edges.where(F.col("match_probability") >= p).select(
            F.lit(level).alias("level"), F.col("record_key_l").alias("src"),
            F.col("record_key_r").alias("dst"),
        )
        for level, p in thresholds.items()
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def connected_components(level_edges: DataFrame) -> DataFrame:
    """(level, node, label) for every node that has an edge; label = min node of its component.

    Each iteration is one Spark job: neighbours' min label, then pointer jumping
    (label <- label of label), materialised with a local checkpoint that also cuts lineage.
    """
    both = level_edges.select("level", "src", "dst").unionByName(
        level_edges.select("level", F.col("dst").alias("src"), F.col("src").alias("dst"))
    ).localCheckpoint()
    labels = both.groupBy("level", F.col("src").alias("node")).agg(
        F.least(F.min("dst"), F.first("src")).alias("label")
    )
    dst_labels = lambda lab: lab.select("level", F.col("node").alias("dst"), F.col("label").alias("dst_label"))  # noqa: E731
    for it in range(1, MAX_ITERATIONS + 1):
        neighbour = both.join(dst_labels(labels), ["level", "dst"]).groupBy(
            "level", F.col("src").alias("node")).agg(F.min("dst_label").alias("nlabel"))
        step = labels.join(neighbour, ["level", "node"]).select(
            "level", "node", F.least("label", "nlabel").alias("label"), F.col("label").alias("old"))
        jumped = step.alias("a").join(
            step.alias("b"),
            (F.col("a.level") == F.col("b.level")) & (F.col("a.label") == F.col("b.node")),
            "left",
        ).select(
            F.col("a.level").alias("level"), F.col("a.node").alias("node"),
            F.least(F.col("a.label"), F.coalesce(F.col("b.label"), F.col("a.label"))).alias("label"),
            F.col("a.old").alias("old"),
        ).localCheckpoint()
        changed = jumped.where(F.col("label") != F.col("old")).count()
        labels = jumped.select("level", "node", "label")
        logger.info("connected components: iteration %d, %d labels changed", it, changed)
        if changed == 0:
            return labels
    raise RuntimeError(f"connected components did not converge in {MAX_ITERATIONS} iterations")


def person_id(label: F.Column) -> F.Column:
    """A stable, opaque person id from the cluster's smallest record key."""
    return F.concat(F.lit("P"), F.substring(F.sha2(F.concat(F.lit("person:"), label), 256), 1, 20))


def cluster_records(
    record_keys: DataFrame, edges: DataFrame, thresholds: dict[str, float], run_id: str
) -> DataFrame:
    """One row per record: person id at each threshold (singletons included) and cluster sizes.

    ``record_keys`` has columns record_key and source; ``person_id`` is the medium-level id."""
    labels = connected_components(threshold_edges(edges, thresholds))
    out = record_keys.select("record_key", "source")
    for level in thresholds:
        lv = labels.where(F.col("level") == level).select(
            F.col("node").alias("record_key"), F.col("label").alias(f"_label_{level}")
        )
        out = out.join(lv, "record_key", "left").withColumn(
            f"person_id_{level}", person_id(F.coalesce(F.col(f"_label_{level}"), F.col("record_key")))
        ).drop(f"_label_{level}")
    main = "medium" if "medium" in thresholds else list(thresholds)[0]
    from pyspark.sql import Window

    sizes = [
        F.count(F.lit(1)).over(Window.partitionBy(f"person_id_{level}")).alias(f"cluster_size_{level}")
        for level in thresholds
    ]
    return out.select(
        "record_key", "source", F.col(f"person_id_{main}").alias("person_id"),
        *[f"person_id_{level}" for level in thresholds], *sizes, F.lit(run_id).alias("run_id"),
    )
