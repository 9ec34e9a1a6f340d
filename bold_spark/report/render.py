"""The report page: one self-contained HTML document from :class:`ReportData`.

No script, no external style sheet, font or image: the style is inline and every figure is an
embedded PNG (``data:`` URI), so the file opens offline and can be mailed or archived as it is.
Every count below 10 is printed as "<10"; a rate is printed only over at least
``max(report.min_count, 10)`` records.
"""

from __future__ import annotations

import base64
import html
import math
from typing import TYPE_CHECKING, Any

from bold_spark.report.charts import DISCLOSURE_LIMIT, pct
from bold_spark.runs import withdrawals

if TYPE_CHECKING:
    from bold_spark.report.report import ModelInfo, ReportData

#: (anchor, heading) of every section, in order; the browser test checks each is on the page.
SECTIONS = (
    ("summary", "Summary"),
    ("inputs", "Inputs"),
    ("model", "Model"),
    ("results", "Results"),
    ("error", "Estimated error"),
    ("bias", "Bias"),
    ("churn", "Across runs"),
    ("privacy", "Privacy"),
)

#: Rate gaps listed in the summary (all are in the Bias section); measured gaps are all listed.
SUMMARY_RATE_FLAGS = 6
#: An unsupported level weighing this many bits or less (odds of 1 to 1,000) vetoes a link on
#: its own, as the -88 and -209 bits of earlier models did; above it the weight is a guess.
VETO_BITS = -10.0

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;
padding:1.5rem;color:#212529;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{border-bottom:2px solid #dee2e6;padding-bottom:.2rem;
margin-top:2.2rem}h3{margin-top:1.4rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}
th,td{border:1px solid #dee2e6;padding:.25rem .5rem;text-align:right;vertical-align:top}
th{background:#f1f3f5}td.l,th.l{text-align:left}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #e9ecef}
figcaption{font-size:.8rem;color:#495057}
.flags{background:#fff4e6;border-left:4px solid #e8590c;padding:.6rem 1rem}
.flags+.flags,.ok+.flags{margin-top:.8rem}
.ok{background:#ebfbee;border-left:4px solid #2b8a3e;padding:.6rem 1rem}
.note{color:#495057;font-size:.9rem}code{font-size:.85em;background:#f8f9fa;padding:0 .2em}
nav a{margin-right:.8rem}
"""


# ------------------------------------------------------------------ formatting


def count(n: Any) -> str:
    """A count for the page: "<10" below the disclosure limit, else with thousands separators
    (expected counts are rounded to whole numbers first)."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "n/a"
    n = round(float(n))
    return f"<{DISCLOSURE_LIMIT}" if n < DISCLOSURE_LIMIT else f"{n:,}"


def rate(num: float, den: float, min_count: int = DISCLOSURE_LIMIT) -> str:
    """``num / den`` as a percentage (:func:`pct`), or "n/a" over fewer than ``min_count``
    (at least 10)."""
    if den is None or den < max(min_count, DISCLOSURE_LIMIT) or num is None:
        return "n/a"
    return pct(num / den)


def esc(x: Any) -> str:
    """Text escaped for HTML."""
    return html.escape(str(x))


def table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    """An HTML table; the first ``left`` columns left-aligned. Cells are escaped."""
    def cell(tag: str, i: int, v: str) -> str:
        cls = ' class="l"' if i < left else ""
        return f"<{tag}{cls}>{esc(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure(data: ReportData, name: str) -> str:
    """The figure ``name`` as an embedded PNG with its caption ('' when it was not drawn)."""
    if name not in data.charts:
        return ""
    title, png = data.charts[name]
    b64 = base64.b64encode(png).decode("ascii")
    return (f'<figure><img class="chart" id="fig-{esc(name)}" alt="{esc(title)}" '
            f'src="data:image/png;base64,{b64}"><figcaption>{esc(title)} '
            f"(also <code>{esc(name)}.png</code> beside this file)</figcaption></figure>")


# ------------------------------------------------------------------ sections


def _summary(d: ReportData) -> str:
    agg, run = d.agg, d.agg.run
    records = int(agg.groups.loc[agg.groups["dimension"] == "overall", "records"].sum())
    persons = {lv: (run.get("metrics") or {}).get(f"persons_{lv}") for lv in d.thresholds}
    sizes = agg.sizes
    for lv in d.thresholds:
        if persons[lv] is None and len(sizes):
            persons[lv] = float(sizes.loc[sizes["level"] == lv, "clusters"].sum())
    rows = [["run", d.run_id], ["run name", d.run_name],
            ["published", f"set {d.published_seq}, {d.published_at:%Y-%m-%d %H:%M} UTC"],
            ["records linked", count(records)], ["scored pairs (edges)", count(agg.edges["edges"].sum())]]
    rows += [[f"persons at {lv} (p >= {p:g})", count(persons[lv])] for lv, p in d.thresholds.items()]
    if d.flags:
        measured = [f for f in d.flags if "true links found" in f]
        rates = [f for f in d.flags if f not in measured]
        shown = rates[:SUMMARY_RATE_FLAGS]
        parts = [f"<strong>Bias gaps flagged ({len(d.flags)}):</strong>"]
        if measured:
            parts.append("<p>Measured against the ground truth (linkage error alone):</p><ul>"
                         + "".join(f"<li>{esc(f)}</li>" for f in measured) + "</ul>")
        if rates:
            more = len(rates) - len(shown)
            parts.append("<p>Link and cluster-membership rates (these also reflect how many "
                         "sources a group appears in), groups of people first, then sources (a "
                         "source's rates differ by design), largest first:</p><ul>"
                         + "".join(f"<li>{esc(f)}</li>" for f in shown)
                         + (f'<li>and {more} more: see <a href="#bias">Bias</a></li>' if more else "")
                         + "</ul>")
        flags = '<div class="flags" id="bias-flags">' + "".join(parts) + "</div>"
    else:
        flags = (f'<div class="ok" id="bias-flags">No group\'s link or cluster-membership rate is '
                 f"more than {d.gap_pp:g} percentage points from the overall rate.</div>")
    acc = d.agg.accuracy.get("levels", {})
    acc_line = ""
    if d.level in acc:
        a = acc[d.level]
        acc_line = (f"<p>Measured against the ground truth at the {esc(d.level)} threshold: precision "
                    f"{pct(a.precision, 2)}, recall {pct(a.recall, 2)}, F1 {a.f1:.4f}.</p>")
    return flags + _unsupported_summary(d) + acc_line + table(["", "value"], rows)


def _unsupported_summary(d: ReportData) -> str:
    """A box naming the model levels whose parameters rest on no training observation."""
    found = [(m, len(m.unsupported)) for m in d.models if m.unsupported is not None and len(m.unsupported)]
    if not found:
        return ""
    items = "".join(f'<li><a href="#model-{esc(m.group)}">link group {esc(m.group)}</a>: {n} '
                    f"level{'s' if n > 1 else ''}</li>" for m, n in found)
    return ('<div class="flags" id="model-flags"><strong>Model parameters resting on no '
            "training data:</strong><ul>" + items + "</ul><p>Their m or u is below one "
            "observation of the training, or no sampled pair fell in the level so its u is a "
            "bound, not an estimate: their match weights are not evidence (see Model).</p></div>")


def _unsupported(m: ModelInfo) -> str:
    """The Model section's warning for :func:`bold_spark.report.report.unsupported_levels`."""
    u = m.unsupported
    if u is None or not len(u):
        return ""
    lines = []
    for _, r in u.iterrows():
        weight = r["match_weight"]
        w = f"{weight:+.1f} bits" if weight is not None and not math.isnan(weight) else "no weight"
        if r["which"] == "m":
            why = (f"m = {_prob(r['m'])}: fewer than one of the {count(r['support'])} pairs the EM "
                   "sessions saw" if r["support"] else f"m = {_prob(r['m'])}")
            means = ("a true match is taken never to fall here, so a single difference (a typo, a "
                     "second identifier issued to one person) vetoes the link"
                     if weight is not None and weight <= VETO_BITS else
                     "the weight is no estimate; too small to veto a link on its own, it still "
                     "moves every pair in the level")
        elif r["which"] == "u_not_estimated":
            n = count(r["support"]) if r["support"] else "?"
            why = (f"u = {_prob(r['u'])}, no estimate: none of the {n} random pairs sampled fell "
                   f"here, so it is the start model's u, at most 1 / {n} "
                   "(unless training.cap_unobserved_u is false)")
            means = ("the weight rests on a bound, not on an estimate: raise training.u_max_pairs "
                     "and train again")
        else:
            why = (f"u = {_prob(r['u'])}: fewer than one of the {count(r['support'])} random pairs "
                   "sampled" if r["support"] else f"u = {_prob(r['u'])}")
            means = "a non-match is taken never to fall here, so the level alone makes a link"
        lines.append(f"<li>{esc(r['comparison'])}: {esc(r['label'])} ({esc(w)}; {esc(why)}): "
                     f"{esc(means)}.</li>")
    return (f'<div class="flags" id="unsupported-{esc(m.group)}"><strong>{len(u)} '
            f"{'levels of this model rest' if len(u) > 1 else 'level of this model rests'} on no "
            "training data</strong><ul>"
            + "".join(lines) + "</ul><p>Check whether the training data can hold such pairs "
            "(synthetic data without identifier errors cannot), or fix the m in the model JSON "
            "(<code>\"fix_m_probability\": true</code>, which training keeps) before relying on "
            "these weights (docs/report.md).</p></div>")


def _inputs(d: ReportData) -> str:
    sc = d.agg.run.get("source_counts") or {}
    keys = [("rows_in", "rows in"), ("accepted", "accepted"), ("quarantined", "quarantined"),
            ("dob_impossible", "impossible DOB"), ("postcode_invalid", "invalid postcode"),
            ("nfa", "no fixed abode")]
    rows = [[s, *[count(c.get(k)) for k, _ in keys]] for s, c in sorted(sc.items())]
    out = ["<h3>Rows per source</h3>"]
    out.append(table(["source", *[lab for _, lab in keys]], rows) if rows else
               '<p class="note">The run record holds no per-source counts (this set was not made by '
               "an ingest).</p>")
    q = d.agg.quarantine.sort_values(["source", "reason"]) if len(d.agg.quarantine) else d.agg.quarantine
    out.append("<h3>Quarantine reasons</h3>")
    out.append(table(["source", "reason", "rows"],
                     [[r["source"], r["reason"], count(r["rows"])] for _, r in q.iterrows()], left=2)
               if len(q) else '<p class="note">No row was quarantined.</p>')
    out.append("<h3>Completeness of the linkage fields</h3>")
    out.append(figure(d, "completeness"))
    c = d.agg.completeness
    if len(c):
        sources = sorted(c["source"].unique())
        fields = list(dict.fromkeys(c["field"]))
        lookup = {(r["source"], r["field"]): r for _, r in c.iterrows()}
        rows = [[f, *[rate(lookup[(s, f)]["present"], lookup[(s, f)]["records"]) for s in sources]]
                for f in fields]
        out.append(table(["field", *sources], rows))
    return "".join(out)


def _model(d: ReportData, m: ModelInfo) -> str:
    rules = d.agg.rules
    sub = rules[rules["link_group"] == m.group] if len(rules) else rules
    by_rule = {str(r["blocking_rule"]): r["comparisons"] for _, r in sub.iterrows()}
    trained = m.trained or {}
    on = trained.get("trained_on") or {}
    same = (m.run_version is None or m.run_version == m.version)
    info = [
        ["model file", m.file], ["version", m.version + ("" if same else
                                                        f" (the run scored with {m.run_version})")],
        ["sources", ", ".join(m.sources)],
        ["prior (probability two random records match)", f"{m.prior:.3g}"],
        ["trained at", str(trained.get("trained_at", "not trained (starting parameters)"))],
        ["trained on", (f"{_table_name(on.get('records_table', '?'))} version "
                        f"{on.get('records_version', '?')}, run {on.get('run_id', '?')}") if on else "n/a"],
        ["records / pairs in training", f"{count(trained.get('records'))} / "
                                        f"{count(trained.get('pairs_in_scope'))}" if trained else "n/a"],
    ]
    out = [f'<h3 id="model-{esc(m.group)}">Link group {esc(m.group)}</h3>', table(["", ""], info),
           _unsupported(m)]
    if not same:
        out.append('<p class="flags">The model file has changed since this run: the parameters '
                   "below are the file's, not those the run scored with.</p>")
    out.append("<p>Blocking rules and the pairs each scored (a pair is counted under the first "
               "rule that found it):</p>")
    out.append(table(["rule", "comparisons scored"],
                     [[r, count(by_rule.get(r, 0))] for r in m.blocking_rules]))
    out.append(figure(d, f"model_{m.group}"))
    p = m.params
    out.append(table(["comparison", "level", "m", "u", "match weight"],
                     [[r["comparison"], r["label"],
                       _prob(r["m"]) + (" (fixed)" if r.get("m_fixed", False) else ""),
                       _prob(r["u"]) + (" (counted)" if r.get("u_counted", False) else ""),
                       "n/a" if r["match_weight"] is None or (isinstance(r["match_weight"], float)
                                                               and math.isnan(r["match_weight"]))
                       else f"{r['match_weight']:+.2f}"] for _, r in p.iterrows()], left=2))
    return "".join(out)


def _table_name(uri: str) -> str:
    """A training record's table: the last part of a URI, or the text as it is when it is a
    description written by hand (it has spaces)."""
    return uri if " " in uri.strip() else uri.rstrip("/").rsplit("/", 1)[-1]


def _prob(x: Any) -> str:
    """A probability with 4 significant digits, never looking like a count (1 -> 1.0)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    s = f"{x:.4g}"
    return s if "." in s or "e" in s else f"{x:.1f}"


def _results(d: ReportData) -> str:
    agg = d.agg
    out = [figure(d, "match_weights")]
    levels = list(d.thresholds)
    e = agg.edges.sort_values("link_group") if len(agg.edges) else agg.edges
    out.append("<h3>Edges per link group</h3>")
    out.append(table(["link group", "scored pairs", *[f"accepted at {lv}" for lv in levels]],
                     [[r["link_group"], count(r["edges"]), *[count(r[f"accepted_{lv}"]) for lv in levels]]
                      for _, r in e.iterrows()]))
    out.append("<h3>Clusters</h3>")
    out.append(figure(d, "cluster_sizes"))
    s = agg.sizes
    rows = []
    for lv in levels:
        sub = s[s["level"] == lv]
        multi = sub[sub["cluster_size"] >= 2]
        rows.append([f"{lv} (p >= {d.thresholds[lv]:g})", count(sub["clusters"].sum()),
                     count(multi["clusters"].sum()),
                     count(sub["cluster_size"].max() if len(sub) else 0)])
    out.append(table(["threshold", "persons (clusters)", "clusters of 2+ records", "largest"], rows))
    metrics = agg.run.get("metrics") or {}
    if any(f"split_clusters_{lv}" in metrics for lv in levels):
        out.append("<p>Sources declared one record per person: clusters that held two records of "
                   "one such source, split at their weakest links (docs/accuracy.md).</p>")
        if "recluster_region_records" in metrics:
            out.append(f"<p>This incremental run clustered again only the components its changes "
                       f"reached ({count(metrics['recluster_region_records'])} records) and carried "
                       "the other clusters over unchanged: these counts are of the part it "
                       "clustered.</p>")
        out.append(table(["threshold", "clusters split", "clusters they became"],
                         [[lv, count(metrics.get(f"split_clusters_{lv}", 0)),
                           count(metrics.get(f"split_parts_{lv}", 0))] for lv in levels]))
    out.append("<h3>Largest clusters (sizes and sources only)</h3>")
    lg = agg.largest.sort_values(["level", "rank"]) if len(agg.largest) else agg.largest
    order = {lv: i for i, lv in enumerate(levels)}
    lg = lg.assign(_o=lg["level"].map(order)).sort_values(["_o", "rank"]) if len(lg) else lg
    out.append(table(["threshold", "rank", "records", "records per source"],
                     [[r["level"], f"#{r['rank']}", count(r["size"]),
                       ", ".join(f"{x['source']} {count(x['n'])}" for x in r["sources"])]
                      for _, r in lg.iterrows()], left=1))
    out.append(f"<h3>Link rates between sources (at the {esc(d.level)} threshold)</h3>")
    out.append("<p>Share of the row source's records whose cluster holds at least one record of "
               "the column source (on the diagonal: another record of the same source).</p>")
    out.append(figure(d, "source_links"))
    lk = agg.links
    if len(lk):
        srcs = sorted(lk["source_a"].unique())
        look = {(r["source_a"], r["source_b"]): r for _, r in lk.iterrows()}
        out.append(table(["records of", *[f"linked to {b}" for b in srcs]],
                         [[a, *[rate(look[(a, b)]["linked"], look[(a, b)]["records_a"])
                                if (a, b) in look else "n/a" for b in srcs]] for a in srcs]))
    return "".join(out)


def _error(d: ReportData) -> str:
    e = d.agg.edges
    levels = list(d.thresholds)
    out = ["<p><strong>Method (no ground truth needed).</strong> Each scored pair's match "
           "probability p comes from the model. If the model is well calibrated, the expected "
           "number of false links among the pairs accepted at a threshold t is the sum of (1 - p) "
           "over the pairs with p &ge; t, and the expected number of true matches the threshold "
           "misses is the sum of p over the scored pairs with p &lt; t (dominated by the pairs just "
           "below t). Pairs that no blocking rule compared are not scored, so links missed by "
           "blocking are not counted: the expected recall below is an upper bound. Counts are of "
           "pairs, before clustering (clusters can add links by transitivity).</p>"]
    rows = []
    for lv in levels:
        acc = e[f"accepted_{lv}"].sum() if len(e) else 0
        ef = e[f"exp_false_{lv}"].sum() if len(e) else 0.0
        et = e[f"exp_true_{lv}"].sum() if len(e) else 0.0
        em = e[f"exp_missed_{lv}"].sum() if len(e) else 0.0
        rows.append([f"{lv} (p >= {d.thresholds[lv]:g})", count(acc), count(ef),
                     rate(acc - ef, acc), count(em), rate(et, et + em)])
    out.append(table(["threshold", "accepted pairs", "expected false links", "expected precision",
                      "expected missed links", "expected recall (of scored pairs)"], rows))
    out.append("<h3>Measured accuracy</h3>")
    acc = d.agg.accuracy
    if "levels" in acc:
        out.append("<p>Pairwise precision, recall and F1 of the clusters against the configured "
                   "ground truth (every pair of records in one cluster is a predicted link).</p>")
        out.append(table(["threshold", "precision", "recall", "F1", "true pairs", "predicted pairs"],
                         [[lv, pct(a.precision, 2), pct(a.recall, 2), f"{a.f1:.4f}",
                           count(a.true_pairs), count(a.predicted_pairs)]
                          for lv, a in acc["levels"].items()]))
        covered = next(iter(acc["levels"].values())).records
        if covered < acc.get("clustered", covered):
            out.append(f'<p class="note">The ground truth covers {count(covered)} of the '
                       f'{count(acc["clustered"])} clustered records: these figures are over the '
                       "pairs among those records only, and precision is optimistic (a false link "
                       "to a record outside them is not seen).</p>")
        out.append(f"<p>By source pair, at the {esc(d.level)} threshold: which sources the missed "
                   "and false links are between (pairs within one source are its duplicates). "
                   f"Counts below {DISCLOSURE_LIMIT} are shown as such, and rates over fewer "
                   "pairs are not given.</p>")
        pairs = sorted(acc.get("source_pairs", {}).items(), key=lambda kv: -kv[1].true_pairs)
        out.append(table(["sources", "precision", "recall", "F1", "true pairs", "missed pairs",
                          "false pairs"],
                         [[name, rate(a.true_positives, a.predicted_pairs),
                           rate(a.true_positives, a.true_pairs),
                           f"{a.f1:.4f}" if min(a.predicted_pairs, a.true_pairs) >= DISCLOSURE_LIMIT
                           else "n/a",
                           count(a.true_pairs), count(a.true_pairs - a.true_positives),
                           count(a.predicted_pairs - a.true_positives)] for name, a in pairs]))
    else:
        out.append(f'<p class="note">Not measured: {esc(acc.get("note", "no ground truth"))}.</p>')
    return "".join(out)


def _bias(d: ReportData) -> str:
    b = d.bias
    lim = max(d.min_count, DISCLOSURE_LIMIT)
    out = [f"<p>For each group: the <em>link rate</em> (share of its records linked to a record of "
           f"another source) and the <em>cluster-membership rate</em> (share in a cluster with at "
           f"least one other record), at the {esc(d.level)} threshold, with the gap to the overall "
           f"rate in percentage points (pp). Gaps beyond {d.gap_pp:g} pp are flagged "
           f"(<code>report.bias_gap_pp</code>); groups of fewer than {lim} records are neither rated "
           "nor flagged. Age is taken at the extract's snapshot date.</p>",
           figure(d, "bias")]
    truth = "found_rate" in b.columns
    if truth:
        out.insert(1, "<p>A ground truth is configured, so the table also gives, per group, the "
                      "share of <em>linkable</em> records (those with another record of the same "
                      "true person) that share their cluster with at least one of them: unlike the "
                      "link rates, which also reflect how many sources a group appears in, its gap "
                      "measures linkage error alone.</p>")
    rows = []
    for _, r in b.iterrows():
        rated = bool(r["rated"])
        row = [r["dimension"], r["group"], count(r["records"])]
        if truth:
            fr = bool(r["found_rated"])
            row += [count(r["linkable"]), pct(r["found_rate"]) if fr else "n/a",
                    f"{r['found_gap_pp']:+.1f}" if fr else "n/a"]
        row += [pct(r["link_rate"]) if rated else "n/a",
                f"{r['link_gap_pp']:+.1f}" if rated else "n/a",
                pct(r["member_rate"]) if rated else "n/a",
                f"{r['member_gap_pp']:+.1f}" if rated else "n/a",
                "yes" if (r["link_flag"] or r["member_flag"] or (truth and r["found_flag"])) else ""]
        rows.append(row)
    head = ["dimension", "group", "records"]
    if truth:
        head += ["linkable", "true links found", "gap (pp)"]
    head += ["link rate", "gap (pp)", "cluster-membership rate", "gap (pp)", "flagged"]
    out.append(table(head, rows, left=2))
    return "".join(out)


def _churn(d: ReportData) -> str:
    metrics = d.agg.run.get("metrics") or {}
    if not d.previous_run:
        out = ['<p class="note">This is the first published run under this output root: every '
               "person ID was created by it, and there is no churn to report.</p>"]
    else:
        out = [f"<p>Since the previously published run <code>{esc(d.previous_run)}</code>: share of "
               "records whose person ID changed, per threshold.</p>"]
        out.append(table(["threshold", "ID churn"],
                         [[lv, pct(metrics[f'id_churn_{lv}'], 2) if f"id_churn_{lv}" in metrics else "n/a"]
                          for lv in d.thresholds]))
        out.append(_withdrawn(metrics))
    out.append(figure(d, "id_events"))
    kinds = ("kept", "created", "merged_into", "split_from", "retired")
    out.append(table(["threshold", *kinds],
                     [[lv, *[count(metrics.get(f"id_{k}_{lv}", 0)) for k in kinds]]
                      for lv in d.thresholds]))
    return "".join(out)


def _withdrawn(metrics: dict[str, float]) -> str:
    """Records of the previously published set that this run no longer holds, per source (the
    audit's ``published_before_<source>`` / ``withdrawn_<source>`` metrics); '' without them."""
    by_source = withdrawals(metrics)
    if not by_source:
        return ""
    rows = []
    for s, (before, gone) in by_source.items():
        # no share beside a suppressed count: it would give the count back
        rows.append([s, count(before), count(gone),
                     rate(gone, before) if gone >= DISCLOSURE_LIMIT else "n/a"])
    return ("<p>Records of the previously published set no longer present (withdrawn from their "
            "extract, quarantined this run, or the source left out), by source; the audit fails a "
            "run above <code>audit.max_withdrawn_share</code>.</p>"
            + table(["source", "published before", "withdrawn", "share"], rows))


def _privacy(d: ReportData) -> str:
    return ("<p>This report holds aggregates only: counts, shares, sums of model probabilities, "
            "model parameters, source and field names. It holds no name, date of birth, postcode, "
            "identifier, record key or person ID. Every count below "
            f"{DISCLOSURE_LIMIT} is shown as &ldquo;&lt;{DISCLOSURE_LIMIT}&rdquo; (in the figures: "
            f"a hatched bar at {DISCLOSURE_LIMIT}), and no rate is given over fewer than "
            f"{max(d.min_count, DISCLOSURE_LIMIT)} records, as in official statistics' disclosure "
            "control. Rates over larger groups are exact: check differencing risks before "
            "publishing a table from this report outside the linkage team.</p>")


def render_report(d: ReportData) -> str:
    """The whole page as HTML text.

    Parameters:
        d: the report's data (``report.build_report_data``).

    Returns a self-contained HTML document.
    """
    nav = "".join(f'<a href="#{a}">{esc(h)}</a>' for a, h in SECTIONS)
    bodies = {
        "summary": _summary(d),
        "inputs": _inputs(d),
        "model": "".join(_model(d, m) for m in d.models),
        "results": _results(d),
        "error": _error(d),
        "bias": _bias(d),
        "churn": _churn(d),
        "privacy": _privacy(d),
    }
    sections = "".join(f'<section id="{a}"><h2>{esc(h)}</h2>{bodies[a]}</section>' for a, h in SECTIONS)
    stages = d.agg.run.get("stage_seconds") or {}
    timing = ", ".join(f"{k} {v:.0f}s" for k, v in stages.items())
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Linkage quality and bias report: run {esc(d.run_id)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Linkage quality and bias report</h1>"
        f"<p class=\"note\">Run <code>{esc(d.run_id)}</code> ({esc(d.run_name)}), published "
        f"{d.published_at:%Y-%m-%d %H:%M} UTC; report made {d.generated_at:%Y-%m-%d %H:%M} UTC "
        f"by bold-spark.{(' Stage times: ' + esc(timing) + '.') if timing else ''}</p>"
        f"<nav>{nav}</nav>{sections}</body></html>\n"
    )
