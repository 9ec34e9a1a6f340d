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
