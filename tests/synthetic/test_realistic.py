"""The realistic preset (issue 17): households, twins, juniors, common names, forename/surname
swaps and fields missing by source, each rate measured on a few thousand people."""

from __future__ import annotations

from dataclasses import replace

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bold_spark.synthetic import (
    DIFFICULTIES,
    ErrorRates,
    Households,
    SourceGaps,
    SyntheticSpec,
)
from bold_spark.synthetic.generate import source_rows
from bold_spark.synthetic.lookups import COMMON_SLOT_SHARE, lookup_rows
from bold_spark.synthetic.population import (
    PARTNER_AGE_GAP_DAYS,
    SIBLING_GAP_DAYS,
    SIBLING_GAP_MIN_DAYS,
    build_people,
)
from bold_spark.synthetic.spec import (
    HOUSEHOLD_SLOTS,
    REALISTIC_ERRORS,
    REALISTIC_GAPS,
)

PEOPLE = 5000
#: Raised rates so each is measurable on a small population; no record errors, so the swaps
#: and gaps are the only changes between a person and their records.
HOUSEHOLDS = Households(partner=0.5, children=(0.4, 0.2, 0.2, 0.2), partner_shares_surname=0.7,
                        twins=0.3, twin_same_initial=0.6, junior=0.3)
SWAP = 0.10
GAPS = (SourceGaps("homelessness", dob_day_month=0.3, postcode=0.25),
        SourceGaps("probation", postcode=0.2))
SPEC = SyntheticSpec(people=PEOPLE, seed=5, difficulty="realistic", households=HOUSEHOLDS,
                     common_names=0.2, source_gaps=GAPS,
                     errors=replace(ErrorRates.none(), name_swap=SWAP))
BLOCKS = PEOPLE // HOUSEHOLD_SLOTS


def within(observed: float, expected: float, n: int, sds: float = 4.0) -> bool:
    """Observed share within ``sds`` binomial standard deviations (plus a small floor)."""
    sd = (expected * (1 - expected) / max(n, 1)) ** 0.5
    return abs(observed - expected) <= sds * sd + 0.005


# ------------------------------------------------------------------ the spec (no Spark)


def test_difficulty_presets_fill_unset_fields():
    standard, realistic = SyntheticSpec(), SyntheticSpec(difficulty="realistic")
    assert standard.difficulty == "standard" and standard.errors == ErrorRates()
    assert not standard.households.enabled and standard.source_gaps == ()
    assert standard.common_names == 0.0 and standard.errors.name_swap == 0.0
    assert realistic.errors == REALISTIC_ERRORS and realistic.households == Households()
    assert realistic.source_gaps == REALISTIC_GAPS and realistic.common_names > 0
    # every record-level rate of the realistic preset is at least the standard one
    for name, value in vars(ErrorRates()).items():
        if name != "bias":
            assert getattr(REALISTIC_ERRORS, name) >= value, name
    # explicit fields win over the preset
    mixed = SyntheticSpec(difficulty="realistic", errors=ErrorRates.none())
    assert mixed.errors == ErrorRates.none() and mixed.households.enabled
    assert realistic.gaps("homelessness").dob_day_month > 0
    assert realistic.gaps("no such source") == SourceGaps("no such source")
    # the spec stays comparable (bold generate's tests compare specs)
    assert SyntheticSpec(people=7, difficulty="realistic") == SyntheticSpec(people=7, difficulty="realistic")


def test_difficulty_and_household_rates_are_validated():
    with pytest.raises(ValueError, match="difficulty"):
        SyntheticSpec(difficulty="hard")
    with pytest.raises(ValueError, match="children"):
        Households(children=(0.5, 0.5))
    with pytest.raises(ValueError, match="add up to 1"):
        Households(children=(0.5, 0.2, 0.2, 0.2))
    with pytest.raises(ValueError, match="twins"):
        Households(twins=1.5)
    with pytest.raises(ValueError, match="dob_day_month"):
        SourceGaps("ndtms", dob_day_month=-0.1)
    with pytest.raises(ValueError, match="twice"):
        SyntheticSpec(source_gaps=(SourceGaps("ndtms"), SourceGaps("ndtms")))
    with pytest.raises(ValueError, match="common_names"):
        SyntheticSpec(common_names=2.0)


def test_every_entry_point_offers_the_same_difficulties():
    from bold_spark.cli import Difficulty
    from bold_spark.config.pipeline import SYNTHETIC_DIFFICULTIES

    assert tuple(d.value for d in Difficulty) == DIFFICULTIES == SYNTHETIC_DIFFICULTIES


def test_pipeline_config_difficulty_is_validated():
    from pathlib import Path

    from bold_spark.config.pipeline import load_pipeline_config
    from bold_spark.exceptions import ConfigError

    path = Path(__file__).resolve().parents[2] / "conf" / "pipeline.yaml"
    cfg = load_pipeline_config(path, {"synthetic": {"people": 10, "difficulty": "realistic"}})
    assert cfg.synthetic.difficulty == "realistic"
    assert load_pipeline_config(path).synthetic.difficulty == "standard"
    with pytest.raises(ConfigError) as e:
        load_pipeline_config(path, {"synthetic": {"difficulty": "hard"}})
    assert "synthetic.difficulty" in str(e.value) and str(path) in str(e.value)


# ------------------------------------------------------------------ the population (Spark)


@pytest.fixture(scope="module")
def people(spark):
    df = build_people(spark, SPEC).localCheckpoint(eager=True)
    yield df
    df.unpersist()


@pytest.fixture(scope="module")
def members(people):
    """Every household member beside their head's attributes."""
    head = people.where("household_role = 'head'").select(
        F.col("person_id").alias("household_id"),
        *[F.col(c).alias(f"head_{c}") for c in ("sex", "dob", "first_name", "surname",
                                                 "postcode", "address", "previous_postcode")])
    return people.where("household_role IN ('partner', 'child')").join(head, "household_id")


def _share(cond, among="true") -> F.Column:
    return (F.sum(F.expr(f"CASE WHEN ({among}) AND ({cond}) THEN 1 ELSE 0 END"))
            / F.sum(F.expr(f"CASE WHEN {among} THEN 1 ELSE 0 END")))


def test_households_share_surname_and_address_and_are_distinct_people(people, members):
    roles = {r["household_role"]: r["count"] for r in people.groupBy("household_role").count().collect()}
    assert within(roles["partner"] / BLOCKS, HOUSEHOLDS.partner, BLOCKS)
    expected_children = sum(i * p for i, p in enumerate(HOUSEHOLDS.children))
    assert abs(roles["child"] / BLOCKS - expected_children) < 0.1
    s = members.agg(
        F.count("*").alias("n"),
        F.sum(F.expr("CASE WHEN postcode = head_postcode AND address = head_address "
                     "AND previous_postcode = head_previous_postcode THEN 0 ELSE 1 END")).alias("moved"),
        F.sum(F.expr("CASE WHEN household_role = 'child' AND surname != head_surname "
                     "THEN 1 ELSE 0 END")).alias("child_surname"),
        _share("surname = head_surname", "household_role = 'partner'").alias("partner_surname"),
        F.sum(F.expr("CASE WHEN household_role = 'partner' AND sex = head_sex THEN 1 ELSE 0 END"))
        .alias("same_sex_partners"),
        F.max(F.expr("CASE WHEN household_role = 'partner' THEN abs(datediff(dob, head_dob)) END"))
        .alias("partner_gap"),
        F.min(F.expr("CASE WHEN household_role = 'child' THEN months_between(dob, head_dob) / 12 END"))
        .alias("youngest_parent"),
    ).first()
    assert s["moved"] == 0 and s["child_surname"] == 0 and s["same_sex_partners"] == 0
    assert within(s["partner_surname"], HOUSEHOLDS.partner_shares_surname, roles["partner"])
    assert s["partner_gap"] <= PARTNER_AGE_GAP_DAYS and s["youngest_parent"] >= 20
    # Different people: every person id, NI number, PNC serial and NOMS number is their own.
    ids = people.agg(*[F.countDistinct(c).alias(c) for c in
                       ("person_id", "ni_number", "pnc_serial", "noms_number")]).first()
    assert set(ids.asDict().values()) == {PEOPLE}
    # Households make many pairs of different people with the same surname and postcode.
    shared = (people.groupBy("surname", "postcode").count().where("count > 1")
              .agg(F.sum("count")).first()[0])
    assert shared > 0.3 * PEOPLE


def test_siblings_twins_and_juniors(people, members):
    children = people.where("household_role = 'child'").select(
        "household_id", "person_id", "dob", "first_name", "sex",
        (F.col("person_id") - F.col("household_id") - 2).alias("index"))
    before = children.select(
        "household_id", (F.col("index") + 1).alias("index"), F.col("person_id").alias("prev_id"),
        F.col("dob").alias("prev_dob"), F.col("first_name").alias("prev_first"))
    pairs = children.where("index > 0").join(before, ["household_id", "index"])
    s = pairs.agg(
        F.count("*").alias("n"),
        _share("dob = prev_dob").alias("twins"),
        F.sum(F.expr("CASE WHEN person_id = prev_id THEN 1 ELSE 0 END")).alias("same_person"),
        F.min(F.expr("CASE WHEN dob != prev_dob THEN datediff(dob, prev_dob) END")).alias("min_gap"),
        F.max(F.expr("datediff(dob, prev_dob)")).alias("max_gap"),
    ).first()
    assert s["n"] > 300 and s["same_person"] == 0
    assert within(s["twins"], HOUSEHOLDS.twins, s["n"])
    assert SIBLING_GAP_MIN_DAYS <= s["min_gap"] and s["max_gap"] < SIBLING_GAP_MIN_DAYS + SIBLING_GAP_DAYS
    # Twins: distinct people with the same DOB; often another name with the co-twin's initial.
    t = pairs.where("dob = prev_dob").agg(
        F.count("*").alias("n"),
        _share("substr(first_name, 1, 1) = substr(prev_first, 1, 1) AND first_name != prev_first")
        .alias("alike"),
        _share("first_name = prev_first").alias("same_name")).first()
    rate = HOUSEHOLDS.twin_same_initial
    assert t["n"] > 100 and t["same_name"] < 0.05
    assert within(t["alike"], rate, t["n"]) or rate < t["alike"] < rate + (1 - rate) * 0.15
    first = members.where("household_role = 'child' AND person_id = household_id + 2")
    j = first.agg(F.count("*").alias("n"),
                  _share("first_name = head_first_name AND sex = head_sex").alias("junior")).first()
    # a non-junior first child shares the head's first name by chance only when of the same sex
    assert j["junior"] >= HOUSEHOLDS.junior - 0.06 and within(j["junior"], HOUSEHOLDS.junior + 0.01, j["n"])


def _common_names() -> dict[str, set[str]]:
    rows, slots = lookup_rows()
    return {lookup: {value for lk, value, _, first, _ in rows
                     if lk == lookup and first < int(slots[lookup] * COMMON_SLOT_SHARE)}
            for lookup in ("forename:M", "forename:F", "surname")}


def test_common_names_share(people):
    """Single people (their own name draws) with a common forename and surname: the preset's
    share plus the chance that ordinary draws land on common names."""
    common = _common_names()
    rows, slots = lookup_rows()
    mass = {lookup: sum(n for lk, value, _, _, n in rows if lk == lookup and value in names)
            / slots[lookup] for lookup, names in common.items()}
    singles = people.where("household_role = 'single'")
    s = singles.agg(
        F.count("*").alias("n"),
        *[_share(f"first_name IN ({', '.join(repr(v) for v in common[f'forename:{sex}'])}) AND "
                 f"surname IN ({', '.join(repr(v) for v in common['surname'])})", f"sex = '{sex}'")
          .alias(sex) for sex in ("M", "F")],
        *[F.sum(F.expr(f"CASE WHEN sex = '{sex}' THEN 1 ELSE 0 END")).alias(f"n_{sex}") for sex in ("M", "F")],
    ).first()
    c = SPEC.common_names
    for sex in ("M", "F"):
        # a person can have a double-barrelled surname, which is never in the list (2%)
        expected = (c + (1 - c) * mass[f"forename:{sex}"] * mass["surname"]) * 0.98
        assert within(s[sex], expected, s[f"n_{sex}"]), (sex, s[sex], expected)


def _by_person(rows: DataFrame, people: DataFrame) -> DataFrame:
    return rows.join(people.select("person_id", F.col("first_name").alias("t_first"),
                                   F.col("surname").alias("t_surname"), F.col("dob").alias("t_dob")),
                     "person_id")


def test_forename_surname_swaps_and_source_gaps(people):
    rows = source_rows(people, SPEC)
    benefits = _by_person(rows["benefits"], people).agg(
        F.count("*").alias("n"),
        _share("upper(FORENAME) = t_surname AND upper(SURNAME) = t_first",
               "t_first != t_surname").alias("swap")).first()
    assert within(benefits["swap"], SWAP, benefits["n"])
    hclic = _by_person(rows["homelessness"], people).agg(
        F.count("*").alias("n"),
        _share("substr(DOB, 1, 5) = '01/01' OR substr(DOB, 6, 5) = '01-01'",
               "NOT (month(t_dob) = 1 AND day(t_dob) = 1)").alias("dob_gap"),
        _share("LAST_SETTLED_POSTCODE IS NULL", "NO_FIXED_ABODE = 'FALSE'").alias("postcode_gap"),
    ).first()
    homelessness = SPEC.gaps("homelessness")
    assert within(hclic["dob_gap"], homelessness.dob_day_month, hclic["n"])
    assert within(hclic["postcode_gap"], homelessness.postcode, hclic["n"])
    probation = rows["probation"].agg(
        F.count("*").alias("n"),
        _share("POSTCODE IS NULL", "POSTCODE IS NULL OR POSTCODE != 'ZZ99 3VZ'").alias("gap"),
        _share("substr(DATE_OF_BIRTH, 1, 5) = '01/01'").alias("dob_gap")).first()
    assert within(probation["gap"], SPEC.gaps("probation").postcode, probation["n"])
    assert probation["dob_gap"] < 0.01  # only true 1 January birthdays: no DOB gap in probation


def test_bold_generate_passes_the_difficulty(monkeypatch):
    """``bold generate --difficulty realistic`` (and jobs/generate.py) builds the preset's spec;
    Spark and the generator are replaced."""
    from bold_spark.cli import job_main

    calls: dict = {}
    monkeypatch.setattr("bold_spark.session.load_spark_config", lambda path: None)
    monkeypatch.setattr("bold_spark.session.build_spark", lambda cfg: "spark session")
    monkeypatch.setattr("bold_spark.synthetic.run_generate",
                        lambda spark, spec, output: calls.update(spec=spec) or {"ground_truth": 0})
    assert job_main("generate", ["--people", "50", "--difficulty", "realistic", "--output", "x"]) == 0
    assert calls["spec"] == SyntheticSpec(people=50, difficulty="realistic")
    assert job_main("generate", ["--people", "50", "--difficulty", "realistic", "--no-bad-rows",
                                 "--output", "x"]) == 0
    assert calls["spec"].households.enabled and calls["spec"].errors.bad_rows == 0
    assert calls["spec"].errors.nickname == REALISTIC_ERRORS.nickname
    assert job_main("generate", ["--difficulty", "hard", "--output", "x"]) == 2
