"""Joins of a large frame against a small set of keys, without shuffling the large frame.

An incremental run keeps or drops the rows of whole tables (every extract row, every published
record) by a key set that is usually small (the changes) but need not be (after a code change
every row differs). :func:`by_keys` materialises the key set, counts it, and broadcasts it when
it is small: the large frame then streams through the join in place, where a sort-merge join
would shuffle every one of its rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyspark.sql import functions as F

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: Key sets up to this many rows are broadcast (a few tens of bytes per key: a few MB).
BROADCAST_KEYS_MAX_ROWS = 500_000


def by_keys(frame: DataFrame, keys: DataFrame, on: str | list[str], rows: int | None = None) -> DataFrame:
    """The rows of ``frame`` whose ``on`` values are in ``keys`` (a left semi join). ``keys`` is
    materialised (a local checkpoint) and counted, one Spark job; broadcast when it has at most
    :data:`BROADCAST_KEYS_MAX_ROWS` rows, shuffled otherwise. ``rows``: the caller has ``keys``
    materialised already and knows its row count (no job: the incremental cluster stage's
    region, joined three times)."""
    if rows is None:
        keys = keys.localCheckpoint(eager=True)
        rows = keys.count()
    if rows <= BROADCAST_KEYS_MAX_ROWS:
        keys = F.broadcast(keys)
    return frame.join(keys, on, "left_semi")
