"""spark-submit entry point for the whole pipeline: `bold run`. See `--help`."""

import sys

from bold_spark.cli import job_main


def main(argv: list[str] | None = None) -> int:
    return job_main("run", argv)


if __name__ == "__main__":
    sys.exit(main())
