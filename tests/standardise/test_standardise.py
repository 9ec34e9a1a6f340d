"""Each standardisation rule, on tiny inline DataFrames compared by content."""

import datetime as dt

from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from bold_spark.standardise.dates import parse_date, with_dob_parts
from bold_spark.standardise.identifiers import normalise_ni_number, normalise_pnc
from bold_spark.standardise.names import clean_name, split_forenames, with_name_features
from bold_spark.standardise.postcodes import with_postcode_parts


def test_clean_name_folds_accents_and_punctuation(spark):
    df = spark.createDataFrame(
        [("  Zoë ",), ("o'Brien-Smith",), ("JOSÉ  MARÍA",), ("",), ("--",), (None,)], "n string"
    )
    got = [r[0] for r in df.select(clean_name(F.col("n"))).collect()]
    assert got == ["ZOE", "OBRIEN SMITH", "JOSE MARIA", None, None, None]


def test_split_forenames(spark):
    df = spark.createDataFrame([("John Paul", "George"), ("mary", None), (None, "Ann")], "f string, m string")
    first, middle = split_forenames(F.col("f"), F.col("m"))
    got = [tuple(r) for r in df.select(first, middle).collect()]
    assert got == [("JOHN", "PAUL GEORGE"), ("MARY", None), ("ANN", None)]


def test_name_features_initials_and_soundex(spark):
    df = spark.createDataFrame(
        [("JOHN", "SMITH JONES", None, None), (None, None, "J", "S")],
        "first_name string, surname string, first_initial string, surname_initial string",
    )
    out = with_name_features(df).select(
        "first_initial", "surname_initial", "first_name_soundex", "surname_soundex", "surname_tokens"
    )
    expected = spark.createDataFrame(
        [("J", "S", "J500", "S532", ["SMITH", "JONES"]), ("J", "S", None, None, None)],
        "first_initial string, surname_initial string, first_name_soundex string, "
        "surname_soundex string, surname_tokens array<string>",
    )
    assertDataFrameEqual(out, expected)


def test_dates_parse_and_impossible_are_nulled(spark):
    df = spark.createDataFrame(
        [("31/02/1980",), ("01/01/1970",), ("1975-06-15",), ("15/06/1875",), ("01/01/2090",), ("junk",)],
        "raw string",
    )
    parsed = df.select(parse_date(F.col("raw"), ["dd/MM/yyyy", "yyyy-MM-dd"]).alias("dob"))
    out = with_dob_parts(parsed, F.lit("2026-01-01").cast("date"))
    rows = out.select("dob", "dob_impossible", "dob_year", "dob_month", "dob_day",
                      "dob_is_placeholder").collect()
    assert [tuple(r) for r in rows] == [
        (None, False, None, None, None, False),               # 31 Feb never parses
        (dt.date(1970, 1, 1), False, 1970, 1, 1, True),       # 1 January: placeholder flag
        (dt.date(1975, 6, 15), False, 1975, 6, 15, False),
        (None, True, None, None, None, False),                # before 1900: impossible
        (None, True, None, None, None, False),                # after the snapshot: impossible
        (None, False, None, None, None, False),
    ]


def test_postcode_parts(spark):
    df = spark.createDataFrame(
        [("sw1a1aa", None), ("M1 1AE", None), ("b33 8th", None), (None, "sw1a 1"), ("NOT A PC", None), (None, None)],
        "postcode string, postcode_sector string",
    )
    out = with_postcode_parts(df).select(
        "postcode", "postcode_sector", "postcode_district", "postcode_area", "postcode_invalid"
    )
    expected = spark.createDataFrame(
        [
            ("SW1A 1AA", "SW1A 1", "SW1A", "SW", False),
            ("M1 1AE", "M1 1", "M1", "M", False),
            ("B33 8TH", "B33 8", "B33", "B", False),
            (None, "SW1A 1", "SW1A", "SW", False),
            (None, None, None, None, True),
            (None, None, None, None, False),
        ],
        "postcode string, postcode_sector string, postcode_district string, postcode_area string, "
        "postcode_invalid boolean",
    )
    assertDataFrameEqual(out, expected)


def test_identifier_normalisation(spark):
    df = spark.createDataFrame(
        [("2001/0123456A", "ab 12 34 56 c"), ("01/123456A", "TN123456A"), ("garbage", "QQ123456")],
        "pnc string, ni string",
    )
    got = [tuple(r) for r in df.select(normalise_pnc(F.col("pnc")), normalise_ni_number(F.col("ni"))).collect()]
    assert got == [("01/0123456A", "AB123456"), ("01/0123456A", None), (None, None)]
