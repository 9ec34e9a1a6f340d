"""Issue 17's F1 at 10M against 1M: is the loss a matter of where the threshold sits?

Trains and scores the benchmark model (bench/model.py, narrow or "tf" variant) on one prepared
population as ``engines.py`` does for bold-spark, then clusters the same edges at a grid of
match-probability thresholds in one pass (``cluster_records`` with one level per threshold) and
measures pairwise precision / recall / F1 at each against the truth. It also reports the trained
prior (``probability_two_random_records_match``) and, for each threshold, the *evidence* it asks
for: the match weight minus the prior's log2-odds, in bits. A threshold on evidence does not move
when the population (and so the prior) grows; one on probability does.

    python bench/threshold_scale.py --work bench/work/p630000-realistic --blocking tf
    python bench/threshold_scale.py --work bench/work/p6300000-realistic --blocking tf

Besides the probability grid it clusters at thresholds stated in evidence (``--evidence``, bits),
turned into each population's probabilities with its trained prior, so both sizes are compared at
the same evidence. On a population with surnames spread as nationally (``bench/prepare.py N 42
WORK realistic 0.73``, docs/synthetic.md) give ``--work`` that folder.

(``--work``: a directory ``prepare.py`` filled: ``records/`` and ``truth/``.) Appends one JSON
line per run to bench/results/results_threshold_scale.jsonl. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import model as bench_model  # noqa: E402

THRESHOLDS = (0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.95, 0.99, 0.999)
#: Thresholds stated as evidence (bits of match weight above the prior's log2-odds), turned into
#: match probabilities with each population's trained prior: the same evidence at every size.
EVIDENCE = (20.0, 22.0, 24.0, 25.0, 26.0, 28.0)


def probability_at(evidence_bits: float, prior: float) -> float:
    """The match probability whose match weight is ``evidence_bits`` above the prior's log2-odds."""
    weight = evidence_bits + math.log2(prior / (1 - prior))
    return 1.0 / (1.0 + 2.0 ** -weight)


def _level(p: float) -> str:
    return "p" + f"{p:.12f}".rstrip("0").replace(".", "_")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--blocking", default="tf", choices=sorted(bench_model.BLOCKINGS))
    ap.add_argument("--thresholds", default=",".join(map(str, THRESHOLDS)),
                    help="match-probability thresholds, comma-separated")
    ap.add_argument("--evidence", default=",".join(map(str, EVIDENCE)),
                    help="thresholds in bits of evidence, comma-separated ('' for none)")
    ap.add_argument("--results", type=Path, default=HERE / "results" / "results_threshold_scale.jsonl")
    args = ap.parse_args(argv)

    from engines import pairwise, spark_session
    from pyspark.sql import functions as F

    from bold_spark.io.delta import read_table, write_table
    from bold_spark.linkage.clustering import cluster_records
    from bold_spark.linkage.model import LinkModel, ModelMeta, TrainingConfig
    from bold_spark.linkage.pairs import group_records
    from bold_spark.linkage.scope import PairScope
    from bold_spark.linkage.scoring import score_link_group
    from bold_spark.linkage.sql import needed_columns
    from bold_spark.linkage.training import train_model

    out: dict = {"work": str(args.work), "blocking": args.blocking,
                 "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "seconds": {}}
    with tempfile.TemporaryDirectory(prefix="threshold-scale-", dir=str(args.work)) as tmp:
        spark = spark_session(tmp, "native")
        records = spark.read.parquet(str(args.work / "records")).select(*bench_model.columns(args.blocking)) \
            .withColumn("source", F.lit("all"))
        meta = ModelMeta(["all"], TrainingConfig(
            deterministic_rules=bench_model.DETERMINISTIC_RULES, recall=bench_model.RECALL,
            em_blocking_rules=bench_model.em_rule_sql("spark", args.blocking),
            u_max_pairs=bench_model.U_MAX_PAIRS))
        model = LinkModel("bench", bench_model.settings("spark", args.blocking), meta)
        t0 = time.perf_counter()
        settings = model.splink_settings()
        recs = group_records(records, ["all"], needed_columns(settings, [
            *meta.training.deterministic_rules, *meta.training.em_blocking_rules]), settings)
        trained, _ = train_model(recs, model, PairScope(), {})
        out["seconds"]["train"] = round(time.perf_counter() - t0, 1)
        prior = float(trained.settings["probability_two_random_records_match"])
        out["records"] = records.count()
        out["prior"] = prior
        prior_bits = math.log2(prior / (1 - prior))
        t0 = time.perf_counter()
        edges, _ = score_link_group(records, trained, "bench", ["all"], PairScope(), "bench")
        result = write_table(edges, f"{tmp}/edges")
        out["seconds"]["predict"] = round(time.perf_counter() - t0, 1)
        out["comparisons"] = result.rows
        t0 = time.perf_counter()
        edges = read_table(spark, f"{tmp}/edges").select("record_key_l", "record_key_r", "match_probability")
        grid = [float(x) for x in args.thresholds.split(",")]
        grid += [probability_at(float(e), prior) for e in args.evidence.split(",") if e.strip()]
        levels = {_level(p): p for p in sorted(grid)}
        clusters = cluster_records(records.select("record_key", "source"), edges, levels, "bench")
        clusters.select("record_key", *[F.col(f"person_id_{lv}") for lv in levels]) \
            .write.mode("overwrite").parquet(f"{tmp}/clusters")
        out["seconds"]["cluster"] = round(time.perf_counter() - t0, 1)
        spark.stop()
        rows = []
        for lv, p in levels.items():
            acc = pairwise(f"{tmp}/clusters", str(args.work / "truth"), f"person_id_{lv}")
            evidence = math.log2(p / (1 - p)) - prior_bits
            rows.append({"threshold": p, "evidence_bits": round(evidence, 2),
                         **{k: round(v, 4) for k, v in acc.items()}})
            print(json.dumps(rows[-1]), flush=True)
        out["levels"] = rows
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as f:
        f.write(json.dumps(out) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "levels"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
