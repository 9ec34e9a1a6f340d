"""The true population: one row per person with their real attributes and source memberships.

Membership model (documented in docs/synthetic.md). A person is either justice-involved
(probation and/or prison) or not; the other sources are drawn with probabilities that depend on
that, so the overlaps mirror the direction of the published BOLD findings. Everyone is in at
least one source, so ``people`` is the size of the union.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from bold_spark.synthetic import identifiers as ids
from bold_spark.synthetic.lookups import WEIGHTED_SLOTS, Lookups, join_lookup, load_lookups
from bold_spark.synthetic.randomness import Draws, below, categorical, pick
from bold_spark.synthetic.spec import SyntheticSpec


@dataclass(frozen=True)
class MembershipModel:
    justice_share: float = 0.30
    prison_given_justice: float = 0.50
    probation_given_prison: float = 0.80  # justice-involved people not in prison are all on probation
    ndtms_given_justice: float = 0.40
    ndtms_otherwise: float = 0.115
    homelessness_given_justice: float = 0.20
    homelessness_otherwise: float = 0.06
    benefits_given_justice: float = 0.85
    benefits_given_ndtms_or_homeless: float = 0.75  # people in no other source are all on benefits
    male_share_justice: float = 0.85
    male_share_otherwise: float = 0.48


MEMBERSHIP = MembershipModel()

#: Records per person: probabilities of 1, 2, 3, ... rows.
NDTMS_EPISODES = (0.45, 0.30, 0.15, 0.10)
PRISON_RECEPTIONS = (0.50, 0.27, 0.15, 0.08)
HOMELESSNESS_APPLICATIONS = (0.85, 0.15)

MIDDLE_NAME_SHARE = 0.55
DOUBLE_BARRELLED_SHARE = 0.02
#: Last day covered by the extracts; every event date is on or before it.
EXTRACT_DATE = dt.date(2025, 3, 31)
_EARLIEST_DOB = {True: dt.date(1958, 1, 1), False: dt.date(1940, 1, 1)}  # by justice involvement
_LATEST_DOB = dt.date(2006, 12, 31)
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
PEOPLE_PER_PARTITION = 250_000


def partitions_for(people: int) -> int:
    return max(1, math.ceil(people / PEOPLE_PER_PARTITION))


def _dob(justice: Column, u1: Column, u2: Column) -> Column:
    """Triangular between the earliest and latest DOB: most people are middle-aged."""
    def span(earliest: dt.date) -> int:
        return (_LATEST_DOB - earliest).days

    triangular = (u1 + u2) / 2
    offset = F.when(justice, F.floor(triangular * span(_EARLIEST_DOB[True])))
    offset = offset.otherwise(F.floor(triangular * span(_EARLIEST_DOB[False]))).cast("int")
    start = F.when(justice, F.lit(_EARLIEST_DOB[True])).otherwise(F.lit(_EARLIEST_DOB[False]))
    return F.date_add(start, offset)


def _inward(d: Draws, salt: str) -> Column:
    return F.concat(
        pick(d.u(f"{salt}_digit"), 10).cast("string"),
        F.substr(F.lit(_INWARD_LETTERS), pick(d.u(f"{salt}_l1"), 20) + 1, F.lit(1)),
        F.substr(F.lit(_INWARD_LETTERS), pick(d.u(f"{salt}_l2"), 20) + 1, F.lit(1)),
    )


def _memberships(d: Draws) -> list[Column]:
    m = MEMBERSHIP
    justice = F.col("justice")
    in_prison = justice & below(d.u("prison"), m.prison_given_justice)
    in_probation = justice & (~in_prison | below(d.u("probation"), m.probation_given_prison))
    in_ndtms = below(
        d.u("ndtms"), F.when(justice, m.ndtms_given_justice).otherwise(m.ndtms_otherwise)
    )
    in_homelessness = below(
        d.u("homelessness"),
        F.when(justice, m.homelessness_given_justice).otherwise(m.homelessness_otherwise),
    )
    in_benefits = (
        F.when(justice, below(d.u("benefits"), m.benefits_given_justice))
        .when(in_ndtms | in_homelessness, below(d.u("benefits"), m.benefits_given_ndtms_or_homeless))
        .otherwise(F.lit(True))
    )
    return [
        in_ndtms.alias("in_ndtms"), in_prison.alias("in_prison"),
        in_probation.alias("in_probation"), in_benefits.alias("in_benefits"),
        in_homelessness.alias("in_homelessness"),
    ]


def _base(spark: SparkSession, spec: SyntheticSpec) -> DataFrame:
    """Hash-derived attributes and lookup slot indexes; no joins yet."""
    d = Draws(spec.seed, "person", ("person_id",))
    m = MEMBERSHIP
    people = spark.range(0, spec.people, 1, partitions_for(spec.people)).select(
        F.col("id").alias("person_id")
    )
    people = people.withColumn("justice", below(d.u("justice"), m.justice_share))
    male = below(d.u("sex"), F.when(F.col("justice"), m.male_share_justice).otherwise(m.male_share_otherwise))
    people = people.select(
        "*",
        F.when(male, "M").otherwise("F").alias("sex"),
        _dob(F.col("justice"), d.u("dob1"), d.u("dob2")).alias("dob"),
        *_memberships(d),
        (categorical(d.u("n_ndtms"), NDTMS_EPISODES) + 1).alias("n_ndtms"),
        (categorical(d.u("n_prison"), PRISON_RECEPTIONS) + 1).alias("n_prison"),
        (below(d.u("n_probation"), spec.errors.probation_duplicate).cast("int") + 1).alias("n_probation"),
        (categorical(d.u("n_homelessness"), HOMELESSNESS_APPLICATIONS) + 1).alias("n_homelessness"),
        pick(d.u("first_slot"), WEIGHTED_SLOTS).alias("first_slot"),
        pick(d.u("middle_slot"), WEIGHTED_SLOTS).alias("middle_slot"),
        pick(d.u("alias_first_slot"), WEIGHTED_SLOTS).alias("alias_first_slot"),
        below(d.u("has_middle"), MIDDLE_NAME_SHARE).alias("has_middle"),
        pick(d.u("surname_slot"), WEIGHTED_SLOTS).alias("surname_slot"),
        pick(d.u("other_surname_slot"), WEIGHTED_SLOTS).alias("other_surname_slot"),
        below(d.u("double_barrelled"), DOUBLE_BARRELLED_SHARE).alias("double_barrelled"),
        _inward(d, "inward").alias("inward"),
        _inward(d, "previous_inward").alias("previous_inward"),
        below(d.u("moved_locally"), 0.5).alias("moved_locally"),
        (pick(d.u("house"), 180) + 1).alias("house_number"),
        (pick(d.u("previous_house"), 180) + 1).alias("previous_house_number"),
        ids.ni_number(F.col("person_id"), d.u("ni_suffix"), spec.seed).alias("ni_number"),
        ids.pnc_serial(F.col("person_id"), spec.seed).alias("pnc_serial"),
        ids.noms_number(F.col("person_id"), spec.seed).alias("noms_number"),
        d.u("housing").alias("housing_instability"),
        d.u("pnc_recorded").alias("pnc_recorded_draw"),
        d.u("pnc_year").alias("pnc_year_draw"),
        d.u("outward_slot").alias("outward_draw"),
        d.u("previous_outward_slot").alias("previous_outward_draw"),
        d.u("street_slot").alias("street_draw"),
        d.u("previous_street_slot").alias("previous_street_draw"),
    )
    first_arrest_year = F.least(
        F.lit(EXTRACT_DATE.year - 1),
        F.greatest(F.year("dob") + 14, F.lit(1990) + pick(F.col("pnc_year_draw"), 35)),
    )
    return people.withColumn("pnc_year", first_arrest_year)


def _with_names_and_addresses(people: DataFrame, lk: Lookups) -> DataFrame:
    out = join_lookup(people, lk.forenames.df, "first_slot", {"forename": "first_name"}, {"sex": "sex"})
    out = join_lookup(out, lk.forenames.df, "middle_slot", {"forename": "_middle"}, {"sex": "sex"})
    out = join_lookup(out, lk.forenames.df, "alias_first_slot", {"forename": "alias_first_name"}, {"sex": "sex"})
    out = join_lookup(out, lk.surnames.df, "surname_slot", {"surname": "_surname"})
    out = join_lookup(out, lk.surnames.df, "other_surname_slot", {"surname": "other_surname"})
    out = out.join(
        F.broadcast(lk.nicknames.withColumnRenamed("forename", "_nick_key")),
        F.col("first_name") == F.col("_nick_key"), "left",
    ).drop("_nick_key")
    out = out.withColumn("outward_slot", pick(F.col("outward_draw"), lk.outward_codes.slots))
    out = out.withColumn("previous_outward_slot", pick(F.col("previous_outward_draw"), lk.outward_codes.slots))
    out = join_lookup(out, lk.outward_codes.df, "outward_slot", {"outward": "_outward"})
    out = join_lookup(out, lk.outward_codes.df, "previous_outward_slot", {"outward": "_previous_outward"})
    out = out.withColumn("street_slot", pick(F.col("street_draw"), lk.streets.slots))
    out = out.withColumn("previous_street_slot", pick(F.col("previous_street_draw"), lk.streets.slots))
    out = join_lookup(out, lk.streets.df, "street_slot", {"street": "_street"})
    out = join_lookup(out, lk.streets.df, "previous_street_slot", {"street": "_previous_street"})
    middle = F.when(F.col("has_middle") & (F.col("_middle") != F.col("first_name")), F.col("_middle"))
    surname = F.when(
        F.col("double_barrelled") & (F.col("other_surname") != F.col("_surname")),
        F.concat(F.col("_surname"), F.lit("-"), F.col("other_surname")),
    ).otherwise(F.col("_surname"))
    previous_outward = F.when(F.col("moved_locally"), F.col("_outward")).otherwise(F.col("_previous_outward"))
    return out.select(
        "person_id", "justice", "sex", "dob",
        "in_ndtms", "in_prison", "in_probation", "in_benefits", "in_homelessness",
        "n_ndtms", "n_prison", "n_probation", "n_homelessness",
        "first_name", middle.alias("middle_name"), surname.alias("surname"), "other_surname",
        "nickname", "alias_first_name",
        F.concat_ws(" ", "_outward", "inward").alias("postcode"),
        F.concat_ws(" ", previous_outward, F.col("previous_inward")).alias("previous_postcode"),
        F.concat_ws(" ", F.col("house_number").cast("string"), "_street").alias("address"),
        F.concat_ws(" ", F.col("previous_house_number").cast("string"), "_previous_street").alias("previous_address"),
        "ni_number", "pnc_year", "pnc_serial", "noms_number",
        "housing_instability", "pnc_recorded_draw",
    )


#: Columns of ``true_people``.
PERSON_COLUMNS = (
    "person_id", "justice", "sex", "dob", "first_name", "middle_name", "surname", "other_surname",
    "nickname", "postcode", "previous_postcode", "ni_number", "pnc_year", "pnc_serial", "noms_number",
    "in_ndtms", "in_prison", "in_probation", "in_benefits", "in_homelessness",
)


def build_people(spark: SparkSession, spec: SyntheticSpec) -> DataFrame:
    """All person attributes the source builders need (internal columns included)."""
    return _with_names_and_addresses(_base(spark, spec), load_lookups(spark))
