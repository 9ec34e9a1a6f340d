"""Read the published set with Polars.

    python read_published_polars.py OUTPUT_ROOT [RUN_ID]
"""

import json
import os
import sys

import polars as pl

root, run_id = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
published = pl.read_delta(f"{root}/published")
if run_id:
    published = published.filter(pl.col("run_id") == run_id)
current = published.filter(pl.col("seq") == published["seq"].max())
tables = {r["table_name"]: pl.read_delta(f"{root}/{r['table_name']}", version=r["version"])
          for r in current.iter_rows(named=True)}
print(json.dumps({t: df.height for t, df in sorted(tables.items())}))
sys.stdout.flush()
os._exit(0)  # see read_published_deltalake.py
