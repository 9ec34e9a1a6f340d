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
    """HMAC-SHA256 of one string, in Python (the reference :func:`hmac_column` must equal).

    Parameters:
        key: the pseudonymisation key.
        value: the text to hash (UTF-8), domain prefix included if one is wanted.

    Returns the digest as 64 lowercase hex characters.
    """
    return hmac.new(key.value, value.encode("utf-8"), sha256).hexdigest()


def hmac_column(key: SecretKey, col: Column, domain: str) -> Column:
    """Keyed hash of a column: HMAC-SHA256 of ``domain + ':' + col`` in a vectorised UDF.

    Parameters:
        key: the pseudonymisation key (kept out of the query plan: see the module docstring).
        col: the values to hash (cast to string).
        domain: the identifier type (``pnc``, ``record``...). It separates identifier types,
            so equal strings in different fields never hash alike.

    Returns a string column of 64-character hex digests; null stays null.
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
