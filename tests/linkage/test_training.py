"""The training engine: ``train_model`` (``bold train``) and the notebooks' step-by-step path are
one ``Trainer``, and give the same model on the same data."""

from __future__ import annotations

import ast
import itertools
import statistics
from pathlib import Path

import pytest

from bold_spark.linkage.pairs import group_records
from bold_spark.linkage.scope import PairScope
from bold_spark.linkage.sql import needed_columns
from bold_spark.linkage.training import Trainer, train_model
from bold_spark.tuning import stepwise
from tests.tuning.conftest import RECORD_SCHEMA, tiny_model, tiny_rows

REPO = Path(__file__).resolve().parents[2]
# The estimation steps: only bold_spark/linkage/training.py may call them.
ENGINE_FUNCTIONS = {"expectation_maximisation", "level_proportions", "pattern_counts",
                    "sample_random_pairs", "estimate_prior"}


@pytest.fixture(scope="module")
def records(spark):
    return spark.createDataFrame(tiny_rows(), RECORD_SCHEMA)


def _recs(records, model):
    settings = model.splink_settings()
    tr = model.meta.training
    columns = needed_columns(settings, [*tr.deterministic_rules, *tr.em_blocking_rules])
    return group_records(records, ["a", "b"], columns, settings)


def _parameters(model) -> dict:
    """prior and (comparison, level) -> (m, u) of every non-null level."""
    out = {"prior": model.settings["probability_two_random_records_match"]}
    for comp in model.settings["comparisons"]:
        for i, lv in enumerate(comp["comparison_levels"]):
            if not lv.get("is_null_level"):
                key = (comp["output_column_name"], i)
                out[key] = (lv.get("m_probability"), lv.get("u_probability"))
    return out


def _without_time(trained: dict) -> dict:
    return {k: v for k, v in trained.items() if k != "trained_at"}


def test_stepwise_path_and_train_model_give_identical_models(records):
    """The notebook's calls, one step at a time, against ``bold train``'s function."""
    start = tiny_model()
    recs = _recs(records, start)
    expected, info = train_model(recs, start, PairScope(), {"by": "test"})
    with stepwise.StepwiseTrainer(recs, start, PairScope(), {"by": "test"}) as trainer:
        trainer.estimate_prior()
        trainer.estimate_u()
        for rule in trainer.training.em_blocking_rules:
            trainer.em_session(rule)
        got = trainer.model()
    assert _parameters(got) == _parameters(expected)
    assert _parameters(got) != _parameters(start)  # training changed every parameter group
    assert got.settings == expected.settings and got.version == expected.version
    assert _without_time(got.meta.trained) == _without_time(info)
    assert _without_time(info) == _without_time(expected.meta.trained)
    assert [s["rule"] for s in info["em_sessions"]] == start.meta.training.em_blocking_rules


def test_prior_counts_deterministic_matches_over_pairs_in_scope(records):
    rows = tiny_rows()
    pairs = list(itertools.combinations(rows, 2))
    matched = sum(1 for a, b in pairs if a[2] == b[2] and a[4] == b[4])  # first_name and dob
    model = tiny_model()
    with Trainer(_recs(records, model), model, PairScope(), {}) as trainer:
        assert trainer.records == len(rows) and trainer.pairs_in_scope == len(pairs)
        prior = trainer.estimate_prior()
    assert trainer.deterministic_matches == matched
    assert prior == pytest.approx(matched / len(pairs) / 0.8)


def test_m_is_the_median_of_the_sessions_that_estimated_it(records):
    model = tiny_model()
    with Trainer(_recs(records, model), model, PairScope(), {}) as trainer:
        trainer.estimate_prior()
        trainer.estimate_u()
        trainer.em_session("l.dob = r.dob")
        trainer.em_session("l.surname = r.surname")
        trained = trainer.model()
    # comparison 0 (first_name), level 1 (exact), from each session
    by_dob, by_surname = trainer.session_m[0][0][1], trainer.session_m[1][0][1]
    exact = trained.settings["comparisons"][0]["comparison_levels"][1]
    assert exact["m_probability"] == pytest.approx(statistics.median([by_dob, by_surname]))
    assert by_dob != by_surname
    # dob (comparison 2) only from the surname session, surname (1) only from the dob session
    assert 2 not in trainer.session_m[0] and 1 not in trainer.session_m[1]
    dob_exact = trained.settings["comparisons"][2]["comparison_levels"][1]
    assert dob_exact["m_probability"] == trainer.session_m[1][2][1]
    assert [s.deactivated for s in trainer.sessions] == [["dob"], ["surname"]]


def test_model_is_marked_trained_only_when_every_step_ran(records):
    model = tiny_model()
    with Trainer(_recs(records, model), model, PairScope(), {}) as trainer:
        trainer.estimate_prior()
        trainer.estimate_u()
        assert not trainer.is_complete and trainer.model().is_trained is False
        trainer.em_session("l.dob = r.dob")
        assert trainer.model().is_trained
    no_em = type(model.meta.training)(deterministic_rules=["l.dob = r.dob"], em_blocking_rules=[])
    with Trainer(_recs(records, model), model, PairScope(), {}, training=no_em) as trainer:
        trained = trainer.run()
    assert trained.is_trained and trained.meta.trained["em_sessions"] == []
    assert trained.meta.training == no_em
    exact = trained.settings["comparisons"][0]["comparison_levels"][1]
    assert exact["m_probability"] == 0.9  # no EM: m as the start model has it


def test_trainer_releases_only_the_cache_it_made(records):
    model = tiny_model()
    mine = _recs(records, model)
    trainer = Trainer(mine, model, PairScope(), {})
    assert trainer.recs.is_cached
    trainer.close()
    assert not trainer.recs.is_cached
    theirs = _recs(records, model).persist()
    with Trainer(theirs, model, PairScope(), {}):
        pass
    assert theirs.is_cached
    theirs.unpersist()


def test_em_session_needs_prior_and_u(records):
    model = tiny_model()
    with (Trainer(_recs(records, model), model, PairScope(), {}) as trainer,
          pytest.raises(RuntimeError, match="prior and u")):
        trainer.em_session("l.dob = r.dob")


def test_only_the_engine_runs_estimation_steps():
    """The notebooks' path holds no copy of the estimation: no module outside
    linkage/training.py calls the engine's step functions."""
    offenders = []
    for path in sorted((REPO / "bold_spark").rglob("*.py")):
        if path == REPO / "bold_spark/linkage/training.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "bold_spark.linkage.training":
                offenders += [f"{path.relative_to(REPO)} imports {a.name}" for a in node.names
                              if a.name in ENGINE_FUNCTIONS]
    assert offenders == []
