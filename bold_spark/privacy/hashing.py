"""Keyed hashing (HMAC-SHA256) of direct identifiers inside Spark.

HMAC-SHA256 in Spark built-ins (``sha2``, ``concat``, ``unhex``), two SHA-256 passes per value
in the JVM: ``sha256(opad || sha256(ipad || message))``, where ``ipad`` and ``opad`` are the key
padded to 64 bytes and XORed with 0x36 / 0x5c (RFC 2104). The key must never be a literal in a
query plan, which Spark prints to logs, the UI and event logs: the two pads are the columns of a
one-row DataFrame read through a scalar subquery, so the plan names only
``scalar-subquery#N [].ipad``; Spark fills in the value when it runs the query, as it does for a
closure's captured variables. (A pandas UDF did this until 2026-12-04: the same digests, about
1.5 s more per hashed column and million rows, in Python workers.)
"""

from __future__ import annotations

import hmac
import weakref
from hashlib import sha256
from typing import TYPE_CHECKING

from bold_spark.privacy.keys import SecretKey

#: SHA-256's block size in bytes: keys are padded (or first hashed) to it.
_BLOCK = 64
#: session -> a hash of the key -> the one-row DataFrame of that key's pads (:func:`_pads`)
_PADS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

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


def _pads(key: SecretKey) -> tuple[Column, Column]:
    """The key's inner and outer HMAC pads as two scalar-subquery columns over a one-row
    DataFrame of the active session: their bytes are data, never literals in a plan.

    One DataFrame per session and key, so every hash of a query reads the same subquery, which
    Spark runs once (a new one per call cost a Spark job per hashed column)."""
    from pyspark.sql import SparkSession

    spark = SparkSession.active()
    per_key = _PADS.setdefault(spark, {})
    ident = sha256(b"bold-hmac-pads:" + key.value).hexdigest()
    pads = per_key.get(ident)
    if pads is None:
        k = key.value
        if len(k) > _BLOCK:
            k = sha256(k).digest()
        k = k.ljust(_BLOCK, b"\0")
        pads = spark.createDataFrame(
            [(bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k))], "ipad binary, opad binary")
        per_key[ident] = pads
    return pads.select("ipad").scalar(), pads.select("opad").scalar()


def hmac_column(key: SecretKey, col: Column, domain: str) -> Column:
    """Keyed hash of a column: HMAC-SHA256 of ``domain + ':' + col`` (UTF-8), in Spark built-ins.

    Parameters:
        key: the pseudonymisation key (kept out of the query plan: see the module docstring).
        col: the values to hash (cast to string).
        domain: the identifier type (``pnc``, ``record``...). It separates identifier types,
            so equal strings in different fields never hash alike.

    Returns a string column of 64-character lowercase hex digests of the text's bytes (UTF-8;
    a string read with bytes that are not valid UTF-8 is hashed as those bytes); null stays
    null. Needs an active SparkSession (the pads are a DataFrame of it).
    """
    from pyspark.sql import functions as F

    ipad, opad = _pads(key)
    # a string's own bytes (UTF-8): encode() would replace invalid bytes by U+FFFD, so two ids
    # differing only there would share a hash
    message = F.concat(F.lit(f"{domain}:"), col.cast("string")).cast("binary")
    inner = F.unhex(F.sha2(F.concat(ipad, message), 256))
    return F.sha2(F.concat(opad, inner), 256)
