import pandas as pd
import pytest
from pyspark.sql import functions as F

from bold_spark.exceptions import InputError
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.scoring import predict_edges
from bold_spark.tuning import review
from bold_spark.tuning.thresholds import probability_to_weight


@pytest.fixture(scope="module")
def edges(spark, tiny_records):
    from tests.tuning.conftest import tiny_model

    return predict_edges(tiny_records, tiny_model(), "tiny", ["a", "b"], PairScope(), "run").persist()


def test_level_labels_beside_gammas(edges, model):
    out = review.with_level_labels(edges, model).select("gamma_dob", "dob_level", "gamma_surname", "surname_level")
    for r in out.distinct().collect():
        assert r.dob_level == {-1: "dob is NULL", 1: "Exact match on dob", 0: "All other comparisons"}[r.gamma_dob]
        assert r.surname_level == {-1: "surname is NULL", 1: "Exact match on surname",
                                   0: "All other comparisons"}[r.gamma_surname]


def test_sample_around_thresholds_stays_in_the_window_and_is_reproducible(edges):
    thresholds = {"high": 0.99, "low": 0.5}
    a = review.sample_around_thresholds(edges, thresholds, per_threshold=3, window=2.0, seed=3).toPandas()
    b = review.sample_around_thresholds(edges, thresholds, per_threshold=3, window=2.0, seed=3).toPandas()
    assert len(a) > 0 and a.groupby("near_threshold").size().max() <= 3
    for name, p in thresholds.items():
        sub = a[a.near_threshold == name]
        assert ((sub.match_weight - probability_to_weight(p)).abs() <= 2.0).all()
    key = ["near_threshold", "record_key_l", "record_key_r"]
    assert a.sort_values(key)[key].values.tolist() == b.sort_values(key)[key].values.tolist()


def test_review_sample_csv_has_levels_values_and_a_label_column(edges, tiny_records, model, tmp_path):
    sample = review.review_sample(edges, tiny_records, {"tiny": model}, {"mid": 0.5}, per_threshold=50, window=100.0)
    assert len(sample) == edges.count()  # a window this wide takes every edge
    for col in ("near_threshold", "link_group", "match_weight", "gamma_dob", "dob_level", "surname_level",
                "first_name_l", "first_name_r", "dob_l", "dob_r", "clerical_match_score"):
        assert col in sample.columns, col
    assert sample.columns[-1] == "clerical_match_score"
    path = review.write_review_csv(sample, tmp_path / "r" / "review.csv")
    back = pd.read_csv(path)
    assert list(back.columns) == list(sample.columns) and len(back) == len(sample)
    assert back.clerical_match_score.isna().all()


def test_scored_pair_records_match_the_pipeline_and_feed_splink_waterfall(spark, edges, tiny_records, model):
    from bold_spark.tuning.charts import model_linker

    pairs = review.pairs_across_scores(edges, n=3)
    chosen = pairs.collect()
    assert len(chosen) == 3
    weights = edges.agg(F.max("match_weight"), F.min("match_weight")).first()
    assert {r.match_weight for r in chosen} >= {weights[0], weights[1]}
    rows = review.scored_pair_records(tiny_records, model, ["a", "b"], pairs)
    by_pair = {(r.record_key_l, r.record_key_r): r.match_weight for r in chosen}
    for row in rows:
        assert row["match_weight"] == pytest.approx(by_pair[(row["record_key_l"], row["record_key_r"])], abs=1e-9)
        assert {"first_name_l", "surname_r", "gamma_surname", "mw_tf_adj_surname"} <= row.keys()
    chart = model_linker(spark, model, tiny_records).visualisations.waterfall_chart(rows)
    assert len(chart.chart_dict["data"]["values"]) == len(rows) * 6  # prior, 3 comparisons, tf, final


@pytest.fixture(scope="module")
def clusters(spark):
    rows = [("k1", "a", "P1", 3), ("k2", "b", "P1", 3), ("k3", "b", "P1", 3), ("k4", "a", "P2", 1),
            ("k5", "a", "P3", 2), ("k6", "b", "P3", 2)]
    df = spark.createDataFrame(
        rows, "record_key string, source string, person_id_medium string, cluster_size_medium int")
    return df.select("*", F.col("person_id_medium").alias("person_id_high"),
                     F.col("cluster_size_medium").alias("cluster_size_high"))


def test_cluster_size_distribution(clusters):
    out = review.cluster_size_distribution(clusters, levels=("high", "medium"))
    assert out.values.tolist() == [["high", 1, 1, 1], ["high", 2, 1, 2], ["high", 3, 1, 3],
                                   ["medium", 1, 1, 1], ["medium", 2, 1, 2], ["medium", 3, 1, 3]]


def test_largest_clusters_and_their_records(spark, clusters):
    out = review.largest_clusters(clusters, "medium", top=2)
    assert out.values.tolist() == [["P1", 3, "a 1, b 2"], ["P3", 2, "a 1, b 1"]]
    records = spark.createDataFrame([(f"k{i}", "x", f"name{i}") for i in range(1, 7)],
                                    "record_key string, source string, first_name string")
    members = review.cluster_records(clusters, records, "P1")
    assert members.record_key.tolist() == ["k1", "k2", "k3"]
    assert list(members.columns) == ["record_key", "source", "first_name"]


def test_a_filled_review_is_read_back_and_checked_against_the_model(tmp_path):
    """The reviewers' labels against the model's match probabilities, per threshold and side:
    a share judged matches (with a Wilson interval) beside the model's mean; blanks not counted."""
    accepted = [(0.96, "1"), (0.97, "1"), (0.99, "1"), (0.98, "0"), (0.96, "1"), (0.95, "1"),
                (0.97, "1"), (0.999, " 1 "), (0.96, ""), (0.97, "")]
    rejected = [(0.90, "0"), (0.80, "0"), (0.93, "1"), (0.94, "0.5"), (0.91, "")]
    rows = [{"near_threshold": "medium", "threshold_probability": 0.95, "link_group": "g",
             "match_probability": p, review.REVIEW_LABEL_COLUMN: label}
            for p, label in accepted + rejected]
    path = review.write_review_csv(pd.DataFrame(rows), tmp_path / "filled.csv")
    out = review.review_calibration(review.read_review(path)).set_index("side")
    acc, rej = out.loc["accepted"], out.loc["rejected"]
    assert (acc["reviewed"], acc["not_reviewed"]) == (8, 2)
    assert acc["reviewed_match_share"] == 7 / 8
    assert abs(acc["model_mean_probability"] - sum(p for p, lab in accepted if lab.strip()) / 8) < 1e-12
    assert acc["share_low_95"] < 7 / 8 < acc["share_high_95"] <= 1.0
    assert (rej["reviewed"], rej["not_reviewed"]) == (4, 1)
    assert rej["reviewed_match_share"] == 1.5 / 4


def test_a_review_with_bad_labels_names_the_file_column_and_lines(tmp_path):
    rows = [{"near_threshold": "medium", "threshold_probability": 0.95, "match_probability": 0.97,
             review.REVIEW_LABEL_COLUMN: label} for label in ("1", "yes", "0", "2", "")]
    path = review.write_review_csv(pd.DataFrame(rows), tmp_path / "bad.csv")
    with pytest.raises(InputError, match=r"bad\.csv: column 'clerical_match_score': 2 row\(s\) .* "
                                         r"CSV line\(s\) 3, 5$"):
        review.read_review(path)
    pd.DataFrame(rows).drop(columns=[review.REVIEW_LABEL_COLUMN]).to_csv(tmp_path / "none.csv", index=False)
    with pytest.raises(InputError, match="none.csv: column 'clerical_match_score' is missing"):
        review.read_review(tmp_path / "none.csv")
