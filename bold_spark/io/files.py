"""Small text files (configs, model JSON) at a local path or any URI pyarrow's filesystems
know (``file://``, ``s3://`` and ``s3a://``, ``gs://``, ``hdfs://``, ``abfs://``), read and
written without a Spark session, so configs and models need not live on the driver's disk.
Object-store credentials come from the environment, as for delta-rs."""

from __future__ import annotations

import posixpath
import re

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")


def is_uri(path: str) -> bool:
    """``path`` names its filesystem by a scheme (``s3a://``, ``abfss://``, ``file:/``...),
    not a local path."""
    path = str(path)
    return "://" in path or bool(_SCHEME.match(path))


def local_path(path: str) -> str | None:
    """The local path of ``path`` when it is one (a plain path or a ``file:`` URI), else None."""
    path = str(path)
    if not is_uri(path):
        return path
    if path.startswith("file:"):
        rest = path[len("file:"):]
        return "/" + rest.lstrip("/") if rest.startswith("/") else rest
    return None


def _fs(uri: str):
    from pyarrow import fs

    if uri.startswith("s3a://"):
        uri = "s3://" + uri[len("s3a://"):]
    if uri.startswith("file:") and not uri.startswith("file://"):
        uri = "file://" + uri[len("file:"):]
    return fs.FileSystem.from_uri(uri)


def exists(path: str) -> bool:
    """Whether a file exists at ``path``."""
    from pathlib import Path

    if not is_uri(path):
        return Path(path).is_file()
    from pyarrow import fs

    filesystem, p = _fs(str(path))
    return filesystem.get_file_info(p).type == fs.FileType.File


def is_dir(path: str) -> bool:
    """Whether a folder exists at ``path`` (on object stores: any object under the prefix)."""
    from pathlib import Path

    if not is_uri(path):
        return Path(path).is_dir()
    from pyarrow import fs

    filesystem, p = _fs(str(path))
    return filesystem.get_file_info(p).type == fs.FileType.Directory


def parent(path: str) -> str:
    """The folder holding ``path`` (a URI stays a URI)."""
    if is_uri(path):
        return posixpath.dirname(str(path).rstrip("/"))
    from pathlib import Path

    return str(Path(path).parent)


def read_text(path: str) -> str:
    """The file's content as UTF-8 text; FileNotFoundError when it does not exist."""
    from pathlib import Path

    if not is_uri(path):
        return Path(path).read_text(encoding="utf-8")
    if not exists(path):
        raise FileNotFoundError(path)
    filesystem, p = _fs(str(path))
    with filesystem.open_input_stream(p) as f:
        return f.read().decode("utf-8")


def write_text(path: str, text: str) -> None:
    """Write (replace) a text file, creating its folder."""
    from pathlib import Path

    if not is_uri(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
        return
    filesystem, p = _fs(str(path))
    filesystem.create_dir(posixpath.dirname(p), recursive=True)
    with filesystem.open_output_stream(p) as f:
        f.write(text.encode("utf-8"))


def sibling(path: str, name: str) -> str:
    """The path of ``name`` in the same folder as ``path`` (URIs kept as URIs)."""
    return posixpath.join(posixpath.dirname(str(path)), name)


def stem(path: str) -> str:
    """The file name without its last extension ('conf/models/rich.json' -> 'rich')."""
    base = posixpath.basename(str(path))
    return base.rsplit(".", 1)[0] if "." in base else base
