"""Row validation: every input row is either accepted or quarantined with its reasons."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from bold_spark.config.datasets import DatasetConfig
from bold_spark.standardise.dates import DEFAULT_DATE_FORMATS, is_blank, parse_date

REASONS_COL = "_reasons"
RAW_COL = "_raw"
ID_COL = "_source_record_id"


def date_formats(ds: DatasetConfig, field: str) -> list[str]:
    return ds.date_formats.get(field) or DEFAULT_DATE_FORMATS


def with_validation(df: DataFrame, ds: DatasetConfig) -> DataFrame:
    """Add the raw row (JSON), the source record id and an array of rejection reasons."""
    out = df.withColumn(RAW_COL, F.to_json(F.struct(*[F.col(c) for c in df.columns])))
    out = out.withColumn(ID_COL, F.trim(F.col(ds.record_id)))
    dup_count = F.count(F.lit(1)).over(Window.partitionBy(ID_COL))
    checks: list[Column] = [
        F.when(is_blank(F.col(ID_COL)), F.lit(f"missing record id ({ds.record_id})")),
        F.when(
            ~is_blank(F.col(ID_COL)) & (dup_count > 1),
            F.concat(F.lit(f"duplicate record id ({ds.record_id}) on "),
                     dup_count.cast("string"), F.lit(" rows")),
        ),
    ]
    for canon in ds.mandatory:
        src = F.col(ds.columns[canon])
        checks.append(F.when(is_blank(src), F.lit(f"missing mandatory {canon} ({ds.columns[canon]})")))
    for canon in ("dob", "event_date"):
        if canon in ds.columns and canon in ds.mandatory:
            src = F.col(ds.columns[canon])
            fmts = date_formats(ds, canon)
            checks.append(
                F.when(
                    ~is_blank(src) & parse_date(src, fmts).isNull(),
                    F.lit(f"unparseable {canon} ({ds.columns[canon]}; formats {fmts})"),
                )
            )
    return out.withColumn(REASONS_COL, F.filter(F.array(*checks), lambda r: r.isNotNull()))


def accepted(validated: DataFrame) -> DataFrame:
    return validated.where(F.size(REASONS_COL) == 0)


def quarantined(validated: DataFrame, source: str, run_id: str) -> DataFrame:
    """Rows with reasons, in the quarantine table's schema."""
    return validated.where(F.size(REASONS_COL) > 0).select(
        F.lit(source).alias("source"),
        F.col(ID_COL).alias("source_record_id"),
        F.col(RAW_COL).alias("raw_row"),
        F.array_join(REASONS_COL, "; ").alias("reason"),
        F.lit(run_id).alias("run_id"),
    )
