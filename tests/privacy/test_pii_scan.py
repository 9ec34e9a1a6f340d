"""The PII scan: unit checks of the matcher, then one full PPRL-mode run on a small synthetic
population whose every output table (edges, clusters, runs, records) and whose logs are
scanned for any clear value of the input extracts' names, dates of birth, addresses,
postcodes, identifiers and record ids."""

import logging
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from bold_spark.config.pipeline import load_pipeline_config
from bold_spark.privacy.pii_scan import (
    identifying_values,
    normalise_py,
    scan_for_values,
    scan_outputs,
    scan_text,
)

REPO = Path(__file__).resolve().parents[2]
PEOPLE = 300


# ------------------------------------------------------------------ the matcher


def test_scan_finds_values_in_any_form_and_reports_no_value(spark):
    df = spark.createDataFrame(
        [("a1", "Zoë  O'Brien", "sw1a1aa", ["x", "JOHN"], 1985),
         ("b2", "ANNABEL", "SW1A 1AB", ["y"], 2001),
         ("3f9a0b", "unrelated text", None, None, None)],
        "id string, name string, pc string, tags array<string>, year int",
    )
    values = {"ZOE OBRIEN": "src.NAME", "SW1A 1AA": "src.POSTCODE", "John": "src.FIRST",
              "ANNA": "src.FIRST", "1985": "src.YEAR", "3F9A": "src.ID", "abc": "src.SHORT"}
    findings = scan_for_values(df, values, "t")
    got = {(f.column, f.label): f.rows for f in findings}
    assert got == {("name", "src.NAME"): 1, ("pc", "src.POSTCODE"): 1, ("tags", "src.FIRST"): 1,
                   ("year", "src.YEAR"): 1}
    # Whole words only: ANNA is not found inside ANNABEL, 3F9A not inside a hex digest; values
    # shorter than 4 characters are ignored; no finding carries the value itself.
    assert all("OBRIEN" not in str(f) and "SW1A" not in str(f) for f in findings)


def test_scan_text_matches_spark_normalisation():
    assert normalise_py("  Zoë O'Brien-Smith, 12/03/1985 ") == "ZOE OBRIEN SMITH 12 03 1985"
    lines = ["run started", "loaded ZOE OBRIEN from file", "dob 1985-03-12 seen"]
    found = scan_text(lines, {"Zoë O'Brien": "src.NAME", "12/03/1985": "src.DOB", "1985-03-12": "src.DOB"})
    assert {(f.label, f.rows) for f in found} == {("src.NAME", 1), ("src.DOB", 1)}


def test_no_values_no_findings(spark):
    df = spark.createDataFrame([("x",)], "a string")
    assert scan_for_values(df, {}, "t") == []


# ------------------------------------------------------------------ a full PPRL run


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def _pprl_config(tmp: Path) -> Path:
    base = yaml.safe_load((REPO / "conf/pipeline_pprl.yaml").read_text())
    base.update(input_root=str(tmp / "input"), output_root=str(tmp / "output"),
                datasets_dir=str(REPO / "conf/datasets"), ground_truth=str(tmp / "input/ground_truth.parquet"))
    for g in base["link_groups"]:
        g["model"] = str(REPO / "conf" / g["model"])
    path = tmp / "pipeline_pprl.yaml"
    path.write_text(yaml.safe_dump(base))
    return path


@pytest.fixture(scope="module")
def pprl_run(spark, tmp_path_factory):
    from bold_spark.pipeline import run_pipeline
    from bold_spark.privacy.keys import SecretKey
    from bold_spark.synthetic import SyntheticSpec, run_generate

    tmp = tmp_path_factory.mktemp("pii")
    run_generate(spark, SyntheticSpec(people=PEOPLE, seed=7), str(tmp / "input"))
    cfg = load_pipeline_config(_pprl_config(tmp))
    key = SecretKey(b"pii-scan-test-key-0123456789abcdef")
    handler = _Collect()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    # What `bold run` logs: INFO from bold_spark and everything else, minus the chatty
    # libraries the CLI quietens (cli.configure_logging).
    root = logging.getLogger()
    quiet = {name: logging.getLogger(name).level for name in ("py4j", "splink", "matplotlib")}
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        result = run_pipeline(spark, cfg, key)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    values = identifying_values(spark, cfg).persist()
    return cfg, result, values, handler.lines


@pytest.mark.e2e
def test_pprl_run_succeeds_without_clear_columns(spark, pprl_run):
    from bold_spark.io.delta import read_table
    from bold_spark.privacy.pprl import CLEAR_COLUMNS

    cfg, result, _, _ = pprl_run
    assert result.run.status == "succeeded" and result.run.privacy_mode == "pprl"
    records = read_table(spark, cfg.table_uri("records"))
    assert not set(records.columns) & set(CLEAR_COLUMNS)
    types = dict(records.dtypes)
    assert types["first_name_bf"] == "array<int>" and types["surname_bf"] == "array<int>"
    # Names were encoded for every record that has them (NDTMS carries initials only).
    named = records.where("source <> 'ndtms'")
    assert named.where(F.col("surname_bf").isNull()).count() == 0
    assert read_table(spark, cfg.table_uri("edges")).count() > 0


@pytest.mark.e2e
def test_outputs_hold_no_clear_input_values(spark, pprl_run):
    cfg, _, values, _ = pprl_run
    assert values.count() > 1000  # the scan has something to look for
    # event_date is not PII but shares the date domain with dates of birth: an event on the
    # day someone else was born would be a false finding.
    findings = scan_outputs(spark, cfg, values, exclude_columns=["records.event_date"])
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.e2e
def test_logs_hold_no_clear_input_values(pprl_run):
    _, _, values, lines = pprl_run
    assert len(lines) > 10
    mapping = {r["value"]: r["label"] for r in values.collect()}
    findings = scan_text(lines, mapping)
    assert findings == [], "\n".join(map(str, findings))


@pytest.mark.e2e
def test_scan_would_catch_clear_records(spark, pprl_run, secret_key):
    """Control: the canonical (plaintext-mode) records of one source are full of findings, so
    an empty scan above means the values are absent, not that the scan is blind."""
    from bold_spark.ingest.validate import accepted, with_validation
    from bold_spark.io.sources import read_source
    from bold_spark.standardise.person import to_canonical

    cfg, _, values, _ = pprl_run
    ds = cfg.dataset_configs()["prison"]
    raw = read_source(spark, ds, cfg.source_uri(ds))
    clear = to_canonical(accepted(with_validation(raw, ds)), ds, secret_key, "2025-01-01", "r1")
    columns = {f.column for f in scan_for_values(clear, values, "plain_records")}
    assert {"first_name", "surname", "dob", "dob_string", "postcode"} <= columns


@pytest.mark.e2e
def test_pprl_run_gets_its_report_with_no_clear_value_in_it(spark, pprl_run):
    """The quality and bias report of a PPRL run: written (until 2026-12-04 it failed on the
    clear ``dob`` PPRL records do not hold), with age bands from the year of birth and the
    completeness of the encoded fields, and no input value on the page."""
    import re

    from bold_spark.report import run_report
    from bold_spark.standardise.person import NFA_ADDRESS_PATTERN

    cfg, _, values, _ = pprl_run
    path = Path(run_report(spark, cfg))
    text = path.read_text(encoding="utf-8")
    for band in ("18-24", "25-34", "35-44"):
        assert f">{band}<" in text, band  # ages known: not every record in "unknown"
    for encoded in ("first_name_bf", "surname_bf", "dob_hash", "first_initial_hash"):
        assert f">{encoded}<" in text, encoded
    # Not values: an address reading "NO FIXED ABODE" (the NFA status the report counts) and a
    # DOB reading "UNKNOWN" (a quarantined row's placeholder; "unknown" is an age band).
    mapping = {r["value"]: r["label"] for r in values.collect()
               if not re.fullmatch(NFA_ADDRESS_PATTERN, r["value"].strip())
               and normalise_py(r["value"]) != "UNKNOWN"}
    page = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    lines = page.splitlines() + re.sub(r"<[^>]+>", " ", page).splitlines()
    findings = scan_text(lines, mapping, "report.html")
    assert findings == [], "\n".join(map(str, findings))
