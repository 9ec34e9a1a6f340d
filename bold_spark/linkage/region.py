"""The part of the graph an incremental run has to cluster again, and the rest carried over.

An incremental run (:mod:`bold_spark.linkage.incremental`) keeps every published edge that
touches no *touched* record (new, changed, term-frequency-moved or withdrawn), with its match
probability, and scores again the pairs of the touched records and the kept edges near a
threshold: those edges carry this run's ``run_id``. Clusters are made inside the connected
components of the edges at the lowest threshold (the one-record-per-person split works inside
them too), and the clusters table records each record's component (``component_key``: its
smallest record key, before the split).

The *seeds* are the touched records and the ends of this run's edges that can join or part
records at the lowest threshold: those at or above it, and those touching no touched record
(kept edges scored again near a threshold, which may have crossed it either way). The *region*
is every record of the published components that hold a seed, plus the seeds. Then:

* a record outside the region has the same clusters, at every level, as in the published
  table: its published component holds no seed, so each of its edges is a kept edge with the
  same probability and no edge joins it to anything else now (an edge that did, or does, would
  have a seed at one end); the same edges and sources give the same components, split and
  smallest keys;
* the region is a union of whole components, both of the published graph and of this run's
  (by the same argument from the other side), so clustering it alone, and carrying its person
  IDs over from its own published rows, sees every record and edge of what it decides.

This holds when the published clusters were made from the published edges and records (the
pipeline checks that the clusters were published no earlier than either, and that they were made
with the same thresholds and one-record-per-person sources: :data:`SETTINGS_COLUMN`). So
clustering the region and copying the other published rows gives exactly the clusters of a
full re-run (tests/linkage/test_region.py, and test_incremental's comparisons with full re-runs).
The work is proportional to the region: the components the week's changes reach.
"""

from __future__ import annotations

import hashlib
import json
import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.io.joins import by_keys
from bold_spark.linkage.sql import RECORD_KEY

logger = logging.getLogger(__name__)

#: Column of the clusters table naming the clustering settings it was made with.
SETTINGS_COLUMN = "cluster_settings"


def cluster_settings(thresholds: dict[str, float], one_record_per_person: frozenset[str] | set[str]) -> str:
    """A short fingerprint of what decides clusters besides the edges: the thresholds and the
    one-record-per-person sources. A published clusters table made with other settings cannot
    be carried over in part."""
    text = json.dumps({"thresholds": {k: float(v) for k, v in sorted(thresholds.items())},
                       "one_record_per_person": sorted(one_record_per_person)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def seed_keys(touched: DataFrame, edges: DataFrame, run_id: str, lowest: float) -> DataFrame:
    """Record keys (``record_key``, distinct) of the seeds: ``touched`` (``record_key``: the
    new, changed, moved and withdrawn records) and the ends of ``edges`` scored by ``run_id``
    that are at or above ``lowest`` or touch no touched record. ``touched`` is broadcast: the
    caller keeps it small."""
    marks = F.broadcast(touched.select(F.col(RECORD_KEY).alias("_t")).distinct())
    mine = edges.where(F.col("run_id") == run_id).select("record_key_l", "record_key_r", "match_probability")
    flagged = mine.join(marks.withColumnRenamed("_t", "_tl"), F.col("record_key_l") == F.col("_tl"), "left") \
        .join(marks.withColumnRenamed("_t", "_tr"), F.col("record_key_r") == F.col("_tr"), "left")
    ends = flagged.where((F.col("match_probability") >= F.lit(lowest))
                         | (F.col("_tl").isNull() & F.col("_tr").isNull()))
    return touched.select(RECORD_KEY).unionByName(ends.select(F.col("record_key_l").alias(RECORD_KEY))) \
        .unionByName(ends.select(F.col("record_key_r").alias(RECORD_KEY))).distinct()


def region_keys(previous: DataFrame, seeds: DataFrame) -> DataFrame:
    """Record keys (``record_key``, distinct) of the region: every ``previous`` row (published
    clusters with ``component_key``) whose component holds a seed, and the ``seeds`` (new
    records have no published component). ``seeds`` is broadcast."""
    comps = previous.join(F.broadcast(seeds.select(RECORD_KEY)), RECORD_KEY, "left_semi") \
        .select("component_key").distinct()
    members = previous.join(F.broadcast(comps), "component_key", "left_semi").select(RECORD_KEY)
    return members.unionByName(seeds.select(RECORD_KEY)).distinct()


def region_edges(edges: DataFrame, region: DataFrame, rows: int | None = None) -> DataFrame:
    """The edges whose left record is in ``region``: the region is a union of components, so at
    the lowest threshold and above their right record is in it too. ``rows``: as for
    :func:`~bold_spark.io.joins.by_keys` (``region`` materialised, its row count)."""
    return by_keys(edges, region.select(F.col(RECORD_KEY).alias("record_key_l")), "record_key_l", rows)


def carried_rows(previous: DataFrame, region: DataFrame, columns: list[str], run_id: str) -> DataFrame:
    """The published clusters rows outside ``region`` (broadcast: the caller keeps it small),
    unchanged but for ``run_id`` (this run's, as a full re-run would write), in ``columns``'
    order."""
    return previous.join(F.broadcast(region.select(RECORD_KEY)), RECORD_KEY, "left_anti").select(
        *[F.lit(run_id).alias(c) if c == "run_id" else F.col(c) for c in columns])
