"""spark-submit against a real Spark standalone cluster (one master, two workers on 127.0.0.1).

What these tests prove, and what they do not:

* The packaged project (``scripts/build_dist.py``: wheel, py-files zip, jobs, Splink jar) is
  enough for executors: they run a Python that has pandas/pyarrow/numpy only (no bold_spark,
  splink or deltalake, and pyspark only from ``$SPARK_HOME/python/lib``), in their own work
  folders, and import bold_spark from the shipped zip. The driver runs in client mode from this
  machine's virtualenv (it needs the installed dependencies: deltalake, duckdb, ...), but imports
  bold_spark itself from the shipped zip and runs the shipped ``jobs/run_pipeline.py``.
* The end-to-end FEBRL pipeline on the cluster writes the same Delta tables as the same job in
  local mode: the same edges (pairs, gammas, match weights within 1e-9) and the same clusters
  (identical person ids per record at every threshold).
* A job that fails inside executor tasks exits non-zero, names the failing stage, records the
  run as failed, and publishes no new version of the table it was writing.
* The Splink jar given with --jars stays in the session's spark.jars, once.
* Everything runs on one machine: executors share its filesystem (file:// paths), so nothing
  here exercises object stores, YARN, Kubernetes or Databricks. docs/cluster.md says how
  those are set up.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from deltalake import DeltaTable

from bold_spark.session import cached_delta_jars
from tests.cluster.conftest import (
    REPO,
    Dist,
    SparkSubmit,
    Submitted,
    pipeline_config,
    spark_config,
    spark_submit,
)

pytestmark = pytest.mark.cluster

THRESHOLDS = ("high", "medium", "low")
#: The driver's Python: this virtualenv (bold-spark's dependencies installed here).
DRIVER_PYTHON = sys.executable


def cluster_args(cluster, dist: Dist, executor_python: Path) -> list[str]:
    """The spark-submit options docs/cluster.md gives for a standalone cluster (client mode)."""
    return [
        "--master", cluster.master_url,
        "--deploy-mode", "client",
        "--driver-memory", "1g",
        "--jars", ",".join([str(dist.jar), *cached_delta_jars()]),  # native Delta (docs/cluster.md)
        "--py-files", str(dist.pyfiles),
        "--conf", f"spark.pyspark.python={executor_python}",
        "--conf", f"spark.pyspark.driver.python={DRIVER_PYTHON}",
    ]


def cluster_spark_config(tmp: Path, name: str) -> Path:
    return spark_config(
        tmp / f"{name}.yaml", "standalone", tmp / f"{name}-checkpoints",
        **{"spark.executor.memory": "1g", "spark.executor.cores": "1",
           "spark.executor.memoryOverhead": "384m", "spark.cores.max": "2",
           "spark.dynamicAllocation.enabled": "false"},
    )


def delta(uri: Path) -> DeltaTable:
    return DeltaTable(str(uri))


def describe(run: Submitted) -> str:
    tail = "\n".join(run.output.splitlines()[-40:])
    return f"exit {run.returncode} after {run.seconds:.0f}s; output tail:\n{tail}"


# ------------------------------------------------------------------ the runs (one each)


@pytest.fixture(scope="session")
def local_job(cluster_tmp, febrl_inputs):
    """The job as a developer runs it: repo checkout, local[2], this virtualenv. Started in the
    background as soon as a test needs the cluster, so it overlaps with the cluster's work."""
    tmp = cluster_tmp / "local"
    tmp.mkdir()
    out = tmp / "output"
    cfg = pipeline_config(tmp / "pipeline.yaml", febrl_inputs, out, run_name="local")
    spark_cfg = spark_config(tmp / "spark.yaml", "local", tmp / "checkpoints")
    from bold_spark.session import splink_jar

    job = SparkSubmit([
        "--master", "local[2]", "--driver-memory", "1g",
        # under spark-submit the driver JVM is already up: Delta's jars must come with --jars
        "--jars", ",".join([splink_jar(), *cached_delta_jars()]),
        "--conf", f"spark.pyspark.python={DRIVER_PYTHON}",
        "--conf", f"spark.pyspark.driver.python={DRIVER_PYTHON}",
        str(REPO / "jobs/run_pipeline.py"), "--config", str(cfg), "--spark-config", str(spark_cfg),
    ], tmp / "spark-submit.log")
    yield out, job
    job.kill()


@pytest.fixture(scope="session")
def local_run(local_job):
    out, job = local_job
    run = job.wait()
    assert run.returncode == 0, describe(run)
    return out, run


@pytest.fixture(scope="session")
def cluster_run(cluster_tmp, standalone, artefacts, executor_python, febrl_inputs, local_job):
    """The same job submitted to the standalone cluster from the dist artefacts only."""
    tmp = cluster_tmp / "cluster"
    tmp.mkdir()
    out = tmp / "output"
    cfg = pipeline_config(tmp / "pipeline.yaml", febrl_inputs, out, run_name="cluster")
    run = spark_submit([
        *cluster_args(standalone, artefacts, executor_python),
        str(artefacts.job("run_pipeline")), "--config", str(cfg),
        "--spark-config", str(cluster_spark_config(tmp, "spark")),
    ], tmp / "spark-submit.log")
    assert run.returncode == 0, describe(run)
    return out, run


# ------------------------------------------------------------------ tests


@pytest.fixture(scope="session")
def probe(cluster_tmp, standalone, artefacts, executor_python, local_job) -> dict:
    """Submit probe_job.py with the cluster options; return what it saw. (``local_job`` only
    to start the local-mode run first: it runs beside the cluster's jobs.)"""
    tmp = cluster_tmp / "probe"
    tmp.mkdir()
    run = spark_submit([
        *cluster_args(standalone, artefacts, executor_python),
        str(Path(__file__).with_name("probe_job.py")), str(cluster_spark_config(tmp, "spark")),
    ], tmp / "spark-submit.log")
    assert run.returncode == 0, describe(run)
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("PROBE ")]
    return json.loads(line[len("PROBE "):])


def test_executors_use_only_the_shipped_artefacts(probe, standalone, artefacts, executor_python):
    assert probe["master"] == standalone.master_url
    # The driver imports bold_spark from the shipped zip, not from the checkout.
    assert probe["driver"]["modules"]["bold_spark"].startswith(str(artefacts.pyfiles)), probe
    executors = probe["executors"]
    assert len(executors) == 4
    work = standalone.workdir / "work"
    for ex in executors:
        mods = ex["modules"]
        assert ex["python"] == str(executor_python)
        cwd = Path(ex["cwd"])
        assert cwd.is_relative_to(work), ex  # an executor folder under a worker
        # bold_spark.privacy.bloom: the PPRL encoder UDF refers to module functions, so
        # executors import it by name (cloudpickle pickles module-level functions by reference)
        shipped = ["bold_spark", "bold_spark.privacy.hashing"]
        if (REPO / "bold_spark/privacy/bloom.py").is_file():
            shipped.append("bold_spark.privacy.bloom")
        for name in shipped:
            path = (cwd / mods[name]).resolve()  # Spark puts the zip in the executor's folder
            assert path.is_relative_to(work) and artefacts.pyfiles.name in path.parts, (name, path)
        # nothing else of the driver's environment: not splink, not deltalake
        assert mods["splink"].startswith("MISSING") and mods["deltalake"].startswith("MISSING")
        assert not mods["pandas"].startswith("MISSING") and not mods["pyarrow"].startswith("MISSING")
        assert "pyspark.zip" in mods["pyspark"], mods  # Spark's own, as on a real cluster
    jars = [Path(j).name for j in probe["spark_jars"].split(",")]
    assert artefacts.jar.name in jars, probe["spark_jars"]


def test_session_keeps_the_jars_given_to_spark_submit(probe, artefacts):
    """The jar given with --jars stays in spark.jars (spark-submit turns it into a file: URI) and
    build_spark does not add a second copy of Splink's jar from the wheel beside it."""
    from urllib.parse import urlparse

    given = [Path(urlparse(j).path if "://" in j or j.startswith("file:") else j)
             for j in probe["spark_jars"].split(",") if j]
    assert artefacts.jar.resolve() in [g.resolve() for g in given], probe["spark_jars"]
    assert [g.name for g in given].count(artefacts.jar.name) == 1, probe["spark_jars"]


ENV_ARCHIVE = os.environ.get("BOLD_TEST_ENV_ARCHIVE")


@pytest.mark.skipif(not ENV_ARCHIVE, reason="set BOLD_TEST_ENV_ARCHIVE=dist/bold_spark-<v>-env.tar.gz "
                    "(built by make dist) to check the packed environment on executors")
def test_executors_run_the_packed_environment(cluster_tmp, standalone, artefacts):
    """--archives env.tar.gz#environment: executors unpack it and run its Python, which holds
    bold_spark and every dependency (pyspark still comes from Spark's python/lib)."""
    archive = Path(ENV_ARCHIVE).resolve()
    tmp = cluster_tmp / "probe-env"
    tmp.mkdir()
    run = spark_submit([
        "--master", standalone.master_url, "--deploy-mode", "client", "--driver-memory", "1g",
        "--jars", str(artefacts.jar),
        "--archives", f"{archive}#environment",
        "--conf", "spark.pyspark.python=./environment/bin/python",
        "--conf", f"spark.pyspark.driver.python={DRIVER_PYTHON}",
        str(Path(__file__).with_name("probe_job.py")), str(cluster_spark_config(tmp, "spark")),
    ], tmp / "spark-submit.log")
    assert run.returncode == 0, describe(run)
    (line,) = [x for x in run.stdout.splitlines() if x.startswith("PROBE ")]
    probe = json.loads(line[len("PROBE "):])
    work = standalone.workdir / "work"
    for ex in probe["executors"]:
        assert Path(ex["python"]).parts[-3:] == ("environment", "bin", "python"), ex
        for name in ("bold_spark", "splink", "deltalake", "pandas"):
            path = Path(ex["cwd"]) / ex["modules"][name]
            assert path.resolve().is_relative_to(work) and "environment" in path.parts, (name, path)


def test_cluster_output_equals_local_output(cluster_run, local_run):
    # (cluster_run first: the local job keeps running in the background meanwhile)
    local_out, _ = local_run
    cluster_out, _ = cluster_run
    for out in (local_out, cluster_out):
        runs = delta(out / "runs").to_pandas()
        assert sorted(runs["status"]) == ["running", "succeeded"]  # the start row and the end row
        # written by the native writer (Delta's Spark classes), jars shipped with --jars
        engine = delta(out / "records").history(1)[0].get("engineInfo", "")
        assert "Apache-Spark" in engine, engine

    # records: the same keys (HMAC of the same ids under the same key)
    keys = [set(delta(o / "records").to_pandas()["record_key"]) for o in (local_out, cluster_out)]
    assert keys[0] == keys[1] and len(keys[0]) > 0

    # edges: the same pairs, comparison vectors and weights
    edges = []
    for o in (local_out, cluster_out):
        df = delta(o / "edges").to_pandas().drop(columns=["run_id"])
        edges.append(df.sort_values(["record_key_l", "record_key_r"]).reset_index(drop=True))
    le, ce = edges
    assert len(le) > 0 and len(le) == len(ce)
    assert (le[["record_key_l", "record_key_r"]] == ce[["record_key_l", "record_key_r"]]).all().all()
    assert (le["match_weight"] - ce["match_weight"]).abs().max() <= 1e-9
    assert (le["match_probability"] - ce["match_probability"]).abs().max() <= 1e-9
    exact = [c for c in le.columns if c not in ("match_weight", "match_probability")]
    assert le[exact].equals(ce[exact])

    # clusters: the same clustering at each threshold (person ids are minted per run, so two
    # first runs name the same clusters differently: compare the record sets)
    clusters = []
    for o in (local_out, cluster_out):
        df = delta(o / "clusters").to_pandas().set_index("record_key").sort_index()
        clusters.append(df)
    lc, cc = clusters
    assert list(lc.index) == list(cc.index)
    for lv in THRESHOLDS:
        groups = [set(map(frozenset, df.groupby(f"person_id_{lv}").groups.values())) for df in (lc, cc)]
        assert groups[0] == groups[1], lv
        assert lc[f"cluster_size_{lv}"].equals(cc[f"cluster_size_{lv}"]), lv
    # and the linkage did link something (not two empty results that agree)
    assert (lc["cluster_size_medium"] > 1).sum() > 0


def broken_model(tmp: Path) -> Path:
    """The FEBRL model with one comparison level that fails inside executor tasks."""
    src = REPO / "conf/models/febrl.json"
    model = json.loads(src.read_text())
    for comparison in model["comparisons"]:
        if comparison["output_column_name"] == "postcode_au":
            level = comparison["comparison_levels"][1]
            level["sql_condition"] = (f"({level['sql_condition']}) AND raise_error(concat("
                                      "'injected executor failure at ', postcode_au_l)) IS NULL")
            break
    else:
        raise AssertionError("no postcode_au comparison in the FEBRL model")
    path = tmp / "febrl_broken.json"
    path.write_text(json.dumps(model, indent=2))
    shutil.copy(REPO / "conf/models/febrl.meta.json", tmp / "febrl_broken.meta.json")
    return path


def test_failed_job_names_stage_records_failure_publishes_nothing(
        cluster_tmp, standalone, artefacts, executor_python, febrl_inputs, cluster_run):
    tmp = cluster_tmp / "failing"
    tmp.mkdir()
    out = tmp / "output"
    shutil.copytree(cluster_run[0], out)  # a published run to fail on top of
    before = {t: delta(out / t).version() for t in ("records", "edges", "clusters", "runs", "published")}
    edge_files = set(delta(out / "edges").file_uris())
    cfg = pipeline_config(tmp / "pipeline.yaml", febrl_inputs, out, run_name="failing")
    # point the link group at the broken model
    data = yaml.safe_load(cfg.read_text())
    data["link_groups"][0]["model"] = str(broken_model(tmp))
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))

    run = spark_submit([
        *cluster_args(standalone, artefacts, executor_python),
        "--conf", "spark.task.maxFailures=2",
        str(artefacts.job("predict")), "--config", str(cfg),
        "--spark-config", str(cluster_spark_config(tmp, "spark")),
    ], tmp / "spark-submit.log")

    # the run record says what failed
    runs = delta(out / "runs").to_pandas()
    last = runs[runs["status"] != "running"].sort_values("started_at").iloc[-1]  # the end row
    assert last["status"] == "failed" and last["failed_stage"] == "predict", last.to_dict()
    # the error names the stage and exception type but not the message, which quotes a value
    assert "predict" in last["error"] and "withheld" in last["error"], last["error"]
    assert "injected executor failure" not in last["error"]
    # nothing published: the published set keeps its versions; runs got a start and an end row
    after = {t: delta(out / t).version() for t in ("records", "edges", "clusters", "runs", "published")}
    assert after == {**before, "runs": before["runs"] + 2}
    assert set(delta(out / "edges").file_uris()) == edge_files
    # and the failed write left no orphan data files under the table
    on_disk = {str(p) for p in (out / "edges").rglob("*.parquet")}
    assert on_disk == {str(Path(u.removeprefix("file://"))) for u in edge_files}
    # the user is told which stage failed (driver logs reach spark-submit's stdout) ...
    assert "[predict] failed" in run.output, describe(run)
    assert "stage 'predict'" in run.output
    # ... without the failing value: the driver's Spark loggers that quote it are off (the
    # executors' own logs under the worker folders are the cluster's log4j2 configuration's job)
    assert "injected executor failure" not in run.output, describe(run)
    # ... and the job exits non-zero, so schedulers (YARN, Airflow, EMR steps) see the failure
    assert run.returncode != 0, describe(run)
