"""Fetch the Delta Lake jars matching the installed pyspark and delta-spark, once, at install.

Resolves ``io.delta:delta-spark_<spark major.minor>_2.13:<delta-spark version>`` (the artifact
``delta.configure_spark_with_delta_pip`` names) with Spark's own Ivy resolution from Maven
Central, then copies into the cache folder (``bold_spark.session.delta_jars_dir()``, by default
``<venv>/share/bold-spark/delta-jars``) the jars that pyspark does not already ship. Later
sessions add those files to ``spark.jars``: no run after installation needs the network.

Exit 0 when the jars are cached (or already were); exit 3 when they cannot be fetched (an
offline machine): sessions then fall back to the embedded delta-rs writer and say so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bold_spark.session import delta_artifact, delta_jars_dir  # noqa: E402

_VERSION = re.compile(r"-\d[\w.]*\.jar$")


def _base(jar: str) -> str:
    """``io.delta_delta-storage-4.4.0.jar`` -> ``delta-storage``; ``parquet-hadoop-1.16.0.jar``
    -> ``parquet-hadoop``."""
    name = jar.split("_", 1)[1] if "_" in jar.split("-", 1)[0] else jar
    return _VERSION.sub("", name)


def main() -> int:
    import pyspark

    target = delta_jars_dir()
    artifact = delta_artifact()
    manifest = target / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("artifact") == artifact:
        print(f"Delta Lake jars for {artifact} already cached in {target}")
        return 0
    ivy = Path(tempfile.mkdtemp(prefix="bold-ivy-"))
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession

    print(f"fetching {artifact} and its dependencies (Maven Central) ...", flush=True)
    try:
        spark = (
            SparkSession.builder.master("local[1]").appName("bold-fetch-delta-jars")
            .config("spark.jars.packages", artifact).config("spark.jars.ivy", str(ivy))
            .config("spark.ui.enabled", "false").getOrCreate()
        )
        spark.stop()
    except Exception as e:  # noqa: BLE001 - offline: the caller falls back to delta-rs
        print(f"could not fetch {artifact}: {type(e).__name__}; sessions will use the embedded "
              "delta-rs writer", file=sys.stderr)
        shutil.rmtree(ivy, ignore_errors=True)
        return 3
    shipped = {_base(j.name) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    fetched = sorted((ivy / "jars").glob("*.jar"))
    keep = [j for j in fetched if _base(j.name) not in shipped]
    if not any(j.name.startswith("io.delta_delta-spark") for j in keep):
        print(f"resolution of {artifact} gave no delta-spark jar", file=sys.stderr)
        return 3
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for j in keep:
        shutil.copy2(j, staging / j.name)
    (staging / "manifest.json").write_text(json.dumps(
        {"artifact": artifact, "jars": [j.name for j in keep],
         "skipped_as_shipped_by_pyspark": [j.name for j in fetched if j not in keep]}, indent=1))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    shutil.rmtree(ivy, ignore_errors=True)
    print(f"cached {len(keep)} Delta Lake jars in {target} "
          f"({len(fetched) - len(keep)} others already ship with pyspark)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
