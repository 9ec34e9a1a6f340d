"""spark-submit entry point: `bold generate`, a synthetic BOLD population (one extract per source
plus the ground truth). See `python jobs/generate.py --help`.

spark-submit jobs/generate.py --people 2000 --seed 42 --output /tmp/bold-synthetic
python jobs/generate.py --people 5000000 --output file:///data/synthetic --no-bad-rows
spark-submit jobs/generate.py --people 20000 --difficulty realistic --output /tmp/bold-realistic
"""

import sys

from bold_spark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    return job_main("generate", argv)


if __name__ == "__main__":
    sys.exit(main())
