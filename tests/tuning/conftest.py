"""A tiny model and a tiny population for the tuning helpers' tests."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import types as T

from bold_spark.linkage.model import LinkModel, ModelMeta, TrainingConfig

RECORD_SCHEMA = T.StructType([
    T.StructField("record_key", T.StringType()),
    T.StructField("source", T.StringType()),
    T.StructField("first_name", T.StringType()),
    T.StructField("surname", T.StringType()),
    T.StructField("dob", T.DateType()),
])

FIRST = ["ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal", "ida", "jon", "kim", "lee"]
LAST = ["smith", "jones", "brown", "smith", "evans", "white", "green", "jones", "hall", "wood", "king", "reid"]


def _comparison(col: str, tf: bool = False) -> dict:
    exact = {"sql_condition": f"{col}_l = {col}_r", "label_for_charts": f"Exact match on {col}",
             "m_probability": 0.9, "u_probability": 0.1}
    if tf:
        exact.update(tf_adjustment_column=col, tf_adjustment_weight=1.0)
    return {"output_column_name": col, "comparison_levels": [
        {"sql_condition": f"{col}_l IS NULL OR {col}_r IS NULL", "label_for_charts": f"{col} is NULL",
         "is_null_level": True},
        exact,
        {"sql_condition": "ELSE", "label_for_charts": "All other comparisons",
         "m_probability": 0.1, "u_probability": 0.9},
    ]}


def tiny_model() -> LinkModel:
    settings = {
        "link_type": "dedupe_only",
        "unique_id_column_name": "record_key",
        "probability_two_random_records_match": 0.01,
        "em_convergence": 0.0001,
        "max_iterations": 25,
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "comparisons": [_comparison("first_name"), _comparison("surname", tf=True), _comparison("dob")],
        "blocking_rules_to_generate_predictions": [{"blocking_rule": "l.dob = r.dob"},
                                                   {"blocking_rule": "l.surname = r.surname"}],
    }
    training = TrainingConfig(deterministic_rules=["l.first_name = r.first_name and l.dob = r.dob"],
                              recall=0.8, em_blocking_rules=["l.dob = r.dob", "l.surname = r.surname"],
                              u_max_pairs=100_000, seed=1)
    return LinkModel("tiny.json", settings, ModelMeta(sources=["a", "b"], training=training))


def tiny_rows() -> list[tuple]:
    """12 people, 2 or 3 records each over sources a and b, some with a typo or a missing value;
    the true person of record ``p07-1`` is ``p07``."""
    rows = []
    for i, (first, last) in enumerate(zip(FIRST, LAST, strict=True)):
        dob = dt.date(1960 + i, 1 + i % 12, 1 + (3 * i) % 28)
        rows.append((f"p{i:02d}-0", "a", first, last, dob))
        rows.append((f"p{i:02d}-1", "b", first if i % 4 else first[:2] + "x", last, dob))
        if i % 3 == 0:
            rows.append((f"p{i:02d}-2", "b", first, None if i % 2 else last + "e",
                         dob if i % 2 else dob.replace(day=dob.day + 1)))
    return rows


@pytest.fixture(scope="module")
def tiny_records(spark):
    return spark.createDataFrame(tiny_rows(), RECORD_SCHEMA)


@pytest.fixture(scope="module")
def tiny_truth(spark):
    return spark.createDataFrame([(r[0], r[0][:3]) for r in tiny_rows()], "record_key string, true_person string")


@pytest.fixture()
def model() -> LinkModel:
    return tiny_model()
