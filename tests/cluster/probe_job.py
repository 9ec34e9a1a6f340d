"""spark-submit probe (not a pipeline job): where do the driver and the executors import
bold_spark and its dependencies from, and which jars does a bold-spark session carry?

Prints one line ``PROBE {json}`` on stdout. Usage: probe_job.py <spark-config.yaml>
"""

import json
import sys


def where(modules):
    import importlib

    out = {}
    for name in modules:
        try:
            out[name] = getattr(importlib.import_module(name), "__file__", "?")
        except Exception as e:  # noqa: BLE001 - the probe reports what is missing
            out[name] = f"MISSING: {type(e).__name__}: {e}"
    return out


def on_executor(_):
    import os
    import socket

    report = where(["bold_spark", "bold_spark.privacy.hashing", "bold_spark.privacy.bloom",
                    "splink", "pandas", "pyarrow", "pyspark", "deltalake"])
    yield {"host": socket.gethostname(), "pid": os.getpid(), "python": sys.executable,
           "cwd": os.getcwd(), "modules": report}


def main(argv):
    driver = where(["bold_spark", "splink", "deltalake"])
    from bold_spark.session import build_spark, load_spark_config

    spark = build_spark(load_spark_config(argv[0]))
    sc = spark.sparkContext
    executors = sc.parallelize(range(4), 4).mapPartitions(on_executor).collect()
    print("PROBE " + json.dumps({
        "driver": {"python": sys.executable, "modules": driver},
        "master": sc.master,
        "spark_jars": sc.getConf().get("spark.jars", ""),
        "executors": executors,
    }), flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
