"""`make bench`: bold-spark against Splink on Spark and Splink on DuckDB, same data, same model.

For each population size: prepare (generate + ingest) once, then run each engine in its own
process while sampling the memory of that whole process tree (Python, JVM, Python workers); at
the ``--wide-at`` sizes every engine runs again with the wide blocking rules (16M comparisons at
1M records of the standard preset, 37M of the realistic one) on the same data. Writes
bench/results/results.json, results.md and results.png.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engines import pairwise  # noqa: E402

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# People; the benchmarked records (NDTMS left out) are about 1.59 per person, so LARGE is about
# 100k, 1M and 10M records.
SMALL = [2_500, 25_000]
LARGE = [63_000, 630_000, 6_300_000]
#: `--large` also runs the wide blocking rules at this size (bench/model.py WIDE_PREDICT_RULES).
LARGE_WIDE = [630_000]
# Splink on Spark run straight is not run above this many people unless --no-limits: at 825k
# records it takes about 10 minutes here, and its pairwise EM grows with the comparisons.
ENGINE_MAX_PEOPLE = {"splink-spark": 1_000_000}
ENGINES = ["bold-spark", "splink-spark", "splink-duckdb"]
#: Also runnable with --engines: bold-spark with the embedded delta-rs writer (the offline fallback).
EXTRA_ENGINES = ["bold-spark-embedded"]


def run_measured(cmd: list[str], timeout: float, log: Path | None = None) -> tuple[dict | None, float, float, str]:
    """Run ``cmd``; return (last JSON line of stdout, wall seconds, peak RSS GiB of the tree, status).
    The child's stderr (its progress log) is saved to ``log``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYARROW_IGNORE_TIMEZONE": "1"})
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    status = "ok"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for p in psutil.Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()
        out, err = proc.communicate()
        status = f"timeout after {timeout:.0f}s"
    done.set()
    th.join()
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(err)
    wall = time.perf_counter() - t0
    if status == "ok" and proc.returncode != 0:
        tail = " | ".join(err.strip().splitlines()[-3:])[:300]
        status = f"failed (exit {proc.returncode}): {tail}"
    result = None
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            result = json.loads(line)
            break
    return result, wall, peak / 2**30, status


def work_dir(root: Path, people: int, difficulty: str, surname_tail: float) -> Path:
    """Where ``prepare.py`` puts a population: ``p630000-realistic-tail73`` and the like."""
    tail = f"-tail{round(surname_tail * 100)}" if surname_tail else ""
    return root / f"p{people}{'' if difficulty == 'standard' else '-' + difficulty}{tail}"


def prepare_population(people: int, root: Path, difficulty: str, surname_tail: float, reuse: bool,
                       timeout: float) -> tuple[Path, dict | None]:
    """Generate and ingest a population with ``prepare.py`` (seed 42) in its own measured process,
    or with ``reuse`` take the one already prepared there with the same preset and surname tail.
    Returns its directory and ``prepare.json``'s figures (None when preparing failed)."""
    work = work_dir(root, people, difficulty, surname_tail)
    prep_json = work / "prepare.json"
    prep = json.loads(prep_json.read_text()) if reuse and prep_json.exists() else None
    if not prep or (prep.get("difficulty", "standard"), prep.get("surname_tail", 0.0)) != (difficulty, surname_tail):
        prep, wall, peak, status = run_measured(
            [sys.executable, str(HERE / "prepare.py"), str(people), "42", str(work), difficulty,
             str(surname_tail)], timeout, work / "prepare.log")
        if prep is None:
            print(f"prepare {people} people: {status}", file=sys.stderr)
            return work, None
        prep.update(prepare_wall_s=round(wall, 1), prepare_peak_gib=round(peak, 2))
        prep_json.write_text(json.dumps(prep, indent=2))
    print(f"{people:,} people -> {prep['records']:,} records: generate {prep['generate_s']}s, "
          f"ingest {prep['ingest_s']}s", file=sys.stderr)
    return work, prep


def machine() -> dict:
    return {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(), "python": platform.python_version()}


def ident(stages: dict) -> str:
    if "identify_first" not in stages:
        return "-"
    return f"{stages['identify_first']:,.1f} / {stages.get('identify_carry', 0):,.1f}"


def scaling_exponent(points: list[tuple[float, float]]) -> float:
    """The slope b of log(y) = log(a) + b * log(x) by least squares over ``points`` (x, y), at
    least two distinct x: how y grows with x (1 = linear, 2 = quadratic)."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def markdown(rows: list[dict], info: dict) -> str:
    lines = [f"Machine: {info['cpus']} cores, {info['memory_gib']} GiB, {info['platform']}. "
             f"Run {info['date']}. Spark local[2]; times in seconds; memory = peak RSS of the "
             "engine's whole process tree.", "",
             "| records | blocking | engine | setup | train | predict | cluster | total "
             "| identify (first / carry-over) "
             "| process wall | e2e (incl. ingest) | peak GiB | comparisons | comp/s (predict) | precision "
             "| recall | F1 | status |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        s = r.get("stages", {})
        cps = r["comparisons"] / s["predict"] if r.get("comparisons") and s.get("predict") else None
        f = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"  # noqa: E731
        lines.append(
            f"| {r['records']:,} | {r.get('blocking', 'narrow')} | {r['engine']} | {f(s.get('setup'))} | "
            f"{f(s.get('train'))} | "
            f"{f(s.get('predict'))} | {f(s.get('cluster'))} | {f(r.get('total_s'))} | "
            f"{ident(s)} | {f(r.get('wall_s'))} | {f(r.get('e2e_s'))} | {f(r.get('peak_gib'), 2)} | "
            f"{f(r.get('comparisons'), 0)} | {f(cps, 0)} | {f(r.get('precision'), 4)} | "
            f"{f(r.get('recall'), 4)} | {f(r.get('f1'), 4)} | {r['status']} |")
    by_size: dict[tuple[int, str], dict] = {}
    for r in rows:
        by_size.setdefault((r["records"], r.get("blocking", "narrow")), {})[r["engine"]] = r
    lines += ["", "Ratios (same run, same data):", "",
              "| records | blocking | Splink-Spark / bold-spark (total) | bold-spark / Splink-DuckDB (total) |",
              "|---:|---|---:|---:|"]
    for (n, blocking), e in sorted(by_size.items()):
        b = e.get("bold-spark", {}).get("total_s")
        s = e.get("splink-spark", {}).get("total_s")
        d = e.get("splink-duckdb", {}).get("total_s")
        lines.append(f"| {n:,} | {blocking} | {s / b:.1f}x |" if b and s else f"| {n:,} | {blocking} | - |")
        lines[-1] += f" {b / d:.1f}x |" if b and d else " - |"
    lines += ["", "Scaling (narrow blocking, every size that ran ok): the exponent b of time = a * n^b, by "
              "least squares on log-log, against comparisons and against records (1 = linear); fixed costs "
              "(session start, per-job overheads) pull it below 1 at small sizes, so the last column "
              "takes the two largest sizes only:", "",
              "| engine | sizes | exponent vs comparisons | exponent vs records | vs comparisons, two largest |",
              "|---|---:|---:|---:|---:|"]
    for engine in [*ENGINES, *EXTRA_ENGINES]:
        pts = [(r["comparisons"], r["records"], r["total_s"]) for r in rows
               if r["engine"] == engine and r["status"] == "ok" and r.get("blocking", "narrow") == "narrow"
               and r.get("comparisons") and r.get("total_s")]
        if len({p[1] for p in pts}) >= 2:
            top = sorted(pts, key=lambda p: p[1])[-2:]
            lines.append(f"| {engine} | {len(pts)} | {scaling_exponent([(c, t) for c, _, t in pts]):.2f} | "
                         f"{scaling_exponent([(n, t) for _, n, t in pts]):.2f} | "
                         f"{scaling_exponent([(c, t) for c, _, t in top]):.2f} |")
    lines += ["", "Data preparation (synthetic generator, all five sources incl. NDTMS; then ingest of the four "
              "name-bearing sources):", "",
              "| people | preset | records benchmarked | generate (s) | extract rows written | ingest (s) "
              "| prepare peak GiB |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    seen = set()
    for r in rows:
        if r["people"] in seen:
            continue
        seen.add(r["people"])
        written = (r.get("extract_rows") or {}).get("ground_truth")  # one truth row per extract row
        tail = f", surname tail {r['surname_tail']}" if r.get("surname_tail") else ""
        preset = r.get("difficulty", "standard") + tail
        lines.append(f"| {r['people']:,} | {preset} | {r['records']:,} | "
                     f"{r.get('generate_s', '-')} | "
                     f"{'-' if written is None else f'{written:,}'} | {r.get('ingest_s', '-')} | "
                     f"{r.get('prepare_peak_gib') or '-'} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for engine in [*ENGINES, *EXTRA_ENGINES]:
        pts = sorted((r["records"], r.get("total_s"), r.get("peak_gib")) for r in rows
                     if r["engine"] == engine and r["status"] == "ok" and r.get("blocking", "narrow") == "narrow")
        if not pts:
            continue
        ax1.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=engine)
        ax2.plot([p[0] for p in pts], [p[2] for p in pts], marker="o", label=engine)
    for ax, title in ((ax1, "train + predict + cluster (s)"), (ax2, "peak memory (GiB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("records")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_engine(engine: str, blocking: str, people: int, prep: dict, work: Path, args, rows: list[dict]) -> list[dict]:
    """Run one engine at one size and blocking in its own measured process; return the rows with
    its row added (a re-measured size, engine and blocking replaces the old row)."""
    if not args.no_limits and people > ENGINE_MAX_PEOPLE.get(engine, people):
        print(f"  {engine:14s} skipped above {ENGINE_MAX_PEOPLE[engine]:,} people (--no-limits runs it)",
              file=sys.stderr)
        return rows
    name = engine if blocking == "narrow" else f"{engine}-{blocking}"
    clusters_out = work / f"clusters_{name}"
    res, wall, peak, status = run_measured(
        [sys.executable, str(HERE / "engines.py"), engine, str(work / "records"), str(clusters_out), blocking],
        args.timeout, work / f"{name}.log")
    if res:  # accuracy outside the measured engine process
        res.update(pairwise(str(clusters_out), str(work / "truth")))
    row = {"engine": engine, "blocking": blocking, "people": people, "records": prep["records"],
           "difficulty": prep.get("difficulty", "standard"), "surname_tail": prep.get("surname_tail", 0.0),
           "status": status,
           "peak_gib": round(peak, 2), "wall_s": round(wall, 1),
           "generate_s": prep["generate_s"], "ingest_s": prep["ingest_s"],
           "prepare_peak_gib": prep.get("prepare_peak_gib"),
           "extract_rows": prep.get("extract_rows"), **(res or {})}
    if engine.startswith("bold-spark") and res:
        row["e2e_s"] = round(prep["ingest_s"] + res["total_s"], 2)
    key = (people, engine, blocking)
    rows = [r for r in rows if (r["people"], r["engine"], r.get("blocking", "narrow")) != key] + [row]
    order = [*ENGINES, *EXTRA_ENGINES]
    rows.sort(key=lambda r: (r["records"], r.get("blocking", "narrow") != "narrow", order.index(r["engine"])))
    print(f"  {name:20s} {status:10s} total {row.get('total_s', '-')}s peak {peak:.2f} GiB "
          f"F1 {row.get('f1', float('nan')):.4f}", file=sys.stderr)
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--large", action="store_true", help=f"people sizes {LARGE} instead of {SMALL}")
    ap.add_argument("--people", type=int, nargs="*", help="explicit population sizes")
    ap.add_argument("--engines", nargs="*", default=ENGINES)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--work", default=str(HERE / "work"))
    ap.add_argument("--tag", default=None,
                    help="suffix for the result files (default: none with --large/--people, '_small' otherwise)")
    ap.add_argument("--no-limits", action="store_true",
                    help=f"run every engine at every size (default skips {ENGINE_MAX_PEOPLE})")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse a population already prepared in --work for the same size (skips generate + ingest)")
    ap.add_argument("--wide-at", type=int, nargs="*", default=None,
                    help=f"population sizes also run with the wide blocking rules (default {LARGE_WIDE} "
                         "with --large, none otherwise)")
    ap.add_argument("--tf-at", type=int, nargs="*", default=[],
                    help="population sizes also run with the narrow model plus term-frequency "
                         "adjustments on the names (bench/model.py, the 'tf' variant)")
    ap.add_argument("--difficulty", choices=["standard", "realistic"], default="realistic",
                    help="the generator's preset (docs/synthetic.md): realistic has households, twins, "
                         "name changes, swaps and nicknames")
    ap.add_argument("--surname-tail", type=float, default=0.0,
                    help="the generator's surname_tail (docs/synthetic.md): 0.73 spreads surnames about as "
                         "England and Wales' are; default 0, the 400 listed surnames only")
    ap.add_argument("--append", action="store_true",
                    help="keep the rows already in the result file (a re-measured size and engine replaces its row)")
    args = ap.parse_args(argv)
    sizes = args.people or (LARGE if args.large else SMALL)
    wide_at = set(args.wide_at if args.wide_at is not None else (LARGE_WIDE if args.large else []))
    if args.tag is None:  # `make bench` must not overwrite the large results the README quotes
        args.tag = "" if (args.large or args.people) else "_small"
    RESULTS.mkdir(parents=True, exist_ok=True)
    info = {**machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    rows: list[dict] = []
    result_json = RESULTS / f"results{args.tag}.json"
    if args.append and result_json.exists():
        rows = json.loads(result_json.read_text())["rows"]
    for people in sizes:
        work, prep = prepare_population(people, Path(args.work), args.difficulty, args.surname_tail,
                                        args.reuse, args.timeout)
        if prep is None:
            continue
        for blocking in ["narrow", *(["wide"] if people in wide_at else []),
                         *(["tf"] if people in args.tf_at else [])]:
            for engine in args.engines:
                rows = run_engine(engine, blocking, people, prep, work, args, rows)
                result_json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2))
    (RESULTS / f"results{args.tag}.md").write_text(markdown(rows, info))
    plot(rows, RESULTS / f"results{args.tag}.png")
    print(markdown(rows, info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
