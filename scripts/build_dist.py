"""Build what a Spark cluster needs to run the bold-spark jobs (``make dist``).

Writes into ``--out`` (default ``dist/``)::

    bold_spark-<v>-py3-none-any.whl    the project; pip-install it where the *driver* runs
                                       (client mode), or as a cluster library (Databricks)
    bold_spark-<v>-pyfiles.zip         --py-files: bold_spark + its pure-Python dependencies,
                                       for executors on clusters whose Python already has
                                       pandas, numpy and pyarrow (and Spark's own pyspark)
    bold_spark-<v>-env.tar.gz          --archives ...#environment: a packed virtualenv with the
                                       wheel and every dependency except pyspark/py4j/delta-spark
                                       (the cluster's Spark provides those); --no-env skips it
    bold_spark-<v>-requirements.txt    the exact pinned dependency set (minus pyspark, py4j and
                                       delta-spark) for a node bootstrap or a cluster library
    bold_spark-<v>-requirements-extra.txt  the same minus pandas/numpy/pyarrow, for runtimes that
                                       ship those (Databricks)
    bold_spark-<v>-conf.zip            conf/ (datasets, models, spark, pipeline configs), for
                                       --archives ...#conf in cluster deploy mode
    jobs/*.py                          the spark-submit entry points (thin; they import bold_spark)
    jars/scala-udf-similarity-*.jar    Splink's JVM similarity functions, for --jars
                                       (the spark4.x jar for Spark 4, the spark3.x one for Spark 3)
    MANIFEST.json                      what was built, with sizes and sha256

Versions come from the environment this script runs in (the project's .venv), so the
artefacts hold exactly the dependency versions the tests ran with. The wheel is built with
``pip wheel --no-deps`` (no extra build tool needed).

The packed environment is a plain ``python -m venv`` tree: like venv-pack's output it does not
contain the Python interpreter itself (``bin/python`` links to the base interpreter), so build
it on the same OS image and Python version as the cluster nodes (see docs/cluster.md).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata as md
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

logger = logging.getLogger("build_dist")

REPO = Path(__file__).resolve().parents[1]
PROJECT = "bold-spark"

#: Supplied by the cluster's Spark installation: never shipped, never pinned for nodes.
SPARK_PROVIDED = frozenset({"pyspark", "py4j", "delta-spark"})
#: Expected on every executor's Python (Spark's pandas UDFs need them); not put in the zip.
EXECUTOR_PROVIDED = frozenset({"pandas", "numpy", "pyarrow", "python-dateutil", "pytz",
                               "tzdata", "six"})
BINARY_SUFFIXES = (".so", ".pyd", ".dylib")
#: A fixed timestamp for zip/tar entries, so the same inputs give the same archive bytes.
EPOCH = (2020, 1, 1, 0, 0, 0)


# ------------------------------------------------------------------ dependency closure


def dependency_closure(root: str = PROJECT) -> tuple[dict[str, md.Distribution], dict[str, set[str]]]:
    """Every installed distribution ``root`` needs (extras followed, markers evaluated), keyed
    by canonical name with ``root`` excluded, and the requirement edges between them."""
    seen: dict[str, frozenset[str]] = {}
    dists: dict[str, md.Distribution] = {}
    edges: dict[str, set[str]] = {}
    todo: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen and extras <= seen[key]:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError as e:
            raise SystemExit(f"{name} (needed by {root}) is not installed in {sys.prefix}: "
                             "run `make install` first") from e
        seen[key] = seen.get(key, frozenset()) | extras
        dists[key] = dist
        envs = [{"extra": e} for e in (seen[key] or {""})]
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate(env) for env in envs):
                continue
            edges.setdefault(key, set()).add(canonicalize_name(req.name))
            todo.append((req.name, frozenset(req.extras)))
    dists.pop(canonicalize_name(root), None)
    return dists, edges


def is_binary(dist: md.Distribution) -> bool:
    return any(str(f).endswith(BINARY_SUFFIXES) for f in dist.files or [])


# ------------------------------------------------------------------ artefacts


def build_wheel(out: Path) -> Path:
    with tempfile.TemporaryDirectory(prefix="bold-wheel-") as tmp:
        # Build from a copy of what the wheel holds, so no build/ or *.egg-info is left in
        # the checkout and a concurrent build there cannot interfere.
        src = Path(tmp) / "src"
        src.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE", "setup.cfg", "MANIFEST.in"):
            if (REPO / name).is_file():
                shutil.copy2(REPO / name, src / name)
        shutil.copytree(REPO / "bold_spark", src / "bold_spark",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp,
              str(src)])
        (built,) = Path(tmp).glob("bold_spark-*.whl")
        target = out / built.name
        shutil.move(str(built), target)
    logger.info("wheel %s", target.name)
    return target


def _zip_write(zf: zipfile.ZipFile, arcname: str, data: bytes) -> None:
    info = zipfile.ZipInfo(arcname, EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def build_pyfiles_zip(wheel: Path, deps: dict[str, md.Distribution], edges: dict[str, set[str]],
                      target: Path) -> dict:
    """bold_spark (from the wheel, not the editable install) + the dependencies an executor
    can import from the zip: pure-Python packages whose own dependencies are all in the zip or
    provided by the cluster. splink, for one, needs duckdb (compiled), so it stays out: executors
    never import it, and the driver must find it installed (its similarity jar is a real file
    there, which the session adds to spark.jars)."""
    left_out: dict[str, str] = {}
    for key, dist in deps.items():
        if key in SPARK_PROVIDED or key in EXECUTOR_PROVIDED:
            left_out[key] = "provided by the cluster"
        elif is_binary(dist):
            left_out[key] = "compiled extensions: installed on the driver (requirements.txt)"
    provided = SPARK_PROVIDED | EXECUTOR_PROVIDED
    memo: dict[str, bool] = {}

    def zippable(key: str, path: tuple[str, ...] = ()) -> bool:
        if key in memo:
            return memo[key]
        if key in left_out or key not in deps:
            return False
        ok = all(dep in provided or dep in path or zippable(dep, (*path, key))
                 for dep in edges.get(key, ()))
        memo[key] = ok
        return ok

    zipped: set[str] = set()
    todo = list(edges.get(canonicalize_name(PROJECT), ()))
    while todo:
        key = todo.pop()
        if key in zipped or not zippable(key):
            continue
        zipped.add(key)
        todo.extend(edges.get(key, ()))
    for key in deps:
        if key not in zipped and key not in left_out:
            left_out[key] = ("only needed by packages not in the zip" if zippable(key) else
                             "needs a compiled package: installed on the driver (requirements.txt)")
    entries: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as whl:
        for name in whl.namelist():
            if not name.endswith("/"):
                entries[name] = whl.read(name)
    included = []
    for key in sorted(zipped):
        dist = deps[key]
        for f in dist.files or []:
            rel = str(f)
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".pyc"):
                continue
            path = Path(dist.locate_file(f))
            if path.is_file():
                entries[rel] = path.read_bytes()
        included.append(f"{dist.metadata['Name']}=={dist.version}")
    # Directory entries too: zipimport finds namespace packages (splink.backends has no
    # __init__.py) only through them.
    dirs = {"/".join(n.split("/")[:i]) + "/" for n in entries for i in range(1, n.count("/") + 1)}
    with zipfile.ZipFile(target, "w") as zf:
        for name in sorted(dirs | set(entries)):
            if name.endswith("/"):
                info = zipfile.ZipInfo(name, EPOCH)
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                _zip_write(zf, name, entries[name])
    logger.info("py-files zip %s: bold_spark + %d pure-Python packages", target.name, len(included))
    return {"included": included, "left_out": dict(sorted(left_out.items()))}


def write_requirements(deps: dict[str, md.Distribution], out: Path, stem: str) -> list[str]:
    """Two pinned lists: every dependency the cluster's Spark does not provide, and the same
    without pandas/numpy/pyarrow (for runtimes that ship their own, such as Databricks)."""
    pins = {k: f"{d.metadata['Name']}=={d.version}" for k, d in deps.items()
            if k not in SPARK_PROVIDED}
    files = {
        f"{stem}-requirements.txt": (
            ("# bold-spark's dependencies as tested, minus pyspark/py4j/delta-spark (the cluster's\n"
             "# Spark provides them). pip install --no-deps <wheel> -r <this file>\n"),
            pins),
        f"{stem}-requirements-extra.txt": (
            ("# As -requirements.txt, minus pandas/numpy/pyarrow and their time-zone packages, for\n"
             "# runtimes that ship those (Databricks). pip install --no-deps <wheel> -r <this file>\n"),
            {k: v for k, v in pins.items() if k not in EXECUTOR_PROVIDED}),
    }
    for name, (header, chosen) in files.items():
        (out / name).write_text(header + "\n".join(sorted(chosen.values(), key=str.lower)) + "\n")
        logger.info("requirements %s: %d pins", name, len(chosen))
    return list(files)


def build_env(wheel: Path, requirements: Path, target: Path, base_python: str) -> None:
    """A virtualenv with the wheel and the pinned requirements, packed as a relocatable tree."""
    with tempfile.TemporaryDirectory(prefix="bold-env-") as tmp:
        env = Path(tmp) / "environment"
        _run([base_python, "-m", "venv", str(env)])
        py = env / "bin" / "python"
        _run([str(py), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(requirements),
              str(wheel)])
        _run([str(py), "-m", "pip", "uninstall", "--quiet", "--yes", "pip"])
        _relocate_scripts(env)
        with tarfile.open(target, "w:gz", compresslevel=6) as tar:
            for path in sorted(env.rglob("*")):
                rel = path.relative_to(env)
                if "__pycache__" in rel.parts:
                    continue
                info = tar.gettarinfo(str(path), arcname=str(rel))
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                if info.isfile():
                    with path.open("rb") as fh:
                        tar.addfile(info, fh)
                else:
                    tar.addfile(info)
    logger.info("packed environment %s (%.0f MB)", target.name, target.stat().st_size / 1e6)


def _relocate_scripts(env: Path) -> None:
    """Console scripts carry the build path in their shebang; point them at the env's python
    wherever it is unpacked (the same trick venv-pack uses)."""
    prefix = str(env)
    for script in (env / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        try:
            text = script.read_text()
        except UnicodeDecodeError:
            continue
        if text.startswith(f"#!{prefix}/bin/python"):
            _, _, rest = text.partition("\n")
            shim = '#!/bin/sh\n\'\'\'exec\' "$(dirname "$0")/python" "$0" "$@"\n\' \'\'\'\n'
            script.write_text(shim + rest)


def build_conf_zip(target: Path) -> None:
    conf = REPO / "conf"
    with zipfile.ZipFile(target, "w") as zf:
        for path in sorted(conf.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                _zip_write(zf, str(path.relative_to(conf)), path.read_bytes())
    logger.info("configs %s", target.name)


def copy_jobs(out: Path) -> list[str]:
    jobs = out / "jobs"
    jobs.mkdir(exist_ok=True)
    names = []
    for job in sorted((REPO / "jobs").glob("*.py")):
        shutil.copy2(job, jobs / job.name)
        names.append(f"jobs/{job.name}")
    return names


def copy_jars(out: Path) -> list[str]:
    import splink

    jars = out / "jars"
    jars.mkdir(exist_ok=True)
    src = Path(splink.__file__).parent / "internals" / "files" / "spark_jars"
    names = []
    # The newest jar for each Spark major version (splink.backends.spark.similarity_jar_location
    # picks the same ones at run time).
    for major in ("spark3.x", "spark4.x"):
        candidates = sorted(src.glob(f"scala-udf-similarity-*_{major}.jar"))
        if candidates:
            shutil.copy2(candidates[-1], jars / candidates[-1].name)
            names.append(f"jars/{candidates[-1].name}")
    return names


def _run(cmd: list[str]) -> None:
    """Run a build command; show its output only when it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ------------------------------------------------------------------ main


def build(out: Path, with_env: bool, base_python: str) -> dict:
    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    # Nothing from an earlier build may sit beside this one (an old version's wheel, a job
    # that no longer exists): remove what this script writes, and only that.
    for old in [*out.glob("bold_spark-*"), out / "MANIFEST.json"]:
        old.unlink(missing_ok=True)
    for folder in ("jobs", "jars"):
        shutil.rmtree(out / folder, ignore_errors=True)
    wheel = build_wheel(out)
    version = wheel.name.split("-")[1]
    stem = f"bold_spark-{version}"
    deps, edges = dependency_closure()
    pyfiles = build_pyfiles_zip(wheel, deps, edges, out / f"{stem}-pyfiles.zip")
    req_files = write_requirements(deps, out, stem)
    requirements = out / req_files[0]
    build_conf_zip(out / f"{stem}-conf.zip")
    jobs = copy_jobs(out)
    jars = copy_jars(out)
    env = out / f"{stem}-env.tar.gz"
    if with_env:
        build_env(wheel, requirements, env, base_python)
    artefacts = [wheel.name, f"{stem}-pyfiles.zip", *req_files, f"{stem}-conf.zip",
                 *jobs, *jars, *([env.name] if with_env else [])]
    manifest = {
        "project": PROJECT,
        "version": version,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "spark_built_against": md.version("pyspark"),
        "artefacts": {a: {"bytes": (out / a).stat().st_size, "sha256": _sha256(out / a)}
                      for a in artefacts},
        "pyfiles": pyfiles,
    }
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("dist built in %s in %.0fs", out, time.monotonic() - t0)
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder")
    parser.add_argument("--no-env", dest="env", action="store_false",
                        help="skip the packed virtualenv (the slow part)")
    parser.add_argument("--python", default=getattr(sys, "_base_executable", sys.executable),
                        help="base interpreter for the packed env (must match the nodes')")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    build(args.out.resolve(), args.env, args.python)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
