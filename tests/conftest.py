"""One session-scoped local SparkSession for the whole suite, with fast settings."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)

TEST_KEY = "test-only-key-" + "0" * 32  # a throwaway key for tests; never used for real data


@pytest.fixture(scope="session")
def spark_tmp():
    d = tempfile.mkdtemp(prefix="bold-tests-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def spark(spark_tmp):
    from bold_spark.session import SparkConfig, build_spark

    cfg = SparkConfig(
        master="local[2]",
        app_name="bold-spark-tests",
        checkpoint_dir=os.path.join(spark_tmp, "checkpoints"),
        conf={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": os.path.join(spark_tmp, "warehouse"),
            "spark.driver.memory": "6g",
            "spark.sql.adaptive.coalescePartitions.enabled": "true",
        },
    )
    session = build_spark(cfg)
    yield session
    session.stop()


@pytest.fixture()
def secret_key(monkeypatch):
    from bold_spark.privacy.keys import load_key

    monkeypatch.setenv("BOLD_HMAC_KEY", TEST_KEY)
    return load_key()


@pytest.fixture()
def tmp_uri(tmp_path):
    return str(tmp_path)


def _use_writer(spark, name):
    before = spark.conf.get("bold.delta_writer", "auto")
    spark.conf.set("bold.delta_writer", name)
    return before


@pytest.fixture(params=["native", "embedded"])
def writer(request, spark):
    """Run the test under each Delta writer: native (Delta Lake jars) and embedded (delta-rs)."""
    before = _use_writer(spark, request.param)
    yield request.param
    spark.conf.set("bold.delta_writer", before)


@pytest.fixture()
def embedded(spark):
    """Force the embedded delta-rs writer for one test (the offline fallback)."""
    before = _use_writer(spark, "embedded")
    yield "embedded"
    spark.conf.set("bold.delta_writer", before)
