"""The training engine: ``train_model`` (``bold train``) and the notebooks' step-by-step path are
one ``Trainer``, and give the same model on the same data."""

from __future__ import annotations

import ast
import copy
import datetime as dt
import itertools
import statistics
from pathlib import Path

import pytest

from bold_spark.exceptions import BlockingCapExceeded
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


# ------------------------------------------------------------------ caps on the training joins

PLACEHOLDER_DOB = dt.date(1900, 1, 1)
GIANT = 40  # records sharing the placeholder DOB: 780 pairs in one block


@pytest.fixture(scope="module")
def giant_block_records(spark):
    """The tiny population plus GIANT records with one placeholder DOB (names all distinct)."""
    extra = [(f"z{i:02d}", "ab"[i % 2], f"zed{i:02d}", f"zz{i:02d}", PLACEHOLDER_DOB) for i in range(GIANT)]
    return spark.createDataFrame(tiny_rows() + extra, RECORD_SCHEMA)


def _dob_pairs_of_tiny_rows() -> int:
    return sum(1 for a, b in itertools.combinations(tiny_rows(), 2) if a[4] == b[4])


def test_training_joins_are_capped_like_predict(giant_block_records):
    model = tiny_model()
    recs = _recs(giant_block_records, model)
    with pytest.raises(BlockingCapExceeded) as e:
        Trainer(recs, model, PairScope(), {}, max_comparisons=500, link_group="g")
    pairs = GIANT * (GIANT - 1) // 2 + _dob_pairs_of_tiny_rows()
    assert str(e.value) == (
        f"link group 'g': training's EM blocking rule would generate {pairs:,} comparisons, over "
        f"the cap of 500 (max_comparisons). The rule that blows up is rule 0 `l.dob = r.dob` with "
        f"{pairs:,} comparisons (largest block {GIANT} records): tighten it, or raise the cap.")
    assert not recs.is_cached  # refused before any training work; the trainer's cache released
    # the deterministic rules are capped together, as predict caps its rules
    with pytest.raises(BlockingCapExceeded, match=r"training's deterministic rules \(the prior\)"):
        Trainer(recs, model, PairScope(), {}, max_comparisons=0, link_group="g")


def test_the_cap_adds_no_spark_job(spark, records):
    """Counting every training rule rides on the job that counts the records and pairs."""
    model = tiny_model()
    sc = spark.sparkContext
    before = spark.conf.get("spark.sql.adaptive.enabled")
    spark.conf.set("spark.sql.adaptive.enabled", "false")  # one action, one job
    jobs = {}
    try:
        for name, caps in [("plain", {}), ("capped", {"max_comparisons": 10**9, "max_block_size": 5})]:
            recs = _recs(records, model)
            sc.setJobGroup(f"cap-{name}", name)
            with Trainer(recs, model, PairScope(), {}, **caps) as trainer:
                jobs[name] = len(sc.statusTracker().getJobIdsForGroup(f"cap-{name}"))
                totals = (trainer.records, trainer.pairs_in_scope)
            jobs[name + "_totals"] = totals
    finally:
        sc.setJobGroup("", "")
        spark.conf.set("spark.sql.adaptive.enabled", before)
    assert jobs["capped"] == jobs["plain"] >= 1, jobs
    assert jobs["capped_totals"] == jobs["plain_totals"] == (len(tiny_rows()),
                                                             len(tiny_rows()) * (len(tiny_rows()) - 1) / 2)


def test_per_block_cap_skips_the_giant_block_with_a_warning(giant_block_records, caplog):
    model = tiny_model()
    recs = _recs(giant_block_records, model)
    with caplog.at_level("WARNING", logger="bold_spark.linkage.blocking"):
        trained, info = train_model(recs, model, PairScope(), {}, max_comparisons=500,
                                    max_block_size=10, link_group="g")
    assert info["max_block_size"] == 10
    assert info["skipped_blocks"] == [{"rule": "l.dob = r.dob", "blocks": 1, "records": GIANT,
                                       "comparisons": GIANT * (GIANT - 1) // 2}]
    by_rule = {s["rule"]: s for s in info["em_sessions"]}
    # the DOB session saw exactly the pairs of the real DOB blocks; the surname one is untouched
    assert by_rule["l.dob = r.dob"]["pairs"] == _dob_pairs_of_tiny_rows()
    assert by_rule["l.surname = r.surname"]["pairs"] == sum(
        1 for a, b in itertools.combinations(tiny_rows(), 2) if a[3] is not None and a[3] == b[3])
    assert trained.is_trained
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("[g] training's EM blocking rule 0 `l.dob = r.dob`: 1 block(s) over max_block_size "
               f"(10 records) skipped: {GIANT} records in them, 780 comparisons" in w for w in warned), warned
    assert not any("1900" in w for w in warned)  # counts only, never the block's value


def test_a_fixed_m_stays_as_the_model_has_it_and_still_weighs_in_em():
    """``fix_m_probability`` (Splink's flag): EM leaves the level's m as it started, and the
    level's Bayes factor still decides its pairs' match probabilities, which move the other m
    estimates. No Spark: EM runs on the pattern counts."""
    from types import SimpleNamespace

    import pandas as pd

    from bold_spark.linkage.training import expectation_maximisation

    # two comparisons, levels 0 (disagree) .. 2 (agree); 'a' is the one with a level to fix
    patterns = pd.DataFrame({"gamma_a": [2, 2, 0, 0, 1, 2, 0],
                             "gamma_b": [2, 0, 2, 0, 2, 1, 1],
                             "n": [400, 30, 60, 900, 20, 25, 300]})
    levels = [[SimpleNamespace(comparison_vector_value=v) for v in (0, 1, 2)]] * 2
    m0 = [{0: 0.3, 1: 0.1, 2: 0.6}, {0: 0.1, 1: 0.1, 2: 0.8}]
    u = [{0: 0.9, 1: 0.08, 2: 0.02}, {0: 0.85, 1: 0.1, 2: 0.05}]
    args = (patterns, ["gamma_a", "gamma_b"], levels, m0, u, 0.3, 5000, 1e-13)
    free, _, _, _ = expectation_maximisation(*args)
    fixed, _, _, _ = expectation_maximisation(*args, [{0}, set()])
    assert fixed[0][0] == 0.3 and free[0][0] != pytest.approx(0.3, abs=0.05)
    # the fixed level's pairs are matched by its own Bayes factor: the rest of 'a' and all of
    # 'b' are estimated differently than when EM estimates a's level 0 too
    assert abs(fixed[1][0] - free[1][0]) > 0.01 and abs(fixed[0][2] - free[0][2]) > 0.01
    # with a level fixed to what EM would estimate anyway, EM ends where the free run did
    again, _, _, _ = expectation_maximisation(
        patterns, ["gamma_a", "gamma_b"], levels, [free[0], m0[1]], u, 0.3, 5000, 1e-13, [{0}, set()])
    assert again[1] == pytest.approx(free[1], abs=1e-6)


def test_u_levels_no_sampled_pair_fell_in_are_named(records, caplog):
    """With too few random pairs some levels see none: their u is no estimate (at most one over
    the pairs sampled, or the start model's with ``cap_unobserved_u`` false, which can be far off),
    so training warns, names them in its record, and the report flags them."""
    from dataclasses import replace

    from bold_spark.linkage.model import LinkModel
    from bold_spark.report.report import model_parameters, unsupported_levels

    start = tiny_model()
    # exact-match levels start at u 0.5, far above one of the few pairs sampled
    settings = copy.deepcopy(start.settings)
    for comp in settings["comparisons"]:
        for lv in comp["comparison_levels"]:
            if lv.get("label_for_charts", "").startswith("Exact match"):
                lv["u_probability"] = 0.5
    start = LinkModel(start.path, settings, start.meta)

    def sampled_model(**training):
        # a few of the 378 pairs (with the tiny records' keys, 11 to 20 sample some, not every level)
        return LinkModel(start.path, start.settings, replace(
            start.meta, training=replace(start.meta.training, u_max_pairs=15, count_exact_u=False,
                                         **training)))

    with caplog.at_level("WARNING", logger="bold_spark.linkage.training"), \
            Trainer(_recs(records, sampled_model()), sampled_model(), PairScope(), {}) as trainer:
        trainer.estimate_prior()
        trainer.estimate_u()
        listed = trainer.info()["u_not_estimated"]
        sampled = trainer.u_pairs_sampled
    assert trainer.u_unobserved and 0 < sampled < trainer.pairs_in_scope
    names = [c.output_column_name for c in trainer.settings.comparisons]
    assert {(d["comparison"], d["level"]) for d in listed} == {(names[k], v) for k, v in trainer.u_unobserved}
    starts = {(c["output_column_name"], lv.get("label_for_charts")): lv.get("u_probability")
              for c in start.settings["comparisons"] for lv in c["comparison_levels"]}
    assert all(d["u_start"] == starts[(d["comparison"], d["label"])] for d in listed)
    # capped: the start u where it is at most 1 / pairs sampled, else that bound; in the model too
    assert all(d["u"] == min(d["u_start"], 1 / sampled) for d in listed)
    assert any(d["u"] < d["u_start"] for d in listed)  # the cap moved one: not a no-op here
    model_u = {(r["comparison"], r["label"]): r["u"] for _, r in model_parameters(trainer.model().settings).iterrows()}
    assert all(model_u[(d["comparison"], d["label"])] == pytest.approx(d["u"]) for d in listed)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(f"u not estimated for {len(listed)} comparison level(s): none of the {sampled} random "
               f"pairs sampled" in w and "at most 1 / pairs sampled" in w
               and f"{listed[0]['comparison']} level {listed[0]['level']}" in w
               for w in warned), warned
    # the report flags each of them, whatever its u (a bound is no estimate, small or not)
    flagged = unsupported_levels(model_parameters(trainer.model().settings),
                                 {"u_pairs_sampled": sampled, "u_not_estimated": listed})
    got = {(r["comparison"], r["label"]) for _, r in flagged.iterrows() if r["which"] == "u_not_estimated"}
    assert got == {(d["comparison"], d["label"]) for d in listed}
    # cap_unobserved_u false: the start model's u is kept, as Splink keeps it
    with Trainer(_recs(records, sampled_model(cap_unobserved_u=False)), sampled_model(cap_unobserved_u=False),
                 PairScope(), {}) as keep:
        keep.estimate_prior()
        keep.estimate_u()
    assert keep.u_unobserved == trainer.u_unobserved
    assert all(d["u"] == d["u_start"] for d in keep.unobserved_u_levels())
    # with every pair sampled, a level no pair of the population has is the only kind left
    with Trainer(_recs(records, start), start, PairScope(), {}) as full:
        full.estimate_prior()
        full.estimate_u()
    assert len(full.u_unobserved) < len(trainer.u_unobserved)


def test_exact_match_u_is_counted_over_every_pair(records):
    """With ``count_exact_u`` (the default) an exact-match level's u is counted over every pair in
    scope from block sizes, whatever the sample holds: the same u as sampling every pair; the
    comparison's other levels keep their sampled shares of the rest."""
    from dataclasses import replace

    from bold_spark.linkage.model import LinkModel
    from bold_spark.linkage.training import exact_match_levels

    start = tiny_model()

    def sampled_model(**training):
        return LinkModel(start.path, start.settings, replace(
            start.meta, training=replace(start.meta.training, u_max_pairs=15, **training)))

    with Trainer(_recs(records, start), start, PairScope(), {}) as full:  # every pair sampled
        full.estimate_prior()
        full.estimate_u()
    assert full.u_pairs_sampled == full.pairs_in_scope and not full.u_counted
    runs = {}
    for count in (True, False):
        model = sampled_model(count_exact_u=count)
        with Trainer(_recs(records, model), model, PairScope(), {}) as t:
            t.estimate_prior()
            t.estimate_u()
            runs[count] = (t.u, t.u_unobserved, t.info()["u_counted"], t.u_pairs_sampled)
    exact = exact_match_levels(full.settings)
    assert sorted(exact) == [0, 1, 2]  # each comparison's "Exact match on ..." level
    u, unobserved, counted, sampled = runs[True]
    assert 0 < sampled < full.pairs_in_scope
    for k, (v, col, null_col) in exact.items():
        assert col == null_col == ["first_name", "surname", "dob"][k]
        assert u[k][v] == pytest.approx(full.u[k][v], rel=1e-12), k
        assert (k, v) not in unobserved
        estimated = [w for w in u[k] if (k, w) not in unobserved]
        if len(estimated) == len(u[k]):
            assert sum(u[k].values()) == pytest.approx(1.0)
    assert {(c["comparison"], c["level"]) for c in counted} == {
        (full.settings.comparisons[k].output_column_name, v) for k, (v, _, _) in exact.items()}
    # sampled instead (as Splink does): 15 pairs put the exact levels elsewhere than the count
    u_sampled, unobserved_sampled, counted_sampled, _ = runs[False]
    assert not counted_sampled
    assert any((k, v) in unobserved_sampled or u_sampled[k][v] != pytest.approx(full.u[k][v], rel=1e-3)
               for k, (v, _, _) in exact.items())
