"""One pipeline run for the whole tests/report package: a small synthetic population whose
women's records carry 5x the name, DOB and postcode errors (``ErrorBias``), linked over four
sources (the rich model, and the low-information NDTMS model where such errors decide a link)
with a ground truth; then the report of its published set."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PEOPLE = 250
SOURCES = ["ndtms", "prison", "probation", "benefits"]
BIASED_SEX, MULTIPLIER = "F", 5.0
KEY = b"report-test-key-0123456789abcdef"


@pytest.fixture(scope="package")
def reported(spark, tmp_path_factory):
    """(cfg, report path, report data, seconds the report took) of one pipeline run."""
    from bold_spark.config.pipeline import load_pipeline_config
    from bold_spark.pipeline import run_pipeline
    from bold_spark.privacy.keys import SecretKey
    from bold_spark.report.report import build_report_data, write_report
    from bold_spark.synthetic import ErrorRates, SyntheticSpec, run_generate
    from bold_spark.synthetic.spec import ErrorBias

    tmp = tmp_path_factory.mktemp("report")
    spec = SyntheticSpec(people=PEOPLE, seed=7,
                         errors=ErrorRates(bias=ErrorBias(BIASED_SEX, MULTIPLIER)))
    run_generate(spark, spec, str(tmp / "input"))
    base = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    base.update(input_root=str(tmp / "input"), output_root=str(tmp / "output"),
                datasets_dir=str(REPO / "conf/datasets"), sources=SOURCES,
                ground_truth=str(tmp / "input/ground_truth.parquet"),
                report={"bias_gap_pp": 2.0, "min_count": 10, "level": "medium"})
    base["link_groups"] = [
        {"name": "rich", "model": str(REPO / "conf/models/rich.json"), "sources": SOURCES[1:]},
        {"name": "ndtms", "model": str(REPO / "conf/models/ndtms.json"), "sources": SOURCES,
         "anchor_sources": ["ndtms"]},
    ]
    path = tmp / "pipeline.yaml"
    path.write_text(yaml.safe_dump(base))
    cfg = load_pipeline_config(path)
    key = SecretKey(KEY)
    result = run_pipeline(spark, cfg, key)
    assert result.run.status == "succeeded"
    t0 = time.monotonic()
    data = build_report_data(spark, cfg, key=key)
    report_path = write_report(spark, cfg, data)
    seconds = time.monotonic() - t0
    return cfg, Path(report_path), data, seconds
