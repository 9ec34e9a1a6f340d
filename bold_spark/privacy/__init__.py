"""Keyed pseudonymisation and privacy-preserving encodings: the primitives.

    from bold_spark.privacy import load_key, hmac_column
    key = load_key()                                   # $BOLD_HMAC_KEY or $BOLD_HMAC_KEY_FILE
    df = df.withColumn("pnc_hash", hmac_column(key, F.col("pnc"), "pnc"))

Keys, HMAC and Bloom-filter encodings sit below :mod:`bold_spark.standardise`, which hashes
with them. The zone tools built on standardised records are imported from their modules, so
that importing a primitive never loads them: :mod:`bold_spark.privacy.pprl` (PPRL record
encoding, ``encode_records``) and :mod:`bold_spark.privacy.pii_scan` (``identifying_values``,
``scan_outputs``). See docs/privacy.md.
"""

from bold_spark.privacy.bloom import (
    BloomConfigError,
    BloomSpec,
    bloom_column,
    dice,
    dice_column,
    encode_value,
    positions_to_base64,
)
from bold_spark.privacy.hashing import hmac_column, hmac_hex
from bold_spark.privacy.keys import SecretKey, generate_key_text, load_key, write_key_file

__all__ = [
    "BloomConfigError",
    "BloomSpec",
    "SecretKey",
    "bloom_column",
    "dice",
    "dice_column",
    "encode_value",
    "generate_key_text",
    "hmac_column",
    "hmac_hex",
    "load_key",
    "positions_to_base64",
    "write_key_file",
]
