"""The analyst-zone ``analysis`` table, and the worked pathway statistic of docs/analysis.md.

``analysis`` is one long table, one row per current record of every source: the hashed
``record_key``, ``source``, ``person_id_<level>`` at each threshold, and every analysis column
any dataset config declares (``analysis_columns``; null for sources that lack it), plus
``run_id``. It holds no name, date of birth, address, postcode or identifier: only what the
dataset configs declare as analysis columns, which the config loader refuses to take from a
column mapped as a name or identifier. Analysts join a source's attributes to another's on
``person_id_<level>`` without ever reading ``records``.

Why one long table rather than one per source: it is one Delta table in the published set (one
version, one PII-scan target, one read), a new source adds rows and perhaps columns rather than
a table, and an analysis across sources is a self-join filtered on ``source``, the same SQL for
every pair of sources. The cost, sparse columns, is small in Parquet (a null column is almost
free) and the column set stays the union of what the configs declare.

:func:`pathway_shares` computes the worked example: of people with a given probation
requirement, the share with a treatment start within each window after the sentence.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from pyspark.sql import DataFrame

    from bold_spark.config.datasets import DatasetConfig

#: Columns every ``analysis`` row starts with (``person_id_<level>`` per threshold follows).
KEY_COLUMNS = ("record_key", "source")
#: Counts below this are suppressed (shown as null) in published statistics.
MIN_COUNT = 10
#: The worked example's definition (docs/analysis.md).
DRR = "Drug rehabilitation requirement"
WINDOWS = {"3 weeks": 21, "6 months": 182}


def analysis_schema(datasets: Mapping[str, DatasetConfig]) -> dict[str, str]:
    """Analysis column name -> Spark type over all ``datasets``, in declaration order (the
    ingest stage refuses one name declared with two types)."""
    out: dict[str, str] = {}
    for ds in datasets.values():
        for name, a in ds.analysis_columns.items():
            out.setdefault(name, a.spark_type)
    return out


def analysis_table(records: DataFrame, clusters: DataFrame, columns: Mapping[str, str],
                   levels: Iterable[str], run_id: str) -> DataFrame:
    """The ``analysis`` table: one row per row of ``clusters`` (one per record).

    Parameters:
        records: the ``records`` table (``record_key`` and the analysis columns it has).
        clusters: the ``clusters`` table (``record_key``, ``source``, ``person_id_<level>``).
        columns: analysis column name -> Spark type (:func:`analysis_schema`); a column the
            records lack (written before it was declared) is null of that type.
        levels: the thresholds' names (``high``, ``medium``, ``low``).
        run_id: the run writing the table.

    Returns ``record_key``, ``source``, ``person_id_<level>`` per level, the analysis columns,
    ``run_id``. Nothing else from ``records`` is read.
    """
    present = set(records.columns)
    attrs = records.select(
        "record_key",
        *[(F.col(c) if c in present else F.lit(None)).cast(t).alias(c) for c, t in columns.items()],
    )
    ids = [f"person_id_{lv}" for lv in levels]
    return clusters.select(*KEY_COLUMNS, *ids).join(attrs, "record_key", "left").select(
        *KEY_COLUMNS, *ids, *columns, F.lit(run_id).alias("run_id"))


def pathway_people(analysis: DataFrame, person: str, requirement: str = DRR,
                   windows: Mapping[str, int] = WINDOWS) -> DataFrame:
    """One row per person (``person`` column: a ``person_id_<level>``, or a true person id)
    with a probation record carrying ``requirement``: the earliest such ``sentence_date`` and,
    per window, whether an NDTMS ``treatment_start`` of the same person falls 0..days days
    after it (``within_<days>``).

    ``analysis`` needs ``source``, ``requirement_type``, ``sentence_date`` and
    ``treatment_start``; the earliest sentence is the index event, as in the BOLD analyses.
    """
    sentences = (analysis.where((F.col("source") == "probation")
                                & (F.col("requirement_type") == requirement)
                                & F.col("sentence_date").isNotNull())
                 .groupBy(person).agg(F.min("sentence_date").alias("sentence_date")))
    starts = (analysis.where((F.col("source") == "ndtms") & F.col("treatment_start").isNotNull())
              .select(person, "treatment_start"))
    delay = F.datediff("treatment_start", "sentence_date")
    flags = [F.max(F.coalesce((delay >= 0) & (delay <= days), F.lit(False)).cast("int"))
             .alias(f"within_{days}") for days in windows.values()]
    return sentences.join(starts, person, "left").groupBy(person, "sentence_date").agg(*flags)


def pathway_sql(person: str, table: str = "analysis", requirement: str = DRR,
                windows: Mapping[str, int] = WINDOWS) -> str:
    """:func:`pathway_people` aggregated (people, ``started_<days>`` per window) as Spark SQL
    over a table or view ``table`` (e.g. from :func:`bold_spark.create_published_views`): the
    recipe docs/analysis.md shows. No suppression: apply it before publishing a figure."""
    quoted = requirement.replace("\\", "\\\\").replace("'", "\\'")  # a Spark SQL string literal
    flags = ",\n".join(
        f"           max(coalesce(datediff(s.treatment_start, d.sentence_date) between 0 and {days}, "
        f"false)::int) as within_{days}" for days in windows.values())
    sums = ", ".join(f"sum(within_{days}) as started_{days}" for days in windows.values())
    return f"""with cohort as (
    select {person} as person, min(sentence_date) as sentence_date
    from {table}
    where source = 'probation' and requirement_type = '{quoted}' and sentence_date is not null
    group by {person}),
starts as (
    select {person} as person, treatment_start from {table}
    where source = 'ndtms' and treatment_start is not null),
flags as (
    select d.person,
{flags}
    from cohort d left join starts s on s.person = d.person
    group by d.person)
select count(*) as people, {sums} from flags"""


def pathway_shares(analysis: DataFrame, persons: Mapping[str, str], requirement: str = DRR,
                   windows: Mapping[str, int] = WINDOWS, min_count: int = MIN_COUNT) -> DataFrame:
    """The pathway statistic under several person definitions, in one aggregation each.

    Parameters:
        analysis: the ``analysis`` table (optionally with extra person columns, e.g. the truth).
        persons: label -> person column, e.g. ``{"high": "person_id_high", "truth": "true_person"}``.
        requirement: the probation requirement defining the cohort.
        windows: label -> days after the sentence.
        min_count: counts below it are suppressed (null), and so is every share built on one.

    Returns one row per label: ``people`` (the cohort), and per window ``started_<days>`` and
    ``share_<days>`` (started / people), with small counts suppressed.
    """
    rows = None
    for i, (label, person) in enumerate(persons.items()):
        agg = pathway_people(analysis, person, requirement, windows).agg(
            F.count(F.lit(1)).alias("people"),
            *[F.coalesce(F.sum(f"within_{d}"), F.lit(0)).alias(f"started_{d}") for d in windows.values()],
        ).select(F.lit(i).alias("_order"), F.lit(label).alias("persons"), "*")
        rows = agg if rows is None else rows.unionByName(agg)
    out = suppress_small(rows, ["people", *[f"started_{d}" for d in windows.values()]],
                         min_count, {f"share_{d}": (f"started_{d}", "people") for d in windows.values()})
    return out.orderBy("_order").drop("_order")


def suppress_small(df: DataFrame, counts: list[str], min_count: int,
                   shares: Mapping[str, tuple[str, str]]) -> DataFrame:
    """Counts below ``min_count`` become null, and ``shares`` (name -> (numerator,
    denominator)) are computed only where both counts survive (statistical disclosure control)."""
    def kept(c: str):
        return F.when(F.col(c) >= min_count, F.col(c))

    return df.select(
        *[c for c in df.columns if c not in counts],
        *[kept(c).alias(c) for c in counts],
        *[(kept(n) / kept(d)).alias(name) for name, (n, d) in shares.items()],
    )
