"""`make bench-incremental`: a weekly incremental run against a full re-run, same data, one script.

Week 1: a synthetic population through the shipped pipeline (conf/pipeline.yaml: both link
groups, NDTMS as anchor), in full. Week 2: the same population with about 1% new records (1%
more people), 0.5% of records changed (a surname or postcode edited in the extract) and 0.2%
withdrawn. Week 2 is then linked twice from copies of week 1's output: incrementally
(``run_pipeline(..., incremental=True)``) and in full; this script reports both runs' times per
stage, the pairs each scored, and whether their published edges and clusters are equal.

    python bench/incremental_bench.py --people 630000     # about 1M records

Writes bench/results/results_incremental.{json,md}. Run it alone on the machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

CHANGED = 0.005
WITHDRAWN = 0.002
NEW_PEOPLE = 0.01
LEVELS = ("high", "medium", "low")


def pipeline_yaml(work: Path, inputs: Path, output: Path, deletion_vectors: bool | list[str] = False) -> Path:
    """conf/pipeline.yaml with this run's input and output roots and absolute config paths."""
    cfg = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    cfg.update(input_root=str(inputs), output_root=str(output), datasets_dir=str(REPO / "conf/datasets"),
               spark=str(REPO / "conf/spark/local.yaml"), ground_truth=None)
    cfg.setdefault("incremental", {})["deletion_vectors"] = deletion_vectors
    for g in cfg["link_groups"]:
        g["model"] = str(REPO / "conf" / g["model"])
    path = work / f"pipeline-{output.name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def change_rows(inputs: Path, share: float) -> dict[str, int]:
    """Edit ``share`` of each extract's rows in place (chosen by a hash of the record id): the
    surname gets a letter appended (the postcode where the source has no surname; the surname
    initial becomes another letter in NDTMS)."""
    import pandas as pd

    from bold_spark.config.datasets import load_dataset_config

    changed = {}
    for ds in sorted((REPO / "conf/datasets").glob("*.yaml")):
        cfg = load_dataset_config(ds)
        path = inputs / cfg.path
        if not path.exists():
            continue
        parquet = path.suffix == ".parquet"
        parts = sorted(path.glob("part-*")) if path.is_dir() else [path]  # Spark writes folders of parts
        df = pd.concat([pd.read_parquet(p) if parquet else pd.read_csv(p, dtype=str, keep_default_na=False)
                        for p in parts], ignore_index=True)
        col = next(cfg.columns[f] for f in ("surname", "postcode", "surname_initial") if f in cfg.columns)
        ids = df[cfg.record_id].astype(str)
        pick = ids.map(lambda v: int(hashlib.sha256(f"change|{v}".encode()).hexdigest()[:8], 16) % 100_000
                       < share * 100_000) & df[col].notna() & (df[col].astype(str) != "")
        df.loc[pick, col] = df.loc[pick, col].astype(str).map(
            lambda v: v + "Q" if len(v) > 1 else ("Z" if v == "Q" else "Q"))  # initials: another letter
        if path.is_dir():  # one file in the folder's place reads the same
            shutil.rmtree(path)
        if parquet:
            df.to_parquet(path, index=False)
        else:
            df.to_csv(path, index=False)
        changed[cfg.path] = int(pick.sum())
    return changed


def compare(spark, a: str, b: str) -> dict:
    """Published edges and clusters of two output roots: equal pairs, largest weight difference,
    and clusters equal at every level (same records under the same smallest key)."""
    from pyspark.sql import functions as F

    from bold_spark.publish import read_published

    ta, tb = read_published(spark, a), read_published(spark, b)
    pair = ["record_key_l", "record_key_r"]
    ea = ta["edges"].select(*pair, F.col("match_weight").alias("wa"))
    eb = tb["edges"].select(*pair, F.col("match_weight").alias("wb"))
    j = ea.join(eb, pair, "full_outer")
    row = j.agg(F.sum(F.when(F.col("wa").isNull(), 1).otherwise(0)).alias("only_full"),
                F.sum(F.when(F.col("wb").isNull(), 1).otherwise(0)).alias("only_incremental"),
                F.max(F.abs(F.col("wa") - F.col("wb"))).alias("max_weight_diff"),
                F.count(F.lit(1)).alias("pairs")).first().asDict()
    keys = ["record_key", *[f"cluster_key_{lv}" for lv in LEVELS]]
    ca, cb = ta["clusters"].select(*keys), tb["clusters"].select(*keys)
    row["cluster_rows_differing"] = ca.exceptAll(cb).count() + cb.exceptAll(ca).count()
    ra, rb = ta["records"].count(), tb["records"].count()
    row["records"] = [ra, rb]
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=630_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--results", type=Path, default=HERE / "results" / "results_incremental")
    ap.add_argument("--dv-tables", default="records",
                    help="the tables the third week-2 run changes in place (incremental.deletion_vectors), "
                         "comma-separated: records (the default), records,edges")
    args = ap.parse_args(argv)
    work = args.work or HERE / "work" / f"incremental-{args.people}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    from engines import spark_session

    from bold_spark.cli import configure_logging
    from bold_spark.config.pipeline import load_pipeline_config
    from bold_spark.pipeline import run_pipeline
    from bold_spark.privacy.keys import SecretKey
    from bold_spark.synthetic import SyntheticSpec, run_generate

    configure_logging()
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    key = SecretKey(b"incremental-bench-key-0123456789abcdef")
    spark = spark_session(str(work / "spark"), "native")
    out: dict = {"people": args.people, "seed": args.seed, "machine": {
        "cores": os.cpu_count(), "platform": platform.platform()},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "stages": {}}

    def timed_run(name: str, inputs: Path, root: Path, incremental: bool,
                  deletion_vectors: bool | list[str] = False) -> dict:
        cfg = load_pipeline_config(pipeline_yaml(work, inputs, root, deletion_vectors))
        t0 = time.perf_counter()
        res = run_pipeline(spark, cfg, key, incremental=incremental)
        wall = time.perf_counter() - t0
        m = res.run.metrics
        info = {"seconds": round(wall, 1), "status": res.run.status,
                "stage_seconds": {k: round(v, 1) for k, v in res.run.stage_seconds.items()},
                "scored_pairs": m.get("scored_pairs"), "kept_edges": m.get("kept_edges"),
                "records_new": m.get("records_new"), "records_changed": m.get("records_changed"),
                "records_withdrawn": m.get("records_withdrawn"), "edges": res.run.table_rows.get("edges"),
                "records": res.run.table_rows.get("records"),
                "identify_decided": m.get("identify_decided"),
                "recluster_region_records": m.get("recluster_region_records"),
                "id_churn": {lv: m.get(f"id_churn_{lv}") for lv in LEVELS}}
        out["stages"][name] = info
        print(f"{name}: {wall:.1f}s {json.dumps(info)}", flush=True)
        return info

    week1, week2 = work / "week1", work / "week2"
    t0 = time.perf_counter()
    run_generate(spark, SyntheticSpec(people=args.people, seed=args.seed), str(week1))
    out["generate_week1_seconds"] = round(time.perf_counter() - t0, 1)
    timed_run("week1_full", week1, work / "out_incremental", incremental=False)
    shutil.copytree(work / "out_incremental", work / "out_full")
    shutil.copytree(work / "out_incremental", work / "out_dv")
    shutil.copytree(work / "out_incremental", work / "out_week1")  # untouched: for replays of week 2
    run_generate(spark, SyntheticSpec(people=round(args.people * (1 + NEW_PEOPLE)), seed=args.seed),
                 str(week2), withdraw=WITHDRAWN)
    out["changed_rows"] = change_rows(week2, CHANGED)
    inc = timed_run("week2_incremental", week2, work / "out_incremental", incremental=True)
    out["dv_tables"] = [t.strip() for t in args.dv_tables.split(",") if t.strip()]
    dv = timed_run("week2_incremental_dv", week2, work / "out_dv", incremental=True,
                   deletion_vectors=out["dv_tables"])
    full = timed_run("week2_full", week2, work / "out_full", incremental=False)
    out["equal"] = compare(spark, str(work / "out_full"), str(work / "out_incremental"))
    out["equal_dv"] = compare(spark, str(work / "out_full"), str(work / "out_dv"))
    out["ratios"] = {"time": round(inc["seconds"] / full["seconds"], 3),
                     "time_dv": round(dv["seconds"] / full["seconds"], 3),
                     "scored_pairs": round((inc["scored_pairs"] or 0) / (full["scored_pairs"] or 1), 4)}
    spark.stop()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    # the suffixes are added, not swapped: a stem such as results_incremental_2.5m keeps its dot
    args.results.parent.joinpath(args.results.name + ".json").write_text(json.dumps(out, indent=2))
    args.results.parent.joinpath(args.results.name + ".md").write_text(markdown(out))
    print(markdown(out))
    return 0


def markdown(r: dict) -> str:
    s = r["stages"]
    lines = [f"Incremental vs full re-run, {r['people']:,} people, machine {r['machine']['cores']} cores, "
             f"{r['date']}; times in seconds (whole `run_pipeline`, ingest to publish).", "",
             "| run | records | new | changed | withdrawn | pairs scored | edges kept | total (s) | "
             "ingest | predict | cluster | identify | analysis |", "|---|" + "---:|" * 12]
    for name in ("week1_full", "week2_incremental", "week2_incremental_dv", "week2_full"):
        if name not in s:
            continue
        x = s[name]
        st = x["stage_seconds"]
        lines.append("| " + " | ".join([name, *[f"{v:,.0f}" if isinstance(v, (int, float)) else "-" for v in (
            x["records"], x["records_new"], x["records_changed"], x["records_withdrawn"], x["scored_pairs"],
            x["kept_edges"])], f"{x['seconds']:.1f}", *[f"{st.get(k, 0):.1f}" for k in (
                "ingest", "predict", "cluster", "identify", "analysis")]]) + " |")
    e = r["equal"]
    lines += ["", f"Incremental / full: time {r['ratios']['time']:.2f}, pairs scored "
              f"{r['ratios']['scored_pairs']:.4f}. Published edges: {e['pairs']:,} pairs, "
              f"{e['only_full']} only in the full run, {e['only_incremental']} only in the incremental run, "
              f"largest match-weight difference {e['max_weight_diff']}; clusters rows differing at any level: "
              f"{e['cluster_rows_differing']}; records {e['records'][0]:,} / {e['records'][1]:,}."]
    if "equal_dv" in r:
        d = r["equal_dv"]
        tables = r.get("dv_tables", ["records", "edges"])
        lines += ["", f"With `incremental.deletion_vectors: [{', '.join(tables)}]` ({' and '.join(tables)} "
                  f"changed in place, the week2_incremental_dv row): time / full "
                  f"{r['ratios']['time_dv']:.2f}; {d['only_full']} pairs only in the full run, "
                  f"{d['only_incremental']} only in the incremental run, largest match-weight difference "
                  f"{d['max_weight_diff']}; cluster rows differing: {d['cluster_rows_differing']}."]
    lines += ["", f"Changed extract rows: {r['changed_rows']}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
