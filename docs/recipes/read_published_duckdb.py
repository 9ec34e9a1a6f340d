"""Read the published set with DuckDB (files listed by delta-rs; DuckDB's delta extension
needs a download at first use, which offline machines cannot make).

    python read_published_duckdb.py OUTPUT_ROOT [RUN_ID]
"""

import json
import os
import sys

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

root, run_id = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
con = duckdb.connect()
pub_files = DeltaTable(f"{root}/published").file_uris()
where = "where run_id = ?" if run_id else ""
seq_sql = f"(select max(seq) from read_parquet({pub_files}) {where})"
versions = dict(con.execute(
    f"select table_name, version from read_parquet({pub_files}) where seq = {seq_sql}",
    [run_id] if run_id else [],
).fetchall())
counts = {}
for table, version in sorted(versions.items()):
    dt = DeltaTable(f"{root}/{table}", version=version)
    if "deletionVectors" in (dt.protocol().reader_features or []):
        # edges and records with incremental.deletion_vectors: their files still hold the rows
        # the deletion vectors remove, so read them through delta-rs, which applies them
        con.register(table, pa.RecordBatchReader.from_stream(dt.scan()).read_all())
    elif dt.file_uris():
        con.execute(f"create view {table} as select * from read_parquet({dt.file_uris()})")
    else:
        counts[table] = 0
        continue
    counts[table] = con.execute(f"select count(*) from {table}").fetchall()[0][0]
print(json.dumps(counts))
sys.stdout.flush()
os._exit(0)  # see read_published_deltalake.py
