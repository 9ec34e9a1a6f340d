"""Bloom-filter encodings of quasi-identifiers (names, optionally DOB and postcode) for
privacy-preserving record linkage (PPRL), computed inside Spark.

The encoding of one field value (Schnell, Bachteler & Reiher 2009, "Privacy-preserving record
linkage using Bloom filters", BMC Med Inform Decis Mak 9:41):

1. the cleaned value (``clean_name``: upper case A-Z and single spaces) is padded with ``_`` on
   both sides and split into its distinct character bigrams (``"ANN"`` -> ``_A AN NN N_``);
2. each bigram sets ``hashes`` (k) bits of a filter of ``bits`` (l) bits, chosen by keyed hash
   functions (HMAC-SHA256 under the pipeline's secret key);
3. the similarity of two values is the Dice coefficient of their filters,
   ``2 |A and B| / (|A| + |B|)``.

Hardening, following the cryptanalysis literature (see docs/privacy.md for the discussion):

* **Field-specific keys.** Each field hashes under its own key ``HMAC(K, "bold-bloom-field:" +
  field)``, so a bigram sets unrelated bits in the first-name and the surname filter and
  patterns cannot be pooled across fields.
* **Random hashing instead of double hashing** (Niedermeyer, Steinmetzer, Kroll & Schnell 2014,
  "Cryptanalysis of basic Bloom filters used for privacy preserving record linkage", J Priv
  Confid 6(2); Kroll & Steinmetzer 2015). Schnell 2009's double hashing
  ``g_i = (h1 + i*h2) mod l`` makes the k positions of a bigram an arithmetic progression; the
  attack of Niedermeyer et al. recovers bigrams from exactly that structure. Here the k
  positions are independent draws from an HMAC-SHA256 stream keyed per field and bigram
  (``HMAC(K_field, bigram || counter)``, 4 bytes per draw). ``scheme="double"`` keeps
  Schnell's original construction (keyed) for comparisons.
* **XOR-folding** (Schnell, Borgs & Encarnação 2016, "XOR-folding for Bloom filter-based
  encryptions for privacy-preserving record linkage", German Record Linkage Center WP-GRLC-2016-03;
  evaluated against pattern-mining attacks by Ranbaduge & Schnell 2020, "Securing Bloom filters
  for privacy-preserving record linkage", CIKM). The l-bit filter is folded in half,
  ``b'[i] = b[i] XOR b[i + l/2]``: a stored bit no longer says "some bigram hashed here", a
  bigram's bits are not all set in every filter holding it, and the one-to-one bit patterns
  that frequent-bigram and pattern-mining attacks (Kuzu et al. 2011; Christen, Ranbaduge,
  Vatsalan & Schnell 2018) align on are destroyed. The stored filter has ``bits // 2`` bits.

Balancing (a filter plus its complement, Schnell, Borgs & Encarnação 2016) also hides
Hamming weights but doubles the length and makes every filter half ones, which defeats the
sparse set-position storage below; it is not used (see docs/privacy.md).

Storage: an encoding is ``array<int>`` of its set bit positions, sorted and distinct, so the
Dice similarity of two encodings is the Spark built-in expression :func:`dice_sql`. Computing
the bit positions is one vectorised (Arrow) pandas UDF per record and field, never per pair;
the key lives only in the UDF's closure, never in the query plan (see privacy/hashing.py).

Pre-encoded sources deliver the final (folded) filter as base64 of its ``bits // 2`` bits,
bit ``i`` being bit ``7 - i % 8`` of byte ``i // 8`` (most significant bit first, the
convention of clkhash/anonlink). :func:`parse_encoded` turns that into positions with Spark
built-ins; :func:`encode_value` is the reference encoder a data owner runs (same key, same
parameters) and :func:`positions_to_base64` serialises its output.
"""

from __future__ import annotations

import base64
import hmac
import logging
from dataclasses import dataclass
from hashlib import sha256
from typing import TYPE_CHECKING

import pandas as pd

from bold_spark.exceptions import BoldError

if TYPE_CHECKING:
    from pyspark.sql import Column

    from bold_spark.config.pipeline import PrivacyConfig
    from bold_spark.privacy.keys import SecretKey

logger = logging.getLogger(__name__)

PAD = "_"
SCHEMES = ("random", "double")
_FIELD_KEY_PREFIX = b"bold-bloom-field:"
_DRAW_BYTES = 4


class BloomConfigError(BoldError):
    """Bloom-filter parameters that cannot work (odd length to fold, no hash functions...)."""


@dataclass(frozen=True)
class BloomSpec:
    """Bloom-filter parameters. ``bits`` is the filter length before folding."""

    bits: int = 1024
    hashes: int = 20
    scheme: str = "random"  # random | double
    fold: bool = True

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise BloomConfigError(f"bloom scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if self.hashes < 1 or self.bits < 64:
            raise BloomConfigError("a Bloom filter needs >= 1 hash function and >= 64 bits")
        if self.bits % 16:
            raise BloomConfigError(f"bloom_filter_bits must be a multiple of 16, got {self.bits}")

    @property
    def length(self) -> int:
        """Bits of the stored filter (after folding)."""
        return self.bits // 2 if self.fold else self.bits

    @classmethod
    def from_config(cls, cfg: PrivacyConfig) -> BloomSpec:
        """The spec a pipeline config's ``privacy`` section sets (bits and hash functions)."""
        return cls(bits=cfg.bloom_filter_bits, hashes=cfg.bloom_filter_hashes)


# ------------------------------------------------------------------ reference encoder (pure Python)


def bigrams(value: str) -> list[str]:
    """Distinct padded character bigrams, in order of first appearance."""
    s = f"{PAD}{value}{PAD}"
    return list(dict.fromkeys(s[i:i + 2] for i in range(len(s) - 1)))


def field_key(key_bytes: bytes, field: str) -> bytes:
    """The per-field key (HMAC of the field name under the secret key), so the same name
    encodes differently in different fields."""
    return hmac.new(key_bytes, _FIELD_KEY_PREFIX + field.encode("utf-8"), sha256).digest()


def _random_positions(fkey: bytes, gram: bytes, spec: BloomSpec) -> list[int]:
    out: list[int] = []
    counter = 0
    while len(out) < spec.hashes:
        digest = hmac.new(fkey, gram + b"\x00" + counter.to_bytes(2, "big"), sha256).digest()
        for i in range(0, len(digest), _DRAW_BYTES):
            if len(out) == spec.hashes:
                break
            out.append(int.from_bytes(digest[i:i + _DRAW_BYTES], "big") % spec.bits)
        counter += 1
    return out


def _double_positions(fkey: bytes, gram: bytes, spec: BloomSpec) -> list[int]:
    h1 = int.from_bytes(hmac.new(fkey, b"h1:" + gram, sha256).digest(), "big")
    h2 = int.from_bytes(hmac.new(fkey, b"h2:" + gram, sha256).digest(), "big")
    return [(h1 + i * h2) % spec.bits for i in range(spec.hashes)]


def _fold(positions: set[int], spec: BloomSpec) -> list[int]:
    if not spec.fold:
        return sorted(positions)
    half = spec.bits // 2
    folded: set[int] = set()
    for p in positions:
        folded ^= {p % half}  # XOR: a bit set in both halves cancels
    return sorted(folded)


def _encoder(key_bytes: bytes, field: str, spec: BloomSpec):
    """A function value -> sorted set positions, caching bigram positions (few distinct)."""
    fkey = field_key(key_bytes, field)
    draw = _random_positions if spec.scheme == "random" else _double_positions
    gram_cache: dict[str, list[int]] = {}

    def encode(value: str) -> list[int]:
        bits: set[int] = set()
        for g in bigrams(value):
            pos = gram_cache.get(g)
            if pos is None:
                pos = gram_cache[g] = draw(fkey, g.encode("utf-8"), spec)
            bits.update(pos)
        return _fold(bits, spec)

    return encode


def encode_value(key: SecretKey, field: str, value: str, spec: BloomSpec = BloomSpec()) -> list[int]:
    """Bloom-filter encoding of one value, in Python (the reference :func:`bloom_column` equals).

    Parameters:
        key: the pseudonymisation key.
        field: the field the value belongs to (``first_name``, ``surname``...): each field
            has its own derived key.
        value: the value, already cleaned the way the pipeline cleans that field.
        spec: filter length, hash functions, scheme and folding.

    Returns the sorted set bit positions (each below ``spec.length``).
    """
    return _encoder(key.value, field, spec)(value)


def dice(a: list[int], b: list[int]) -> float:
    """Dice similarity of two encodings given as set positions.

    Parameters:
        a: one encoding's set positions.
        b: the other's.

    Returns ``2 |a & b| / (|a| + |b|)``, between 0 and 1; 0 when both are empty.
    """
    sa, sb = set(a), set(b)
    return 2 * len(sa & sb) / (len(sa) + len(sb)) if sa or sb else 0.0


def positions_to_base64(positions: list[int], length: int) -> str:
    """Serialise set positions as the base64 bit string pre-encoded sources deliver.

    Parameters:
        positions: set bit positions, each below ``length``.
        length: the filter's length in bits (a multiple of 8).

    Returns the filter as base64 of ``length // 8`` bytes, most significant bit first.
    """
    buf = bytearray(length // 8)
    for p in positions:
        buf[p // 8] |= 0x80 >> (p % 8)
    return base64.b64encode(bytes(buf)).decode("ascii")


# ------------------------------------------------------------------ Spark columns


def bloom_column(key: SecretKey, col: Column, field: str, spec: BloomSpec) -> Column:
    """Bloom-filter encoding of a column, in a vectorised UDF (each batch encodes each distinct
    value once).

    Parameters:
        key: the pseudonymisation key.
        col: cleaned strings.
        field: the field being encoded (each field has its own derived key).
        spec: filter length, hash functions, scheme and folding.

    Returns an ``array<int>`` column of sorted set positions; null or empty -> null.
    """
    from pyspark.sql.functions import pandas_udf

    key_bytes = key.value

    @pandas_udf("array<int>")
    def _bloom(values: pd.Series) -> pd.Series:
        encode = _encoder(key_bytes, field, spec)
        cache: dict[str, list[int]] = {}

        def one(v):
            if not isinstance(v, str) or not v:
                return None
            out = cache.get(v)
            if out is None:
                out = cache[v] = encode(v)
            return out

        return values.map(one)

    return _bloom(col.cast("string"))


def dice_sql(left: str, right: str) -> str:
    """Spark SQL Dice similarity of two set-position arrays (null if either is null)."""
    return (f"2 * size(array_intersect({left}, {right})) / "
            f"nullif(size({left}) + size({right}), 0)")


def dice_column(left: Column, right: Column) -> Column:
    """Dice similarity of two set-position array columns.

    Parameters:
        left: one encoding column (``array<int>``).
        right: the other.

    Returns a double column between 0 and 1; null when either side is null or both are empty.
    """
    from pyspark.sql import functions as F

    both = F.size(left) + F.size(right)
    return F.when(left.isNotNull() & right.isNotNull() & (both > 0),
                  2 * F.size(F.array_intersect(left, right)) / both)


def minhash_column(bf: Column, seed: int) -> Column:
    """One MinHash of an encoding's set positions (``P[equal] = Jaccard``): a function of the
    encoding only, so it reveals nothing the encoding hides."""
    from pyspark.sql import functions as F

    return F.array_min(F.transform(bf, lambda p: F.xxhash64(p, F.lit(seed))))


def minhash_key(bf: Column, seeds: tuple[int, ...] = (7, 8)) -> Column:
    """A blocking key: ``len(seeds)`` MinHashes of the encoding hashed together, equal for two
    encodings with probability ``Jaccard ** len(seeds)``: 1 for identical names, about 0.5 for
    one typo (Jaccard ~0.7), about 0.02 for unrelated names (Jaccard ~0.15). Null for null."""
    from pyspark.sql import functions as F

    return F.when(F.size(bf) > 0, F.xxhash64(*[minhash_column(bf, s) for s in seeds]))


def parse_encoded(col: Column, length: int, what: str = "encoded field") -> Column:
    """Base64 bit string of ``length`` bits -> sorted set positions, with Spark built-ins.

    Null or blank stays null. A value that is not base64 of exactly ``length // 8`` bytes stops
    the job with an error naming ``what`` (never the value)."""
    from pyspark.sql import functions as F

    text = F.trim(col.cast("string"))
    raw = F.try_to_binary(text, F.lit("base64"))
    nbytes = length // 8
    bad = F.raise_error(F.lit(
        f"{what}: not a base64 Bloom filter of {length} bits ({nbytes} bytes)"))
    hexed = F.hex(raw)
    bit_string = F.array_join(
        F.transform(F.split(hexed, ""), lambda c: F.lpad(F.conv(c, 16, 2), 4, "0")), "")
    positions = F.filter(F.sequence(F.lit(0), F.lit(length - 1)),
                         lambda i: F.substring(bit_string, i + 1, 1) == F.lit("1"))
    blank = text.isNull() | (text == "")
    return (F.when(blank, F.lit(None).cast("array<int>"))
            .when(raw.isNull() | (F.length(raw) != nbytes), bad.cast("array<int>"))
            .otherwise(positions))
