"""All reading and writing: Delta tables, source extracts, small text files.

    from bold_spark.io import read_table, write_table
    edges = read_table(spark, "output/demo/edges")             # latest, or version=3

* :mod:`bold_spark.io.delta`: Delta tables through the native writer or delta-rs (exported here).
* :mod:`bold_spark.io.sources`: ``read_source``, a dataset's extract as read, with read reasons.
* :mod:`bold_spark.io.fs`: the Hadoop filesystem of a running session (locks, listings).
* :mod:`bold_spark.io.files`: small text files by local path or URI (pyarrow), without Spark.
"""

from bold_spark.io.delta import (
    read_table,
    table_exists,
    table_rows,
    table_version,
    vacuum_table,
    write_table,
    writer_for,
)

__all__ = [
    "read_table",
    "table_exists",
    "table_rows",
    "table_version",
    "vacuum_table",
    "write_table",
    "writer_for",
]
