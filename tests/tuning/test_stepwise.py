import math

import pytest

from bold_spark.linkage.pairs import group_records
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import needed_columns
from bold_spark.linkage.training import train_model
from bold_spark.tuning import stepwise


def _recs(records, model):
    settings = model.splink_settings()
    tr = model.meta.training
    columns = needed_columns(settings, [*tr.deterministic_rules, *tr.em_blocking_rules])
    return group_records(records, ["a", "b"], columns, settings)


def _without_timestamp(meta_trained: dict) -> dict:
    return {k: v for k, v in meta_trained.items() if k != "trained_at"}


def test_all_steps_give_what_train_model_gives(tiny_records, model):
    recs = _recs(tiny_records, model)
    expected, info = train_model(recs, model, PairScope(), {"by": "test"})
    with stepwise.StepwiseTrainer(recs, model, PairScope(), {"by": "test"}) as trainer:
        got = trainer.run_all()
    assert got.settings == expected.settings
    assert _without_timestamp(got.meta.trained) == _without_timestamp(info)
    assert got.is_trained and len(got.meta.trained["em_sessions"]) == 2


def test_steps_one_at_a_time(tiny_records, model):
    with stepwise.StepwiseTrainer(_recs(tiny_records, model), model, PairScope(), {}) as trainer:
        with pytest.raises(RuntimeError, match="prior and u"):
            trainer.em_session("l.dob = r.dob")
        prior = trainer.estimate_prior()
        assert 0 < prior < 0.5 and trainer.deterministic_matches > 0
        u = trainer.estimate_u()
        assert set(u.columns) >= {"comparison", "level", "label", "m", "u", "match_weight"}
        assert trainer.model().is_trained is False  # no EM session yet: not a trained model
        session = trainer.em_session("l.surname = r.surname")
        assert session.deactivated == ["surname"] and session.pairs > 0
        estimates = trainer.session_estimates()
        assert list(estimates.columns) == ["0: l.surname = r.surname"]
        assert "surname:1" not in estimates.index and "first_name:1" in estimates.index
        m = trainer.model()
        surname_exact = m.settings["comparisons"][1]["comparison_levels"][1]
        assert surname_exact["m_probability"] == 0.9  # not estimated: the session blocked on surname
        assert m.settings["probability_two_random_records_match"] == prior


def test_training_settings_can_be_overridden(tiny_records, model):
    tr = model.meta.training
    other = type(tr)(deterministic_rules=["l.dob = r.dob"], recall=0.5, em_blocking_rules=["l.dob = r.dob"])
    with stepwise.StepwiseTrainer(_recs(tiny_records, model), model, PairScope(), {}, training=other) as trainer:
        trainer.estimate_prior(recall=0.25)
        assert trainer.training.recall == 0.25 and trainer.training.deterministic_rules == ["l.dob = r.dob"]
        assert trainer.model().meta.training.recall == 0.25


def test_with_blocking_rules_and_parameters_table(model):
    changed = stepwise.with_blocking_rules(model, ["l.surname = r.surname"])
    assert changed.settings["blocking_rules_to_generate_predictions"] == [{"blocking_rule": "l.surname = r.surname"}]
    assert model.settings["blocking_rules_to_generate_predictions"][0] == {"blocking_rule": "l.dob = r.dob"}
    assert changed.version != model.version
    table = stepwise.parameters_table(model)
    assert len(table) == 6  # 3 comparisons x (exact, else); null levels left out
    exact = table[(table.comparison == "dob") & (table.level == 1)].iloc[0]
    assert exact.match_weight == pytest.approx(math.log2(0.9 / 0.1))
