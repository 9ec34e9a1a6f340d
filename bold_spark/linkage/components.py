"""Connected components of an edge list held in memory (Arrow + numpy), for the driver.

At the clustering thresholds the graph is small even when the edges table is not: about one
edge per record at national scale, two 32-character keys each. Solving it in one process
takes a second where distributed label propagation takes one multi-shuffle Spark job per
iteration, so ``bold_spark.linkage.clustering`` brings the thresholded edges to the driver
when there are at most ``driver_max_edges`` of them and propagates labels in Spark otherwise.

Labels are the same either way: each node's label is the smallest record key in its
component. Keys never become Python objects: Arrow dictionary-encodes them and numpy works on
integer codes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def min_labels(n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For nodes ``0..n_nodes-1`` and undirected edges ``src[i] - dst[i]``, the smallest node
    number of each node's component (hooking of roots plus pointer jumping; O(log n) rounds)."""
    label = np.arange(n_nodes, dtype=np.int64)
    if len(src) == 0:
        return label
    while True:
        before = label.copy()
        ls, ld = label[src], label[dst]
        low = np.minimum(ls, ld)
        # hook both endpoints and both current roots onto the smaller label
        for target in (src, dst, ls, ld):
            np.minimum.at(label, target, low)
        while True:  # pointer jumping: label <- label of label, until every pointer is a root
            jumped = label[label]
            if np.array_equal(jumped, label):
                break
            label = jumped
        if np.array_equal(label, before):
            return label


def component_labels(edges: pa.Table, thresholds: dict[str, float]) -> pa.Table:
    """One row per record with an edge at the lowest threshold: ``node`` and, per level,
    ``label_<level>`` (smallest key of its component) and ``size_<level>`` (records in it),
    both null when the node has no edge at that level's threshold.

    ``edges`` has record_key_l, record_key_r (strings) and match_probability; an edge belongs
    to a level when its probability is at least the level's threshold (as in Spark)."""
    left = edges.column("record_key_l").combine_chunks()
    right = edges.column("record_key_r").combine_chunks()
    n_edges = len(left)
    encoded = pc.dictionary_encode(pa.concat_arrays([left, right]))
    keys = encoded.dictionary
    # Renumber nodes in key order so that the smallest number is the smallest key.
    order = pc.sort_indices(keys).to_numpy()
    rank = np.empty(len(keys), dtype=np.int64)
    rank[order] = np.arange(len(keys), dtype=np.int64)
    sorted_keys = keys.take(pa.array(order))
    codes = rank[encoded.indices.to_numpy(zero_copy_only=False)]
    src, dst = codes[:n_edges], codes[n_edges:]
    prob = edges.column("match_probability").to_numpy()

    columns: dict[str, pa.Array] = {"node": sorted_keys}
    for level, threshold in thresholds.items():
        keep = prob >= threshold
        s, d = src[keep], dst[keep]
        label = min_labels(len(keys), s, d)
        linked = np.zeros(len(keys), dtype=bool)
        linked[s] = True
        linked[d] = True
        size = np.bincount(label[linked], minlength=len(keys))[label]
        columns[f"label_{level}"] = sorted_keys.take(pa.array(label, mask=~linked))
        columns[f"size_{level}"] = pa.array(size, pa.int64(), mask=~linked)
    return pa.table(columns)
