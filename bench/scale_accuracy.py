"""`make bench-scale`: issue 17's F1 at 10M records against 1M, on the benchmark population.

For each population size: prepare it once (``run_bench.prepare_population``: generate + ingest,
seed 42, the realistic preset; with ``--surname-tail 0.73`` surnames are spread about as England
and Wales' are, docs/synthetic.md), then run ``threshold_scale.py`` on it in its own process for
each model variant (bench/model.py: ``full`` by default, the names with term-frequency
adjustments plus the PNC and NI number hashes, middle names and postcode levels). Writes
bench/results/results_scale_accuracy.md from the rows ``threshold_scale.py`` appended to
results_threshold_scale.jsonl: pairwise precision / recall / F1 at the pipeline's medium
threshold (match probability 0.95) and at 25 bits of evidence, and the loss from the smallest to
the largest size (the target: at most 2 points).

    python bench/scale_accuracy.py                      # 630,000 and 6,300,000 people, tail 0.73, full
    python bench/scale_accuracy.py --reuse --blocking full tf --surname-tail 0

About 30 minutes on this machine with both populations to prepare (2 cores); run it alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from run_bench import prepare_population  # noqa: E402
from threshold_scale import probability_at  # noqa: E402

from bold_spark.config.pipeline import ThresholdsConfig  # noqa: E402

RESULTS = HERE / "results"
PEOPLE = [630_000, 6_300_000]
#: The probability grid clustered at each size: the pipeline's thresholds and the ground between
#: (not below 0.2, where households chain into giant components at 10M and clustering crawls).
GRID = "0.2,0.35,0.5,0.65,0.8,0.9,0.95,0.99,0.999"
MEDIUM = ThresholdsConfig().medium  # the pipeline's medium threshold (0.95)
EVIDENCE_BITS = 25.0
TARGET_POINTS = 2.0


def _at(row: dict, threshold: float) -> dict | None:
    """The level of ``row`` clustered at ``threshold`` (a match probability)."""
    return next((lv for lv in row["levels"] if abs(lv["threshold"] - threshold) < 1e-9), None)


def _levels(row: dict) -> tuple[dict | None, dict | None]:
    """``row``'s levels at the medium threshold and at :data:`EVIDENCE_BITS` of evidence (the
    probability ``threshold_scale.py`` turned those bits into with the row's trained prior)."""
    return _at(row, MEDIUM), _at(row, probability_at(EVIDENCE_BITS, row["prior"]))


def _prf(level: dict | None) -> str:
    return f"{level['precision']:.4f} / {level['recall']:.4f} / {level['f1']:.4f}" if level else "-"


def summary(rows: list[dict], works: list[str], blockings: list[str]) -> str:
    """The markdown table of the newest row per population (a directory name in ``works``, in
    that order) and model variant, and the F1 lost from the first population to the last."""
    newest: dict[tuple[str, str], dict] = {}
    for row in rows:
        key = (Path(row["work"]).name, row["blocking"])
        if key[0] in works and key[1] in blockings and row.get("date", "") >= newest.get(key, {}).get("date", ""):
            newest[key] = row
    lines = ["| population | model | records | comparisons | prior | at p >= 0.95: P / R / F1 | "
             "at 25 bits: P / R / F1 | best F1 on the grid | measured |", "|---|---|---:|---:|---:|---|---|---|---|"]
    for blocking in blockings:
        for work in works:
            row = newest.get((work, blocking))
            if row is None:
                continue
            best = max(row["levels"], key=lambda lv: lv["f1"])
            medium, evidence = _levels(row)
            lines.append(
                f"| {work} | {blocking} | {row['records']:,} | {row['comparisons']:,} | {row['prior']:.3g} | "
                f"{_prf(medium)} | {_prf(evidence)} | "
                f"{best['f1']:.4f} (p {best['threshold']:.3g}) | {row['date']} |")
    lines.append("")
    for blocking in blockings:
        first, last = newest.get((works[0], blocking)), newest.get((works[-1], blocking))
        if first is None or last is None or first is last:
            continue
        for label, a, b in zip((f"at p >= {MEDIUM:g}", f"at {EVIDENCE_BITS:g} bits"), _levels(first),
                               _levels(last), strict=True):
            if a and b:
                loss = 100 * (a["f1"] - b["f1"])
                verdict = "met" if loss <= TARGET_POINTS else "missed"
                lines.append(f"- {blocking}, {label}: F1 {a['f1']:.4f} at {first['records']:,} records, "
                             f"{b['f1']:.4f} at {last['records']:,}: **{loss:.1f} points lower** "
                             f"(target at most {TARGET_POINTS:g}: {verdict})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, nargs="+", default=PEOPLE)
    ap.add_argument("--difficulty", choices=["standard", "realistic"], default="realistic")
    ap.add_argument("--surname-tail", type=float, default=0.73)
    ap.add_argument("--blocking", nargs="+", default=["full"], help="bench/model.py variants")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse populations already prepared in --work with the same preset and tail")
    ap.add_argument("--work", type=Path, default=HERE / "work")
    ap.add_argument("--timeout", type=float, default=4 * 3600)
    args = ap.parse_args(argv)
    works = []
    for people in args.people:
        work, prep = prepare_population(people, args.work, args.difficulty, args.surname_tail, args.reuse,
                                        args.timeout)
        if prep is None:
            return 1
        works.append(work.name)
        for blocking in args.blocking:
            t0 = time.perf_counter()
            print(f"threshold_scale: {work.name}, {blocking} ...", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, str(HERE / "threshold_scale.py"), "--work", str(work),
                            "--blocking", blocking, "--evidence", str(EVIDENCE_BITS), "--thresholds", GRID],
                           check=True, timeout=args.timeout, stdout=subprocess.DEVNULL)
            print(f"threshold_scale: {work.name}, {blocking}: {time.perf_counter() - t0:.0f} s",
                  file=sys.stderr, flush=True)
    rows = [json.loads(line) for line in (RESULTS / "results_threshold_scale.jsonl").read_text().splitlines() if line]
    text = (f"# F1 at scale (bench/scale_accuracy.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})\n\n"
            f"Preset {args.difficulty}, surname tail {args.surname_tail:g}; pairwise against the truth.\n\n"
            + summary(rows, works, args.blocking))
    out = RESULTS / "results_scale_accuracy.md"
    out.write_text(text)
    print(text)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
