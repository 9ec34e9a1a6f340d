"""Charts for tuning: matplotlib figures built from the small pandas results of the other
tuning modules, Splink's own (Vega-Lite) charts for a model, and ``save_chart``.

Figures are ``matplotlib.figure.Figure`` objects made without pyplot (no global figure state);
a notebook shows one when it is a cell's last value (after ``%matplotlib inline``). Splink's
charts (``SplinkChart``) render in Jupyter as they are.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from bold_spark.linkage.model import LinkModel
from bold_spark.tuning.stepwise import parameters_table
from bold_spark.tuning.thresholds import probability_to_weight

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from splink import Linker

logger = logging.getLogger(__name__)

MATCH_COLOUR, NON_MATCH_COLOUR, NEUTRAL = "#2b8a3e", "#c92a2a", "#868e96"
LEVEL_STYLES = {"high": ":", "medium": "--", "low": "-."}


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


# ------------------------------------------------------------------ profiles


def completeness_chart(completeness: pd.DataFrame) -> Figure:
    """Heat map of the share of non-null values, fields by sources (from ``profile.completeness``)."""
    grid = completeness.pivot(index="field", columns="source", values="completeness")
    grid = grid.reindex(list(dict.fromkeys(completeness["field"])))
    fig = _figure(1.4 + 1.1 * grid.shape[1], 0.8 + 0.32 * grid.shape[0])
    ax = fig.add_subplot()
    im = ax.imshow(grid.to_numpy(dtype=float), vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=30, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
        ax.text(j, i, "" if np.isnan(v) else f"{v:.0%}", ha="center", va="center", fontsize=8)
    ax.set_title("Completeness by source and field")
    fig.colorbar(im, ax=ax, shrink=0.6, format=PercentFormatter(1.0))
    return fig


def frequency_chart(frequencies: pd.DataFrame, fields: Sequence[str] | None = None, ncols: int = 3) -> Figure:
    """Bars of the most frequent values per field (from ``profile.value_frequencies``)."""
    fields = list(fields or dict.fromkeys(frequencies["field"]))
    nrows = max(1, -(-len(fields) // ncols))
    fig = _figure(4.2 * ncols, 2.6 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, field in zip(axes, fields, strict=False):  # spare axes hidden below
        sub = frequencies[frequencies["field"] == field]
        if "source" in sub.columns:
            sub = sub.groupby("value", as_index=False)["count"].sum()
        sub = sub.sort_values("count")
        labels = [v if len(v) <= 18 else v[:8] + "…" + v[-6:] for v in sub["value"].astype(str)]
        ax.barh(labels, sub["count"], color=NEUTRAL)
        ax.set_title(field, fontsize=10)
        ax.tick_params(labelsize=7)
    for ax in axes[len(fields):]:
        ax.set_visible(False)
    fig.suptitle("Most frequent values")
    return fig


def comparisons_chart(rule_counts: pd.DataFrame, title: str | None = None) -> Figure:
    """Comparisons per blocking rule (from ``profile.rule_comparisons``), log scale: the upper
    bound ``bold predict`` checks, and the new pairs each rule finds when counted exactly."""
    df = rule_counts.iloc[::-1]
    labels = [f"{i}: {r if len(r) <= 60 else r[:57] + '...'}"
              for i, r in zip(df["rule_index"], df["rule"], strict=True)]
    fig = _figure(9, 0.9 + 0.45 * len(df))
    ax = fig.add_subplot()
    y = np.arange(len(df))
    exact = "new_pairs" in df.columns
    h = 0.4 if exact else 0.7
    ax.barh(y + (h / 2 if exact else 0), df["comparisons"].clip(lower=1), height=h, color=NEUTRAL,
            label="comparisons (upper bound, from block sizes)")
    if exact:
        ax.barh(y - h / 2, df["new_pairs"].clip(lower=1), height=h, color=MATCH_COLOUR,
                label="pairs not found by an earlier rule (exact)")
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xscale("log")
    for yy, v in zip(y, df["comparisons"], strict=True):
        ax.text(max(v, 1), yy + (h / 2 if exact else 0), f" {int(v):,}", va="center", fontsize=7)
    if exact:
        for yy, v in zip(y, df["new_pairs"], strict=True):
            ax.text(max(v, 1), yy - h / 2, f" {int(v):,}", va="center", fontsize=7)
    ax.set_xlabel("pairs")
    ax.margins(x=0.15)
    fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    ax.set_title(title or f"Blocking rules: {int(rule_counts['comparisons'].sum()):,} comparisons at most")
    return fig


def largest_blocks_chart(blocks: pd.DataFrame, title: str = "Largest blocks per rule") -> Figure:
    """Pairs in the largest blocks of each rule (from ``profile.largest_blocks``)."""
    df = blocks.iloc[::-1]
    labels = [f"rule {i}: {b if len(b) <= 40 else b[:37] + '...'}"
              for i, b in zip(df["rule_index"], df["block"], strict=True)]
    fig = _figure(8, 0.9 + 0.28 * len(df))
    ax = fig.add_subplot()
    colours = [f"C{i % 10}" for i in df["rule_index"]]
    ax.barh(range(len(df)), df["pairs"], color=colours)
    ax.set_yticks(range(len(df)), labels, fontsize=7)
    ax.set_xlabel("pairs in the block")
    ax.set_title(title)
    return fig


# ------------------------------------------------------------------ model


def match_weights_figure(model: LinkModel, title: str | None = None) -> Figure:
    """Match weight (log2 m/u) of every comparison level, with the prior: a static (PNG-able)
    companion to Splink's ``match_weights_chart``."""
    params = parameters_table(model).dropna(subset=["match_weight"])
    prior = model.settings["probability_two_random_records_match"]
    labels = ["Prior (starting match weight)"]
    weights = [probability_to_weight(prior)]
    groups = ["prior"]
    for _, row in params.iterrows():
        labels.append(f"{row['comparison']}: {row['label']}")
        weights.append(row["match_weight"])
        groups.append(row["comparison"])
    fig = _figure(9, 0.8 + 0.22 * len(labels))
    ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1]
    colours = [NEUTRAL if g == "prior" else (MATCH_COLOUR if w >= 0 else NON_MATCH_COLOUR)
               for g, w in zip(groups, weights, strict=True)]
    ax.barh(y, weights, color=colours)
    ax.set_yticks(y, labels, fontsize=7)
    for k in range(1, len(groups)):  # separators between comparisons
        if groups[k] != groups[k - 1]:
            ax.axhline(y[k] + 0.5, color="#dee2e6", lw=0.8)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("match weight (log2 Bayes factor)")
    ax.set_title(title or f"Match weights of {Path(model.path).name} (version {model.version})")
    return fig


def model_linker(spark: SparkSession, model: LinkModel, recs: DataFrame) -> Linker:
    """A Splink ``Linker`` holding ``model`` over a link group's records, for Splink's own
    charts: ``linker.visualisations.match_weights_chart()``, ``m_u_parameters_chart()``,
    ``waterfall_chart(review.scored_pair_records(...))``. Nothing is computed to build it."""
    from splink import Linker, SparkAPI

    settings = {**model.settings, "retain_matching_columns": True,
                "retain_intermediate_calculation_columns": True}
    base = recs.select(*[c for c in recs.columns if not c.startswith("tf_")])
    return Linker(SparkAPI(spark_session=spark).register(base), settings, log_level=None)


# ------------------------------------------------------------------ thresholds and clusters


def precision_recall_chart(table: pd.DataFrame, thresholds: Mapping[str, float] | None = None,
                           title: str = "Pairwise accuracy by threshold", hist_bin: float = 1.0) -> Figure:
    """From ``thresholds.precision_recall_table``: precision, recall and F1 against the
    match-weight threshold (left), and the match weights of true and false matches in bins of
    ``hist_bin`` (right), with the named match-probability ``thresholds`` marked on both."""
    df = table.sort_values("truth_threshold")
    fig = _figure(11, 4)
    ax, hist = fig.subplots(1, 2)
    ax.plot(df["truth_threshold"], df["precision"], color="#1c7ed6", label="precision")
    ax.plot(df["truth_threshold"], df["recall"], color="#f08c00", label="recall")
    ax.plot(df["truth_threshold"], df["f1"], color=NEUTRAL, lw=1, label="F1")
    ax.set_xlabel("threshold (match weight)")
    ax.set_ylim(max(0.0, min(df["precision"].min(), df["recall"].min()) - 0.05), 1.01)
    binned = df.assign(_bin=np.floor(df["truth_threshold"] / hist_bin) * hist_bin)
    bins = binned.groupby("_bin")[["bin_tp", "bin_fp"]].sum()
    centres = bins.index.to_numpy() + hist_bin / 2
    hist.bar(centres, bins["bin_tp"], width=hist_bin * 0.9, color=MATCH_COLOUR, label="true matches")
    hist.bar(centres, bins["bin_fp"], width=hist_bin * 0.9, color=NON_MATCH_COLOUR, bottom=bins["bin_tp"],
             label="false matches")
    hist.set_yscale("symlog", linthresh=1)
    hist.set_ylim(bottom=0)
    hist.set_xlabel("match weight")
    hist.set_ylabel("scored pairs")
    for name, p in (thresholds or {}).items():
        w = probability_to_weight(p)
        for a in (ax, hist):
            a.axvline(w, color="black", lw=0.9, ls=LEVEL_STYLES.get(name, "-"), label=f"{name} (p = {p:g})")
    ax.legend(fontsize=8, loc="lower left")
    hist.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    hist.set_title("Match weights of scored pairs against ground truth", fontsize=10)
    return fig


def splink_accuracy_chart(table: pd.DataFrame) -> Any:
    """Splink's interactive precision/recall-by-threshold chart over our table (Splink's
    column names). Splink has no public constructor for it: this uses its internal chart class."""
    from splink.internals.charts import AccuracyChart

    return AccuracyChart(table.replace({np.nan: None}).to_dict(orient="records"))


def cluster_size_chart(distribution: pd.DataFrame) -> Figure:
    """Number of clusters of each size at each threshold level (from
    ``review.cluster_size_distribution``); log scale."""
    levels = list(dict.fromkeys(distribution["level"]))
    sizes = sorted(distribution["cluster_size"].unique())
    fig = _figure(max(6, 0.45 * len(sizes) * len(levels) / 2 + 2), 3.6)
    ax = fig.add_subplot()
    width = 0.8 / max(len(levels), 1)
    x = np.arange(len(sizes))
    for i, lv in enumerate(levels):
        sub = distribution[distribution["level"] == lv].set_index("cluster_size").reindex(sizes)
        ax.bar(x + (i - (len(levels) - 1) / 2) * width, sub["clusters"].fillna(0), width=width, label=lv)
    ax.set_xticks(x, [str(s) for s in sizes])
    ax.set_yscale("symlog", linthresh=1)
    ax.set_xlabel("records in the cluster")
    ax.set_ylabel("clusters")
    ax.legend(title="threshold")
    ax.set_title("Cluster sizes")
    return fig


# ------------------------------------------------------------------ saving


def _is_splink_chart(chart: Any) -> bool:
    return hasattr(chart, "chart_dict") and hasattr(chart, "to_html")


def save_chart(chart: Any, path: str | Path, inline: bool = True, dpi: int = 120) -> Path:
    """Save a chart by the file's extension.

    * matplotlib ``Figure``: .png/.svg/.pdf, or .html (the PNG embedded in a page).
    * Splink chart: .html (with the Vega libraries inlined when ``inline``, so it opens
      offline) or .json (the Vega-Lite spec). PNG/SVG of a Splink chart needs Altair and
      vl-convert-python, which are not dependencies: save the matplotlib figure instead.
    * anything else with a ``save`` method (an Altair chart): its own ``save``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower().lstrip(".")
    if isinstance(chart, Figure):
        if ext in ("html", "htm"):
            buf = io.BytesIO()
            chart.savefig(buf, format="png", dpi=dpi)
            img = base64.b64encode(buf.getvalue()).decode()
            path.write_text(f'<!DOCTYPE html>\n<html><body><img alt="{path.stem}" '
                            f'src="data:image/png;base64,{img}"></body></html>\n', encoding="utf-8")
        else:
            chart.savefig(path, dpi=dpi)
    elif _is_splink_chart(chart):
        if ext in ("html", "htm"):
            path.write_text(chart.to_html(inline=inline), encoding="utf-8")
        elif ext == "json":
            path.write_text(json.dumps(chart.chart_dict, default=str), encoding="utf-8")
        else:
            raise ValueError(f"cannot save a Splink chart as .{ext} without Altair and vl-convert-python: "
                             "save it as .html or .json, or save the matplotlib figure as .png")
    elif hasattr(chart, "save"):
        chart.save(str(path))
    else:
        raise TypeError(f"don't know how to save a {type(chart).__name__}")
    logger.info("chart saved to %s", path)
    return path
