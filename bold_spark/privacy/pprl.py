"""PPRL mode: turn the canonical ``records`` into a table with no clear-text names, dates of
birth or postcode units, holding only what the PPRL models (linkage/pprl_templates.py) read.

What replaces what (see docs/privacy.md for why each choice):

==========================================  =============================================
clear columns (plaintext mode)              PPRL mode
==========================================  =============================================
first_name, surname (+ fields in            ``<field>_bf``: Bloom filters (privacy/bloom.py),
``bloom_fields``: middle_names, dob,        compared by Dice similarity; ``first_name_mh``,
postcode)                                   ``surname_mh``: MinHash of the filters for blocking
first_initial, surname_initial              ``*_initial_hash`` (keyed hash)
soundex codes, surname_tokens,              dropped
middle_names (unless encoded)
dob, dob_string, dob_month, dob_day,        ``dob_hash``; ``dob_swap_hash`` (day and month
dob_is_placeholder                          swapped, under the same domain as dob_hash);
                                            ``dob_ym_hash``, ``dob_md_hash``, ``dob_yd_hash``
                                            (two of the three parts); ``dob_year`` kept clear
postcode (unit), postcode_sector            ``postcode_hash``, ``postcode_sector_hash``;
                                            district and area kept clear
extra_columns (dataset configs)             ``<name>_bf`` (extra identifiers stay ``_hash``)
==========================================  =============================================

Keyed hashes here are HMAC-SHA256 (privacy/hashing.py) truncated to 128 bits, each in its own
domain. A source that arrives already encoded carries ``<field>_bf_encoded`` columns (base64
bit strings, see bloom.parse_encoded); they are parsed and win over encoding a clear value.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.exceptions import ConfigError
from bold_spark.privacy.bloom import BloomSpec, bloom_column, minhash_key, parse_encoded
from bold_spark.privacy.hashing import hmac_column
from bold_spark.standardise.person import RECORD_COLUMNS

if TYPE_CHECKING:
    from bold_spark.config.pipeline import PrivacyConfig
    from bold_spark.privacy.keys import SecretKey

logger = logging.getLogger(__name__)

#: Field -> the records column its Bloom filter encodes.
BLOOM_SOURCES: dict[str, str] = {
    "first_name": "first_name",
    "surname": "surname",
    "middle_names": "middle_names",
    "dob": "dob_string",
    "postcode": "postcode",
}
DEFAULT_BLOOM_FIELDS = ("first_name", "surname")
#: Fields that also get a MinHash blocking key.
MINHASH_FIELDS = ("first_name", "surname")
MINHASH_SEEDS = (7, 8)
ENCODED_SUFFIX = "_bf_encoded"
HASH_HEX_CHARS = 32

#: Clear-text columns of the canonical records that PPRL mode removes.
CLEAR_COLUMNS = (
    "first_name", "middle_names", "surname", "first_initial", "surname_initial",
    "first_name_soundex", "surname_soundex", "surname_tokens",
    "dob", "dob_month", "dob_day", "dob_string", "dob_is_placeholder",
    "postcode", "postcode_sector",
)

#: Keyed-hash columns PPRL mode adds, in table order (after the Bloom filters).
HASH_COLUMNS = (
    "first_initial_hash", "surname_initial_hash",
    "dob_hash", "dob_swap_hash", "dob_ym_hash", "dob_md_hash", "dob_yd_hash",
    "postcode_hash", "postcode_sector_hash",
)


def bloom_fields(cfg: PrivacyConfig) -> tuple[str, ...]:
    """Fields encoded as Bloom filters: ``privacy.bloom_fields`` (validated by the config loader;
    first name and surname by default)."""
    fields = tuple(cfg.bloom_fields or DEFAULT_BLOOM_FIELDS)
    unknown = [f for f in fields if f not in BLOOM_SOURCES]
    if unknown:
        raise ConfigError("<pipeline config>", "privacy.bloom_fields",
                          f"cannot encode {unknown}; choose from {sorted(BLOOM_SOURCES)}")
    return fields


def keyed_hash(key: SecretKey, col: Column, domain: str) -> Column:
    """128-bit HMAC-SHA256 of ``col`` in ``domain`` (hex); null stays null."""
    return F.substring(hmac_column(key, col, f"pprl_{domain}"), 1, HASH_HEX_CHARS)


def _dob_hashes(key: SecretKey) -> list[Column]:
    dob = F.col("dob")
    year, month, day = (F.date_format(dob, p) for p in ("yyyy", "MM", "dd"))
    swappable = (F.dayofmonth(dob) <= 12) & (F.dayofmonth(dob) != F.month(dob))
    return [
        keyed_hash(key, F.col("dob_string"), "dob").alias("dob_hash"),
        # yyyy-dd-MM read as a date: equals the other record's dob_hash when it has day and
        # month swapped.
        keyed_hash(key, F.when(swappable, F.concat_ws("-", year, day, month)), "dob").alias("dob_swap_hash"),
        keyed_hash(key, F.concat_ws("-", year, month), "dob_ym").alias("dob_ym_hash"),
        keyed_hash(key, F.concat_ws("-", month, day), "dob_md").alias("dob_md_hash"),
        keyed_hash(key, F.concat_ws("-", year, day), "dob_yd").alias("dob_yd_hash"),
    ]


def extra_columns(records: DataFrame) -> list[str]:
    """Columns from dataset ``extra_columns`` (clear text): not canonical, not hashes."""
    return [c for c in records.columns if c not in RECORD_COLUMNS and not c.endswith("_hash")
            and not c.endswith(ENCODED_SUFFIX)]


def _bloom(records: DataFrame, key: SecretKey, field: str, source: str | None, spec: BloomSpec) -> Column:
    encoded = f"{field}{ENCODED_SUFFIX}"
    parts = []
    if encoded in records.columns:
        parts.append(parse_encoded(F.col(encoded), spec.length, f"pre-encoded {field}"))
    if source is not None:
        parts.append(bloom_column(key, F.col(source), field, spec))
    return (F.coalesce(*parts) if len(parts) > 1 else parts[0]).alias(f"{field}_bf")


def encode_records(
    records: DataFrame, key: SecretKey, cfg: PrivacyConfig, spec: BloomSpec | None = None
) -> DataFrame:
    """Canonical records -> PPRL records (see the module docstring). ``spec`` overrides the
    config's Bloom-filter parameters (for experiments)."""
    spec = spec or BloomSpec.from_config(cfg)
    fields = list(bloom_fields(cfg))
    pre_encoded = [c[: -len(ENCODED_SUFFIX)] for c in records.columns if c.endswith(ENCODED_SUFFIX)]
    for f in pre_encoded:
        if f not in BLOOM_SOURCES:
            raise ConfigError("<dataset config>", "encoded_fields",
                              f"'{f}' cannot arrive encoded; choose from {sorted(BLOOM_SOURCES)}")
        if f not in fields:
            fields.append(f)
    extras = extra_columns(records)
    kept = [c for c in records.columns
            if c not in CLEAR_COLUMNS and c not in extras and not c.endswith(ENCODED_SUFFIX)]
    blooms = [_bloom(records, key, f, BLOOM_SOURCES[f], spec) for f in fields]
    extra_blooms = [_bloom(records, key, x, x, spec) for x in extras]
    hashes = [
        keyed_hash(key, F.col("first_initial"), "first_initial").alias("first_initial_hash"),
        keyed_hash(key, F.col("surname_initial"), "surname_initial").alias("surname_initial_hash"),
        *_dob_hashes(key),
        keyed_hash(key, F.col("postcode"), "postcode").alias("postcode_hash"),
        keyed_hash(key, F.col("postcode_sector"), "postcode_sector").alias("postcode_sector_hash"),
    ]
    encoded = records.select("*", *blooms, *extra_blooms, *hashes)
    minhashes = [minhash_key(F.col(f"{f}_bf"), MINHASH_SEEDS).alias(f"{f}_mh")
                 for f in MINHASH_FIELDS if f in fields]
    head = [c for c in kept if c in ("record_key", "source", "snapshot_date")]
    tail = [c for c in kept if c not in head]
    logger.info("PPRL encoding: Bloom filters for %s (%d bits folded to %d, %d hash functions, "
                "%s hashing)%s", ", ".join(fields + extras), spec.bits, spec.length, spec.hashes,
                spec.scheme, f"; pre-encoded: {', '.join(pre_encoded)}" if pre_encoded else "")
    return encoded.select(
        *head, *[f"{f}_bf" for f in fields], *minhashes, *HASH_COLUMNS, *tail,
        *[f"{x}_bf" for x in extras],
    )


def remaining_clear_columns(records: DataFrame) -> list[str]:
    """Clear-text columns still present (empty for a proper PPRL records table)."""
    return [c for c in records.columns if c in CLEAR_COLUMNS or c.endswith(ENCODED_SUFFIX)]
