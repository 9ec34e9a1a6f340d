"""The secret pseudonymisation key: read from the environment or a key file, never logged."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bold_spark.exceptions import SecretKeyError

MIN_KEY_BYTES = 16


@dataclass(frozen=True)
class SecretKey:
    """Holds the key bytes. Its repr and str never show them."""

    _value: bytes

    @property
    def value(self) -> bytes:
        return self._value

    def fingerprint(self) -> str:
        """A short non-reversible id of the key (safe to log), to tell runs' keys apart."""
        return hashlib.sha256(b"bold-key-fingerprint:" + self._value).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"SecretKey(fingerprint={self.fingerprint()})"

    __str__ = __repr__


def load_key(key_env: str = "BOLD_HMAC_KEY", key_file_env: str = "BOLD_HMAC_KEY_FILE") -> SecretKey:
    """Key from ``$BOLD_HMAC_KEY`` (the key itself) or ``$BOLD_HMAC_KEY_FILE`` (a path to it)."""
    raw = os.environ.get(key_env)
    if raw is None and os.environ.get(key_file_env):
        path = Path(os.environ[key_file_env])
        if not path.is_file():
            raise SecretKeyError(f"${key_file_env} names {path}, which is not a readable file")
        raw = path.read_text().strip()
    if not raw:
        raise SecretKeyError(
            f"no pseudonymisation key: set ${key_env} to the secret key, or ${key_file_env} to "
            "the path of a file holding it (for a throwaway key: `bold keygen`)"
        )
    value = raw.encode()
    if len(value) < MIN_KEY_BYTES:
        raise SecretKeyError(f"the key in ${key_env}/${key_file_env} is shorter than {MIN_KEY_BYTES} bytes")
    return SecretKey(value)


def generate_key_text() -> str:
    """A fresh random key as text (64 hex characters)."""
    return secrets.token_hex(32)


KEY_FILE_MODE = 0o600


def write_key_file(path: str | Path, text: str | None = None) -> Path:
    """Create ``path`` holding a key (a fresh one unless ``text`` is given), readable by its owner
    only from the moment it exists: opened with O_CREAT|O_EXCL and mode 0600, so no other user
    can open it between creation and a later chmod. An existing file is never overwritten."""
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, KEY_FILE_MODE)
    except FileExistsError as e:
        raise SecretKeyError(f"{path} already exists: a key file is never overwritten "
                             "(remove it first if it really is to be replaced)") from e
    except OSError as e:
        raise SecretKeyError(f"cannot create key file {path}: {e.strerror}") from e
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # the umask may only remove bits; make the mode exact
        with os.fdopen(fd, "w") as f:
            fd = -1
            f.write((text if text is not None else generate_key_text()) + "\n")
    finally:
        if fd != -1:
            os.close(fd)
    return path
