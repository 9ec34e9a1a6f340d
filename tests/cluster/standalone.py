"""A throwaway Spark standalone cluster on 127.0.0.1: one master and N workers started from the
installed pyspark, each a process we own and stop by PID (also when a test fails)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"


def spark_home() -> str:
    """SPARK_HOME of the installed pyspark package (it carries bin/, jars/ and python/lib/)."""
    import pyspark

    return os.path.dirname(pyspark.__file__)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def spark_env(**extra: str) -> dict[str, str]:
    """Environment for Spark processes: loopback only, no user Spark config picked up."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SPARK_", "PYSPARK_")) and k not in ("PYTHONPATH",)}
    env.update(SPARK_HOME=spark_home(), SPARK_LOCAL_IP=HOST, SPARK_LOCAL_HOSTNAME="localhost",
               PYARROW_IGNORE_TIMEZONE="1")
    env.update(extra)
    return env


@dataclass
class StandaloneCluster:
    """``with StandaloneCluster(workdir) as c: ... c.master_url ...``"""

    workdir: Path
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "1g"
    start_timeout: float = 90.0
    port: int = field(default_factory=free_port)
    webui_port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.port}"

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.webui_port}"

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("wb")
        env = spark_env(SPARK_LOG_DIR=str(self.workdir / "logs"),
                        SPARK_WORKER_DIR=str(self.workdir / "work"))
        cmd = [os.path.join(spark_home(), "bin", "spark-class"), *args]
        # A session of its own: the JVM (spark-class execs java) leads a process group that also
        # holds the executors and Python workers it starts, so stop() reaches all of them.
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                cwd=self.workdir, start_new_session=True)
        log.close()
        self.procs.append(proc)
        logger.info("started %s (pid %d): %s", name, proc.pid, " ".join(args))
        return proc

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn("master", ["org.apache.spark.deploy.master.Master", "--host", HOST,
                               "--port", str(self.port), "--webui-port", str(self.webui_port)])
        self._wait(lambda s: s is not None, "the master web UI")
        for i in range(self.workers):
            self._spawn(f"worker-{i}", [
                "org.apache.spark.deploy.worker.Worker", self.master_url, "--host", HOST,
                "--port", str(free_port()), "--webui-port", str(free_port()),
                "--cores", str(self.worker_cores), "--memory", self.worker_memory,
                "--work-dir", str(self.workdir / "work"),
            ])
        self._wait(lambda s: s is not None and self.alive_workers(s) == self.workers,
                   f"{self.workers} workers to register")

    def status(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=2) as r:
                return json.load(r)
        except OSError:
            return None

    @staticmethod
    def alive_workers(status: dict) -> int:
        return sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE")

    def _wait(self, ready, what: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"a Spark process (pid {p.pid}) exited with {p.returncode} "
                                       f"while waiting for {what}; logs in {self.workdir}")
            if ready(self.status()):
                return
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {self.start_timeout:.0f}s waiting for {what}; "
                           f"logs in {self.workdir}")

    def stop(self, grace: float = 15.0) -> None:
        """Stop workers first, then the master: SIGTERM to each process group we started,
        SIGKILL to whatever is left after ``grace`` seconds."""
        for p in reversed(self.procs):
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in reversed(self.procs):
            _signal_group(p, signal.SIGKILL)  # the leader may be gone while children linger
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                logger.error("pid %d did not exit after SIGKILL", p.pid)
        self.procs.clear()


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)  # the group we created with start_new_session: pgid == pid
    except ProcessLookupError:  # already gone
        pass
