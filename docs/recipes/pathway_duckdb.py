"""The pathway statistic of docs/analysis.md with DuckDB, from the published ``analysis`` table
alone (files listed by delta-rs; no Spark, no bold-spark).

    python pathway_duckdb.py OUTPUT_ROOT [RUN_ID]

Of people with a drug rehabilitation requirement (their earliest such sentence), how many have
an NDTMS treatment start 0-21 and 0-182 days after it, at each threshold's person IDs. Prints
JSON: threshold -> {people, started_21, started_182, share_21, share_182}; counts below 10
are suppressed (null), and so is any share built on one.
"""

import json
import os
import sys

import duckdb
from deltalake import DeltaTable

MIN_COUNT = 10
root, run_id = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
con = duckdb.connect()
pub = DeltaTable(f"{root}/published").file_uris()
where = "where run_id = ?" if run_id else ""
version = con.execute(
    f"select version from read_parquet({pub}) where table_name = 'analysis' and seq = "
    f"(select max(seq) from read_parquet({pub}) {where})", [run_id] if run_id else [],
).fetchone()[0]
files = DeltaTable(f"{root}/analysis", version=version).file_uris()
con.execute(f"create view analysis as select * from read_parquet({files})")

PATHWAY = """
with drr as (
    select {person} as person, min(sentence_date) as sentence_date
    from analysis
    where source = 'probation' and requirement_type = 'Drug rehabilitation requirement'
      and sentence_date is not null
    group by 1),
starts as (
    select {person} as person, treatment_start from analysis
    where source = 'ndtms' and treatment_start is not null),
flags as (
    select d.person,
           max(coalesce(date_diff('day', d.sentence_date, s.treatment_start) between 0 and 21, false)::int) as w21,
           max(coalesce(date_diff('day', d.sentence_date, s.treatment_start) between 0 and 182, false)::int) as w182
    from drr d left join starts s on s.person = d.person
    group by d.person)
select count(*), sum(w21), sum(w182) from flags
"""


def kept(n):
    return int(n) if n is not None and n >= MIN_COUNT else None


out = {}
for level in ("high", "medium", "low"):
    people, w21, w182 = (kept(n) for n in con.execute(PATHWAY.format(person=f"person_id_{level}")).fetchone())
    out[level] = {"people": people, "started_21": w21, "started_182": w182,
                  "share_21": w21 / people if w21 and people else None,
                  "share_182": w182 / people if w182 and people else None}
print(json.dumps(out))
sys.stdout.flush()
os._exit(0)  # see read_published_deltalake.py
