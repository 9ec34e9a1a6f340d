"""Keyed hashing: equal to the HMAC reference, same key same digest, and the key never shows."""

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
