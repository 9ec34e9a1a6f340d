"""The synthetic BOLD generator: layouts, ground truth, measurable error rates, determinism, and
that the written files load with the dataset configs and quarantine the bad rows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from bold_spark.config.datasets import load_dataset_config
from bold_spark.standardise.dates import parse_date
from bold_spark.synthetic import (
    GROUND_TRUTH,
    GROUND_TRUTH_PATH,
    LAYOUTS,
    SOURCES,
    ErrorRates,
    SyntheticSpec,
    generate_population,
    run_generate,
    true_people,
)
from bold_spark.synthetic.generate import assemble_population
from bold_spark.synthetic.population import MEMBERSHIP, build_people
from bold_spark.synthetic.rows import source_rows_of
from bold_spark.synthetic.sources.ndtms import NDTMS_NFA_SHARE

CONF = Path(__file__).resolve().parents[2] / "conf" / "datasets"
PEOPLE = 2000
#: Raised rates so each is measurable on a small population.
RATES = ErrorRates(
    typo=0.06,
    nickname=0.30,
    surname_change=0.05,
    hyphenated=0.04,
    dob_swap=0.15,
    dob_placeholder=0.05,
    dob_typo=0.03,
    dob_wrong=0.04,
    postcode_missing=0.08,
    postcode_out_of_date=0.15,
    name_shift=0.10,
    initials_only=0.05,
    bad_rows=0.03,
    probation_duplicate=0.06,
    id_typo=0.05,
)
SPEC = SyntheticSpec(people=PEOPLE, seed=7, errors=RATES)


def within(observed: float, expected: float, n: int, sds: float = 4.0) -> bool:
    """Observed share within ``sds`` binomial standard deviations (plus a small floor)."""
    sd = (expected * (1 - expected) / max(n, 1)) ** 0.5
    return abs(observed - expected) <= sds * sd + 0.005


@pytest.fixture(scope="module")
def written(spark, tmp_path_factory):
    """Generate once to files; most tests read these back, as the pipeline would."""
    root = str(tmp_path_factory.mktemp("synthetic"))
    counts = run_generate(spark, SPEC, root)
    return root, counts


def _read(spark, root: str, name: str) -> DataFrame:
    layout = LAYOUTS[name]
    reader = spark.read.option("header", True)
    uri = f"{root}/{layout.path}"
    return reader.csv(uri) if layout.format == "csv" else reader.parquet(uri)


@pytest.fixture(scope="module")
def frames(spark, written) -> dict[str, DataFrame]:
    """The written extracts and ground truth, read back and cached."""
    root, _ = written
    out = {name: _read(spark, root, name).persist() for name in SOURCES}
    out[GROUND_TRUTH] = spark.read.parquet(f"{root}/{GROUND_TRUTH_PATH}").persist()
    yield out
    for df in out.values():
        df.unpersist()


@pytest.fixture(scope="module")
def rows(frames) -> dict[str, DataFrame]:
    """Each extract with its true person_id (from the ground truth)."""
    truth = frames[GROUND_TRUTH].dropDuplicates(["source", "source_record_id"])
    out = {}
    for name in SOURCES:
        ids = truth.where(F.col("source") == name).select(
            F.col("source_record_id").alias(LAYOUTS[name].record_id), "person_id"
        )
        out[name] = frames[name].join(ids, LAYOUTS[name].record_id).persist()
    yield out
    for df in out.values():
        df.unpersist()


@pytest.fixture(scope="module")
def people(spark):
    df = true_people(spark, SPEC).persist()
    yield df
    df.unpersist()


def test_layouts_match_dataset_configs(frames):
    for name in SOURCES:
        ds = load_dataset_config(CONF / f"{name}.yaml")
        layout = LAYOUTS[name]
        assert (ds.path, ds.format, ds.record_id) == (layout.path, layout.format, layout.record_id)
        assert set(ds.source_columns_needed()) == set(layout.columns)
        assert frames[name].columns == list(layout.columns)
        assert all(t == "string" for _, t in frames[name].dtypes)
    assert frames[GROUND_TRUTH].columns == ["source", "source_record_id", "person_id"]
    assert dict(frames[GROUND_TRUTH].dtypes)["person_id"] == "bigint"


def test_specs_are_validated():
    with pytest.raises(ValueError):
        ErrorRates(typo=1.5)
    with pytest.raises(ValueError):
        ErrorRates(dob_placeholder=0.6, dob_swap=0.6)
    with pytest.raises(ValueError):
        SyntheticSpec(people=0)
    none = vars(ErrorRates.none())
    assert none.pop("bias") is None and all(v == 0 for v in none.values())


def test_ground_truth_is_complete(frames, rows):
    ids = [
        frames[name].select(F.lit(name).alias("source"), F.col(LAYOUTS[name].record_id).alias("id"))
        for name in SOURCES
    ]
    extract_ids = ids[0]
    for more in ids[1:]:
        extract_ids = extract_ids.unionByName(more)
    extract_counts = extract_ids.groupBy("source", "id").agg(F.count("*").alias("rows"))
    truth = (
        frames[GROUND_TRUTH]
        .groupBy("source", F.col("source_record_id").alias("id"))
        .agg(
            F.count("*").alias("truths"),
            F.countDistinct("person_id").alias("persons"),
        )
    )
    joined = extract_counts.join(truth, ["source", "id"], "full_outer")
    stats = joined.agg(
        F.sum(F.when(F.col("rows").isNull() | F.col("truths").isNull(), 1).otherwise(0)).alias(
            "unmatched"
        ),
        F.sum(F.when(F.col("rows") != F.col("truths"), 1).otherwise(0)).alias("count_mismatch"),
        F.max("persons").alias("max_persons_per_id"),
        F.max("rows").alias("max_rows_per_id"),
        F.sum("rows").alias("rows"),
    ).first()
    assert stats["unmatched"] == 0
    assert stats["count_mismatch"] == 0  # one ground-truth row per extract row
    assert stats["max_persons_per_id"] == 1
    assert stats["max_rows_per_id"] == 2  # only re-sent (duplicate-id) bad rows repeat an id
    # The population is the union of the sources: every person appears somewhere.
    assert frames[GROUND_TRUTH].select("person_id").distinct().count() == PEOPLE
    assert stats["rows"] > PEOPLE  # several records for many people


def test_overlaps_mirror_bold_findings(rows):
    members = None
    for name in SOURCES:
        flag = rows[name].select("person_id").distinct().withColumn(name, F.lit(1))
        members = flag if members is None else members.join(flag, "person_id", "full_outer")
    s = (
        members.fillna(0)
        .agg(
            *[F.sum(n).alias(n) for n in SOURCES],
            F.sum(F.col("probation") * F.col("ndtms")).alias("probation_ndtms"),
            F.sum(F.col("prison") * F.col("benefits")).alias("prison_benefits"),
            F.sum(F.col("probation") * F.col("benefits")).alias("probation_benefits"),
            F.sum(F.col("ndtms") * F.col("benefits")).alias("ndtms_benefits"),
        )
        .first()
    )
    m = MEMBERSHIP
    assert within(s["probation_ndtms"] / s["probation"], m.ndtms_given_justice, s["probation"])
    assert within(s["prison_benefits"] / s["prison"], m.benefits_given_justice, s["prison"])
    assert s["probation_benefits"] / s["probation"] > 0.75
    assert s["ndtms_benefits"] / s["ndtms"] > 0.7
    assert s["benefits"] > s["probation"] > s["prison"] and s["ndtms"] > s["homelessness"]


def _recorded(rows: dict[str, DataFrame]) -> DataFrame:
    """Recorded first name, surname, DOB (parsed) and postcode of the full-name sources, long."""

    def part(name: str, first, surname, dob: str, postcode: str) -> DataFrame:
        ds = load_dataset_config(CONF / f"{name}.yaml")
        return rows[name].select(
            "person_id",
            F.lit(name).alias("source"),
            F.upper(first).alias("r_first"),
            F.upper(surname).alias("r_surname"),
            F.col(dob).alias("r_dob_text"),
            parse_date(F.col(dob), ds.date_formats["dob"]).alias("r_dob"),
            F.col(postcode).alias("r_postcode"),
        )

    parts = [
        part("benefits", F.col("FORENAME"), F.col("SURNAME"), "DOB", "POSTCODE"),
        part(
            "probation", F.split("FORENAMES", " ")[0], F.col("SURNAME"), "DATE_OF_BIRTH", "POSTCODE"
        ),
        part(
            "homelessness", F.col("FIRST_NAME"), F.col("LAST_NAME"), "DOB", "LAST_SETTLED_POSTCODE"
        ),
    ]
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def test_error_rates_are_measurable(rows, people):
    rec = _recorded(rows).join(people, "person_id")
    true_dob = F.col("dob")
    eligible_swap = (F.dayofmonth(true_dob) <= 12) & (F.dayofmonth(true_dob) != F.month(true_dob))
    swapped = F.make_date(F.year(true_dob), F.dayofmonth(true_dob), F.month(true_dob))
    not_jan1 = ~((F.month(true_dob) == 1) & (F.dayofmonth(true_dob) == 1))
    named_variants = [true_dob, F.make_date(F.year(true_dob), F.lit(1), F.lit(1)),
                      F.when(eligible_swap, swapped).otherwise(true_dob),
                      F.date_add(true_dob, 1), F.date_add(true_dob, -1),
                      F.add_months(true_dob, 12), F.add_months(true_dob, -12)]
    parsed = F.col("r_dob").isNotNull()
    has_nick = F.col("nickname").isNotNull()
    has_middle = F.col("middle_name").isNotNull()
    real_address = F.col("r_postcode").isNull() | (F.col("r_postcode") != "ZZ99 3VZ")
    surname_typo = (
        (F.levenshtein("r_surname", "surname") <= 2)
        & (F.col("r_surname") != F.col("surname"))
        & ~F.contains(F.col("r_surname"), F.lit("-"))
        & (F.col("r_surname") != F.col("other_surname"))
    )

    def share(cond, among):
        return F.sum(F.when(among & cond, 1).otherwise(0)) / F.sum(F.when(among, 1).otherwise(0))

    def n(among):
        return F.sum(F.when(among, 1).otherwise(0))

    s = rec.agg(
        share(
            F.col("r_dob") == F.make_date(F.year(true_dob), F.lit(1), F.lit(1)), parsed & not_jan1
        ).alias("placeholder"),
        n(parsed & not_jan1).alias("n_dob"),
        share(F.col("r_dob") == swapped, parsed & eligible_swap).alias("swap"),
        share(~F.col("r_dob").isin(*named_variants), parsed).alias("wrong"),
        n(parsed).alias("n_parsed"),
        n(parsed & eligible_swap).alias("n_swap"),
        share(F.length("r_first") == 1, F.lit(True)).alias("initials"),
        share(F.col("r_first") == F.col("nickname"), has_nick).alias("nickname"),
        n(has_nick).alias("n_nick"),
        share(F.col("r_first") == F.col("middle_name"), has_middle).alias("shift"),
        n(has_middle).alias("n_middle"),
        share(
            F.col("r_surname") == F.col("other_surname"), F.col("surname") != F.col("other_surname")
        ).alias("surname_change"),
        share(surname_typo, F.lit(True)).alias("surname_typo"),
        share(F.col("r_postcode").isNull(), (F.col("source") == "benefits") & real_address).alias(
            "postcode_missing"
        ),
        n((F.col("source") == "benefits") & real_address).alias("n_benefits"),
        share(
            F.col("r_postcode") == F.col("previous_postcode"),
            (F.col("source") == "benefits") & (F.col("previous_postcode") != F.col("postcode")),
        ).alias("out_of_date"),
        F.count("*").alias("n"),
    ).first()
    assert within(s["placeholder"], RATES.dob_placeholder, s["n_dob"])
    assert within(s["swap"], RATES.dob_swap, s["n_swap"])
    # another date altogether: none of the named variants (it coincides with one about 1 time
    # in 700, well inside the bounds)
    assert s["wrong"] > 0 and within(s["wrong"], RATES.dob_wrong, s["n_parsed"])
    assert within(s["initials"], RATES.initials_only, s["n"])
    assert within(s["nickname"], RATES.nickname, s["n_nick"])
    assert within(s["shift"], RATES.name_shift, s["n_middle"])
    assert within(s["surname_change"], RATES.surname_change, s["n"])
    assert within(s["surname_typo"], RATES.typo, s["n"])
    assert within(s["postcode_missing"], RATES.postcode_missing, s["n_benefits"])
    assert within(s["out_of_date"], RATES.postcode_out_of_date, s["n_benefits"])


def test_identifier_typos_are_measurable(rows, people):
    """Each recorded PNC, NOMS number and NI number is keyed with one digit wrong on a share
    ``id_typo`` of rows, and stays well-formed (test_source_specific_shapes checks the formats)."""
    truth = people.select("person_id", *[F.col(c).alias(f"true_{c}")
                                         for c in ("ni_number", "noms_number", "pnc_serial")])
    serial = F.regexp_extract(F.col("_pnc"), r"/([0-9]+)[A-Z]$", 1).cast("long")
    checks = {  # source: (recorded text, true text), both without formatting
        "prison": [("NOMS_NUMBER", F.col("NOMS_NUMBER"), F.col("true_noms_number")),
                   ("PNC_NUMBER", F.lpad(serial.cast("string"), 7, "0"),
                    F.lpad(F.col("true_pnc_serial").cast("string"), 7, "0"))],
        "probation": [("PNC", F.lpad(serial.cast("string"), 7, "0"),
                       F.lpad(F.col("true_pnc_serial").cast("string"), 7, "0"))],
        "benefits": [("NINO", F.substring("NINO", 1, 8), F.substring("true_ni_number", 1, 8))],
        "homelessness": [("NI_NUMBER", F.substring(F.regexp_replace("NI_NUMBER", " ", ""), 1, 8),
                          F.substring("true_ni_number", 1, 8))],
    }
    for source, fields_ in checks.items():
        for column, recorded, true in fields_:
            got = rows[source].join(truth, "person_id").withColumn("_pnc", F.col(column)) \
                .where(F.col(column).isNotNull()).agg(
                    F.avg(F.when(recorded != true, 1).otherwise(0)).alias("share"),
                    F.count(F.lit(1)).alias("n"),
                    F.max(F.when(recorded != true, F.levenshtein(recorded, true))).alias("edits"),
                ).first()
            assert got["n"] > 50, (source, column)
            assert within(got["share"], RATES.id_typo, got["n"]), (source, column, got)
            assert got["edits"] == 1, (source, column, got)  # one digit, never more


def test_source_specific_shapes(rows):
    ndtms = (
        rows["ndtms"]
        .agg(
            F.avg(F.when(F.col("NFA") == "Y", 1).otherwise(0)).alias("nfa"),
            F.count("*").alias("n"),
            F.sum(
                F.when(F.col("PC_SECTOR").rlike(r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9]$"), 0).otherwise(
                    F.when(F.col("PC_SECTOR").isNull(), 0).otherwise(1)
                )
            ).alias("bad_sectors"),
            F.max(F.length("FINITIAL")).alias("initial_len"),
        )
        .first()
    )
    assert within(ndtms["nfa"], NDTMS_NFA_SHARE, ndtms["n"])
    assert ndtms["bad_sectors"] == 0 and ndtms["initial_len"] == 1

    probation = (
        rows["probation"]
        .groupBy("person_id")
        .agg(F.countDistinct("CRN").alias("crns"))
        .agg(
            F.avg(F.when(F.col("crns") > 1, 1).otherwise(0)).alias("dup"),
            F.count("*").alias("n"),
        )
        .first()
    )
    assert within(probation["dup"], RATES.probation_duplicate, probation["n"])

    prison = (
        rows["prison"]
        .agg(
            F.avg(F.when(F.col("PNC_NUMBER").isNull(), 1).otherwise(0)).alias("no_pnc"),
            F.sum(
                F.when(
                    F.col("PNC_NUMBER").rlike(r"^([0-9]{4}/[0-9]{7}|[0-9]{2}/[0-9]{1,7})[A-Z]$"), 0
                ).otherwise(F.when(F.col("PNC_NUMBER").isNull(), 0).otherwise(1))
            ).alias("bad_pnc"),
            F.sum(
                F.when(F.col("NOMS_NUMBER").rlike(r"^[A-Z][0-9]{4}[A-Z]{2}$"), 0).otherwise(1)
            ).alias("bad_noms"),
            (F.count("*") / F.countDistinct("person_id")).alias("rows_per_person"),
        )
        .first()
    )
    assert 0.02 < prison["no_pnc"] < 0.25 and prison["bad_pnc"] == 0 and prison["bad_noms"] == 0
    assert prison["rows_per_person"] > 1.3  # receptions over the years, some under aliases

    benefits = (
        rows["benefits"]
        .agg(
            F.sum(
                F.when(
                    F.col("NINO").rlike(r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$"), 0
                ).otherwise(F.when(F.col("NINO").isNull(), 0).otherwise(1))
            ).alias("bad_nino"),
            F.sum(
                F.when(
                    F.regexp_replace("POSTCODE", " ", "").rlike(
                        r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"
                    ),
                    0,
                ).otherwise(F.when(F.col("POSTCODE").isNull(), 0).otherwise(1))
            ).alias("bad_postcode"),
        )
        .first()
    )
    assert benefits["bad_nino"] == 0 and benefits["bad_postcode"] == 0
    assert rows["probation"].where(~F.col("CRN").rlike(r"^[A-Z][0-9]{6}$")).count() == 0


def test_same_seed_gives_the_same_data(spark, frames):
    """A second, independent generation (in memory, the way run_generate builds it) equals the
    files written by the first."""
    people = build_people(spark, SPEC).localCheckpoint(eager=True)
    again = assemble_population(people, SPEC)
    for name in [*SOURCES, GROUND_TRUTH]:
        assertDataFrameEqual(again[name], frames[name])


def test_other_seed_gives_other_data(spark, frames):
    spec = replace(SPEC, seed=8)
    people = build_people(spark, spec).persist()
    try:
        other = generate_population(spark, spec)["benefits"]
        assert other.exceptAll(frames["benefits"]).count() > PEOPLE // 2
    finally:
        people.unpersist()


def test_bad_rows_rate_is_settable_down_to_zero(spark):
    """The bad-row mechanism on a minimal people frame: none at rate 0; at a rate r, r of the
    rows are bad once the re-sent copies are counted."""
    people = spark.range(20_000).selectExpr(
        "id AS person_id", "7 AS _seed", "true AS in_x", "1 + CAST(id % 2 AS INT) AS n_x"
    )
    for rate in (0.0, 0.1):
        rows = source_rows_of(people, "in_x", "n_x", "x", rate)
        s = rows.agg(
            F.count("*").alias("n"),
            F.sum(F.when(F.col("bad_kind").isNotNull(), 1).otherwise(0)).alias("bad"),
        ).first()
        if rate == 0:
            assert s["bad"] == 0
        else:
            assert within(s["bad"] / s["n"], rate, s["n"])


def test_written_files_load_and_bad_rows_are_quarantined(spark, written):
    """The files load with the dataset configs, and validation quarantines ``bad_rows`` of them."""
    from bold_spark.ingest.validate import REASONS_COL, with_validation
    from bold_spark.io.sources import read_source

    root, counts = written
    assert set(counts) == {*SOURCES, GROUND_TRUTH}
    assert counts[GROUND_TRUTH] == sum(counts[s] for s in SOURCES)
    per_source = None
    for name in SOURCES:
        ds = load_dataset_config(CONF / f"{name}.yaml")
        stats = with_validation(read_source(spark, ds, f"{root}/{ds.path}"), ds).agg(
            F.lit(name).alias("source"),
            F.count("*").alias("n"),
            F.sum(F.when(F.size(REASONS_COL) > 0, 1).otherwise(0)).alias("bad"),
        )
        per_source = stats if per_source is None else per_source.unionByName(stats)
    rows = {r["source"]: r for r in per_source.collect()}
    assert {name: rows[name]["n"] for name in SOURCES} == {name: counts[name] for name in SOURCES}
    quarantined = sum(r["bad"] for r in rows.values())
    total = sum(r["n"] for r in rows.values())
    assert within(quarantined / total, RATES.bad_rows, total)
