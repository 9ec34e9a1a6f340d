"""Read the published set with DuckDB (files listed by delta-rs; DuckDB's delta extension
needs a download at first use, which offline machines cannot make).

    python read_published_duckdb.py OUTPUT_ROOT [RUN_ID]
"""

import json
import os
import sys

import duckdb
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
for table, version in versions.items():
    files = DeltaTable(f"{root}/{table}", version=version).file_uris()
    if files:
        con.execute(f"create view {table} as select * from read_parquet({files})")
counts = {t: (con.execute(f"select count(*) from {t}").fetchone()[0]
              if DeltaTable(f"{root}/{t}", version=v).file_uris() else 0)
          for t, v in sorted(versions.items())}
print(json.dumps(counts))
sys.stdout.flush()
os._exit(0)  # see read_published_deltalake.py
