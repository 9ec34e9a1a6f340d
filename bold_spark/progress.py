"""Stage progress for long jobs: names, counts, elapsed time, and the failing stage named."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bold_spark.exceptions import BoldError, StageError, redact_error

logger = logging.getLogger("bold_spark.progress")


@contextmanager
def stage(name: str, timings: dict[str, float] | None = None) -> Iterator[None]:
    """Log the start and end of a stage with its elapsed time; wrap failures in StageError."""
    t0 = time.monotonic()
    logger.info("[%s] started", name)
    try:
        yield
    except StageError:
        raise
    except BoldError as e:
        logger.error("[%s] failed after %.1fs: %s", name, time.monotonic() - t0, redact_error(e))
        raise StageError(name, e) from e
    except Exception as e:
        logger.error("[%s] failed after %.1fs: %s", name, time.monotonic() - t0, redact_error(e))
        raise StageError(name, e) from e
    elapsed = time.monotonic() - t0
    if timings is not None:
        timings[name] = round(elapsed, 3)
    logger.info("[%s] done in %.1fs", name, elapsed)
