"""The report's figures: matplotlib figures from the collected aggregates, saved as PNG.

Figures are made without pyplot (no global state, no display needed). Counts below the
disclosure limit are never drawn at their value: such a bar is drawn hatched at the limit's
height ("fewer than 10"). PNG metadata holds the figure's title and the generator only.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

if TYPE_CHECKING:
    import pandas as pd

MATCH, NON_MATCH, NEUTRAL, FLAG = "#2b8a3e", "#c92a2a", "#868e96", "#e8590c"
M_COLOUR, U_COLOUR = "#1971c2", "#f08c00"
LEVEL_STYLES = {"high": ":", "medium": "--", "low": "-."}
SUPPRESSED_HATCH = "///"
#: Counts below this are shown as "<10" in tables and as hatched bars at this height in charts.
DISCLOSURE_LIMIT = 10


def pct(x: float, digits: int = 1) -> str:
    """``x`` as a percentage with ``digits`` decimals, and more (up to 4) where that would
    print 100% or 0% for a share that is not: a precision of 0.9995 is 99.95%, never 100.0%.
    The page (``render``) and the summary's flag sentences (``report.bias_flags``) use it."""
    for d in range(digits, 5):
        s = f"{x:.{d}%}"
        if (x == 1 or float(s[:-1]) != 100) and (x == 0 or float(s[:-1]) != 0):
            return s
    return f">{1 - 1e-6:.4%}" if x > 0.5 else f"<{1e-6:.4%}"


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def png_bytes(fig: Figure, title: str, dpi: int = 100) -> bytes:
    """The figure as PNG; metadata: its title and the generator, nothing else."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi,
                metadata={"Title": title, "Software": "bold-spark report"})
    return buf.getvalue()


def _suppressed_heights(counts: np.ndarray, limit: int = DISCLOSURE_LIMIT) -> tuple[np.ndarray, np.ndarray]:
    """(heights to draw, mask of suppressed bars): counts 1..limit-1 drawn at ``limit``."""
    counts = np.asarray(counts, dtype=float)
    small = (counts > 0) & (counts < limit)
    return np.where(small, limit, counts), small


def _suppressed_legend(ax) -> None:
    ax.legend(handles=[*ax.get_legend_handles_labels()[0],
                       Patch(facecolor="white", edgecolor=NEUTRAL, hatch=SUPPRESSED_HATCH,
                             label=f"fewer than {DISCLOSURE_LIMIT} (suppressed)")],
              fontsize=7)


# ------------------------------------------------------------------ inputs


def completeness_chart(grid: pd.DataFrame) -> Figure:
    """Heat map of the share of records with each linkage field, fields by sources (``grid``:
    index field, columns source, values share or NaN)."""
    fig = _figure(1.8 + 1.1 * grid.shape[1], 1.0 + 0.32 * grid.shape[0])
    ax = fig.add_subplot()
    values = grid.to_numpy(dtype=float)
    im = ax.imshow(values, vmin=0, vmax=1, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(grid.shape[1]), list(grid.columns), rotation=30, ha="right")
    ax.set_yticks(range(grid.shape[0]), list(grid.index))
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "" if np.isnan(v) else f"{v:.0%}", ha="center", va="center", fontsize=7)
    ax.set_title("Completeness of linkage fields by source")
    fig.colorbar(im, ax=ax, shrink=0.6, format=PercentFormatter(1.0))
    return fig


# ------------------------------------------------------------------ model


def model_chart(group: str, params: pd.DataFrame, prior_weight: float) -> Figure:
    """Splink-style model chart of one link group: the match weight (log2 m/u) of every
    comparison level with the prior (left), and m and u of each level (right)."""
    labels = ["prior (starting weight)", *[f"{c}: {lab}" for c, lab in
                                           zip(params["comparison"], params["label"], strict=True)]]
    weights = [prior_weight, *params["match_weight"].fillna(0.0)]
    comps = ["prior", *params["comparison"]]
    n = len(labels)
    fig = _figure(11, 1.0 + 0.24 * n)
    ax_w, ax_mu = fig.subplots(1, 2, sharey=True, width_ratios=[3, 2])
    y = np.arange(n)[::-1]
    colours = [NEUTRAL if c == "prior" else (MATCH if w >= 0 else NON_MATCH)
               for c, w in zip(comps, weights, strict=True)]
    ax_w.barh(y, weights, color=colours)
    ax_w.set_yticks(y, [lab if len(lab) <= 60 else lab[:57] + "..." for lab in labels], fontsize=7)
    ax_w.axvline(0, color="black", lw=0.8)
    ax_w.set_xlabel("match weight (log2 m/u)")
    ax_w.set_title(f"Link group {group}: match weights", fontsize=10)
    h = 0.38
    m = np.array([np.nan, *params["m"]], dtype=float)
    u = np.array([np.nan, *params["u"]], dtype=float)
    ax_mu.barh(y + h / 2, np.nan_to_num(m), height=h, color=M_COLOUR, label="m (matches)")
    ax_mu.barh(y - h / 2, np.nan_to_num(u), height=h, color=U_COLOUR, label="u (non-matches)")
    ax_mu.set_xlim(0, 1)
    ax_mu.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax_mu.set_title("m and u probabilities", fontsize=10)
    ax_mu.legend(fontsize=7, loc="lower right")
    for ax in (ax_w, ax_mu):
        for k in range(1, n):
            if comps[k] != comps[k - 1]:
                ax.axhline(y[k] + 0.5, color="#dee2e6", lw=0.8)
    return fig


# ------------------------------------------------------------------ results


def weight_histogram_chart(hist: pd.DataFrame, threshold_weights: dict[str, float],
                           width: float) -> Figure:
    """Scored pairs per match-weight bin, stacked by link group, with the thresholds marked
    (as match weights); bins with fewer than 10 pairs hatched at 10."""
    fig = _figure(9, 3.6)
    ax = fig.add_subplot()
    bins = sorted(hist["bin_start"].unique()) if len(hist) else []
    bottom = np.zeros(len(bins))
    for group in sorted(hist["link_group"].unique()) if len(hist) else []:
        sub = hist[hist["link_group"] == group].set_index("bin_start")["edges"].reindex(bins).fillna(0)
        heights, small = _suppressed_heights(sub.to_numpy())
        bars = ax.bar(np.array(bins) + width / 2, heights, width=width * 0.95, bottom=bottom,
                      label=f"link group {group}")
        for bar, s in zip(bars, small, strict=True):
            if s:
                bar.set_hatch(SUPPRESSED_HATCH)
                bar.set_alpha(0.5)
        bottom += heights
    for lv, w in threshold_weights.items():
        ax.axvline(w, color="black", ls=LEVEL_STYLES.get(lv, "-"), lw=1, label=f"{lv} threshold")
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("match weight")
    ax.set_ylabel("scored pairs")
    ax.set_title("Distribution of match weights")
    _suppressed_legend(ax)
    return fig


def cluster_size_chart(sizes: pd.DataFrame, levels: list[str]) -> Figure:
    """Clusters of each size at each threshold (log scale); counts below 10 hatched at 10."""
    all_sizes = sorted(sizes["cluster_size"].unique()) if len(sizes) else [1]
    fig = _figure(max(6.0, 0.35 * len(all_sizes) * len(levels) / 2 + 2), 3.6)
    ax = fig.add_subplot()
    w = 0.8 / max(len(levels), 1)
    x = np.arange(len(all_sizes))
    for i, lv in enumerate(levels):
        sub = sizes[sizes["level"] == lv].set_index("cluster_size")["clusters"].reindex(all_sizes).fillna(0)
        heights, small = _suppressed_heights(sub.to_numpy())
        bars = ax.bar(x + (i - (len(levels) - 1) / 2) * w, heights, width=w, label=lv)
        for bar, s in zip(bars, small, strict=True):
            if s:
                bar.set_hatch(SUPPRESSED_HATCH)
                bar.set_alpha(0.5)
    ax.set_xticks(x, [str(s) for s in all_sizes], fontsize=7)
    ax.set_yscale("symlog", linthresh=10)
    ax.set_xlabel("records in the cluster")
    ax.set_ylabel("clusters")
    ax.set_title("Cluster sizes at each threshold")
    _suppressed_legend(ax)
    return fig


def link_matrix_chart(matrix: pd.DataFrame) -> Figure:
    """Heat map: share of the row source's records linked to a record of the column source
    (``matrix``: index source_a, columns source_b, values share or NaN)."""
    fig = _figure(1.8 + 1.2 * matrix.shape[1], 1.2 + 0.5 * matrix.shape[0])
    ax = fig.add_subplot()
    values = matrix.to_numpy(dtype=float)
    im = ax.imshow(values, vmin=0, vmax=1, cmap="Blues", aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), [f"to {c}" for c in matrix.columns], rotation=30, ha="right")
    ax.set_yticks(range(matrix.shape[0]), [f"{r} records" for r in matrix.index])
    for (i, j), v in np.ndenumerate(values):
        ax.text(j, i, "n/a" if np.isnan(v) else f"{v:.0%}", ha="center", va="center", fontsize=8,
                color="white" if not np.isnan(v) and v > 0.6 else "black")
    ax.set_title("Link rates between sources")
    fig.colorbar(im, ax=ax, shrink=0.7, format=PercentFormatter(1.0))
    return fig


def bias_chart(table: pd.DataFrame, overall: dict[str, float], gap_pp: float) -> Figure:
    """Link and cluster-membership rates of every rated group, grouped by dimension, with the
    overall rates as lines and the +/- ``gap_pp`` band; flagged groups in orange."""
    rated = table[table["rated"]].reset_index(drop=True)
    n = max(len(rated), 1)
    panels = [("link_rate", "link_flag", "Linked to another source"),
              ("member_rate", "member_flag", "In a cluster of 2+ records")]
    if "found_rate" in rated.columns:
        panels.insert(0, ("found_rate", "found_flag", "True links found (ground truth)"))
    fig = _figure(5 * len(panels), 1.2 + 0.3 * n)
    axes = fig.subplots(1, len(panels), sharey=True)
    y = np.arange(len(rated))[::-1]
    labels = [f"{d}: {g}" for d, g in zip(rated["dimension"], rated["group"], strict=True)]
    for ax, (rate, flag, title) in zip(axes, panels, strict=True):
        colours = [FLAG if f else NEUTRAL for f in rated[flag]] if len(rated) else []
        ax.barh(y, rated[rate].fillna(0) if len(rated) else [], color=colours)
        base = overall.get(rate, math.nan)
        if not math.isnan(base):
            ax.axvline(base, color="black", lw=1, label="overall")
            ax.axvspan(base - gap_pp / 100, base + gap_pp / 100, color="#dee2e6", alpha=0.6,
                       label=f"within {gap_pp:g} pp")
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(title, fontsize=10)
        ax.legend(handles=[*ax.get_legend_handles_labels()[0],
                           Patch(color=FLAG, label="gap flagged")], fontsize=7, loc="lower right")
    axes[0].set_yticks(y, labels, fontsize=8)
    fig.suptitle("Link rates by group (bias)")
    return fig


def id_events_chart(events: dict[str, dict[str, float]]) -> Figure:
    """Person-ID events of the run per threshold (kept, created, merged, split, retired);
    counts below 10 hatched at 10."""
    kinds = ("kept", "created", "merged_into", "split_from", "retired")
    levels = list(events)
    fig = _figure(7, 3.2)
    ax = fig.add_subplot()
    w = 0.8 / max(len(levels), 1)
    x = np.arange(len(kinds))
    for i, lv in enumerate(levels):
        heights, small = _suppressed_heights(np.array([events[lv].get(k, 0) for k in kinds]))
        bars = ax.bar(x + (i - (len(levels) - 1) / 2) * w, heights, width=w, label=lv)
        for bar, s in zip(bars, small, strict=True):
            if s:
                bar.set_hatch(SUPPRESSED_HATCH)
                bar.set_alpha(0.5)
    ax.set_xticks(x, list(kinds))
    ax.set_yscale("symlog", linthresh=10)
    ax.set_ylabel("person IDs")
    ax.set_title("Person-ID events of this run")
    _suppressed_legend(ax)
    return fig


def render_all(specs: list[tuple[str, str, Any]]) -> dict[str, tuple[str, bytes]]:
    """Render ``(name, title, figure-builder)`` triples: name -> (title, PNG bytes)."""
    out = {}
    for name, title, build in specs:
        out[name] = (title, png_bytes(build(), title))
    return out
