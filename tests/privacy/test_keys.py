"""The key file is created owner-only from the start and never overwritten."""

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bold_spark.exceptions import SecretKeyError
from bold_spark.privacy import keys
from bold_spark.privacy.keys import load_key, write_key_file


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def open_umask():
    """The most permissive umask: a file created 0666 and chmod-ed later would be world-readable
    in between."""
    old = os.umask(0)
    yield
    os.umask(old)


def test_key_file_created_with_mode_600(tmp_path, monkeypatch, open_umask):
    opened = []
    real_open = os.open

    def spy_open(path, flags, mode=0o777, *a, **kw):
        opened.append((Path(path), flags, mode))
        return real_open(path, flags, mode, *a, **kw)

    def no_chmod(*a, **kw):
        raise AssertionError("the key file must not need a chmod after creation")

    monkeypatch.setattr(keys.os, "open", spy_open)
    monkeypatch.setattr(keys.os, "chmod", no_chmod)
    monkeypatch.setattr(Path, "chmod", no_chmod)
    target = tmp_path / "bold.key"
    write_key_file(target)
    [(path, flags, mode)] = opened
    assert path == target
    assert flags & os.O_CREAT and flags & os.O_EXCL
    assert mode == 0o600
    assert _mode(target) == 0o600
    monkeypatch.setenv("BOLD_HMAC_KEY_FILE", str(target))
    monkeypatch.delenv("BOLD_HMAC_KEY", raising=False)
    assert len(load_key().value) == 64


def test_existing_key_file_never_overwritten(tmp_path):
    target = tmp_path / "bold.key"
    target.write_text("the-real-key-keep-me-0123456789\n")
    with pytest.raises(SecretKeyError, match=r"already exists"):
        write_key_file(target)
    assert target.read_text() == "the-real-key-keep-me-0123456789\n"


def test_cli_keygen_creates_600_file_and_refuses_overwrite(tmp_path, open_umask):
    from bold_spark.cli import app

    target = tmp_path / "k" / "bold.key"
    target.parent.mkdir()
    runner = CliRunner()
    first = runner.invoke(app, ["keygen", "--out", str(target)])
    assert first.exit_code == 0, first.output
    assert _mode(target) == 0o600
    key_text = target.read_text()
    again = runner.invoke(app, ["keygen", "--out", str(target)])
    assert again.exit_code == 1
    assert "already exists" in " ".join(again.output.split())  # rich wraps long lines
    assert target.read_text() == key_text
    assert key_text.strip() not in first.output + again.output  # the key is never printed
