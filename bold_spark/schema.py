"""Names and defaults that reading, validation and standardisation share, so none of them imports
another: the internal source-record-id column and the date formats of a dataset.

It sits below ``io``, ``standardise`` and ``ingest`` (see ``tests/test_layers.py``) and imports
nothing of bold_spark at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bold_spark.config.datasets import DatasetConfig

#: Column holding each validated row's source record id (trimmed), hashed into ``record_key``.
ID_COL = "_source_record_id"

#: The ``records`` column holding each record's raw-row fingerprint (``bold_spark.ingest.fingerprint``).
RAW_FINGERPRINT = "raw_fingerprint"

#: Date formats tried in order when a dataset config declares none for a field (Spark patterns).
DEFAULT_DATE_FORMATS = ["yyyy-MM-dd", "dd/MM/yyyy", "yyyyMMdd", "dd-MM-yyyy"]


def date_formats(ds: DatasetConfig, field: str) -> list[str]:
    """The date formats to parse one field of a dataset with.

    Parameters:
        ds: the dataset's config; its ``date_formats`` maps canonical fields to Spark patterns.
        field: a canonical date field (``dob``, ``event_date``).

    Returns the formats the config declares for ``field``, else :data:`DEFAULT_DATE_FORMATS`;
    the first one that parses a value wins.
    """
    return ds.date_formats.get(field) or DEFAULT_DATE_FORMATS
