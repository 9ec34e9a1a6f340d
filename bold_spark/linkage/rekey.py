"""Published tables seen through a key rotation.

A new pseudonymisation key changes every record key, so person IDs, which are carried over by
the records two runs share (:mod:`bold_spark.linkage.identify`), would all be retired and minted
again. A rotation run (``bold run --rotate-key``) holds both keys while it ingests and makes a
*crosswalk*: each accepted record's key under the new key beside its key under the previous one
(:func:`bold_spark.ingest.ingest.ingest_sources`, ``previous_key``). The previous published
tables are then read with their record keys translated, so the overlap rule sees the same records
as the same. The crosswalk lives only in the run's memory: written anywhere, it would let the
old keys (perhaps leaked: the reason to rotate) be followed to the new ones.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

_OLD, _NEW = "_rekey_old", "_rekey_new"


def rekeyed(previous: DataFrame, crosswalk: DataFrame, column: str = "record_key") -> DataFrame:
    """``previous`` with ``column`` (a record key under the previous key) replaced by the same
    record's key under the new one, from ``crosswalk`` (``record_key``, ``previous_record_key``).
    A record the crosswalk lacks (withdrawn in this run, or quarantined now) keeps its old key,
    which no current record has: it counts as gone. Same rows, same columns in the same order."""
    cw = crosswalk.select(F.col("previous_record_key").alias(_OLD), F.col("record_key").alias(_NEW))
    return previous.join(cw, F.col(column) == F.col(_OLD), "left") \
        .withColumn(column, F.coalesce(F.col(_NEW), F.col(column))).drop(_OLD, _NEW)
