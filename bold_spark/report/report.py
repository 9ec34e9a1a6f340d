"""The report stage: ``run_report(spark, cfg)`` writes the linkage quality and bias report of the
published run (or of the run named) under ``<output_root>/reports/<run_id>/``.

It reads the published set (never re-running a stage), collects small aggregates
(:mod:`bold_spark.report.aggregates`), draws the figures (:mod:`bold_spark.report.charts`) and
renders one self-contained HTML page (:mod:`bold_spark.report.render`): figures embedded as PNG
data, no script, no style sheet or font fetched from anywhere. The PNG files are written beside
it. See docs/report.md for what each section means and how its numbers are computed.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bold_spark.exceptions import InputError
from bold_spark.io.delta import read_table, table_exists
from bold_spark.report import charts
from bold_spark.report.aggregates import (
    WEIGHT_BIN,
    Aggregates,
    collect_aggregates,
    compared_fields,
    truth_group_recall,
)

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

    from bold_spark.config.pipeline import PipelineConfig
    from bold_spark.privacy.keys import SecretKey

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"


def weight_of(probability: float) -> float:
    """The match weight (log2 odds) of a match probability."""
    return math.log2(probability / (1 - probability))


@dataclass
class ModelInfo:
    """One link group's model as the report shows it."""

    group: str
    file: str
    version: str
    run_version: str | None
    prior: float
    trained: dict[str, Any]
    params: pd.DataFrame
    blocking_rules: list[str]
    sources: list[str]
    #: levels whose m or u rests on fewer than one training observation (:func:`unsupported_levels`)
    unsupported: pd.DataFrame | None = None


@dataclass
class ReportData:
    """What :func:`bold_spark.report.render.render_report` renders (all aggregates)."""

    run_id: str
    run_name: str
    published_seq: int
    published_at: dt.datetime
    generated_at: dt.datetime
    thresholds: dict[str, float]
    level: str
    gap_pp: float
    min_count: int
    agg: Aggregates
    models: list[ModelInfo]
    bias: pd.DataFrame
    flags: list[str]
    previous_run: str | None
    charts: dict[str, tuple[str, bytes]] = field(default_factory=dict)


def model_parameters(settings: dict[str, Any], trained: dict[str, Any] | None = None) -> pd.DataFrame:
    """(comparison, label, m, u, match_weight, m_fixed, u_counted) of every non-null level of a
    Splink model dict (``m_fixed``: the level's m is set by hand, ``fix_m_probability``, not
    trained; ``u_counted``: its u was counted over every pair in scope, not sampled, by the
    training ``trained`` records: :func:`counted_u_levels`)."""
    import pandas as pd

    counted = counted_u_levels(trained or {})
    rows = []
    for comp in settings.get("comparisons", []):
        name = comp.get("output_column_name") or comp.get("comparison_description", "?")
        for lv in comp.get("comparison_levels", []):
            if lv.get("is_null_level"):
                continue
            m, u = lv.get("m_probability"), lv.get("u_probability")
            weight = math.log2(m / u) if m and u else None
            rows.append({"comparison": name, "label": lv.get("label_for_charts", ""), "m": m,
                         "u": u, "match_weight": weight,
                         "m_fixed": bool(lv.get("fix_m_probability", False)),
                         "u_counted": (name, lv.get("label_for_charts", "")) in counted})
    return pd.DataFrame(rows, columns=["comparison", "label", "m", "u", "match_weight", "m_fixed",
                                       "u_counted"])


#: Without a training record: an m below this (a true match "never" falls in the level) or a u
#: below :data:`UNTRAINED_U_FLOOR` is flagged as resting on no observation.
UNTRAINED_M_FLOOR = 1e-6
UNTRAINED_U_FLOOR = 1e-9


def counted_u_levels(trained: dict[str, Any]) -> dict[tuple[str, str], int | None]:
    """(comparison, label) -> the pairs in scope its u was counted over, for each level of a
    training record's ``u_counted`` (``training.count_exact_u``: counted, not sampled)."""
    return {(d["comparison"], d["label"]): int(d.get("of") or 0) or None
            for d in trained.get("u_counted") or []}


def unsupported_levels(params: pd.DataFrame, trained: dict[str, Any]) -> pd.DataFrame:
    """The levels of ``params`` (:func:`model_parameters`) whose m or u is smaller than one
    observation of the training could make it: an estimate that rests on no data, whose weight
    (often tens or hundreds of bits) then decides every pair in the level on its own.

    m is estimated by EM over the pairs of the EM sessions that train the comparison (those whose
    blocking rule does not deactivate it); an m below one over their count is less than one pair
    of all of them, whatever share of them are matches (so a conservative flag). u is estimated
    from ``u_pairs_sampled`` random pairs: a u below one over that count is less than one sampled
    pair. Without those counts in ``trained`` (an untrained model), m below
    :data:`UNTRAINED_M_FLOOR` or u below :data:`UNTRAINED_U_FLOOR`. An m fixed by hand
    (``m_fixed``) is not an estimate and is not flagged. A level no sampled pair fell in has
    no estimate of u (the start model's, at most one over the pairs sampled unless
    ``training.cap_unobserved_u`` is false), whatever its size (``u_not_estimated`` in
    ``trained``): flagged as ``u_not_estimated``. A level whose u was counted over every pair
    in scope (``u_counted`` in ``trained``: ``training.count_exact_u``) is measured against
    the pairs it was counted over, not the sample: at national scale a postcode's or an
    identifier's u is far below one over any sample, and is still an exact count.

    Returns the rows of ``params`` flagged, with ``which`` ("m", "u" or "u_not_estimated") and
    ``support`` (the count one observation is measured against; None for the fixed floors).
    """
    import pandas as pd

    sessions = trained.get("em_sessions") or []
    sampled = trained.get("u_pairs_sampled")
    not_estimated = {(d["comparison"], d["label"]) for d in trained.get("u_not_estimated") or []}
    counted = counted_u_levels(trained)
    rows = []
    for _, r in params.iterrows():
        no_estimate = (r["comparison"], r["label"]) in not_estimated
        if no_estimate:
            rows.append({**r.to_dict(), "which": "u_not_estimated",
                         "support": int(sampled) if sampled else None})
        em_pairs = sum(int(s.get("pairs") or 0) for s in sessions
                       if r["comparison"] not in (s.get("deactivated") or []))
        for which, value, support, floor in (
                ("m", r["m"], em_pairs or None, UNTRAINED_M_FLOOR),
                ("u", r["u"], counted.get((r["comparison"], r["label"]))
                 or (int(sampled) if sampled else None), UNTRAINED_U_FLOOR)):
            if which == "u" and no_estimate:  # flagged above, as no estimate
                continue
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            if which == "m" and r.get("m_fixed", False):
                continue
            if value < (1.0 / support if support else floor):
                rows.append({**r.to_dict(), "which": which, "support": support})
    return pd.DataFrame(rows, columns=[*params.columns, "which", "support"])


def bias_table(groups: pd.DataFrame, gap_pp: float, min_count: int,
               truth: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Rates per bias group with the gap to the overall rate, in percentage points.

    Parameters:
        groups: ``aggregates.group_rates`` collected.
        gap_pp: gaps larger than this (either way) are flagged.
        min_count: groups with fewer records are neither rated nor flagged.
        truth: ``aggregates.truth_group_recall`` collected, when a ground truth is configured:
            adds the share of linkable records found (``found_rate``, its gap and flag).

    Returns (one row per group: dimension, group, records, link_rate, member_rate, link_gap_pp,
    member_gap_pp, rated, link_flag, member_flag (and linkable, found_rate, found_gap_pp,
    found_rated, found_flag with ``truth``); the overall rates).
    """
    overall_row = groups[groups["dimension"] == "overall"]
    if overall_row.empty or not overall_row["records"].iloc[0]:
        overall = {"link_rate": math.nan, "member_rate": math.nan, "records": 0}
    else:
        r = overall_row.iloc[0]
        overall = {"link_rate": r["linked_other_source"] / r["records"],
                   "member_rate": r["in_cluster"] / r["records"], "records": int(r["records"])}
    t = groups[groups["dimension"] != "overall"].copy()
    order = {d: i for i, d in enumerate(("sex", "age band", "NFA status", "source"))}
    t["_o"] = t["dimension"].map(order)
    t = t.sort_values(["_o", "group"]).drop(columns="_o").reset_index(drop=True)
    t["link_rate"] = t["linked_other_source"] / t["records"]
    t["member_rate"] = t["in_cluster"] / t["records"]
    t["link_gap_pp"] = (t["link_rate"] - overall["link_rate"]) * 100
    t["member_gap_pp"] = (t["member_rate"] - overall["member_rate"]) * 100
    t["rated"] = t["records"] >= max(min_count, charts.DISCLOSURE_LIMIT)
    t["link_flag"] = t["rated"] & (t["link_gap_pp"].abs() > gap_pp)
    t["member_flag"] = t["rated"] & (t["member_gap_pp"].abs() > gap_pp)
    if truth is not None and len(truth):
        tr = truth.set_index(["dimension", "group"])
        if ("overall", "all records") in tr.index and tr.loc[("overall", "all records"), "linkable"]:
            o = tr.loc[("overall", "all records")]
            overall["found_rate"] = o["found"] / o["linkable"]
        else:
            overall["found_rate"] = math.nan
        keys = list(zip(t["dimension"], t["group"], strict=True))
        t["linkable"] = [tr["linkable"].get(k, 0) for k in keys]
        found = [tr["found"].get(k, 0) for k in keys]
        t["found_rate"] = [f / n if n else math.nan for f, n in zip(found, t["linkable"], strict=True)]
        t["found_gap_pp"] = (t["found_rate"] - overall["found_rate"]) * 100
        t["found_rated"] = t["linkable"] >= max(min_count, charts.DISCLOSURE_LIMIT)
        t["found_flag"] = t["found_rated"] & (t["found_gap_pp"].abs() > gap_pp)
    return t, overall


def bias_flags(table: pd.DataFrame, overall: dict[str, float], gap_pp: float, level: str) -> list[str]:
    """One sentence per flagged gap for the summary: gaps measured against the ground truth
    first, then the rates of groups of people (sex, age band, NFA status), then the sources'
    rates (which differ by design: a source's records are linked as often as its people appear
    in other sources), each largest first."""
    found = []
    kinds = [("link rate", "link_rate", "link_gap_pp", "link_flag"),
             ("cluster-membership rate", "member_rate", "member_gap_pp", "member_flag")]
    if "found_flag" in table.columns:
        kinds.insert(0, ("share of true links found (measured)", "found_rate", "found_gap_pp",
                         "found_flag"))
    for _, r in table.iterrows():
        for kind, rate, gap, flag in kinds:
            if r[flag]:
                way = "below" if r[gap] < 0 else "above"
                rank = 0 if flag == "found_flag" else 2 if r["dimension"] == "source" else 1
                found.append((rank, abs(r[gap]), (
                    f"{r['dimension']} = {r['group']}: {kind} {charts.pct(r[rate])} is "
                    f"{abs(r[gap]):.1f} pp {way} the overall {charts.pct(overall[rate])} (at the "
                    f"{level} threshold; flagged beyond {gap_pp:g} pp)")))
    # measured gaps (which isolate linkage error) first, then people's groups, then sources
    return [s for _, _, s in sorted(found, key=lambda x: (x[0], -x[1]))]


def _models(cfg: PipelineConfig, run: dict[str, Any], loaded: dict[str, Any]) -> list[ModelInfo]:
    """Each link group's model as the report shows it (``loaded``: group name -> its model)."""
    out = []
    for g in cfg.link_groups:
        model = loaded[g.name]
        rules = [r.get("blocking_rule", "") if isinstance(r, dict) else str(r)
                 for r in model.settings.get("blocking_rules_to_generate_predictions", [])]
        trained = dict(model.meta.trained)
        params = model_parameters(model.settings, trained)
        out.append(ModelInfo(
            group=g.name, file=g.model.rsplit("/", 1)[-1], version=model.version,
            run_version=(run.get("model_versions") or {}).get(g.name),
            prior=float(model.settings.get("probability_two_random_records_match") or math.nan),
            trained=trained, params=params, blocking_rules=rules, sources=list(g.sources),
            unsupported=unsupported_levels(params, trained),
        ))
    return out


def measured_accuracy(spark: SparkSession, cfg: PipelineConfig, records, clusters,
                      key: SecretKey | None, levels: list[str], level: str) -> dict[str, Any]:
    """Against ``cfg.ground_truth``: pairwise precision/recall/F1 of the report's clusters at
    each level (``bold_spark.evaluate.pairwise_accuracy``) and, at ``level``, per source pair
    (``source_pair_accuracy``) and the share of linkable records found per bias group
    (``aggregates.truth_group_recall``); or ``{"note": why not}``."""
    from bold_spark.evaluate.accuracy import evaluate_joined, keyed_truth, truth_joined

    if not cfg.ground_truth:
        return {"note": "no ground truth is configured (pipeline key ground_truth): only the "
                        "model-based estimates above are available"}
    if key is None:
        return {"note": "a ground truth is configured but no key was given to hash its record ids"}
    try:
        keyed = keyed_truth(spark, cfg.ground_truth, key, cfg.sources, "_true_person")
        joined, clustered, unmatched = truth_joined(clusters, keyed, levels, cfg.ground_truth)
    except InputError as e:  # the truth matches no clustered record: the report says so
        logger.warning("ground truth not usable for the report: %s", e)
        return {"note": f"the configured ground truth is not usable: {e}"}
    except Exception as e:  # noqa: BLE001 - the report says so rather than failing
        logger.warning("ground truth not usable for the report: %s", type(e).__name__)
        return {"note": f"the configured ground truth could not be read ({type(e).__name__})"}
    # one join of clusters and truth, read by the accuracy figures and the bias groups
    joined = joined.persist()
    try:
        ev = evaluate_joined(joined, levels, level, "_true_person", clustered, unmatched)
        groups = truth_group_recall(records, joined, f"person_id_{level}", "_true_person").toPandas()
    finally:
        joined.unpersist()
    # a clerical sample of records covers only some: the figures are over pairs among those
    return {"levels": ev.levels, "source_pairs": ev.source_pairs, "groups": groups,
            "clustered": ev.records_clustered}


def build_report_data(spark: SparkSession, cfg: PipelineConfig, run_id: str | None = None,
                      key: SecretKey | None = None) -> ReportData:
    """Collect everything the report shows for the published run (or ``run_id``'s set).

    Parameters:
        spark: the session.
        cfg: the pipeline config (output root, thresholds, link groups, report settings).
        run_id: a run that published a set; default the current published set.
        key: the pseudonymisation key, needed only to measure accuracy against a ground truth.

    Returns the report's data, figures included.

    Raises:
        NotPublishedError: nothing (or nothing by ``run_id``) was published.
        InputError: the published set lacks records, edges or clusters.
    """
    from bold_spark.publish import previous_run, published_set, read_published

    pset = published_set(spark, cfg.output_root, run_id)
    if pset is None:
        from bold_spark.publish import NotPublishedError

        raise NotPublishedError(f"nothing has been published under {cfg.output_root}")
    tables = read_published(spark, cfg.output_root, pset.run_id)
    missing = [t for t in ("records", "edges", "clusters") if t not in tables]
    if missing:
        raise InputError(f"the published set of run {pset.run_id} has no {', '.join(missing)} "
                         "table: run the whole pipeline (`bold run`) before the report")
    t = cfg.thresholds
    thresholds = {"high": t.high, "medium": t.medium, "low": t.low}
    levels = list(thresholds)
    rc = cfg.report
    runs_uri = cfg.table_uri("runs")
    runs = read_table(spark, runs_uri) if table_exists(runs_uri, spark) else None
    from bold_spark.linkage.model import load_model
    from bold_spark.linkage.sql import needed_columns

    loaded = {g.name: load_model(g.model) for g in cfg.link_groups}
    read = [c for m in loaded.values() for c in needed_columns(m.splink_settings())]
    fields = compared_fields(read, tables["records"].columns)
    agg = collect_aggregates(tables, runs, pset.run_id, thresholds, rc.level, fields)
    agg.accuracy = measured_accuracy(spark, cfg, tables["records"], tables["clusters"], key,
                                     levels, rc.level)
    models = _models(cfg, agg.run, loaded)
    bias, overall = bias_table(agg.groups, rc.bias_gap_pp, rc.min_count,
                               agg.accuracy.get("groups"))
    data = ReportData(
        run_id=pset.run_id, run_name=pset.run_name, published_seq=pset.seq,
        published_at=pset.published_at, generated_at=dt.datetime.now(dt.UTC),
        thresholds=thresholds, level=rc.level, gap_pp=rc.bias_gap_pp, min_count=rc.min_count,
        agg=agg, models=models, bias=bias,
        flags=bias_flags(bias, overall, rc.bias_gap_pp, rc.level),
        previous_run=previous_run(spark, cfg.output_root, pset),
    )
    data.charts = draw_charts(data, overall)
    return data


def draw_charts(data: ReportData, overall: dict[str, float]) -> dict[str, tuple[str, bytes]]:
    """Every figure of the report: name -> (title, PNG bytes)."""
    agg = data.agg
    specs = []
    if len(agg.completeness):
        c = agg.completeness.copy()
        c["share"] = c["present"] / c["records"].where(c["records"] >= charts.DISCLOSURE_LIMIT)
        grid = c.pivot(index="field", columns="source", values="share")
        grid = grid.reindex([f for f in dict.fromkeys(c["field"])])
        specs.append(("completeness", "Completeness of linkage fields by source",
                      lambda: charts.completeness_chart(grid)))
    for m in data.models:
        specs.append((f"model_{m.group}", f"Model of link group {m.group}: m, u and match weights",
                      lambda m=m: charts.model_chart(m.group, m.params, weight_of(m.prior))))
    tw = {lv: weight_of(p) for lv, p in data.thresholds.items()}
    specs.append(("match_weights", "Distribution of match weights with the thresholds",
                  lambda: charts.weight_histogram_chart(agg.histogram, tw, WEIGHT_BIN)))
    specs.append(("cluster_sizes", "Cluster sizes at each threshold",
                  lambda: charts.cluster_size_chart(agg.sizes, list(data.thresholds))))
    if len(agg.links):
        lk = agg.links.copy()
        lk["share"] = lk["linked"] / lk["records_a"].where(lk["records_a"] >= charts.DISCLOSURE_LIMIT)
        matrix = lk.pivot(index="source_a", columns="source_b", values="share")
        specs.append(("source_links", "Link rates between sources",
                      lambda: charts.link_matrix_chart(matrix)))
    specs.append(("bias", "Link rates by group (bias)",
                  lambda: charts.bias_chart(data.bias, overall, data.gap_pp)))
    events = {lv: {k: v for k, v in _id_events(agg.run, lv).items()} for lv in data.thresholds}
    if any(events.values()):
        specs.append(("id_events", "Person-ID events of this run",
                      lambda: charts.id_events_chart(events)))
    return charts.render_all(specs)


def _id_events(run: dict[str, Any], level: str) -> dict[str, float]:
    metrics = run.get("metrics") or {}
    out = {}
    for k, v in metrics.items():
        if k.startswith("id_") and k.endswith("_" + level) and not k.startswith("id_churn"):
            out[k[3:-(len(level) + 1)]] = float(v)
    return out


def report_dir(cfg: PipelineConfig, run_id: str) -> str:
    """Where the report of ``run_id`` goes: ``<output_root>/reports/<run_id>``."""
    return cfg.output_root.rstrip("/") + "/reports/" + run_id


def _write_bytes(spark: SparkSession, path: str, data: bytes) -> None:
    from pathlib import Path

    from bold_spark.io.files import is_uri

    if not is_uri(path) or path.startswith("file://"):
        local = Path(path.removeprefix("file://"))
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data)
        return
    from bold_spark.io.fs import hadoop_fs

    fs, jpath = hadoop_fs(spark, path)
    stream = fs.create(jpath, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def run_report(spark: SparkSession, cfg: PipelineConfig, run_id: str | None = None,
               key: SecretKey | None = None) -> str:
    """Write the quality and bias report of the published run (or of ``run_id``'s set).

    Parameters:
        spark: the session.
        cfg: the pipeline config.
        run_id: a run that published a set; default the current published set.
        key: the pseudonymisation key; only used to measure accuracy when ``cfg.ground_truth``
            is set (without it the report says accuracy was not measured).

    Returns the path (or URI) of the HTML file; the figures are PNG files beside it.

    Raises:
        NotPublishedError: nothing (or nothing by ``run_id``) was published.
        InputError: the published set lacks records, edges or clusters.
    """
    return write_report(spark, cfg, build_report_data(spark, cfg, run_id, key))


def write_report(spark: SparkSession, cfg: PipelineConfig, data: ReportData) -> str:
    """Write ``data`` as ``report.html`` and one PNG per figure under
    ``<output_root>/reports/<run_id>/``.

    Parameters:
        spark: the session (for output roots on a Hadoop filesystem).
        cfg: the pipeline config (its output root).
        data: what :func:`build_report_data` collected.

    Returns the path (or URI) of the HTML file.
    """
    from bold_spark.report.render import render_report

    folder = report_dir(cfg, data.run_id)
    for name, (_, png) in data.charts.items():
        _write_bytes(spark, f"{folder}/{name}.png", png)
    path = f"{folder}/{REPORT_FILE}"
    _write_bytes(spark, path, render_report(data).encode("utf-8"))
    logger.info("report of run %s written to %s (%d figures; %d bias gap(s) flagged)",
                data.run_id, path, len(data.charts), len(data.flags))
    return path
