"""Fuzz the standardisation transforms with seeded random unicode (no hypothesis in the
environment: a seeded generator, so a failure reproduces). Each transform runs through Spark on
one DataFrame of a few thousand generated values, in one job, and every output is checked
against its documented domain in Python (regular expressions written here, not the code's own).
Values generated from a known truth (a real date, a valid postcode, a PNC) must come back as
that truth."""

from __future__ import annotations

import datetime as dt
import random
import re
import string

import pytest
import yaml
from pyspark.sql import functions as F

from bold_spark.config.datasets import load_dataset_config
from bold_spark.schema import DEFAULT_DATE_FORMATS, ID_COL
from bold_spark.standardise.dates import parse_date, with_dob_parts
from bold_spark.standardise.identifiers import normalise_code, normalise_ni_number, normalise_pnc
from bold_spark.standardise.names import clean_name, initial, split_forenames, with_name_features
from bold_spark.standardise.person import RECORD_COLUMNS, clean_text, sex_code, to_canonical
from bold_spark.standardise.postcodes import with_postcode_parts

SEED = 20261202
ROWS = 2500

#: Character pools: letters of several scripts, accents (precomposed and combining), letters
#: whose upper case is two letters (ß, ligatures), fullwidth forms, invisible and bidi marks,
#: unusual white space, control characters, punctuation, digits, emoji.
POOLS = [
    string.ascii_letters, string.ascii_letters + " -'", string.digits,
    "àáâãäåçèéêëìíîïñòóôõöøùúûüýÿÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜÝ",
    "ĀāĂăĄąĆćČčĐđĒēĘęĞğĪīİıŁłŃńŌōŐőŘřŚśŞşŠšŢţŪūŮůŰűŸŹźŻżŽžǅǈ",
    "ÆæßŒœÞþÐðŉǰΐﬁﬂﬀﬃ",
    "ΑΒΓΔΕαβγδεσςΩω", "АБВГДЕЁЖабвгдеёж", "张王李赵刘陈", "محمدعلي", "שלום", "नमस्ते",
    "\u0301\u0308\u0327\u0303", "\u200b\u200c\u200d\ufeff\u200e\u200f\u202e",
    " \t\n\r\u00a0\u2003\u3000", "\x00\x01\x1f\x7f",
    "'’`‘-–—.,;:/\\()[]{}!?\"@#&*+=_~|<>%$£€",
    "ＡＢＣａｂｃ０１２３", "①②③٠١٢٣٤", "😀🎉👍🏽🇬🇧",
]

NAME = re.compile(r"^[A-Z]+( [A-Z]+)*$")
TOKEN = re.compile(r"^[A-Z]+$")
SOUNDEX = re.compile(r"^[A-Z][0-9]{3}$")
UNIT = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$")
SECTOR = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9]$")
PNC = re.compile(r"^[0-9]{2}/[0-9]{7}[A-Z]$")
NI = re.compile(r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}$")
CODE = re.compile(r"^[A-Z0-9]+$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
SNAPSHOT = dt.date(2026, 1, 1)
EARLIEST = dt.date(1900, 1, 1)


def text(rng: random.Random, max_len: int = 20) -> str | None:
    """Random text from one to three pools; sometimes None, empty or only spaces."""
    roll = rng.random()
    if roll < 0.04:
        return None
    if roll < 0.07:
        return rng.choice(["", " ", "  \t "])
    pools = rng.sample(POOLS, rng.randint(1, 3))
    return "".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, max_len)))


def rows_of(rng: random.Random, make) -> list:
    return [make(rng, i) for i in range(ROWS)]


def has_ascii_alnum(s: str | None, letters_only: bool = False) -> bool:
    chars = string.ascii_letters if letters_only else string.ascii_letters + string.digits
    return s is not None and any(c in chars for c in s)


# ------------------------------------------------------------------ names


def test_name_transforms_stay_in_their_domain(spark):
    rng = random.Random(SEED)
    data = rows_of(rng, lambda r, i: (i, text(r), text(r), text(r)))
    df = spark.createDataFrame(data, "i long, first string, middle string, surname string")
    first, middle = split_forenames(F.col("first"), F.col("middle"))
    out = with_name_features(df.select(
        "i", "first", "surname",
        clean_name(F.col("surname")).alias("surname_clean"),
        clean_name(clean_name(F.col("surname"))).alias("surname_twice"),
        first.alias("first_name"), middle.alias("middle_names"),
        initial(F.col("first")).alias("initial"),
        clean_name(F.col("first")).alias("first_clean"),
        clean_name(F.col("surname")).alias("surname_for_features"),
        F.lit(None).cast("string").alias("first_initial"),
        F.lit(None).cast("string").alias("surname_initial"),
    ).withColumnRenamed("surname", "surname_raw").withColumnRenamed("surname_for_features", "surname"))
    got = out.collect()  # one job
    assert len(got) == ROWS
    for r in got:
        ctx = (r["i"], r["first"], r["surname_raw"])
        assert r["surname"] is None or NAME.match(r["surname"]), ctx
        assert r["surname_twice"] == r["surname"], ctx  # cleaning is idempotent
        if has_ascii_alnum(r["surname_raw"], letters_only=True):
            assert r["surname"] is not None, ctx  # a Latin letter is never lost
        assert r["first_name"] is None or TOKEN.match(r["first_name"]), ctx
        assert r["middle_names"] is None or NAME.match(r["middle_names"]), ctx
        if has_ascii_alnum(r["first"], letters_only=True):
            assert r["first_name"] is not None, ctx
        assert r["initial"] is None or re.match(r"^[A-Z]$", r["initial"]), ctx
        assert r["initial"] == (r["first_clean"][:1] if r["first_clean"] else None), ctx
        assert r["first_initial"] == (r["first_name"][:1] if r["first_name"] else None), ctx
        for col in ("first_name_soundex", "surname_soundex"):
            assert r[col] is None or SOUNDEX.match(r[col]), (col, ctx, r[col])
        assert (r["surname_tokens"] is None) == (r["surname"] is None), ctx
        assert all(TOKEN.match(t) for t in r["surname_tokens"] or []), ctx


# ------------------------------------------------------------------ dates

FORMATS = {"yyyy-MM-dd": "%Y-%m-%d", "dd/MM/yyyy": "%d/%m/%Y", "yyyyMMdd": "%Y%m%d",
           "dd-MM-yyyy": "%d-%m-%Y"}


def _date_value(rng: random.Random, i: int) -> tuple[int, str | None, dt.date | None]:
    """(i, raw, truth): a real date in one of the default formats (truth known), an impossible
    calendar date, a year outside the plausible range, or random text."""
    roll = rng.random()
    if roll < 0.4:
        d = dt.date(1850, 1, 1) + dt.timedelta(days=rng.randint(0, 200 * 366))
        fmt = rng.choice(DEFAULT_DATE_FORMATS)
        pad = rng.choice(["", " ", "\t", "  "])
        return i, pad + d.strftime(FORMATS[fmt]) + pad.strip("\t"), d
    if roll < 0.55:  # impossible calendar dates and odd years
        y = rng.choice([1, 999, 1899, 1980, 2024, 9999, 10000])
        m, d = rng.randint(0, 13), rng.choice([0, 29, 30, 31, 32])
        return i, rng.choice([f"{y:04d}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y:04d}",
                              f"{y}{m:02d}{d:02d}", f"{d}/{m}/{y}", f"+{y}-01-01"]), None
    return i, text(rng, 14), None


def test_dates_parse_or_null_and_stay_in_range(spark):
    rng = random.Random(SEED + 1)
    data = rows_of(rng, _date_value)
    df = spark.createDataFrame([(i, raw) for i, raw, _ in data], "i long, raw string")
    parsed = df.select("i", "raw", parse_date(F.col("raw"), DEFAULT_DATE_FORMATS).alias("dob"))
    out = with_dob_parts(parsed, reference_date=F.lit(SNAPSHOT.isoformat()).cast("date"))
    got = {r["i"]: r for r in out.collect()}  # one job
    truth = {i: d for i, _, d in data}
    for i, r in got.items():
        d, ctx = r["dob"], (i, r["raw"])
        assert d is None or EARLIEST <= d <= SNAPSHOT, ctx
        assert r["dob_impossible"] is not None and r["dob_is_placeholder"] is not None, ctx
        if r["dob_impossible"]:
            assert d is None, ctx
        if d is None:
            assert (r["dob_string"], r["dob_year"], r["dob_month"], r["dob_day"]) == (None,) * 4, ctx
        else:
            assert r["dob_string"] == d.isoformat(), ctx
            assert (r["dob_year"], r["dob_month"], r["dob_day"]) == (d.year, d.month, d.day), ctx
            assert r["dob_is_placeholder"] == (d.month == 1 and d.day == 1), ctx
        if truth[i] is not None:  # a real date written in a default format
            t = truth[i]
            if EARLIEST <= t <= SNAPSHOT:
                assert d == t, ctx
            else:
                assert d is None and r["dob_impossible"], ctx


# ------------------------------------------------------------------ postcodes

LETTERS, DIGITS = string.ascii_uppercase, string.digits


def _valid_postcode(rng: random.Random) -> str:
    shape = rng.choice(["A9", "A99", "AA9", "AA99", "A9A", "AA9A"])
    out = "".join(rng.choice(LETTERS if c == "A" else DIGITS) for c in shape)
    return out + " " + rng.choice(DIGITS) + "".join(rng.choice(LETTERS) for _ in range(2))


def _postcode_value(rng: random.Random, i: int):
    """(i, postcode, postcode_sector, truth): a valid postcode in random case, spacing and
    punctuation (truth known), a valid sector, or random text."""
    roll = rng.random()
    if roll < 0.35:
        pc = _valid_postcode(rng)
        outward, inward = pc.split(" ")
        written = rng.choice([pc, pc.lower(), outward + inward, f" {outward}  {inward} ",
                              f"{outward}-{inward}", f"{outward}.{inward.lower()}"])
        return i, written, None, pc
    if roll < 0.5:
        return i, None, _valid_postcode(rng)[:-2].lower(), None
    return i, text(rng, 10), text(rng, 8) if rng.random() < 0.3 else None, None


def test_postcodes_valid_or_null_with_the_invalid_flag(spark):
    rng = random.Random(SEED + 2)
    data = rows_of(rng, _postcode_value)
    df = spark.createDataFrame([d[:3] for d in data], "i long, postcode string, postcode_sector string")
    out = with_postcode_parts(df.select("i", "postcode", "postcode_sector",
                                        F.col("postcode").alias("raw"),
                                        F.col("postcode_sector").alias("raw_sector")))
    got = {r["i"]: r for r in out.collect()}  # one job
    for i, raw, raw_sector, truth in data:
        r, ctx = got[i], (i, raw, raw_sector)
        pc, sector = r["postcode"], r["postcode_sector"]
        assert pc is None or UNIT.match(pc), ctx
        assert sector is None or SECTOR.match(sector), ctx
        assert r["postcode_invalid"] is not None, ctx
        if pc is not None:
            assert sector == pc[:-2], ctx
        if sector is not None:
            assert r["postcode_district"] == sector.split(" ")[0], ctx
            assert r["postcode_area"] == re.match(r"^[A-Z]+", sector).group(0), ctx
        else:
            assert r["postcode_district"] is None and r["postcode_area"] is None, ctx
        if truth is not None:
            assert pc == truth and not r["postcode_invalid"], ctx
        # a value holding a letter or digit either becomes a postcode or is flagged invalid
        if has_ascii_alnum(raw) and pc is None:
            assert r["postcode_invalid"], ctx
        if has_ascii_alnum(raw_sector) and sector is None:
            assert r["postcode_invalid"], ctx


# ------------------------------------------------------------------ identifiers


def _identifier_value(rng: random.Random, i: int):
    roll = rng.random()
    if roll < 0.3:  # a PNC in one of its written forms
        year, serial = rng.randint(0, 9999), rng.randint(0, 9_999_999)
        check = rng.choice(LETTERS)
        yy = f"{year % 100:02d}"
        written = rng.choice([f"{year:04d}/{serial}{check}", f"{yy}/{serial:07d}{check}",
                              f" {yy}/{serial}{check.lower()} ", f"{year:04d}/{serial:07d}-{check}"])
        return i, written, f"{yy}/{serial:07d}{check}"
    return i, text(rng, 14), None


def test_identifiers_normalise_or_null(spark):
    rng = random.Random(SEED + 3)
    data = rows_of(rng, _identifier_value)
    df = spark.createDataFrame([d[:2] for d in data], "i long, raw string")
    out = df.select("i", "raw", normalise_pnc(F.col("raw")).alias("pnc"),
                    normalise_ni_number(F.col("raw")).alias("ni"),
                    normalise_code(F.col("raw")).alias("code"))
    got = {r["i"]: r for r in out.collect()}  # one job
    for i, raw, truth in data:
        r, ctx = got[i], (i, raw)
        assert r["pnc"] is None or PNC.match(r["pnc"]), ctx
        assert r["ni"] is None or (NI.match(r["ni"]) and r["ni"][:2] not in
                                   ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")), ctx
        assert r["code"] is None or CODE.match(r["code"]), ctx
        if truth is not None:
            assert r["pnc"] == truth, ctx
        if has_ascii_alnum(raw):
            assert r["code"] is not None, ctx


# ------------------------------------------------------------------ a whole record


@pytest.fixture()
def fuzz_dataset(tmp_path):
    conf = tmp_path / "fuzz.yaml"
    conf.write_text(yaml.safe_dump({
        "path": "fuzz.csv", "format": "csv", "record_id": "ID",
        "columns": {"forenames": "FIRST", "middle_names": "MIDDLE", "surname": "SURNAME",
                    "dob": "DOB", "sex": "SEX", "postcode": "POSTCODE", "address": "ADDRESS",
                    "pnc": "PNC", "ni_number": "NI", "crn": "CRN", "event_date": "EVENT"},
        "extra_columns": {"notes": "NOTES"},
    }))
    return load_dataset_config(conf)


def test_to_canonical_records_stay_in_their_domain(spark, fuzz_dataset, secret_key):
    rng = random.Random(SEED + 4)
    cols = ["FIRST", "MIDDLE", "SURNAME", "DOB", "SEX", "POSTCODE", "ADDRESS", "PNC", "NI", "CRN",
            "EVENT", "NOTES"]
    data = [(f"id{i}", *[text(rng, 16) for _ in cols]) for i in range(ROWS)]
    df = spark.createDataFrame(data, ", ".join(f"{c} string" for c in [ID_COL, *cols]))
    out = to_canonical(df, fuzz_dataset, secret_key, SNAPSHOT.isoformat(), "run-fuzz")
    assert out.columns[: len(RECORD_COLUMNS)] == RECORD_COLUMNS
    extra = df.select(ID_COL, sex_code(F.col("SEX"), {}).alias("sex_first_letter"),
                      clean_text(F.col("NOTES")).alias("notes_clean"))
    got = out.collect()  # one job (the pandas UDF of the keyed hashes runs in it)
    checks = {r[ID_COL]: r for r in extra.collect()}
    assert len(got) == ROWS and len({r["record_key"] for r in got}) == ROWS
    for r in got:
        assert re.match(r"^[0-9a-f]{32}$", r["record_key"])
        for name in ("first_name",):
            assert r[name] is None or TOKEN.match(r[name])
        for name in ("middle_names", "surname"):
            assert r[name] is None or NAME.match(r[name])
        assert r["sex"] in ("M", "F", None)
        assert r["dob"] is None or EARLIEST <= r["dob"] <= SNAPSHOT
        assert r["postcode"] is None or UNIT.match(r["postcode"])
        assert r["nfa"] in (True, False) and r["postcode_invalid"] in (True, False)
        for name in ("pnc_hash", "ni_number_hash", "crn_hash"):
            assert r[name] is None or HEX64.match(r[name])
        assert r["prison_number_hash"] is None
        notes = r["notes"]  # upper case, single spaces, trimmed (of ASCII white space)
        assert notes is None or (notes != "" and notes[0] != " " and notes[-1] != " "
                                 and "  " not in notes and not set("\t\n\r") & set(notes)
                                 and not set(string.ascii_lowercase) & set(notes))
    for r in checks.values():
        assert r["sex_first_letter"] in ("M", "F", None)
        assert r["notes_clean"] is None or r["notes_clean"] != ""
