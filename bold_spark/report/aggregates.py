"""The report's numbers: small aggregate frames computed from the published tables.

Every function here takes the published DataFrames (``records``, ``edges``, ``clusters``,
``quarantine``) and returns a small aggregate DataFrame (a few rows per source, threshold,
group or histogram bin) built with Spark built-ins only; :func:`collect_aggregates` runs them
and collects those aggregates (never a table) into pandas for the charts and the page. Nothing
here re-runs a stage of the pipeline, and no aggregate carries a record value: only counts,
sums of probabilities, source names, canonical field names and group labels (sex code, age
band, NFA yes/no).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as F

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame

logger = logging.getLogger(__name__)

#: Canonical fields the link models compare (or block on), whose completeness is reported; a
#: PPRL run's records hold the encoded forms instead (``bold_spark.privacy.pprl``).
LINKAGE_FIELDS = (
    "first_name", "middle_names", "surname", "first_initial", "surname_initial", "dob", "sex",
    "postcode", "postcode_sector", "pnc_hash", "ni_number_hash", "crn_hash", "prison_number_hash",
    "first_name_bf", "middle_names_bf", "surname_bf", "dob_bf", "postcode_bf",
    "first_initial_hash", "surname_initial_hash", "dob_hash", "postcode_hash",
    "postcode_sector_hash",
)
#: Columns the models read that are derived from a field (parts, codes, blocking keys) rather
#: than the field itself: left out of completeness, which their field stands for.
DERIVED_COLUMNS = frozenset({
    "record_key", "source", "surname_tokens", "dob_is_placeholder", "dob_day", "dob_month",
    "dob_year", "dob_string", "postcode_district", "postcode_area", "dob_swap_hash",
    "dob_ym_hash", "dob_md_hash", "dob_yd_hash",
})
DERIVED_SUFFIXES = ("_soundex", "_mh")


def compared_fields(model_columns: list[str], record_columns: list[str]) -> list[str]:
    """The fields whose completeness the report shows: those the link models read
    (``model_columns``, e.g. ``linkage.sql.needed_columns`` of each model) that the records hold,
    less derived columns; :data:`LINKAGE_FIELDS` order first, then the others (a dataset's extra
    columns, such as FEBRL's address) in the models' order."""
    read = [c for c in dict.fromkeys(model_columns) if c in record_columns
            and c not in DERIVED_COLUMNS and not c.endswith(DERIVED_SUFFIXES)]
    return [f for f in LINKAGE_FIELDS if f in read] + [c for c in read if c not in LINKAGE_FIELDS]


#: Age bands (lower bound, label) at the extract's snapshot date.
AGE_BANDS = ((0, "under 18"), (18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-54"),
             (55, "55-64"), (65, "65 and over"))
#: The breakdowns of the bias section, in the order shown.
DIMENSIONS = ("sex", "age band", "NFA status", "source")
#: Match-weight histogram: bins of this width, values clipped into [low, high].
WEIGHT_BIN = 1.0
WEIGHT_RANGE = (-25.0, 35.0)


def _level_col(level: str) -> str:
    return f"person_id_{level}"


# ------------------------------------------------------------------ inputs


def completeness(records: DataFrame, fields: list[str] | None = None) -> DataFrame:
    """(source, field, records, present): non-null values of each of ``fields`` (default: the
    :data:`LINKAGE_FIELDS` the records hold) per source, one aggregation over ``records``."""
    fields = [f for f in (fields or LINKAGE_FIELDS) if f in records.columns]
    agg = records.groupBy("source").agg(
        F.count(F.lit(1)).alias("records"),
        *[F.count(F.col(f)).alias(f) for f in fields],
    )
    stacked = F.explode(F.array(*[
        F.struct(F.lit(f).alias("field"), F.col(f).alias("present")) for f in fields]))
    return agg.select("source", "records", stacked.alias("s")).select(
        "source", "s.field", "records", "s.present")


def quarantine_reasons(quarantine: DataFrame) -> DataFrame:
    """(source, reason, rows): quarantined rows per source and reason code (a row with two
    reasons counts under each). Codes only: the ``reason`` text may quote counts and columns."""
    if "reason_codes" in quarantine.columns:
        code = F.explode_outer("reason_codes")
    else:
        code = F.split(F.col("reason"), ":").getItem(0)
    return quarantine.select("source", code.alias("reason")).groupBy("source", "reason").agg(
        F.count(F.lit(1)).alias("rows"))


# ------------------------------------------------------------------ results


def weight_histogram(edges: DataFrame, width: float = WEIGHT_BIN,
                     bounds: tuple[float, float] = WEIGHT_RANGE) -> DataFrame:
    """(link_group, bin_start, edges): scored pairs per match-weight bin of ``width``, weights
    outside ``bounds`` counted in the first or last bin."""
    lo, hi = bounds
    w = F.least(F.greatest(F.col("match_weight"), F.lit(lo)), F.lit(hi - width))
    start = F.floor(w / width) * width
    return edges.groupBy("link_group", start.alias("bin_start")).agg(
        F.count(F.lit(1)).alias("edges"))


def edge_summary(edges: DataFrame, thresholds: dict[str, float]) -> DataFrame:
    """Per link group: scored pairs and, at each threshold t, accepted pairs (p >= t), the
    expected false links among them (sum of 1 - p) and the expected true links among the
    scored pairs left below t (sum of p); in one aggregation. Columns ``edges``,
    ``accepted_<lv>``, ``exp_false_<lv>``, ``exp_missed_<lv>``, ``exp_true_<lv>``."""
    p = F.col("match_probability")
    cols = [F.count(F.lit(1)).alias("edges")]
    for lv, t in thresholds.items():
        accepted = p >= F.lit(t)
        cols += [
            F.sum(F.when(accepted, 1).otherwise(0)).alias(f"accepted_{lv}"),
            F.sum(F.when(accepted, 1 - p).otherwise(0.0)).alias(f"exp_false_{lv}"),
            F.sum(F.when(accepted, p).otherwise(0.0)).alias(f"exp_true_{lv}"),
            F.sum(F.when(~accepted, p).otherwise(0.0)).alias(f"exp_missed_{lv}"),
        ]
    return edges.groupBy("link_group").agg(*cols)


def rule_counts(edges: DataFrame) -> DataFrame:
    """(link_group, match_key, blocking_rule, comparisons): scored pairs per blocking rule
    (each pair is counted under the first rule that found it, as Splink does)."""
    return edges.groupBy("link_group", "match_key", "blocking_rule").agg(
        F.count(F.lit(1)).alias("comparisons"))


def cluster_sizes(clusters: DataFrame, levels: list[str]) -> DataFrame:
    """(level, cluster_size, clusters): how many clusters have each size, per threshold."""
    stacked = F.explode(F.array(*[
        F.struct(F.lit(lv).alias("level"), F.col(f"cluster_size_{lv}").alias("size"))
        for lv in levels]))
    per = clusters.select(stacked.alias("s")).groupBy("s.level", "s.size").agg(
        F.count(F.lit(1)).alias("records"))
    return per.select("level", F.col("size").alias("cluster_size"),
                      (F.col("records") / F.col("size")).cast("long").alias("clusters"))


def largest_clusters(clusters: DataFrame, levels: list[str], top: int = 5) -> DataFrame:
    """(level, rank, size, sources): the ``top`` largest clusters per threshold with their
    records per source (``sources``: an array of (source, records)); no IDs."""
    stacked = F.explode(F.array(*[
        F.struct(F.lit(lv).alias("level"), F.col(_level_col(lv)).alias("cluster")) for lv in levels]))
    per_source = clusters.select("source", stacked.alias("s")).groupBy(
        "s.level", "s.cluster", "source").agg(F.count(F.lit(1)).alias("n"))
    per_cluster = per_source.groupBy("level", "cluster").agg(
        F.sum("n").alias("size"),
        F.sort_array(F.collect_list(F.struct(F.col("n"), F.col("source"))), asc=False).alias("sources"),
    )
    from pyspark.sql import Window

    rank = F.row_number().over(Window.partitionBy("level").orderBy(F.desc("size"), F.asc("cluster")))
    return per_cluster.select("level", "size", "sources", rank.alias("rank")).where(
        F.col("rank") <= top).select("level", "rank", "size", "sources")


def source_link_matrix(clusters: DataFrame, level: str) -> DataFrame:
    """(source_a, source_b, records_a, linked): of source A's records, how many share their
    cluster at ``level`` with at least one record of source B (for A = B: with another record
    of A). ``records_a`` is A's record count."""
    col = _level_col(level)
    per = clusters.groupBy(col, "source").agg(F.count(F.lit(1)).alias("n"))
    a, b = per.alias("a"), per.alias("b")
    pairs = a.join(b, F.col(f"a.{col}") == F.col(f"b.{col}")).where(
        (F.col("a.source") != F.col("b.source")) | (F.col("a.n") >= 2))
    linked = pairs.groupBy(F.col("a.source").alias("source_a"), F.col("b.source").alias("source_b")) \
        .agg(F.sum("a.n").alias("linked"))
    totals = clusters.groupBy(F.col("source").alias("source_a")).agg(
        F.count(F.lit(1)).alias("records_a"))
    sources = totals.select(F.col("source_a").alias("source_b"))
    return totals.crossJoin(sources).join(linked, ["source_a", "source_b"], "left").select(
        "source_a", "source_b", "records_a", F.coalesce("linked", F.lit(0)).alias("linked"))


def age_at_snapshot(records: DataFrame) -> Column:
    """Whole years between the date of birth and the extract's snapshot date; from the year of
    birth alone (``dob_year``: the snapshot's year less it, so up to a year over) where the
    records hold no clear date of birth (a PPRL run)."""
    if "dob" in records.columns:
        return F.floor(F.months_between(F.col("snapshot_date"), F.col("dob")) / 12)
    return F.year("snapshot_date") - F.col("dob_year")


def group_columns(records: DataFrame) -> DataFrame:
    """(record_key, source, sex, age_band, nfa_status): each record's bias groups; the age band
    is taken at the extract's snapshot date, from the date of birth (never kept):
    :func:`age_at_snapshot`."""
    age = age_at_snapshot(records)
    band = F.lit(None).cast("string")
    for lo, label in AGE_BANDS:  # the last (highest) bound is tested first
        band = F.when(age >= lo, F.lit(label)).otherwise(band)
    band = F.when(age.isNull() | (age < 0), F.lit("unknown")).otherwise(band)
    return records.select(
        "record_key", "source",
        F.coalesce(F.col("sex"), F.lit("unknown")).alias("sex"),
        band.alias("age_band"),
        F.when(F.col("nfa"), F.lit("NFA")).otherwise(F.lit("has an address")).alias("nfa_status"),
    )


def group_rates(records: DataFrame, clusters: DataFrame, level: str) -> DataFrame:
    """(dimension, group, records, in_cluster, linked_other_source) per bias group, and one row
    (dimension ``overall``): records in a cluster with another record at ``level``
    (cluster-membership) and records whose cluster holds a record of another source (link)."""
    col = _level_col(level)
    per_cluster = clusters.groupBy(col).agg(
        F.count(F.lit(1)).alias("_size"), F.countDistinct("source").alias("_sources"))
    flags = clusters.select("record_key", col).join(per_cluster, col).select(
        "record_key",
        (F.col("_size") >= 2).cast("int").alias("in_cluster"),
        (F.col("_sources") >= 2).cast("int").alias("linked"),
    )
    groups = group_columns(records).join(flags, "record_key")
    return groups.select(_stacked_groups().alias("g"), "in_cluster", "linked").groupBy(
        "g.dimension", "g.group").agg(
        F.count(F.lit(1)).alias("records"),
        F.sum("in_cluster").alias("in_cluster"),
        F.sum("linked").alias("linked_other_source"),
    )


def _stacked_groups():
    """One row per (record, dimension): the overall row and each bias dimension's group."""
    return F.explode(F.array(
        F.struct(F.lit("overall").alias("dimension"), F.lit("all records").alias("group")),
        F.struct(F.lit("sex").alias("dimension"), F.col("sex").alias("group")),
        F.struct(F.lit("age band").alias("dimension"), F.col("age_band").alias("group")),
        F.struct(F.lit("NFA status").alias("dimension"), F.col("nfa_status").alias("group")),
        F.struct(F.lit("source").alias("dimension"), F.col("source").alias("group")),
    ))


def truth_group_recall(records: DataFrame, assignments: DataFrame, cluster_col: str,
                       truth_col: str) -> DataFrame:
    """(dimension, group, linkable, found) per bias group, measured against a ground truth:
    ``linkable`` records have at least one other record of the same true person; ``found`` of
    them share their cluster (``cluster_col``) with at least one such record. 1 - found /
    linkable is the group's missed-link rate: it isolates linkage error from how many sources
    a group appears in (which drives the link rates)."""
    from pyspark.sql import Window

    true_n = F.count(F.lit(1)).over(Window.partitionBy(truth_col))
    both_n = F.count(F.lit(1)).over(Window.partitionBy(truth_col, cluster_col))
    flags = assignments.select("record_key", (true_n >= 2).cast("int").alias("linkable"),
                               ((true_n >= 2) & (both_n >= 2)).cast("int").alias("found"))
    groups = group_columns(records).join(flags, "record_key")
    return groups.select(_stacked_groups().alias("g"), "linkable", "found").groupBy(
        "g.dimension", "g.group").agg(F.sum("linkable").alias("linkable"), F.sum("found").alias("found"))


# ------------------------------------------------------------------ the run


def run_row(runs: DataFrame, run_id: str) -> dict[str, Any]:
    """The end row of run ``run_id`` in the ``runs`` table, its JSON fields parsed (empty dict
    when the run has no end row)."""
    rows = runs.where((F.col("run_id") == run_id) & (F.col("status") != "running")) \
        .orderBy(F.desc("finished_at")).limit(1).collect()
    if not rows:
        return {}
    out = rows[0].asDict()
    for k in ("model_versions", "model_hashes", "inputs", "source_counts", "table_rows",
              "table_versions", "metrics", "stage_seconds", "inputs_read"):
        try:
            out[k] = json.loads(out.get(k) or "{}")
        except ValueError:
            out[k] = {}
    return out


@dataclass
class Aggregates:
    """Everything the report shows, collected: small pandas frames and dicts."""

    run: dict[str, Any]
    completeness: pd.DataFrame
    quarantine: pd.DataFrame
    histogram: pd.DataFrame
    edges: pd.DataFrame
    rules: pd.DataFrame
    sizes: pd.DataFrame
    largest: pd.DataFrame
    links: pd.DataFrame
    groups: pd.DataFrame
    accuracy: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def collect_aggregates(tables: dict[str, DataFrame], runs: DataFrame | None, run_id: str,
                       thresholds: dict[str, float], level: str,
                       fields: list[str] | None = None) -> Aggregates:
    """Compute and collect every aggregate of the report.

    Parameters:
        tables: the published set (``read_published``): records, edges, clusters, quarantine.
        runs: the ``runs`` table, or None when there is none.
        run_id: the run whose published set this is.
        thresholds: level name -> match-probability threshold.
        level: the threshold link rates and bias are measured at.
        fields: the fields whose completeness is shown (:func:`compared_fields`); default the
            :data:`LINKAGE_FIELDS` the records hold.

    Returns the collected aggregates (each a few rows).
    """
    records, edges, clusters = tables["records"], tables["edges"], tables["clusters"]
    levels = list(thresholds)
    # Records and clusters are read by several aggregates: keep the few columns they use once.
    birth = "dob" if "dob" in records.columns else "dob_year"  # a PPRL run: no clear DOB
    fields = [f for f in (fields or LINKAGE_FIELDS) if f in records.columns]
    rec = records.select("record_key", "source", "snapshot_date", birth, "sex", "nfa",
                         *[f for f in fields if f not in (birth, "sex")])
    rec = rec.persist()
    cl = clusters.select("record_key", "source", *[_level_col(lv) for lv in levels],
                         *[f"cluster_size_{lv}" for lv in levels]).persist()
    ed = edges.select("link_group", "match_key", "blocking_rule", "match_weight",
                      "match_probability").persist()
    try:
        quarantine = tables.get("quarantine")
        out = Aggregates(
            run=run_row(runs, run_id) if runs is not None else {},
            completeness=completeness(rec, fields).toPandas(),
            quarantine=(quarantine_reasons(quarantine).toPandas() if quarantine is not None
                        else _empty(["source", "reason", "rows"])),
            histogram=weight_histogram(ed).toPandas(),
            edges=edge_summary(ed, thresholds).toPandas(),
            rules=rule_counts(ed).toPandas(),
            sizes=cluster_sizes(cl, levels).toPandas(),
            largest=largest_clusters(cl, levels).toPandas(),
            links=source_link_matrix(cl, level).toPandas(),
            groups=group_rates(rec, cl, level).toPandas(),
        )
    finally:
        for df in (rec, cl, ed):
            df.unpersist()
    return out


def _empty(columns: list[str]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: [] for c in columns})
