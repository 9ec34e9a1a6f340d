"""Bloom-filter encodings: keyed and deterministic, Dice behaves, hardening does what it claims,
pre-encoded filters parse, and PPRL records hold no clear values."""

import csv
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from bold_spark.privacy.bloom import (
    BloomSpec,
    bigrams,
    bloom_column,
    dice,
    dice_sql,
    encode_value,
    parse_encoded,
    positions_to_base64,
)
from bold_spark.privacy.keys import SecretKey

SPEC = BloomSpec()  # 1024 bits folded to 512, 20 hash functions, random hashing
OTHER_KEY = SecretKey(b"another-key-of-sufficient-length")
DATA = Path(__file__).resolve().parents[2] / "bold_spark" / "data"


def _encode_in_spark(spark, key, values, field="surname", spec=SPEC):
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    rows = df.select("i", bloom_column(key, F.col("v"), field, spec).alias("bf")).orderBy("i").collect()
    return [r["bf"] for r in rows]


def test_spark_encoding_is_the_reference_and_keyed(spark, secret_key):
    names = ["JONATHAN", "JONATHON", "SMITH", "JONATHAN", None, ""]
    got = _encode_in_spark(spark, secret_key, names)
    assert got[0] == encode_value(secret_key, "surname", "JONATHAN")
    assert got[0] == got[3]  # same key and value, same encoding
    assert got[4] is None and got[5] is None
    assert got[0] == sorted(set(got[0])) and all(0 <= p < SPEC.length for p in got[0])
    other = _encode_in_spark(spark, OTHER_KEY, ["JONATHAN"])[0]
    assert other != got[0] and dice(other, got[0]) < 0.5  # another key: unrelated bits
    first = encode_value(secret_key, "first_name", "JONATHAN")
    assert dice(first, got[0]) < 0.5  # another field: unrelated bits (field-specific keys)


def test_dice_in_spark_sql(spark, secret_key):
    pairs = [("JONATHAN", "JONATHAN"), ("JONATHAN", "JONATHON"), ("KATHERINE", "CATHERINE"),
             ("STEVENS", "MITCHELL"), ("ADAM", "LINDA")]
    rows = [(a, b) for a, b in pairs]
    df = spark.createDataFrame(rows, "a string, b string").select(
        "a", "b", bloom_column(secret_key, F.col("a"), "first_name", SPEC).alias("x_l"),
        bloom_column(secret_key, F.col("b"), "first_name", SPEC).alias("x_r"))
    sims = {(r["a"], r["b"]): r["d"] for r in df.selectExpr("a", "b", f"{dice_sql('x_l', 'x_r')} as d").collect()}
    assert sims[("JONATHAN", "JONATHAN")] == 1.0
    assert sims[("JONATHAN", "JONATHON")] >= 0.75
    assert sims[("KATHERINE", "CATHERINE")] >= 0.7
    assert sims[("STEVENS", "MITCHELL")] <= 0.4
    assert sims[("ADAM", "LINDA")] <= 0.4
    null = spark.sql(f"select {dice_sql('a', 'b')} as d from (select array(1) as a, cast(null as array<int>) as b)")
    assert null.first()["d"] is None


def _names(file: str, n: int) -> list[str]:
    with open(DATA / file) as f:
        rows = list(csv.DictReader(f))
    return [r[next(iter(r))] for r in rows[:n]]


def _footprint_survivors(key, names, gram, spec):
    """Bits set in every filter of a name holding ``gram``: the bigram's 'footprint' that
    frequency and pattern-mining attacks look for."""
    holding = [set(encode_value(key, "first_name", v, spec)) for v in names if gram in bigrams(v)]
    return len(set.intersection(*holding))


def test_xor_folding_hides_bigram_footprints(secret_key):
    names = _names("forenames.csv", 400)
    frequent = [g for g, _ in Counter(g for v in names for g in bigrams(v)).most_common(10)]
    plain = [_footprint_survivors(secret_key, names, g, BloomSpec(fold=False)) for g in frequent]
    folded = [_footprint_survivors(secret_key, names, g, BloomSpec(fold=True)) for g in frequent]
    # Unfolded: each frequent bigram's k bits are set in every filter that holds it (the
    # lever of Kuzu et al. 2011 and Christen et al. 2018). Folded: most of them cancel
    # somewhere, so the footprint an attacker can align on shrinks to a few bits.
    assert min(plain) >= SPEC.hashes - 2
    assert sum(folded) / len(folded) <= SPEC.hashes / 5, folded


def test_random_hashing_has_no_arithmetic_structure(secret_key):
    """Double hashing sets bits h1 + i*h2 (mod l): consecutive differences are constant, which
    Niedermeyer et al. (2014) exploit. Random hashing's draws have no such structure."""
    from bold_spark.privacy.bloom import _double_positions, _random_positions, field_key

    fkey = field_key(secret_key.value, "first_name")
    spec = BloomSpec(fold=False)
    double = _double_positions(fkey, b"AN", spec)
    rand = _random_positions(fkey, b"AN", spec)
    def diffs(ps):
        return {(b - a) % spec.bits for a, b in pairwise(ps)}

    assert len(diffs(double)) == 1
    assert len(diffs(rand)) > spec.hashes // 2


def test_folding_costs_little_similarity(secret_key):
    pairs = [("JONATHAN", "JONATHON"), ("MITCHELL", "MICHELL"), ("STEVENS", "SSTEVENS")]
    for a, b in pairs:
        plain = dice(encode_value(secret_key, "surname", a, BloomSpec(fold=False)),
                     encode_value(secret_key, "surname", b, BloomSpec(fold=False)))
        folded = dice(encode_value(secret_key, "surname", a), encode_value(secret_key, "surname", b))
        assert folded >= 0.75 and abs(plain - folded) < 0.08


def test_parse_pre_encoded_base64(spark, secret_key):
    positions = encode_value(secret_key, "surname", "SMITH")
    b64 = positions_to_base64(positions, SPEC.length)
    df = spark.createDataFrame([(b64,), (None,), ("  ",)], "v string")
    got = [r[0] for r in df.select(parse_encoded(F.col("v"), SPEC.length)).collect()]
    assert got == [positions, None, None]


def test_bad_pre_encoded_value_stops_without_showing_it(spark):
    short = positions_to_base64([1, 2, 3], 256)
    df = spark.createDataFrame([(short,)], "v string")
    with pytest.raises(Exception) as e:
        df.select(parse_encoded(F.col("v"), SPEC.length, "pre-encoded surname")).collect()
    assert "pre-encoded surname" in str(e.value) and short not in str(e.value)


def test_bit_frequencies_of_folded_filters_are_flatter(secret_key):
    """Across a population, some bits of unfolded filters are set far more often than others
    (frequent bigrams); folding evens them out, which blunts bit-frequency attacks."""
    names = _names("surnames.csv", 400)

    def spread(spec):
        counts = Counter(p for v in names for p in encode_value(secret_key, "surname", v, spec))
        freq = [counts.get(i, 0) / len(names) for i in range(spec.length)]
        mean = sum(freq) / len(freq)
        return (sum((f - mean) ** 2 for f in freq) / len(freq)) ** 0.5 / mean

    assert spread(BloomSpec(fold=True)) < 0.8 * spread(BloomSpec(fold=False))


def test_spec_validation():
    from bold_spark.exceptions import BoldError

    for bad in ({"bits": 1000}, {"hashes": 0}, {"scheme": "md5"}):
        with pytest.raises(BoldError):
            BloomSpec(**bad)


def test_minhash_blocking_key(spark, secret_key):
    from bold_spark.privacy.bloom import minhash_key

    names = _names("surnames.csv", 200)
    values = ["SMITH", "SMITH", None, *names]
    df = spark.createDataFrame([(i, v) for i, v in enumerate(values)], "i int, v string")
    keys = [r["k"] for r in df.select(
        "i", minhash_key(bloom_column(secret_key, F.col("v"), "surname", SPEC)).alias("k")).orderBy("i").collect()]
    assert keys[0] == keys[1] and keys[2] is None
    distinct = keys[3:]
    collisions = sum(a == b for i, a in enumerate(distinct) for b in distinct[i + 1:])
    pairs = len(distinct) * (len(distinct) - 1) / 2
    assert collisions / pairs < 0.05  # unrelated surnames rarely share a block (about Jaccard^2)
