"""Parts of the report page that need no Spark: how shares are printed, which model levels are
flagged as resting on no training data, and how the training table is named."""

from __future__ import annotations

import pandas as pd
import pytest

from bold_spark.report.render import _table_name, pct
from bold_spark.report.report import UNTRAINED_M_FLOOR, unsupported_levels


@pytest.mark.parametrize(("x", "digits", "shown"), [
    (0.5, 1, "50.0%"), (1.0, 1, "100.0%"), (0.0, 1, "0.0%"),
    (0.9995, 1, "99.95%"),  # the demo's precision: never "100.0%"
    (0.9995, 2, "99.95%"), (0.99994, 2, "99.99%"), (0.99996, 2, "99.996%"), (0.00001, 2, "0.001%"),
    (0.99999999, 1, ">99.9999%"), (1e-9, 1, "<0.0001%"),
])
def test_a_share_that_is_not_whole_is_never_printed_as_100_or_0(x, digits, shown):
    assert pct(x, digits) == shown


def params(*rows):
    return pd.DataFrame(rows, columns=["comparison", "label", "m", "u", "match_weight"])


def test_levels_below_one_training_observation_are_flagged():
    p = params(
        ("prison_number_hash", "Exact match", 1.0, 2.9e-4, 11.8),
        ("prison_number_hash", "All other comparisons", 9e-64, 0.9997, -209.4),
        ("pnc_hash", "All other comparisons", 1.8e-5, 0.9999, -15.8),  # 1.9 of 107k pairs
        ("dob", "All other comparisons", 5e-6, 0.98, -17.6),  # trained only by the name session
        ("ni_number_hash", "Exact match", 0.87, 5e-7, 20.7),  # under one of 1M sampled pairs
    )
    trained = {"u_pairs_sampled": 1_000_000, "em_sessions": [
        {"rule": "l.dob = r.dob", "pairs": 61_223, "deactivated": ["dob"]},
        {"rule": "l.surname = r.surname", "pairs": 45_567, "deactivated": ["surname"]}]}
    flagged = unsupported_levels(p, trained)
    got = {(r["comparison"], r["which"], r["support"]) for _, r in flagged.iterrows()}
    # dob's m is measured against the name session's 45,567 pairs only: 5e-6 < 1/45,567
    assert got == {("prison_number_hash", "m", 106_790), ("dob", "m", 45_567),
                   ("ni_number_hash", "u", 1_000_000)}


def test_an_untrained_model_is_held_to_fixed_floors():
    p = params(("a", "other", UNTRAINED_M_FLOOR / 2, 0.9, -20.0), ("b", "other", 1e-4, 0.9, -13.1))
    flagged = unsupported_levels(p, {})
    assert list(flagged["comparison"]) == ["a"] and flagged["support"].isna().all()


def test_an_m_fixed_by_hand_is_not_flagged_and_is_marked_fixed():
    from types import SimpleNamespace

    from bold_spark.report.render import _model, _unsupported_summary
    from bold_spark.report.report import model_parameters

    settings = {"comparisons": [{"output_column_name": "dob", "comparison_levels": [
        {"sql_condition": "dob_l = dob_r", "label_for_charts": "Exact", "m_probability": 0.9,
         "u_probability": 1e-4},
        {"sql_condition": "ELSE", "label_for_charts": "All other", "m_probability": 1e-30,
         "u_probability": 0.98, "fix_m_probability": True},
        {"sql_condition": "ELSE", "label_for_charts": "All other (not fixed)",
         "m_probability": 1e-30, "u_probability": 0.98},
        {"sql_condition": "x", "label_for_charts": "Mild", "m_probability": 1e-7,
         "u_probability": 1e-6}]}]}
    p = model_parameters(settings)
    assert list(p["m_fixed"]) == [False, True, False, False]
    flagged = unsupported_levels(p, {})
    # the same m as the fixed level, but estimated; and a small one
    assert list(flagged["label"]) == ["All other (not fixed)", "Mild"]
    m = SimpleNamespace(group="g", file="g.json", version="v1", run_version=None, sources=["a"],
                        prior=1e-4, trained={}, blocking_rules=[], params=p,
                        unsupported=flagged)
    d = SimpleNamespace(charts={}, agg=SimpleNamespace(rules=pd.DataFrame()))
    html = _model(d, m)
    assert "1e-30 (fixed)" in html and html.count("(fixed)") == 1
    box = html[html.index('id="unsupported-g"'):]
    box = box[:box.index("</div>")]
    assert box.count("<li>") == 2 and "<li>dob: All other (not fixed) (" in box
    lines = {li.split(" (")[0]: li for li in box.split("<li>")[1:]}
    assert "vetoes the link" in lines["dob: All other"]  # -99.6 bits
    assert "too small to veto" in lines["dob: Mild"]  # -3.3 bits
    summary = _unsupported_summary(SimpleNamespace(models=[m]))
    assert 'id="model-flags"' in summary and 'href="#model-g"' in summary


def test_a_training_table_is_named_by_its_uri_or_by_the_text_written_by_hand():
    assert _table_name("s3a://bucket/bold/output/records") == "records"
    assert _table_name("/data/out/records/") == "records"
    text = "records of `bold generate --people 20000` (docs/accuracy.md)"
    assert _table_name(text) == text


def test_across_runs_shows_the_records_withdrawn_per_source():
    from types import SimpleNamespace

    from bold_spark.report.render import _churn

    metrics = {"id_churn_medium": 0.0004, "published_before_prison": 2000.0, "withdrawn_prison": 38.0,
               "published_before_probation": 1500.0, "withdrawn_probation": 3.0}
    d = SimpleNamespace(agg=SimpleNamespace(run={"metrics": metrics}), previous_run="20261201T000000Z-a",
                        thresholds={"medium": 0.95}, charts={})
    page = _churn(d)
    assert "<td class=\"l\">prison</td><td>2,000</td><td>38</td><td>1.9%</td>" in page
    assert "<td class=\"l\">probation</td><td>1,500</td><td>&lt;10</td><td>n/a</td>" in page
    assert "0.04%" in page  # the churn, never rounded to 0.00%
    first = SimpleNamespace(agg=SimpleNamespace(run={"metrics": {}}), previous_run=None,
                            thresholds={"medium": 0.95}, charts={})
    assert "withdrawn" not in _churn(first)


def test_summary_flags_put_groups_of_people_before_sources():
    """A source's link rate differs by design (prison records are linked as often as prisoners
    appear elsewhere): its flags come after those of sex, age band and NFA status, however large,
    and gaps measured against the ground truth come first of all."""
    from bold_spark.report.report import bias_flags

    rows = [  # dimension, group, link gap, member gap, found gap (pp)
        ("source", "prison", 33.5, 34.2, 6.9),
        ("source", "benefits", -27.7, 0.0, 0.0),
        ("sex", "unknown", -3.1, 0.0, -3.7),
        ("age band", "18-24", 2.5, 0.0, 0.0),
    ]
    t = pd.DataFrame([{"dimension": d, "group": g,
                       "link_rate": 0.6 + lg / 100, "link_gap_pp": lg, "link_flag": abs(lg) > 2,
                       "member_rate": 0.6 + mg / 100, "member_gap_pp": mg, "member_flag": abs(mg) > 2,
                       "found_rate": 0.9 + fg / 100, "found_gap_pp": fg, "found_flag": abs(fg) > 2}
                      for d, g, lg, mg, fg in rows])
    overall = {"link_rate": 0.6, "member_rate": 0.6, "found_rate": 0.9}
    flags = bias_flags(t, overall, 2.0, "medium")
    heads = [f.split(":")[0] + (" found" if "true links found" in f else "") for f in flags]
    assert heads == ["source = prison found", "sex = unknown found",  # measured, largest first
                     "sex = unknown", "age band = 18-24",  # people's groups
                     "source = prison", "source = prison", "source = benefits"]  # sources last


def test_completeness_covers_the_fields_the_models_compare():
    """FEBRL's report showed BOLD's fields (sex, PNC, NI number: 0% in both files) and not the
    address fields its model compares. The fields are now those the models read, less derived
    columns (DOB parts, codes, MinHash keys)."""
    from pathlib import Path

    from bold_spark.linkage.model import load_model
    from bold_spark.linkage.sql import needed_columns
    from bold_spark.report.aggregates import LINKAGE_FIELDS, compared_fields

    models = Path(__file__).resolve().parents[2] / "conf" / "models"

    def read(*names):
        return [c for n in names for c in needed_columns(load_model(models / f"{n}.json").splink_settings())]

    canonical = [*LINKAGE_FIELDS, "dob_year", "dob_month", "first_name_soundex", "address_1",
                 "suburb", "postcode_au", "street_number", "soc_sec_id_hash"]
    assert compared_fields(read("febrl"), canonical) == [
        "first_name", "middle_names", "surname", "dob",
        "address_1", "suburb", "postcode_au", "street_number", "soc_sec_id_hash"]
    bold = compared_fields(read("rich", "ndtms"), canonical)
    assert bold[:3] == ["first_name", "middle_names", "surname"] and "dob_year" not in bold
    assert {"sex", "postcode_sector", "pnc_hash", "ni_number_hash", "surname_initial"} <= set(bold)
    assert "crn_hash" not in bold  # held, but no model compares it
    pprl = [c for c in canonical if c not in ("first_name", "surname", "dob")] + [
        "first_name_bf", "surname_bf", "dob_hash", "first_name_mh", "dob_swap_hash"]
    assert compared_fields(read("pprl_rich"), pprl)[:3] == ["sex", "pnc_hash", "ni_number_hash"]
    assert {"first_name_bf", "surname_bf", "dob_hash"} <= set(compared_fields(read("pprl_rich"), pprl))
    assert not {"first_name_mh", "dob_swap_hash"} & set(compared_fields(read("pprl_rich"), pprl))


def test_flag_sentences_never_print_a_rate_that_is_not_whole_as_100():
    from bold_spark.report.report import bias_flags

    t = pd.DataFrame([{"dimension": "source", "group": "prison", "link_rate": 0.99962,
                       "link_gap_pp": 34.0, "link_flag": True, "member_rate": 0.6,
                       "member_gap_pp": 0.0, "member_flag": False}])
    (flag,) = bias_flags(t, {"link_rate": 0.65962, "member_rate": 0.6}, 2.0, "medium")
    assert "link rate 99.96% is 34.0 pp above the overall 66.0%" in flag


def test_a_u_no_sampled_pair_fell_in_is_flagged_whatever_its_size():
    """A level training saw no random pair in has no estimate of u (``u_not_estimated``: the
    start model's, or at most one over the pairs sampled): flagged as a bound, though this one
    (a model trained with ``cap_unobserved_u`` false) is far above one sampled pair."""
    import html as html_lib
    from types import SimpleNamespace

    from bold_spark.report.render import _unsupported

    p = params(("postcode", "Exact match", 0.6, 9.3e-4, 9.3), ("postcode", "All other", 0.4, 0.999, -1.3))
    trained = {"u_pairs_sampled": 1_000_000, "u_not_estimated": [
        {"comparison": "postcode", "level": 1, "label": "Exact match", "u_start": 9.3e-4, "u": 9.3e-4}]}
    flagged = unsupported_levels(p, trained)
    assert [(r["label"], r["which"], r["support"]) for _, r in flagged.iterrows()] == [
        ("Exact match", "u_not_estimated", 1_000_000)]
    assert unsupported_levels(p, {"u_pairs_sampled": 1_000_000}).empty  # by its size alone: not flagged
    html = html_lib.unescape(_unsupported(SimpleNamespace(group="g", unsupported=flagged)))
    assert ("no estimate: none of the 1,000,000 random pairs sampled fell here, so it is the start "
            "model's u, at most 1 / 1,000,000") in html, html
    assert "raise training.u_max_pairs" in html and "a non-match is taken never" not in html


def test_a_counted_u_is_held_to_its_count_not_to_the_sample_and_is_marked_counted():
    """A u counted over every pair in scope (``u_counted``: training.count_exact_u) is an exact
    count however far it lies below one over the random pairs sampled (a postcode at national
    scale): not flagged, and marked in the parameters table. The same u from the sample alone
    is flagged."""
    import html as html_lib
    from types import SimpleNamespace

    from bold_spark.report.render import _model
    from bold_spark.report.report import model_parameters

    settings = {"comparisons": [{"output_column_name": "postcode", "comparison_levels": [
        {"sql_condition": "postcode_l = postcode_r", "label_for_charts": "Exact match",
         "m_probability": 0.65, "u_probability": 2.3e-7},
        {"sql_condition": "ELSE", "label_for_charts": "All other", "m_probability": 0.35,
         "u_probability": 0.9999997}]}]}
    sampled = {"u_pairs_sampled": 1_000_000}
    trained = {**sampled, "u_counted": [{"comparison": "postcode", "level": 1, "label": "Exact match",
                                         "pairs": 1.15e7, "of": 5.0e13, "u_sampled": 0.0}]}
    assert [(r["label"], r["which"]) for _, r in unsupported_levels(model_parameters(settings, sampled),
                                                                    sampled).iterrows()] == [
        ("Exact match", "u")]
    p = model_parameters(settings, trained)
    assert list(p["u_counted"]) == [True, False]
    assert unsupported_levels(p, trained).empty
    m = SimpleNamespace(group="g", file="g.json", version="v1", run_version=None, sources=["a"],
                        prior=1e-7, trained=trained, blocking_rules=[], params=p,
                        unsupported=unsupported_levels(p, trained))
    d = SimpleNamespace(charts={}, agg=SimpleNamespace(rules=pd.DataFrame()))
    html = html_lib.unescape(_model(d, m))
    assert "2.3e-07 (counted)" in html, html
    assert html.count("(counted)") == 1 and "rest on no training data" not in html
