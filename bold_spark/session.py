"""Build a SparkSession from a conf/spark/*.yaml file. Never called at import."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bold_spark.config.strict import build, read_yaml

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

#: Settings every bold-spark session gets unless the Spark config overrides them.
BASE_CONF: dict[str, str] = {
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.log.structuredLogging.enabled": "false",
}


@dataclass(frozen=True)
class SparkConfig:
    master: str | None = None
    app_name: str = "bold-spark"
    conf: dict[str, str] = field(default_factory=dict)
    delta_writer: str = "auto"  # auto | native | embedded
    checkpoint_dir: str | None = None
    file: str = ""


def load_spark_config(path: str | Path) -> SparkConfig:
    data = read_yaml(path)
    return build(SparkConfig, {**data, "file": str(path)}, str(path))


DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def delta_artifact() -> str:
    """The Maven coordinate of the Delta Lake jar for the installed pyspark and delta-spark
    (what ``delta.configure_spark_with_delta_pip`` asks for)."""
    from importlib.metadata import version

    import pyspark

    spark_mm = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_mm}_2.13:{version('delta-spark')}"


def delta_jars_dir() -> Path:
    """Where ``scripts/fetch_delta_jars.py`` caches the Delta Lake jars: ``$BOLD_DELTA_JARS``
    or ``<sys.prefix>/share/bold-spark/delta-jars`` (inside the virtualenv)."""
    return Path(os.environ.get("BOLD_DELTA_JARS") or Path(sys.prefix) / "share/bold-spark/delta-jars")


def cached_delta_jars() -> list[str]:
    """The cached Delta Lake jar files, or [] when none were fetched (an offline install)."""
    d = delta_jars_dir()
    if not (d / "manifest.json").is_file():
        return []
    return sorted(str(j) for j in d.glob("*.jar"))


def _delta_conf(writer: str, jars: list[str]) -> tuple[list[str], dict[str, str]]:
    """Jars and settings that give the session native Delta: the cached jars unless Delta is
    already among the given jars (``--packages``/``--jars``); none for the embedded writer."""
    if writer == "embedded":
        return [], {}
    given = any("delta-spark" in Path(j).name for j in jars)
    extra = [] if given else cached_delta_jars()
    if not given and not extra:
        if writer == "auto":
            logger.warning("Delta Lake jars not found in %s (run `make install` where Maven "
                           "Central is reachable): tables are written with the embedded "
                           "delta-rs writer", delta_jars_dir())
        return [], {}
    return extra, {"spark.sql.extensions": DELTA_EXTENSION,
                   "spark.sql.catalog.spark_catalog": DELTA_CATALOG}


def splink_jar() -> str:
    """Path of the Spark similarity-function jar shipped inside the splink wheel."""
    from splink.backends.spark import similarity_jar_location

    return similarity_jar_location()


def build_spark(spark_cfg: SparkConfig, extra_conf: dict[str, str] | None = None) -> SparkSession:
    """Get or create the SparkSession described by ``spark_cfg``.

    Adds Splink's similarity jar to ``spark.jars`` and sets a checkpoint directory.
    Under spark-submit the master comes from the command line when the config sets none.
    """
    from pyspark.sql import SparkSession

    if _is_local(spark_cfg.master):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers must run the driver's interpreter (the venv with pyarrow/pandas).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {**BASE_CONF, **spark_cfg.conf, **(extra_conf or {})}
    jars = _jars_with_splink(_submitted_jars(), conf.get("spark.jars", ""))
    delta_jars, delta_settings = _delta_conf(spark_cfg.delta_writer, jars)
    conf["spark.jars"] = ",".join([*jars, *delta_jars])
    for k, v in delta_settings.items():
        conf.setdefault(k, v)
    if delta_settings and _is_local(spark_cfg.master):
        # Delta replays a table's log in 50 tasks by default (sized for clusters): on a local
        # session every read, write and version lookup of a small table then costs seconds
        # (8 write+read cycles of a 5k-row table: 51.9 s at 50, 15.0 s at 1, on 2 cores).
        cores = str(_local_cores(spark_cfg.master))
        conf.setdefault("spark.databricks.delta.snapshotPartitions", cores)
        # VACUUM lists and deletes files in this many tasks (default 10,000)
        conf.setdefault("spark.sql.sources.parallelPartitionDiscovery.parallelism", cores)
    builder = SparkSession.builder.appName(spark_cfg.app_name)
    if spark_cfg.master:
        builder = builder.master(spark_cfg.master)
    for k, v in conf.items():
        builder = builder.config(k, str(v))
    spark = builder.getOrCreate()
    spark.conf.set("bold.delta_writer", spark_cfg.delta_writer)
    checkpoint = spark_cfg.checkpoint_dir or temporary_dir("bold-checkpoint-")
    spark.sparkContext.setCheckpointDir(checkpoint)
    spark.sparkContext.setLogLevel(conf.get("bold.spark_log_level", "WARN"))
    _silence_value_quoting_loggers(spark)
    register_similarity_functions(spark)
    from bold_spark.io.delta import writer_for

    logger.info(
        "Spark %s session up: master=%s, Delta writer=%s (configured %s)",
        spark.version, spark.sparkContext.master, writer_for(spark), spark_cfg.delta_writer,
    )
    return spark


#: Spark loggers that print a failed task's exception text, which can quote a record's value
#: (``[CAST_INVALID_INPUT] The value 'QUENTIN' ...``). bold-spark logs the failure itself, by
#: stage and exception type, without values; ``BOLD_DEBUG=1`` keeps Spark's own lines.
VALUE_QUOTING_LOGGERS = (
    "org.apache.spark.util.Utils",
    "org.apache.spark.executor.Executor",
    "org.apache.spark.scheduler.TaskSetManager",
    "org.apache.spark.sql.execution.datasources.FileFormatWriter",
    # Delta's own writer logs "Aborting job" with the task's exception chain (found in the
    # cluster test's driver log: ``raise_error`` text quoting a postcode)
    "org.apache.spark.sql.delta.files.DeltaFileFormatWriter",
)


def _silence_value_quoting_loggers(spark: SparkSession) -> None:
    """Turn off the driver JVM's loggers in :data:`VALUE_QUOTING_LOGGERS` (in local mode the
    executors share that JVM; on a cluster the executors' log4j2 configuration must do the same:
    docs/cluster.md)."""
    if os.environ.get("BOLD_DEBUG") == "1":
        return
    jvm = spark.sparkContext._jvm
    try:
        configurator = jvm.org.apache.logging.log4j.core.config.Configurator
        off = jvm.org.apache.logging.log4j.Level.OFF
        for name in VALUE_QUOTING_LOGGERS:
            configurator.setLevel(name, off)
    except Exception:  # noqa: BLE001 - a JVM without log4j2 core: say so, do not fail the session
        logger.warning("could not turn off Spark's task-failure loggers: their messages may quote "
                       "record values")


def temporary_dir(prefix: str) -> str:
    """A new directory under the system's temp folder, removed with its contents when this
    Python process exits (each session without a configured ``checkpoint_dir`` used to leave
    an empty ``bold-checkpoint-*`` folder behind)."""
    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _local_cores(master: str, cap: int = 8) -> int:
    """Cores of a ``local[N]`` / ``local[*]`` / ``local`` master, at most ``cap``."""
    inside = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
    n = os.cpu_count() or 1 if inside.startswith("*") else int(inside.split(",")[0] or 1)
    return max(1, min(cap, n))


def _is_local(master: str | None) -> bool:
    """Only an explicit local master: under spark-submit (no master in the config) executors
    may be other machines, whose Python is set by the cluster config, not by us."""
    return master is not None and master.startswith("local")


def _submitted_jars() -> str:
    """``spark.jars`` as spark-submit set it (``--jars``/``--packages``), or "".

    Under spark-submit the driver JVM is already running and holds the setting as a system
    property, but a Python ``SparkConf()`` only sees it once the gateway is connected, so
    connect first. Outside spark-submit no JVM runs yet, and starting one here would lose the
    session's JVM options (driver memory), so there is nothing to read."""
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return ""
    from pyspark import SparkConf, SparkContext

    SparkContext._ensure_initialized()
    return SparkConf().get("spark.jars", "") or ""


def _jars_with_splink(*jar_lists: str) -> list[str]:
    """Jars already given (``--jars``/``--packages``, then the config) plus Splink's similarity
    jar unless one of that name is among them."""
    jars = list(dict.fromkeys(j for jl in jar_lists for j in jl.split(",") if j))
    splink = splink_jar()
    if not any(Path(j).name == Path(splink).name for j in jars):
        jars.append(splink)
    return jars


def register_similarity_functions(spark: SparkSession) -> None:
    """Register Splink's JVM similarity functions (jaro_winkler, ...) as SQL functions."""
    from splink.internals.spark.jar_location import get_scala_udfs

    for udf in get_scala_udfs():
        spark.udf.registerJavaFunction(*udf)


def running_tasks(spark: SparkSession) -> int:
    """Task attempts running now on any executor, as the scheduler counts them (launched and
    not yet reported finished, failed or killed; tasks of an aborted stage included). Read
    from the task scheduler itself: the status tracker's executor and stage summaries are
    written by a listener that skips writes within ``spark.ui.liveUpdate.period`` of the last
    one, so they can show 0 while tasks run (seen in the suite)."""
    it = spark.sparkContext._jsc.sc().taskScheduler().runningTasksByExecutors().valuesIterator()
    total = 0
    while it.hasNext():
        total += int(it.next())
    return total


def wait_for_running_tasks(spark: SparkSession, timeout_s: float = 120.0,
                           poll_s: float = 0.5) -> bool:
    """Wait until no executor runs a task of this application (or ``timeout_s`` passes); True
    if none does. An aborted job returns to the driver while tasks of its failed stage may
    still be running on other executors, and such a straggler can create an output file
    after the failed run's clean-up has listed the table (seen on the standalone cluster: a
    0-byte part file under ``edges`` written in the second the job aborted)."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        running = running_tasks(spark)
        if running == 0:
            return True
        if time.monotonic() >= deadline:
            logger.warning("%d tasks still running %.0f s after the job ended", running, timeout_s)
            return False
        time.sleep(poll_s)
