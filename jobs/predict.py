"""spark-submit entry point: `bold predict`. See `python jobs/predict.py --help`."""

import sys

from bold_spark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    return job_main("predict", argv)


if __name__ == "__main__":
    sys.exit(main())
