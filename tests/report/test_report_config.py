"""The pipeline config's ``report`` section: defaults, and errors that name the key. And the
synthetic ``ErrorBias`` that builds the report's test data. Pure Python: no Spark."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bold_spark.config.pipeline import ReportConfig, load_pipeline_config
from bold_spark.exceptions import ConfigError
from bold_spark.synthetic import ErrorRates
from bold_spark.synthetic.errors import recorded_identity
from bold_spark.synthetic.randomness import Draws
from bold_spark.synthetic.spec import ErrorBias

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, **overrides) -> Path:
    base = yaml.safe_load((REPO / "conf/pipeline.yaml").read_text())
    base["datasets_dir"] = str(REPO / "conf" / base["datasets_dir"])
    for g in base["link_groups"]:
        g["model"] = str(REPO / "conf" / g["model"])
    base.update(overrides)
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


def test_report_section_defaults(tmp_path):
    cfg = load_pipeline_config(write(tmp_path))
    assert cfg.report == ReportConfig(bias_gap_pp=2.0, min_count=10, level="medium")
    cfg = load_pipeline_config(write(tmp_path, report={"bias_gap_pp": 5, "level": "low"}))
    assert cfg.report.bias_gap_pp == 5.0 and cfg.report.level == "low"


@pytest.mark.parametrize(("report", "key"), [
    ({"bias_gap_pp": 0}, "report.bias_gap_pp"),
    ({"min_count": 0}, "report.min_count"),
    ({"level": "highest"}, "report.level"),
    ({"gap": 2}, "report.gap"),
    ({"min_count": "ten"}, "report.min_count"),
])
def test_bad_report_settings_name_the_key(tmp_path, report, key):
    with pytest.raises(ConfigError) as e:
        load_pipeline_config(write(tmp_path, report=report))
    assert key in str(e.value)


def test_error_bias_scales_the_error_draws_of_one_group_only():
    d = Draws("prison", ("person_id", "row_no"))
    plain = recorded_identity(d, ErrorRates())
    biased = recorded_identity(d, ErrorRates(bias=ErrorBias("F", 3.0)))
    text = str(biased)
    assert "CASE WHEN sex = 'F' THEN" in text and "/ 3.0D" in text
    assert str(plain).count("sex = 'F'") == 0
    assert recorded_identity(d, ErrorRates(bias=ErrorBias("F", 1.0))) == plain
    # every error-choosing draw is scaled (first name, surname, DOB, postcode), typo letters not
    assert text.count("sex = 'F'") >= 4


def test_error_bias_is_validated():
    with pytest.raises(ValueError, match="multiplier"):
        ErrorRates(bias=ErrorBias("F", 7.0))  # first-name errors would pass 100%
    with pytest.raises(ValueError, match="sex"):
        ErrorBias("X", 2.0)
    assert ErrorRates.none().bias is None
