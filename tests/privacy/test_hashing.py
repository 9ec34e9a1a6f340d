"""Keyed hashing: equal to the HMAC reference, same key same digest, and the key never shows."""

import contextlib
import hashlib
import io

import pytest
from pyspark.sql import functions as F

from bold_spark.exceptions import SecretKeyError
from bold_spark.privacy.hashing import hmac_column, hmac_hex
from bold_spark.privacy.keys import SecretKey, load_key


def test_spark_hmac_equals_reference(spark, secret_key):
    df = spark.createDataFrame([("AB123456",), (None,)], "v string")
    got = [r[0] for r in df.select(hmac_column(secret_key, F.col("v"), "ni_number")).collect()]
    assert got[0] == hmac_hex(secret_key, "ni_number:AB123456")
    assert got[1] is None
    other = SecretKey(b"another-key-of-sufficient-length")
    again = df.select(hmac_column(other, F.col("v"), "ni_number")).collect()[0][0]
    assert again != got[0]


def test_spark_hmac_equals_reference_for_long_keys_and_any_text(spark):
    # keys longer than SHA-256's 64-byte block are hashed first (RFC 2104); text is UTF-8
    values = ["", "O'Brien-Smyth", "Zoë Łukasz 李", "x" * 300]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    for key in (SecretKey(b"k" * 64), SecretKey(b"long-key-" * 20), SecretKey(bytes(range(40)))):
        got = [r[0] for r in df.select(hmac_column(key, F.col("v"), "pnc")).collect()]
        assert got == [hmac_hex(key, "pnc:" + v) for v in values]


def test_spark_hmac_hashes_the_bytes_of_a_string_that_is_not_valid_utf8(spark, secret_key):
    """A Parquet extract can hold string bytes that are not UTF-8: they are hashed as they are,
    not replaced (two ids differing only there must not share a record key)."""
    import hmac as py_hmac

    df = spark.createDataFrame([("41FF42",), ("41EFBFBD42",)], "h string") \
        .select(F.unhex("h").cast("string").alias("v"))  # 'A', 0xFF, 'B' and 'A\ufffdB'
    got = [r[0] for r in df.select(hmac_column(secret_key, F.col("v"), "record")).collect()]
    assert got[0] == py_hmac.new(secret_key.value, b"record:A\xffB", hashlib.sha256).hexdigest()
    assert got[1] == hmac_hex(secret_key, "record:A\ufffdB") != got[0]


def _pad_forms(key: SecretKey) -> list[str]:
    k = key.value if len(key.value) <= 64 else hashlib.sha256(key.value).digest()
    k = k.ljust(64, b"\0")
    forms = [key.value.decode(), key.value.hex()]
    for pad in (bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)):
        forms += [pad.hex(), pad.hex().upper(), str(list(pad[:12]))[1:-1], repr(pad)[2:30]]
    return forms


def test_key_and_its_pads_never_appear_in_a_query_plan(spark, secret_key):
    """The key is data of a scalar subquery, not a literal: no plan Spark prints, before or
    after running the query (the adaptive final plan), shows it or its pads in any encoding."""
    df = spark.createDataFrame([("AB123456",), ("CD654321",)], "v string") \
        .select(hmac_column(secret_key, F.col("v"), "ni_number").alias("h"))
    assert df.count() == 2 and len(df.collect()[0]["h"]) == 64
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        for mode in ("simple", "extended", "formatted", "codegen", "cost"):
            df.explain(mode)
    qe = df._jdf.queryExecution()
    text = buf.getvalue() + qe.toString() + qe.executedPlan().toString() + qe.stringWithStats()
    assert "scalar-subquery" in text  # the pads are where the key would otherwise be
    for form in _pad_forms(secret_key):
        assert form not in text


def test_missing_key_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("BOLD_HMAC_KEY", raising=False)
    monkeypatch.delenv("BOLD_HMAC_KEY_FILE", raising=False)
    with pytest.raises(SecretKeyError, match="BOLD_HMAC_KEY"):
        load_key()


def test_key_from_file_and_repr_hides_it(monkeypatch, tmp_path):
    secret = "file-key-" + "x" * 40
    (tmp_path / "k").write_text(secret + "\n")
    monkeypatch.delenv("BOLD_HMAC_KEY", raising=False)
    monkeypatch.setenv("BOLD_HMAC_KEY_FILE", str(tmp_path / "k"))
    key = load_key()
    assert key.value == secret.encode()
    assert secret not in repr(key) and secret not in str(key)


def test_short_key_refused(monkeypatch):
    monkeypatch.setenv("BOLD_HMAC_KEY", "short")
    with pytest.raises(SecretKeyError, match="shorter"):
        load_key()
