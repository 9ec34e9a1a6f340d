import pandas as pd
import pytest
from matplotlib.figure import Figure

from bold_spark.tuning import charts
from bold_spark.tuning.thresholds import weight_to_probability

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _pr_table() -> pd.DataFrame:
    w = [6.0, 4.0, 2.0, 0.0]
    tp, fp = [5, 8, 9, 10], [0, 0, 1, 3]
    return pd.DataFrame({
        "truth_threshold": w, "match_probability": [weight_to_probability(x) for x in w],
        "bin_tp": [5, 3, 1, 1], "bin_fp": [0, 0, 1, 2], "tp": tp, "fp": fp,
        "fn": [10 - t for t in tp], "tn": [90 - f for f in fp],
        "predicted": [a + b for a, b in zip(tp, fp, strict=True)],
        "precision": [t / (t + f) for t, f in zip(tp, fp, strict=True)],
        "recall": [t / 10 for t in tp],
        "f1": [0.6, 0.8, 0.9, 0.8], "tp_rate": [t / 10 for t in tp], "fp_rate": [f / 90 for f in fp],
    })


def _figures(model):
    completeness = pd.DataFrame({"source": ["a", "a", "b", "b"], "field": ["x", "y", "x", "y"],
                                 "rows": [2, 2, 3, 3], "non_null": [2, 1, 3, 0], "completeness": [1, 0.5, 1, 0]})
    freq = pd.DataFrame({"field": ["x", "x", "y"], "value": ["p", "a-very-long-value-indeed", "r"],
                         "count": [3, 1, 2], "share": [0.75, 0.25, 1.0]})
    rules = pd.DataFrame({"rule_index": [0, 1], "rule": ["l.x = r.x", "l.y = r.y"], "comparisons": [10, 0],
                          "largest_block": [4, 0], "cumulative": [10, 10], "new_pairs": [10, 0],
                          "cumulative_pairs": [10, 10]})
    blocks = pd.DataFrame({"rule_index": [0, 0, 1], "rule": ["r0", "r0", "r1"], "block": ["p", "q", "(all records)"],
                           "records": [4, 2, 5], "pairs": [6, 1, 10]})
    sizes = pd.DataFrame({"level": ["high", "high", "medium"], "cluster_size": [1, 2, 2], "clusters": [3, 1, 2],
                          "records": [3, 2, 4]})
    return {
        "completeness": charts.completeness_chart(completeness),
        "frequencies": charts.frequency_chart(freq),
        "rules": charts.comparisons_chart(rules),
        "rules_upper_bound_only": charts.comparisons_chart(rules.drop(columns=["new_pairs", "cumulative_pairs"])),
        "blocks": charts.largest_blocks_chart(blocks),
        "weights": charts.match_weights_figure(model),
        "pr": charts.precision_recall_chart(_pr_table(), {"high": 0.99, "medium": 0.95}),
        "sizes": charts.cluster_size_chart(sizes),
    }


def test_matplotlib_charts_save_as_png_and_html(model, tmp_path):
    for name, fig in _figures(model).items():
        assert isinstance(fig, Figure) and fig.axes, name
        png = charts.save_chart(fig, tmp_path / "sub" / f"{name}.png")
        assert png.read_bytes()[:8] == PNG_MAGIC
    html = charts.save_chart(fig, tmp_path / "sizes.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html


def test_splink_accuracy_chart_saves_as_offline_html_and_spec(tmp_path):
    chart = charts.splink_accuracy_chart(_pr_table())
    html = charts.save_chart(chart, tmp_path / "acc.html").read_text()
    assert "vega-lite" in html.lower() and "cdn.jsdelivr" not in html  # libraries inlined: opens offline
    spec = charts.save_chart(chart, tmp_path / "acc.json").read_text()
    assert '"truth_threshold"' in spec
    with pytest.raises(ValueError, match="vl-convert"):
        charts.save_chart(chart, tmp_path / "acc.png")
    with pytest.raises(TypeError):
        charts.save_chart(object(), tmp_path / "x.png")


def test_splink_charts_of_a_model_through_a_linker(spark, tiny_records, model, tmp_path):
    linker = charts.model_linker(spark, model, tiny_records)
    for chart in (linker.visualisations.match_weights_chart(), linker.visualisations.m_u_parameters_chart()):
        labels = {v.get("label_for_charts") for v in chart.chart_dict["data"]["values"]}
        assert "Exact match on dob" in labels
        assert "<html" in charts.save_chart(chart, tmp_path / "c.html", inline=False).read_text()
