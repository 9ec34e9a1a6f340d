"""One base exception for the project; every error a user can meet derives from it."""

from __future__ import annotations


class BoldError(Exception):
    """Base class of every bold-spark error."""


class ConfigError(BoldError):
    """A configuration file is missing, malformed, or names something that does not exist.

    The message always names the file and the key.
    """

    def __init__(self, file: str, key: str, problem: str):
        self.file = str(file)
        self.key = key
        self.problem = problem
        super().__init__(f"{self.file}: key '{key}': {problem}")


class InputError(BoldError):
    """A source extract cannot be read: missing, empty, wrong format or missing columns."""


class SecretKeyError(BoldError):
    """The pseudonymisation key is missing or unusable. The key itself is never included."""


class KeyMismatchError(SecretKeyError):
    """The run's pseudonymisation key is not the one the published set under its output root was
    made with (their fingerprints differ)."""


class BlockingCapExceeded(BoldError):
    """Blocking rules would generate more comparisons than the configured cap."""


class DeltaWriteError(BoldError):
    """A Delta table write or commit failed; the previous table version is untouched."""


class StageError(BoldError):
    """A pipeline stage failed; the message names the stage."""

    def __init__(self, stage: str, cause: BaseException):
        self.stage = stage
        super().__init__(f"stage '{stage}' failed: {type(cause).__name__}: {cause}")


class RunModeError(BoldError):
    """The run cannot go on as asked (incremental, key rotation): the message says which kind of
    run to start instead."""


class AuditError(BoldError):
    """A run failed its audit checks (record conservation, cluster sizes); nothing is published."""


#: Errors whose messages bold-spark writes itself from counts, file, column and key names only.
_VALUE_FREE = (ConfigError, InputError, SecretKeyError, BlockingCapExceeded, AuditError, RunModeError)


def redact_error(e: BaseException, limit: int = 2000) -> str:
    """Error text fit for the analyst zone (``runs.error``, logs): the message of bold-spark's
    own value-free errors, only the exception type of anything else (a Spark or delta-rs error
    can quote row values)."""
    if isinstance(e, StageError) and e.__cause__ is not None:
        return f"stage '{e.stage}': {redact_error(e.__cause__, limit)}"
    if isinstance(e, _VALUE_FREE):
        return f"{type(e).__name__}: {str(e)[:limit]}"
    return f"{type(e).__name__} (message withheld from the analyst zone: it may quote record values)"
