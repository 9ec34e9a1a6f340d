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


class BlockingCapExceeded(BoldError):
    """Blocking rules would generate more comparisons than the configured cap."""


class DeltaWriteError(BoldError):
    """A Delta table write or commit failed; the previous table version is untouched."""


class StageError(BoldError):
    """A pipeline stage failed; the message names the stage."""

    def __init__(self, stage: str, cause: BaseException):
        self.stage = stage
        super().__init__(f"stage '{stage}' failed: {type(cause).__name__}: {cause}")


class AuditError(BoldError):
    """A run failed its audit checks (record conservation, cluster sizes); nothing is published."""
