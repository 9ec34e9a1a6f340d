"""Filesystem access through Hadoop's FileSystem, so every path may be a local path or any
Hadoop URI (file://, hdfs://, s3a://, abfss://). The one place the project talks to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class FileStatus:
    path: str  # full URI
    rel: str  # path relative to the listed root
    size: int
    mtime_ms: int


def hadoop_fs(spark: SparkSession, path: str):
    """(FileSystem, Path) for ``path`` under the session's Hadoop configuration."""
    jvm = spark.sparkContext._jvm
    jpath = jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), jpath


def exists(spark: SparkSession, path: str) -> bool:
    fs, jpath = hadoop_fs(spark, path)
    return bool(fs.exists(jpath))


def content_size(spark: SparkSession, path: str) -> tuple[int, int]:
    """(bytes, files) of the file or folder at ``path``."""
    fs, jpath = hadoop_fs(spark, path)
    summary = fs.getContentSummary(jpath)
    return int(summary.getLength()), int(summary.getFileCount())


def list_files(spark: SparkSession, root: str, suffix: str = "", hidden: bool = False) -> list[FileStatus]:
    """Files under ``root`` (recursively) ending with ``suffix``; paths with a component that
    starts with ``_`` or ``.`` (``_delta_log``, ``.crc`` files) only when ``hidden``."""
    fs, jroot = hadoop_fs(spark, root)
    if not fs.exists(jroot):
        return []
    root_path = fs.makeQualified(jroot).toUri().getPath().rstrip("/") + "/"
    it = fs.listFiles(jroot, True)
    out = []
    while it.hasNext():
        st = it.next()
        jpath = st.getPath()
        rel = jpath.toUri().getPath()[len(root_path):]
        if not rel.endswith(suffix):
            continue
        if not hidden and any(part.startswith(("_", ".")) for part in rel.split("/")):
            continue
        out.append(FileStatus(jpath.toString(), rel, int(st.getLen()), int(st.getModificationTime())))
    return out


def delete(spark: SparkSession, path: str, recursive: bool = True) -> bool:
    fs, jpath = hadoop_fs(spark, path)
    return bool(fs.delete(jpath, recursive))


def read_text(spark: SparkSession, path: str) -> str | None:
    """The whole (small) file as UTF-8 text, or None when it does not exist."""
    fs, jpath = hadoop_fs(spark, path)
    if not fs.exists(jpath):
        return None
    jvm = spark.sparkContext._jvm
    stream = fs.open(jpath)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def create_exclusive(spark: SparkSession, path: str, text: str) -> bool:
    """Create ``path`` holding ``text`` only if it does not exist yet; False if it does.

    Atomic on local filesystems and HDFS (create with overwrite=false); object stores without
    conditional writes give weaker guarantees (docs/cluster.md)."""
    fs, jpath = hadoop_fs(spark, path)
    try:
        stream = fs.create(jpath, False)
    except Exception as e:  # noqa: BLE001 - FileAlreadyExistsException arrives as a Py4J error
        if "FileAlreadyExists" in str(e) or fs.exists(jpath):
            return False
        raise
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    return True


def write_text(spark: SparkSession, path: str, text: str) -> None:
    """Write (or overwrite) a small UTF-8 text file."""
    fs, jpath = hadoop_fs(spark, path)
    stream = fs.create(jpath, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
