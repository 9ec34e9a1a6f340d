"""The run record: one row per run in the `runs` Delta table. Holds no PII and no key."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import socket
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def new_run_id() -> str:
    """A new run id: the UTC start stamp and 8 random hex characters
    (``20261201T233000Z-3f9c0a1b``); ids sort by start time."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]


_PUBLISHED_BEFORE, _WITHDRAWN = "published_before_", "withdrawn_"


def withdrawal_metrics(source: str, published: float, withdrawn: float) -> dict[str, float]:
    """The run metrics recording that ``withdrawn`` of ``source``'s ``published`` records (in
    the previously published set) are absent from this run: read back by :func:`withdrawals`."""
    return {f"{_PUBLISHED_BEFORE}{source}": float(published), f"{_WITHDRAWN}{source}": float(withdrawn)}


def reason_metric(source: str, code: str) -> str:
    """The run metric counting ``source``'s quarantined rows with reason ``code`` (written by the
    ingest, read by the audit)."""
    return f"quarantine_reason_{source}_{code}"


def withdrawals(metrics: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Source -> (records published before, withdrawn), in source order, from a run's
    :func:`withdrawal_metrics` (empty when the run recorded none)."""
    sources = sorted(k.removeprefix(_PUBLISHED_BEFORE) for k in metrics if k.startswith(_PUBLISHED_BEFORE))
    return {s: (metrics[f"{_PUBLISHED_BEFORE}{s}"], metrics.get(f"{_WITHDRAWN}{s}", 0.0)) for s in sources}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RunRecord:
    """One run's row in the ``runs`` table, filled in by the stages as they go (no PII, no
    key: counts, versions, hashes, timings, and the error redacted)."""

    run_id: str
    run_name: str
    config_hash: str
    started_at: dt.datetime = field(default_factory=_now)
    finished_at: dt.datetime | None = None
    status: str = "running"
    failed_stage: str | None = None
    error: str | None = None
    user: str = field(default_factory=lambda: _safe_user())
    host: str = field(default_factory=socket.gethostname)
    key_fingerprint: str | None = None
    privacy_mode: str = "plaintext"
    model_versions: dict[str, str] = field(default_factory=dict)
    model_hashes: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # source -> uri, bytes, files
    source_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> in/accepted/...
    table_rows: dict[str, int] = field(default_factory=dict)
    table_versions: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    inputs_read: dict[str, int] = field(default_factory=dict)  # published table -> version read
    published_seq: int | None = None  # the publish this run made, if any

    def finish(self, status: str, failed_stage: str | None = None, error: str | None = None) -> None:
        """Stamp the end: ``status`` (succeeded, failed, audit_failed...), the failed stage
        and the (redacted) error, if any."""
        self.finished_at = _now()
        self.status = status
        self.failed_stage = failed_stage
        self.error = error

    def as_row(self) -> dict[str, Any]:
        """The record as a ``runs`` row: the dict-valued fields as sorted JSON text."""
        d = asdict(self)
        for k in ("model_versions", "model_hashes", "inputs", "source_counts", "table_rows",
                  "table_versions", "metrics", "stage_seconds", "inputs_read"):
            d[k] = json.dumps(d[k], sort_keys=True, default=str)
        return d


RUNS_SCHEMA = (
    "run_id string, run_name string, config_hash string, started_at timestamp, "
    "finished_at timestamp, status string, failed_stage string, error string, user string, "
    "host string, key_fingerprint string, privacy_mode string, model_versions string, "
    "model_hashes string, inputs string, source_counts string, table_rows string, "
    "table_versions string, metrics string, stage_seconds string, inputs_read string, "
    "published_seq bigint"
)


def run_record_frame(spark: SparkSession, record: RunRecord) -> DataFrame:
    """A one-row DataFrame of ``record`` with :data:`RUNS_SCHEMA`, to append to ``runs``."""
    row = record.as_row()
    cols = [c.strip().split(" ")[0] for c in RUNS_SCHEMA.split(",")]
    return spark.createDataFrame([tuple(row[c] for c in cols)], RUNS_SCHEMA)


def _safe_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - containers may have no passwd entry
        return "unknown"
