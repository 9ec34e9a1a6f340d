"""The pathway statistic of docs/analysis.md with Polars, from the published ``analysis`` table.

    python pathway_polars.py OUTPUT_ROOT [RUN_ID]

Same definition and output as pathway_duckdb.py.
"""

import json
import os
import sys

import polars as pl

MIN_COUNT = 10
root, run_id = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
published = pl.read_delta(f"{root}/published")
if run_id:
    published = published.filter(pl.col("run_id") == run_id)
current = published.filter((pl.col("seq") == published["seq"].max()) & (pl.col("table_name") == "analysis"))
analysis = pl.read_delta(f"{root}/analysis", version=current["version"][0])


def pathway(person: str) -> dict:
    drr = (analysis.filter((pl.col("source") == "probation")
                           & (pl.col("requirement_type") == "Drug rehabilitation requirement")
                           & pl.col("sentence_date").is_not_null())
           .group_by(person).agg(pl.col("sentence_date").min()))
    starts = analysis.filter((pl.col("source") == "ndtms") & pl.col("treatment_start").is_not_null())
    delay = (pl.col("treatment_start") - pl.col("sentence_date")).dt.total_days()
    flags = (drr.join(starts.select(person, "treatment_start"), on=person, how="left")
             .group_by(person).agg(*[delay.is_between(0, days).fill_null(False).any().alias(f"w{days}")
                                     for days in (21, 182)]))
    def kept(n):
        return n if n >= MIN_COUNT else None
    people, w21, w182 = kept(flags.height), kept(int(flags["w21"].sum())), kept(int(flags["w182"].sum()))
    return {"people": people, "started_21": w21, "started_182": w182,
            "share_21": w21 / people if w21 and people else None,
            "share_182": w182 / people if w182 and people else None}


print(json.dumps({level: pathway(f"person_id_{level}") for level in ("high", "medium", "low")}))
sys.stdout.flush()
os._exit(0)  # see read_published_deltalake.py
