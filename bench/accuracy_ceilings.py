"""How far a published run's edges can go: pairwise F1 of connected components over them when
the decision on each edge is changed, against a ground truth (issue 17; docs/accuracy.md).

    BOLD_HMAC_KEY=... python bench/accuracy_ceilings.py -c my_pipeline.yaml

Reads the published ``edges`` and ``clusters`` and the configured ``ground_truth`` (record ids
keyed as the records are), brings the edges to the driver (one row per scored pair: meant for
runs of up to a few million edges) and clusters them with scipy for each variant:

- the published clusters, and the same edges thresholded without the one-record-per-person split;
- a prior per source pair (lambda for each link group and pair of sources, by fixed-point
  iteration over the scored pairs' Bayes factors, unscored pairs taken as non-matches);
- a threshold per link group (the best of a grid);
- merging two clusters joined by at least k edges below the threshold;
- oracle calibrations, which use the ground truth and are ceilings, not methods: every edge
  given the true-match share of its comparison vector (and source pair, and weight rounded to a
  bit), thresholded at 0.5..0.99;
- the blocking ceiling: every scored true pair linked and no false one.

Prints aggregate figures only (precision / recall / F1, counts), no record values.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bold_spark.config.pipeline import load_pipeline_config  # noqa: E402
from bold_spark.evaluate.accuracy import keyed_truth  # noqa: E402
from bold_spark.linkage.model import load_model  # noqa: E402
from bold_spark.privacy.keys import load_key  # noqa: E402
from bold_spark.publish import read_published  # noqa: E402
from bold_spark.session import build_spark, load_spark_config  # noqa: E402


def logit2(p: float) -> float:
    return math.log2(p / (1 - p))


class Harness:
    """Edges as index arrays over the records, the truth as an array, F1 of any edge mask."""

    def __init__(self, records: pd.DataFrame, edges: pd.DataFrame):
        self.n = len(records)
        idx = pd.Series(np.arange(self.n), index=records.record_key)
        self.a = idx[edges.record_key_l].to_numpy()
        self.b = idx[edges.record_key_r].to_numpy()
        self.truth = records.true_person.to_numpy()
        self.true_pairs = _pairs(self.truth)

    def labels(self, mask: np.ndarray) -> np.ndarray:
        g = coo_matrix((np.ones(int(mask.sum())), (self.a[mask], self.b[mask])), shape=(self.n, self.n))
        return connected_components(g, directed=False)[1]

    def score(self, labels: np.ndarray) -> tuple[float, float, float]:
        return pairwise(labels, self.truth)


def _pairs(values) -> int:
    return sum(c * (c - 1) // 2 for c in collections.Counter(values).values())


def pairwise(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a clustering (labels) against the truth."""
    pp, tt, tp = _pairs(labels), _pairs(truth), _pairs(zip(labels, truth, strict=True))
    p, r = (tp / pp if pp else 1.0), (tp / tt if tt else 1.0)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def fmt(prf: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.4f}" for x in prf)


def source_pair_priors(edges: pd.DataFrame, counts: dict[str, int], priors: dict[str, float]) -> pd.Series:
    """Per edge, log2 odds of its link group's prior for its source pair minus the model's."""
    adj = {}
    for (g, s, t), grp in edges.groupby(["link_group", "s", "t"]):
        n = counts[s] * counts[t] if s != t else counts[s] * (counts[s] - 1) / 2
        k = np.exp2(grp.match_weight.to_numpy() - logit2(priors[g]))
        lam = priors[g]
        for _ in range(500):
            new = float(np.sum(lam * k / (lam * k + 1 - lam)) / n)
            if abs(new - lam) < 1e-13:
                break
            lam = new
        adj[(g, s, t)] = logit2(lam) - logit2(priors[g])
        print(f"    {g:8s} {s}-{t}: lambda {lam:.3g} (model {priors[g]:.3g}), {adj[(g, s, t)]:+.2f} bits")
    return pd.Series([adj[k] for k in zip(edges.link_group, edges.s, edges.t, strict=True)], index=edges.index)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-c", "--config", required=True)
    args = ap.parse_args(argv)
    cfg = load_pipeline_config(args.config)
    spark = build_spark(load_spark_config(cfg.spark))
    key = load_key(cfg.privacy.key_env, cfg.privacy.key_file_env)
    pub = read_published(spark, cfg.output_root)
    levels = ("high", "medium", "low")
    records = (pub["clusters"].select("record_key", "source", *[f"person_id_{lv}" for lv in levels])
               .join(keyed_truth(spark, cfg.ground_truth, key, cfg.sources), "record_key").toPandas())
    gammas = [c for c in pub["edges"].columns if c.startswith("gamma_")]
    edges = pub["edges"].select("record_key_l", "record_key_r", "source_l", "source_r", "match_weight",
                                "link_group", *gammas).toPandas()
    priors = {g.name: float(load_model(g.model).settings["probability_two_random_records_match"])
              for g in cfg.link_groups}
    spark.stop()
    h = Harness(records, edges)
    edges["s"] = np.minimum(edges.source_l, edges.source_r)
    edges["t"] = np.maximum(edges.source_l, edges.source_r)
    edges["true"] = h.truth[h.a] == h.truth[h.b]
    mw = edges.match_weight.to_numpy()
    thr = {lv: getattr(cfg.thresholds, lv) for lv in levels}
    print(f"{len(records):,} records, {h.true_pairs:,} true pairs, {len(edges):,} edges; "
          "precision / recall / F1")

    print("  published clusters: " + "; ".join(
        f"{lv} {fmt(h.score(records[f'person_id_{lv}'].to_numpy()))}" for lv in levels))
    base = {lv: mw >= logit2(thr[lv]) for lv in levels}
    print("  same edges, thresholded, no one-record-per-person split: " + "; ".join(
        f"{lv} {fmt(h.score(h.labels(base[lv])))}" for lv in levels))

    print("  prior per source pair:")
    adj = source_pair_priors(edges, records.source.value_counts().to_dict(), priors).to_numpy()
    print("    -> " + "; ".join(f"{lv} {fmt(h.score(h.labels(mw + adj >= logit2(thr[lv]))))}" for lv in levels))

    groups = sorted(edges.link_group.unique())
    grid = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99)
    best = max(  # by F1
        ((h.score(h.labels(np.select([edges.link_group == g for g in groups],
                                    [mw >= logit2(t) for t in combo], False))), combo)
         for combo in itertools.product(grid, repeat=len(groups))), key=lambda x: x[0][2])
    print(f"  best threshold per link group ({', '.join(f'{g} {t}' for g, t in zip(groups, best[1], strict=True))}): "
          f"{fmt(best[0])}")

    medium = h.labels(base["medium"])
    for low, k in ((0.5, 2), (0.8, 2), (0.8, 3)):
        m = (mw >= logit2(low)) & ~base["medium"]
        ca, cb = medium[h.a[m]], medium[h.b[m]]
        pairs = pd.DataFrame({"x": np.minimum(ca, cb), "y": np.maximum(ca, cb)}).query("x != y")
        cnt = pairs.value_counts().reset_index(name="k").query("k >= @k")
        deg = pd.concat([cnt.x, cnt.y]).value_counts()
        ok = cnt[(cnt.x.map(deg) == 1) & (cnt.y.map(deg) == 1)]  # one merge per cluster
        size = int(medium.max()) + 1
        merged = connected_components(coo_matrix((np.ones(len(ok)), (ok.x, ok.y)), shape=(size, size)),
                                      directed=False)[1][medium]
        print(f"  medium clusters merged when >= {k} edges of p >= {low} join them "
              f"({len(ok):,} merges): {fmt(h.score(merged))}")

    edges["pattern"] = edges[gammas].fillna(-9).astype(int).astype(str).agg(",".join, axis=1) + edges.link_group
    edges["bits"] = np.round(mw)
    for by in (["pattern"], ["pattern", "bits"], ["pattern", "s", "t", "bits"]):
        share = edges.groupby(by)["true"].transform("mean").to_numpy()
        res = {t: h.score(h.labels(share >= t)) for t in (0.5, 0.8, 0.9, 0.95, 0.99)}
        t_best = max(res, key=lambda t: res[t][2])
        print(f"  oracle: true share by {' x '.join(by)}, best at {t_best}: {fmt(res[t_best])}")
    print(f"  blocking ceiling (every scored true pair linked, no false one): "
          f"{fmt(h.score(h.labels(edges.true.to_numpy())))}")
    for g in groups:
        m = np.where(edges.link_group == g, edges.true, base["medium"])
        print(f"  {g} perfect on its scored pairs, the other groups at medium: {fmt(h.score(h.labels(m)))}")
    rich = records.source != "ndtms"
    if (~rich).any():
        sub = records[rich]
        print("  published clusters, pairs between records of sources other than ndtms: " + "; ".join(
            f"{lv} {fmt(pairwise(sub[f'person_id_{lv}'].to_numpy(), sub.true_person.to_numpy()))}"
            for lv in levels))


if __name__ == "__main__":
    main()
