"""PPRL records: clear columns gone, keyed hashes behave, pre-encoded filters win, and the PPRL
models read only what PPRL records hold."""

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from bold_spark.config.datasets import load_dataset_config
from bold_spark.config.pipeline import PrivacyConfig
from bold_spark.config.strict import build
from bold_spark.ingest.validate import accepted, with_validation
from bold_spark.linkage.model import LinkModel, ModelMeta, load_model
from bold_spark.linkage.pairs import blocked_pairs, comparison_vectors, group_records
from bold_spark.linkage.pprl_templates import PPRL_TEMPLATES
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import BlockingRule, needed_columns
from bold_spark.privacy.bloom import BloomSpec, encode_value, positions_to_base64
from bold_spark.privacy.pii_scan import scan_for_values
from bold_spark.privacy.pprl import CLEAR_COLUMNS, encode_records, remaining_clear_columns
from bold_spark.standardise.person import to_canonical

REPO = Path(__file__).resolve().parents[2]
PRISON_COLUMNS = ["OFFENDER_ALIAS_ID", "FIRST_NAME", "MIDDLE_NAME", "LAST_NAME", "BIRTH_DATE", "SEX_CODE",
                  "LAST_KNOWN_POSTCODE", "PNC_NUMBER", "NOMS_NUMBER", "RECEPTION_DATE", "RELEASE_DATE"]
ROWS = [
    ("1001", "Jonathan", "Paul", "Whitfield", "1980-03-07", "M", "CR4 5BQ", "2002/7945926F", "B5588BU",
     "2010-01-01", None),
    # typo, swapped DOB
    ("1002", "Jonathon", None, "Whitfield", "1980-07-03", "M", "CR4 5BQ", None, None, "2012-01-01", None),
    # year typo
    ("1003", "Jonathan", None, "Whitfeld", "1981-03-07", "M", "CR4 5BZ", None, None, "2013-01-01", "2014-02-01"),
    ("1004", "Margaret", "Ann", "Oduya", "1962-11-30", "F", "LE1 9LQ", None, "A1234BC", "2014-01-01", None),
]


def _canonical(spark, key):
    ds = load_dataset_config(REPO / "conf/datasets/prison.yaml")
    raw = spark.createDataFrame(ROWS, ", ".join(f"{c} string" for c in PRISON_COLUMNS))
    return to_canonical(accepted(with_validation(raw, ds)), ds, key, "2024-06-01", "run-1")


@pytest.fixture()
def pprl_records(spark, secret_key):
    return encode_records(_canonical(spark, secret_key), secret_key, PrivacyConfig(mode="pprl")).persist()


def test_clear_columns_replaced(pprl_records):
    cols = pprl_records.columns
    assert not set(cols) & set(CLEAR_COLUMNS) and remaining_clear_columns(pprl_records) == []
    for c in ("record_key", "first_name_bf", "surname_bf", "first_name_mh", "surname_mh", "dob_hash",
              "dob_swap_hash", "dob_year", "postcode_hash", "postcode_sector_hash", "postcode_district",
              "pnc_hash", "prison_number_hash", "dob_impossible", "postcode_invalid", "nfa"):
        assert c in cols, c
    assert "dob_bf" not in cols  # only first name and surname by default


def test_no_clear_input_value_survives(pprl_records):
    values = {v: PRISON_COLUMNS[i] for row in ROWS for i, v in enumerate(row) if v}
    values.update({"JONATHAN": "name", "WHITFIELD": "name", "1980-03-07": "dob", "19800307": "dob"})
    findings = scan_for_values(pprl_records, values, "records", exclude_columns=["event_date"])
    assert findings == [], [str(f) for f in findings]


def test_keyed_hashes_and_encodings(pprl_records, secret_key):
    rows = pprl_records.collect()
    def named(first, year):
        bf = encode_value(secret_key, "first_name", first)
        return next(row for row in rows if row["first_name_bf"] == bf and row["dob_year"] == year)

    jonathan, jonathon = named("JONATHAN", 1980), named("JONATHON", 1980)
    assert jonathan["dob_swap_hash"] == jonathon["dob_hash"]  # 07/03 vs 03/07
    assert jonathan["dob_ym_hash"] != jonathon["dob_ym_hash"]
    year_typo = named("JONATHAN", 1981)
    assert year_typo["dob_md_hash"] == jonathan["dob_md_hash"]
    assert year_typo["dob_hash"] != jonathan["dob_hash"]
    assert len(jonathan["dob_hash"]) == 32 and jonathan["first_initial_hash"] == year_typo["first_initial_hash"]
    margaret = next(row for row in rows if row["sex"] == "F")
    assert margaret["dob_swap_hash"] is None  # day 30 cannot be a month
    assert jonathan["postcode_sector_hash"] is not None
    assert jonathan["postcode_sector_hash"] == year_typo["postcode_sector_hash"]
    assert jonathan["postcode_hash"] != year_typo["postcode_hash"]


def test_optional_fields_and_pre_encoded_columns(spark, secret_key):
    canonical = _canonical(spark, secret_key)
    given = encode_value(secret_key, "surname", "SMITH")
    b64 = positions_to_base64(given, BloomSpec().length)
    pre = canonical.withColumn("surname_bf_encoded", F.when(F.col("first_name") == "MARGARET", F.lit(b64)))
    cfg = PrivacyConfig(mode="pprl", bloom_fields=["first_name", "surname", "dob", "postcode"])
    out = encode_records(pre, secret_key, cfg)
    assert {"dob_bf", "postcode_bf", "surname_bf"} <= set(out.columns)
    assert "surname_bf_encoded" not in out.columns
    rows = {r["first_name_bf"] == encode_value(secret_key, "first_name", "MARGARET"): r for r in out.collect()}
    assert rows[True]["surname_bf"] == given  # the pre-encoded value wins
    assert rows[False]["dob_bf"] is not None


def _model(name):
    settings, meta = PPRL_TEMPLATES[name]()
    return LinkModel(name, settings, build(ModelMeta, meta, name))


@pytest.mark.parametrize("name", ["pprl_rich", "pprl_ndtms"])
def test_models_read_only_pprl_columns(pprl_records, name):
    model = _model(name)
    settings = model.splink_settings()
    rules = [*model.meta.training.deterministic_rules, *model.meta.training.em_blocking_rules]
    needed = set(needed_columns(settings, rules))
    assert needed <= set(pprl_records.columns), needed - set(pprl_records.columns)
    assert not needed & set(CLEAR_COLUMNS)


def test_febrl_model_reads_encoded_extras():
    settings = _model("pprl_febrl").splink_settings()
    needed = set(needed_columns(settings))
    assert {"address_1_bf", "suburb_bf", "postcode_au_bf", "street_number_bf", "soc_sec_id_hash"} <= needed
    assert not needed & {"address_1", "suburb", "postcode_au", "street_number", *CLEAR_COLUMNS}


def test_comparison_levels_on_encoded_pairs(pprl_records):
    model = _model("pprl_rich")
    settings = model.splink_settings()
    recs = group_records(pprl_records, ["prison"], needed_columns(settings), settings)
    pairs = blocked_pairs(recs, [BlockingRule(0, "l.sex = r.sex")], PairScope())
    vectors = comparison_vectors(pairs, settings, ["record_key_l", "record_key_r"]).collect()
    assert len(vectors) == 3  # the three JONATHAN/JONATHON records
    first = sorted(v["gamma_first_name"] for v in vectors)
    dob = sorted(v["gamma_dob"] for v in vectors)
    # JONATHAN twice (identical encodings: level 3); JONATHON against each: one typo, a Dice
    # level (2: >= 0.8 or 1: >= 0.6), never "all other".
    assert first[2] == 3 and first[0] in (1, 2) and first[1] in (1, 2)
    # Dates 1980-03-07, 1980-07-03 (day/month swapped: level 3), 1981-03-07 (year typo: two of
    # three parts agree, level 2); the swapped date against the year typo shares nothing (0).
    assert dob == [0, 2, 3]


def test_shipped_pprl_models_are_trained():
    for name in ("pprl_rich", "pprl_ndtms"):
        model = load_model(REPO / f"conf/models/{name}.json")
        assert model.is_trained, name
        levels = [lv for c in model.settings["comparisons"] for lv in c["comparison_levels"]
                  if not lv.get("is_null_level") and lv["sql_condition"] != "ELSE"]
        assert all("m_probability" in lv and "u_probability" in lv for lv in levels), name
    meta = json.loads((REPO / "conf/models/pprl_rich.meta.json").read_text())
    assert meta["trained"]["records"] > 1000
