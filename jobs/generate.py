"""spark-submit entry point: write a synthetic BOLD population (one extract per source + truth).

spark-submit jobs/generate.py --people 2000 --seed 42 --output /tmp/bold-synthetic
python jobs/generate.py --people 5000000 --output file:///data/synthetic --no-bad-rows
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys

logger = logging.getLogger("bold_spark.jobs.generate")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Generate synthetic BOLD source extracts and ground truth."
    )
    p.add_argument("--people", type=int, default=2000, help="distinct true persons (default 2000)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--output", required=True, help="output folder (any Hadoop URI)")
    p.add_argument(
        "--spark-config",
        default="conf/spark/local.yaml",
        help="Spark config YAML (default conf/spark/local.yaml)",
    )
    p.add_argument(
        "--no-bad-rows",
        action="store_true",
        help="generate no deliberately bad rows (nothing to quarantine)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from bold_spark.session import build_spark, load_spark_config
    from bold_spark.synthetic import ErrorRates, SyntheticSpec, run_generate

    errors = ErrorRates()
    if args.no_bad_rows:
        errors = dataclasses.replace(errors, bad_rows=0.0)
    spec = SyntheticSpec(people=args.people, seed=args.seed, errors=errors)
    spark = build_spark(load_spark_config(args.spark_config))
    counts = run_generate(spark, spec, args.output)
    for name, count in counts.items():
        logger.info("%-13s %12d rows", name, count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
