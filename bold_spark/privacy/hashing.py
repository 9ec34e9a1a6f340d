"""Keyed hashing (HMAC-SHA256) of direct identifiers inside Spark.

A vectorised (Arrow) pandas UDF, not SQL: built-in ``sha2`` could express HMAC, but the key
would then be a literal in the query plan, which Spark prints to logs, the UI and event logs.
Inside the UDF the key lives only in the serialised closure sent to executors.
"""

from __future__ import annotations

import hmac
from hashlib import sha256
from typing import TYPE_CHECKING

import pandas as pd

from bold_spark.privacy.keys import SecretKey

if TYPE_CHECKING:
    from pyspark.sql import Column


def hmac_hex(key: SecretKey, value: str) -> str:
    """HMAC-SHA256 of ``value`` as lowercase hex (the reference the Spark column must equal)."""
    return hmac.new(key.value, value.encode("utf-8"), sha256).hexdigest()


def hmac_column(key: SecretKey, col: Column, domain: str) -> Column:
    """HMAC-SHA256 hex digest of ``domain + ':' + col``; null stays null.

    The domain separates identifier types, so equal strings in different fields never collide.
    """
    from pyspark.sql.functions import pandas_udf

    key_bytes = key.value
    prefix = f"{domain}:".encode()

    @pandas_udf("string")
    def _hmac(values: pd.Series) -> pd.Series:
        new = hmac.new
        return values.map(
            lambda v: new(key_bytes, prefix + v.encode("utf-8"), sha256).hexdigest()
            if isinstance(v, str)
            else None
        )

    return _hmac(col.cast("string"))
