"""spark-submit entry point: `bold report`. See `python jobs/report.py --help`."""

import sys

from bold_spark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    return job_main("report", argv)


if __name__ == "__main__":
    sys.exit(main())
