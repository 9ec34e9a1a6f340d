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


def greedy_split(edges_l: list[int], edges_r: list[int], sources: np.ndarray | list[int]) -> dict[int, int]:
    """Union-find over edges given strongest first (node numbers), refusing an edge that would
    put two nodes of one exclusive source (``sources[node]``: a bit per source, 0 for none) in
    one cluster. Returns node -> its cluster's smallest node number."""
    parent: dict[int, int] = {}
    held: dict[int, int] = {}  # root -> bitmask of the exclusive sources its cluster holds

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(edges_l, edges_r, strict=True):
        for node in (a, b):
            if node not in parent:
                parent[node] = node
                held[node] = int(sources[node])
        ra, rb = root(a), root(b)
        if ra == rb or held[ra] & held[rb]:
            continue
        keep, gone = (ra, rb) if ra < rb else (rb, ra)  # the root is the smallest node
        parent[gone] = keep
        held[keep] |= held.pop(gone)
    return {node: root(node) for node in parent}


def _exclusive_bits(edges: pa.Table, codes: np.ndarray, n_nodes: int) -> np.ndarray:
    """Per node, a bit for the one-record-per-person source it belongs to (``source_l`` /
    ``source_r``: null for other sources), 0 for none."""
    names = pa.concat_arrays([edges.column("source_l").combine_chunks().cast(pa.string()),
                              edges.column("source_r").combine_chunks().cast(pa.string())])
    encoded = pc.dictionary_encode(names)  # at most 62 sources (the caller checks)
    known = encoded.indices.is_valid().to_numpy(zero_copy_only=False)
    bits = np.zeros(n_nodes, dtype=np.int64)
    index = encoded.indices.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    bits[codes[known]] = np.left_shift(1, index[known])
    return bits


def split_exclusive(label: np.ndarray, linked: np.ndarray, src: np.ndarray, dst: np.ndarray,
                    weight: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, int, int]:
    """One level's components (``label``: smallest node of each node's component, for the
    ``linked`` nodes; edges ``src``-``dst`` of the level, ranked by ``weight``) with the clusters
    that hold two nodes of one exclusive source (``bits``) rebuilt strongest edge first, an edge
    refused when it would join two of them (ties: the smaller nodes' edge first). Returns the new
    labels, the clusters split and the clusters they became. The same rule as
    :func:`bold_spark.linkage.clustering.split_same_source` (its Spark counterpart)."""
    mine = np.nonzero(linked & (bits != 0))[0]
    if len(mine) == 0:
        return label, 0, 0
    # one row per (cluster, source) held: a cluster with two of a source repeats its pair
    pairs = label[mine] * 64 + np.log2(bits[mine]).astype(np.int64)
    values, counts = np.unique(pairs, return_counts=True)
    bad = np.unique(values[counts > 1] // 64)
    if len(bad) == 0:
        return label, 0, 0
    inside = np.isin(label[src], bad)
    s, d, w = src[inside], dst[inside], weight[inside]
    order = np.lexsort((d, s, -w))  # strongest first, then by the keys (node order = key order)
    roots = greedy_split(s[order].tolist(), d[order].tolist(), bits)
    label = label.copy()
    nodes = np.fromiter(roots.keys(), dtype=np.int64, count=len(roots))
    label[nodes] = np.fromiter(roots.values(), dtype=np.int64, count=len(roots))
    return label, len(bad), len(set(roots.values()))


def component_labels(edges: pa.Table, thresholds: dict[str, float], split: str | None = None,
                     stats: dict[str, float] | None = None) -> pa.Table:
    """One row per record with an edge at the lowest threshold: ``node`` and, per level,
    ``label_<level>`` (smallest key of its component) and ``size_<level>`` (records in it),
    both null when the node has no edge at that level's threshold.

    ``edges`` has record_key_l, record_key_r (strings) and match_probability; an edge belongs
    to a level when its probability is at least the level's threshold (as in Spark).

    ``split``: the name of an edges column that ranks them (strongest largest); ``edges`` then
    also has ``source_l`` / ``source_r``, the source where it is one-record-per-person and null
    otherwise, and a cluster holding two records of one such source is split
    (:func:`split_exclusive`). ``stats`` is then filled with ``split_clusters_<level>`` and
    ``split_parts_<level>``."""
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
    if split is not None:
        bits = _exclusive_bits(edges, codes, len(keys))
        weight = edges.column(split).combine_chunks().cast(pa.float64()).to_numpy(zero_copy_only=False)

    columns: dict[str, pa.Array] = {"node": sorted_keys}
    lowest = min(thresholds.values())
    component = None
    for level, threshold in thresholds.items():
        keep = prob >= threshold
        s, d = src[keep], dst[keep]
        label = min_labels(len(keys), s, d)
        linked = np.zeros(len(keys), dtype=bool)
        linked[s] = True
        linked[d] = True
        if threshold == lowest and component is None:  # before the split
            component = sorted_keys.take(pa.array(label, mask=~linked))
        if split is not None:
            label, n_split, n_parts = split_exclusive(label, linked, s, d, weight[keep], bits)
            if stats is not None:
                stats[f"split_clusters_{level}"], stats[f"split_parts_{level}"] = float(n_split), float(n_parts)
        size = np.bincount(label[linked], minlength=len(keys))[label]
        columns[f"label_{level}"] = sorted_keys.take(pa.array(label, mask=~linked))
        columns[f"size_{level}"] = pa.array(size, pa.int64(), mask=~linked)
    return pa.table({"node": columns.pop("node"), "component": component, **columns})
