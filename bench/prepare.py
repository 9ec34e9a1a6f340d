"""Benchmark data: generate a synthetic BOLD population, ingest it with bold-spark, and write the
standardised records (Parquet) and the truth (record_key -> true person) for the engines.

    python bench/prepare.py PEOPLE SEED WORK [standard|realistic [SURNAME_TAIL]]

The fourth argument is the generator's difficulty preset (docs/synthetic.md; default standard),
the fifth its ``surname_tail`` (default 0: the 400 listed surnames only; 0.73 spreads surnames
about as England and Wales' are, docs/synthetic.md)."""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str]) -> int:
    people, seed, work = int(argv[0]), int(argv[1]), Path(argv[2])
    difficulty = argv[3] if len(argv) > 3 else "standard"
    surname_tail = float(argv[4]) if len(argv) > 4 else 0.0

    from engines import spark_session
    from pyspark.sql import functions as F

    from bold_spark.config.datasets import load_dataset_config
    from bold_spark.ingest.ingest import ingest_sources
    from bold_spark.privacy.keys import SecretKey, generate_key_text
    from bold_spark.standardise.person import record_key
    from bold_spark.synthetic import SOURCES, SyntheticSpec, run_generate

    repo = Path(__file__).resolve().parents[1]
    key = SecretKey(generate_key_text().encode())  # throwaway, never written
    with tempfile.TemporaryDirectory(prefix="bench-prep-") as tmp:
        spark = spark_session(tmp)
        t0 = time.perf_counter()
        spec = SyntheticSpec(people=people, seed=seed, difficulty=difficulty, surname_tail=surname_tail)
        counts = run_generate(spark, spec, str(work / "input"))
        generate_s = time.perf_counter() - t0
        # NDTMS carries initials only: the plain 5-field name model cannot link it, so the
        # benchmark dedupes the four name-bearing sources.
        sources = [s for s in SOURCES if s != "ndtms"]
        datasets = {s: load_dataset_config(repo / f"conf/datasets/{s}.yaml") for s in sources}
        uris = {s: str(work / "input" / ds.path) for s, ds in datasets.items()}
        t0 = time.perf_counter()
        ing = ingest_sources(spark, datasets, uris, key, "bench")
        ing.records.write.mode("overwrite").parquet(str(work / "records"))
        ingest_s = time.perf_counter() - t0
        ing.release()
        truth = spark.read.parquet(str(work / "input/ground_truth.parquet")).dropDuplicates(
            ["source", "source_record_id"])
        keyed = None
        for s in sources:
            part = truth.where(F.col("source") == s).select(
                record_key(key, s, F.col("source_record_id")).alias("record_key"),
                F.col("person_id").alias("true_person"))
            keyed = part if keyed is None else keyed.unionByName(part)
        keyed.coalesce(1).write.mode("overwrite").parquet(str(work / "truth"))
        n = spark.read.parquet(str(work / "records")).count()
        spark.stop()
    sys.stdout.write(json.dumps({"people": people, "difficulty": difficulty, "surname_tail": surname_tail,
                                 "records": n,
                                 "generate_s": round(generate_s, 2),
                                 "ingest_s": round(ingest_s, 2),
                                 "extract_rows": {k: v for k, v in counts.items()}}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
