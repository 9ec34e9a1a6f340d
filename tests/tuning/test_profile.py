import datetime as dt

import pytest

from bold_spark.linkage.scope import PairScope
from bold_spark.tuning import profile

SCHEMA = "record_key string, source string, first_name string, surname string, dob date"


@pytest.fixture(scope="module")
def recs(spark):
    d1, d2 = dt.date(1980, 1, 2), dt.date(1990, 5, 6)
    rows = [
        ("k1", "a", "ann", "smith", d1),
        ("k2", "a", "ann", "smith", d1),
        ("k3", "b", "bob", "smith", d1),
        ("k4", "b", None, "jones", d2),
        ("k5", "b", "ann", None, d2),
    ]
    return spark.createDataFrame(rows, SCHEMA)


def test_completeness_per_source_and_field(recs):
    out = profile.completeness(recs, ["first_name", "surname", "dob"])
    got = {(r.source, r.field): (r.rows, r.non_null) for r in out.itertuples()}
    assert got == {
        ("a", "first_name"): (2, 2), ("a", "surname"): (2, 2), ("a", "dob"): (2, 2),
        ("b", "first_name"): (3, 2), ("b", "surname"): (3, 2), ("b", "dob"): (3, 3),
    }
    assert out.loc[(out.source == "b") & (out.field == "surname"), "completeness"].item() == pytest.approx(2 / 3)
    assert list(out.field[:3]) == ["first_name", "surname", "dob"]  # the order asked for


def test_completeness_defaults_to_person_fields_and_names_missing_columns(recs):
    assert set(profile.completeness(recs).field) == {"first_name", "surname", "dob"}
    with pytest.raises(ValueError, match="postcode"):
        profile.completeness(recs, ["postcode"])


def test_value_frequencies_top_values_and_shares(recs):
    out = profile.value_frequencies(recs, ["first_name", "surname"], top=1)
    assert out[["field", "value", "count"]].values.tolist() == [["first_name", "ann", 3], ["surname", "smith", 3]]
    assert out.share.tolist() == [pytest.approx(3 / 4), pytest.approx(3 / 4)]
    by_source = profile.value_frequencies(recs, ["surname"], top=5, by_source=True)
    assert by_source[["source", "value", "count"]].values.tolist() == [
        ["a", "smith", 2], ["b", "jones", 1], ["b", "smith", 1]]


def test_rule_comparisons_upper_bounds_and_exact_new_pairs(recs):
    rules = ["l.surname = r.surname", "l.dob = r.dob"]
    out = profile.rule_comparisons(recs, rules, exact=True)
    # surname: smith x3 -> 3 pairs; dob: d1 x3 -> 3, d2 x2 -> 1; the d1 pairs are all smith pairs.
    assert out.comparisons.tolist() == [3, 4]
    assert out.largest_block.tolist() == [3, 3]
    assert out.cumulative.tolist() == [3, 7]
    assert out.new_pairs.tolist() == [3, 1]
    assert out.cumulative_pairs.tolist() == [3, 4]


def test_rule_comparisons_respect_the_scope(recs):
    out = profile.rule_comparisons(recs, ["l.surname = r.surname"], PairScope(link_only=True), exact=True)
    assert out.comparisons.tolist() == [2] and out.new_pairs.tolist() == [2]  # k1-k3, k2-k3


def test_largest_blocks_names_the_key_values(recs):
    rules = ["l.surname = r.surname and l.dob = r.dob", "l.first_name = r.first_name"]
    out = profile.largest_blocks(recs, rules, top=1)
    assert out[["rule_index", "block", "records", "pairs"]].values.tolist() == [
        [0, "smith | 1980-01-02", 3, 3], [1, "ann", 3, 3]]


def test_largest_blocks_of_a_rule_without_equality_is_every_record(recs):
    out = profile.largest_blocks(recs, ["levenshtein(l.surname, r.surname) <= 1"])
    assert out[["block", "records", "pairs"]].values.tolist() == [["(all records)", 5, 10]]
