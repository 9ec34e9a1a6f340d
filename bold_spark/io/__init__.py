"""All reading and writing: source extracts and Delta tables."""

from bold_spark.io.delta import read_table, table_exists, table_version, write_table

__all__ = ["read_table", "table_exists", "table_version", "write_table"]
