"""Connected components in memory (no Spark): numpy labels against a breadth-first search."""

from collections import defaultdict, deque

import numpy as np
import pyarrow as pa
import pytest

from bold_spark.linkage.components import component_labels, min_labels


def reference_labels(n, edges):
    adj = defaultdict(list)
    for a, b in edges:
        adj[a].append(b)
        adj[b].append(a)
    label = list(range(n))
    seen = set()
    for start in range(n):
        if start in seen:
            continue
        comp, queue = [], deque([start])
        seen.add(start)
        while queue:
            x = queue.popleft()
            comp.append(x)
            for y in adj[x]:
                if y not in seen:
                    seen.add(y)
                    queue.append(y)
        for x in comp:
            label[x] = min(comp)
    return label


@pytest.mark.parametrize("seed", range(5))
def test_min_labels_match_breadth_first_search(seed):
    rng = np.random.default_rng(seed)
    n = 500
    src, dst = rng.integers(0, n, 350), rng.integers(0, n, 350)
    assert min_labels(n, src, dst).tolist() == reference_labels(n, list(zip(src, dst, strict=True)))


def test_long_chain_in_reverse_order():
    n = 1000
    src = np.arange(n - 1)[::-1] + 1
    assert min_labels(n, src, src - 1).tolist() == [0] * n


def test_labels_are_the_smallest_key_and_sizes_count_records():
    edges = pa.table({
        "record_key_l": ["z", "m", "b", "q"],
        "record_key_r": ["m", "b", "x", "r"],
        "match_probability": [0.99, 0.5, 0.97, 0.2],
    })
    out = component_labels(edges, {"high": 0.95, "low": 0.4}).to_pylist()
    by_node = {r["node"]: r for r in out}
    assert set(by_node) == {"z", "m", "b", "x", "q", "r"}
    assert by_node["z"]["label_high"] == "m" and by_node["z"]["size_high"] == 2
    assert by_node["b"]["label_high"] == "b" and by_node["x"]["label_high"] == "b"
    assert {by_node[k]["label_low"] for k in "zmbx"} == {"b"} and by_node["z"]["size_low"] == 4
    assert by_node["q"]["label_low"] is None and by_node["q"]["size_low"] is None


def test_a_cluster_with_two_records_of_an_exclusive_source_is_cut_at_its_weakest_edge():
    """b1 and b2 (benefits: one record per person) joined through n1: the weaker of their
    edges to n1 (by the ranking column, not the probability) is cut; the prison pair stays."""
    edges = pa.table({
        "record_key_l": ["b1", "b2", "p1"],
        "record_key_r": ["n1", "n1", "p2"],
        "match_probability": [0.99, 0.999, 0.97],
        "source_l": ["benefits", "benefits", None],
        "source_r": [None, None, None],
        "rank": [9.0, 5.0, 1.0],
    })
    stats = {}
    out = {r["node"]: r for r in component_labels(edges, {"high": 0.95}, "rank", stats).to_pylist()}
    assert stats == {"split_clusters_high": 1.0, "split_parts_high": 2.0}
    assert {k: (out[k]["label_high"], out[k]["size_high"]) for k in out} == {
        "b1": ("b1", 2), "n1": ("b1", 2), "b2": ("b2", 1), "p1": ("p1", 2), "p2": ("p1", 2)}
