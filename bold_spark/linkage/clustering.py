"""Connected components over the union of all edges, at several thresholds in one pass.

Each node's label is the smallest record key it is connected to; records with no edge are
their own cluster. Two ways to the same labels:

* on the driver (``bold_spark.linkage.components``) when at most ``driver_max_edges`` edges
  reach the lowest threshold: one Spark job brings them over as Arrow, numpy solves every
  level in about a second;
* distributed min-label propagation with pointer jumping otherwise: nodes are
  (threshold, record_key), so the levels are solved together, one Spark job per iteration.

Clusters holding two records of a source declared one-record-per-person are then split at their
weakest bridge: on the driver with the components when they are solved there (the collected
edges carry their sources and ranking weight), otherwise by :func:`split_same_source`; the same
union-find (:func:`bold_spark.linkage.components.greedy_split`) decides either way.
"""

from __future__ import annotations

import logging
import time
from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

logger = logging.getLogger(__name__)

MAX_ITERATIONS = 60
#: Thresholded edges up to which components are solved on the driver (about 70 bytes each in
#: Arrow: 20M edges is about 1.4 GB of driver memory). 0 = always distributed.
DRIVER_MAX_EDGES = 20_000_000
#: A generous estimate of one thresholded edge collected as Arrow (two keys and a double).
ARROW_BYTES_PER_EDGE = 160
#: One-record-per-person sources up to which the split is done on the driver (a bit each).
MAX_EXCLUSIVE_SOURCES = 62
_SIZE_UNITS = {"b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def _max_result_bytes(df: DataFrame) -> float:
    """``spark.driver.maxResultSize`` in bytes (default 1g; 0 means unlimited)."""
    text = (df.sparkSession.conf.get("spark.driver.maxResultSize", "1g") or "1g").strip().lower()
    text = text.removesuffix("b") if text[-2:-1].isalpha() else text
    number, unit = (text[:-1], text[-1]) if text[-1] in _SIZE_UNITS else (text, "b")
    size = float(number) * _SIZE_UNITS[unit]
    return float("inf") if size == 0 else size


def threshold_edges(edges: DataFrame, thresholds: dict[str, float]) -> DataFrame:
    """The edges that hold at each threshold, as one frame.

    Parameters:
        edges: scored edges (``record_key_l``, ``record_key_r``, ``match_probability``).
        thresholds: level name -> match-probability threshold (``{"high": 0.99, ...}``).

    Returns ``(level, src, dst)`` for each edge at or above each level's threshold.
    """
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


def component_labels(
    edges: DataFrame, thresholds: dict[str, float], driver_max_edges: int = DRIVER_MAX_EDGES,
    one_record_per_person: frozenset[str] = frozenset(), split_order: str = "match_probability",
    stats: dict[str, float] | None = None,
) -> tuple[DataFrame, bool]:
    """One row per record with an edge at the lowest threshold: ``node``, ``component`` (the
    smallest record key of its component at the lowest threshold, before any split), and per
    level ``label_<level>`` (smallest record key of its component) and ``size_<level>`` (records
    in the component), null where the record has no edge at that level. Solved on the driver when
    the edges at the lowest threshold number at most ``driver_max_edges``, else in Spark.

    Returns the labels and whether the one-record-per-person split is applied to them: on the
    driver it is (the edges collected carry their sources and ``split_order``: see
    :func:`bold_spark.linkage.components.component_labels`, with ``stats``); in Spark it is
    left to :func:`split_same_source`."""
    lowest = min(thresholds.values())
    exclusive = sorted(one_record_per_person)
    if len(exclusive) > MAX_EXCLUSIVE_SOURCES:  # one bit each on the driver: split in Spark
        driver_max_edges = 0
    extra = [F.when(F.col(f"source_{s}").isin(*exclusive), F.col(f"source_{s}")).alias(f"source_{s}")
             for s in "lr"] if exclusive else []
    if exclusive and split_order != "match_probability":
        extra.append(F.col(split_order).cast("double").alias(split_order))
    candidates = edges.where(F.col("match_probability") >= lowest).select(
        "record_key_l", "record_key_r", F.col("match_probability").cast("double"), *extra)
    n = candidates.count() if driver_max_edges > 0 else None
    if n is not None and n <= driver_max_edges and n * ARROW_BYTES_PER_EDGE > _max_result_bytes(edges):
        logger.warning("%d edges (about %d MB as Arrow) exceed spark.driver.maxResultSize: solving "
                       "components in Spark; raise it to solve on the driver", n,
                       n * ARROW_BYTES_PER_EDGE // 2**20)
        n = None
    if n is None or n > driver_max_edges:
        logger.info("connected components in Spark (%s edges at >= %s; driver limit %d)",
                    "?" if n is None else n, lowest, driver_max_edges)
        lowest_level = min(thresholds, key=thresholds.__getitem__)
        wide = _wide(connected_components(threshold_edges(edges, thresholds)), thresholds)
        return wide.withColumn("component", F.col(f"label_{lowest_level}")), False
    from bold_spark.linkage.components import component_labels as solve

    t0 = time.monotonic()
    split = {} if exclusive else None
    labels = solve(candidates.toArrow(), thresholds, split_order if exclusive else None, split)
    logger.info("connected components on the driver: %d edges at >= %s, %d linked records (%.1fs)",
                n, lowest, labels.num_rows, time.monotonic() - t0)
    if split is not None:
        for lv in thresholds:
            _log_split(exclusive, lv, split[f"split_clusters_{lv}"], split[f"split_parts_{lv}"])
        if stats is not None:
            stats.update(split)
    schema = ", ".join(["node string", "component string",
                        *[f"label_{lv} string, size_{lv} bigint" for lv in thresholds]])
    return edges.sparkSession.createDataFrame(labels if labels.num_rows else [], schema), True


def _log_split(exclusive, level: str, clusters: float, parts: float) -> None:
    if clusters:
        logger.info("one record per person (%s): %d clusters at %s held two records of one of "
                    "them; split into %d", ", ".join(sorted(exclusive)), clusters, level, parts)


def _wide(labels: DataFrame, thresholds: dict[str, float]) -> DataFrame:
    """(level, node, label) rows -> one row per node with label_<level> and size_<level>."""
    sized = labels.withColumn(
        "size", F.count(F.lit(1)).over(Window.partitionBy("level", "label")))
    return sized.groupBy("node").agg(*[
        agg for lv in thresholds for agg in (
            F.max(F.when(F.col("level") == lv, F.col("label"))).alias(f"label_{lv}"),
            F.max(F.when(F.col("level") == lv, F.col("size"))).alias(f"size_{lv}"),
        )
    ])


def person_id(label: F.Column) -> F.Column:
    """A stable, opaque person id from the cluster's smallest record key."""
    return F.concat(F.lit("P"), F.substring(F.sha2(F.concat(F.lit("person:"), label), 256), 1, 20))


def _greedy_split(edges: list[tuple[str, str, str, str, float]], exclusive: frozenset[str]
                  ) -> dict[str, tuple[str, int]]:
    """Clusters of ``edges`` (key_l, key_r, source_l, source_r, weight) built strongest edge
    first, refusing any edge that would put two records of one ``exclusive`` source in one
    cluster (:func:`bold_spark.linkage.components.greedy_split` on the keys' ranks). Returns
    node -> (smallest key of its cluster, cluster size). Ties in weight are broken by the keys,
    so the result depends on the edges only."""
    from bold_spark.linkage.components import greedy_split

    keys = sorted({k for e in edges for k in e[:2]})
    rank = {k: i for i, k in enumerate(keys)}
    bit = {s: 1 << i for i, s in enumerate(sorted(exclusive))}  # Python ints: any number of sources
    bits = [0] * len(keys)
    for a, b, sa, sb, _ in edges:
        bits[rank[a]], bits[rank[b]] = bit.get(sa, 0), bit.get(sb, 0)
    ranked = sorted(edges, key=lambda e: (-e[4], e[0], e[1]))
    roots = greedy_split([rank[e[0]] for e in ranked], [rank[e[1]] for e in ranked], bits)
    sizes: dict[int, int] = {}
    for r in roots.values():
        sizes[r] = sizes.get(r, 0) + 1
    return {keys[node]: (keys[r], sizes[r]) for node, r in roots.items()}


def split_same_source(
    labelled: DataFrame, edges: DataFrame, thresholds: dict[str, float], exclusive: frozenset[str],
    stats: dict[str, float] | None = None, order: str = "match_probability",
) -> DataFrame:
    """Split the clusters that hold two records of a one-record-per-person source.

    Parameters:
        labelled: one row per record: ``record_key``, ``source`` and per level ``label_<level>``
            / ``size_<level>`` (connected components; null for a record with no edge there).
        edges: scored edges with ``source_l`` / ``source_r``.
        thresholds: level name -> match-probability threshold.
        exclusive: the sources declared ``one_record_per_person``.
        stats: if given, filled per level with ``split_clusters_<level>`` (clusters that held two
            records of one exclusive source) and ``split_parts_<level>`` (the clusters they
            became); 0 at a level with none.
        order: the edges' column that ranks them, strongest (largest) first; the pipeline
            passes a weight that does not move with term frequencies (see
            :func:`bold_spark.linkage.scoring.weight_without_tf`), so an incremental run cuts
            the same edges as a full re-run.

    Returns ``labelled`` with the labels and sizes of those clusters' records replaced: each is
    rebuilt from its own edges strongest first, an edge refused when it would join two records
    of one exclusive source (so the weakest bridge between them is the one cut). Other
    clusters are untouched. One Spark job finds the clusters, one brings their edges (few: the
    conflicting clusters only) to the driver."""
    if not exclusive:
        return labelled
    levels = list(thresholds)
    if stats is not None:
        stats.update({f"split_{k}_{lv}": 0.0 for lv in levels for k in ("clusters", "parts")})
    per_level = F.inline(F.array(*[
        F.struct(F.lit(lv).alias("level"), F.col(f"label_{lv}").alias("label")) for lv in levels]))
    bad = (labelled.where(F.col("source").isin(*sorted(exclusive)))
           .select("source", per_level).where(F.col("label").isNotNull())
           .groupBy("level", "label", "source").count().where("count > 1")
           .select("level", "label").distinct().collect())
    if not bad:
        return labelled
    by_level: dict[str, list[str]] = {}
    for r in bad:
        by_level.setdefault(r["level"], []).append(r["label"])
    # the conflicting clusters' records (few), each flagged with the levels it is in one at,
    # then their edges: one pass over the records and one over the edges
    flags = {lv: F.col(f"label_{lv}").isin(*labels) for lv, labels in by_level.items()}
    members = labelled.where(reduce(lambda a, b: a | b, flags.values())).select(
        F.col("record_key").alias("record_key_l"), *[f.alias(f"in_{lv}") for lv, f in flags.items()])
    joined = edges.join(F.broadcast(members), "record_key_l")
    rows = joined.select(
        F.inline(F.array(*[
            F.when(F.col(f"in_{lv}") & (F.col("match_probability") >= thresholds[lv]),
                   F.struct(F.lit(lv).alias("level")))
            for lv in by_level])),
        "record_key_l", "record_key_r", "source_l", "source_r",
        F.col(order).cast("double"),
    ).where(F.col("level").isNotNull()).collect()
    split: dict[str, dict[str, tuple[str, int]]] = {}
    for lv, labels in by_level.items():
        mine = [(r[1], r[2], r[3], r[4], r[5]) for r in rows if r[0] == lv]
        split[lv] = _greedy_split(mine, exclusive)
        after = len({lab for lab, _ in split[lv].values()})
        if stats is not None:
            stats[f"split_clusters_{lv}"], stats[f"split_parts_{lv}"] = float(len(labels)), float(after)
        _log_split(exclusive, lv, len(labels), after)
    nodes = sorted(set().union(*[s.keys() for s in split.values()]))
    schema = ", ".join(["record_key string",
                        *[f"new_label_{lv} string, new_size_{lv} bigint" for lv in levels]])
    new = labelled.sparkSession.createDataFrame(
        [(n, *[v for lv in levels for v in split.get(lv, {}).get(n, (None, None))])
         for n in nodes], schema)
    out = labelled.join(F.broadcast(new), "record_key", "left")
    return out.select(*[
        F.coalesce(F.col(f"new_{c}"), F.col(c)).alias(c) if c.startswith(("label_", "size_"))
        and c.split("_", 1)[1] in thresholds else F.col(c)
        for c in labelled.columns])


def cluster_records(
    record_keys: DataFrame,
    edges: DataFrame,
    thresholds: dict[str, float],
    run_id: str,
    driver_max_edges: int = DRIVER_MAX_EDGES,
    one_record_per_person: frozenset[str] = frozenset(),
    stats: dict[str, float] | None = None,
    split_order: str = "match_probability",
) -> DataFrame:
    """Clusters at every threshold: connected components over the edges that hold at each.

    Parameters:
        record_keys: every record to cluster (``record_key``, ``source``); records with no
            edge are clusters of one.
        edges: scored edges of all link groups.
        thresholds: level name -> match-probability threshold.
        run_id: the run writing the clusters.
        driver_max_edges: solve on the driver when at most this many edges reach the lowest
            threshold, else by label propagation in Spark (0: always in Spark).
        one_record_per_person: sources with at most one record per person: a cluster holding
            two of one of them is split (:func:`split_same_source`); needs ``source_l`` /
            ``source_r`` in ``edges``.
        stats: filled with the split's counts when one_record_per_person is set
            (:func:`split_same_source`).
        split_order: the edges' column the split ranks edges by (strongest first).

    Returns one row per record: ``record_key``, ``source``, ``person_id`` (the medium level's),
    ``person_id_<level>``, ``cluster_size_<level>`` and ``cluster_key_<level>`` (the smallest
    record key of the cluster: bookkeeping that lets the next run see which clusters are
    unchanged) for each level, ``component_key`` (the smallest record key of its connected
    component at the lowest threshold, before the one-record-per-person split: the unit an
    incremental run re-clusters, :mod:`bold_spark.linkage.region`), and ``run_id``. These IDs are per run;
    :mod:`bold_spark.linkage.identify` carries IDs over between runs.
    """
    exclusive = frozenset(one_record_per_person)
    labels, split = component_labels(edges, thresholds, driver_max_edges, exclusive, split_order, stats)
    out = record_keys.select("record_key", "source").join(
        labels.withColumnRenamed("node", "record_key"), "record_key", "left")
    if not split:
        out = split_same_source(out, edges, thresholds, exclusive, stats, split_order)
    main = "medium" if "medium" in thresholds else list(thresholds)[0]
    ids = {lv: person_id(F.coalesce(F.col(f"label_{lv}"), F.col("record_key")))
           for lv in thresholds}
    return out.select(
        "record_key", "source", ids[main].alias("person_id"),
        *[ids[lv].alias(f"person_id_{lv}") for lv in thresholds],
        *[F.coalesce(F.col(f"size_{lv}"), F.lit(1)).alias(f"cluster_size_{lv}")
          for lv in thresholds],
        *[F.coalesce(F.col(f"label_{lv}"), F.col("record_key")).alias(f"cluster_key_{lv}")
          for lv in thresholds],
        F.coalesce(F.col("component"), F.col("record_key")).alias("component_key"),
        F.lit(run_id).alias("run_id"),
    )
