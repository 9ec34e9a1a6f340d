"""Each source's file layout, exactly as conf/datasets/<source>.yaml expects it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceLayout:
    """How one synthetic source's extract is written: file, format, record id and columns."""

    name: str
    path: str  # relative to the output folder
    format: str  # csv (Spark folder, header) | parquet (folder)
    record_id: str
    columns: tuple[str, ...]  # file column order; the record id first


NDTMS = SourceLayout(
    "ndtms",
    "ndtms.csv",
    "csv",
    "EPISODE_ID",
    (
        "EPISODE_ID",
        "FINITIAL",
        "SINITIAL",
        "DOB",
        "SEX",
        "PC_SECTOR",
        "NFA",
        "TRIAGE_DATE",
        "TREATMENT_START",
        "DRUG_GROUP",
    ),
)
PRISON = SourceLayout(
    "prison",
    "prison.csv",
    "csv",
    "OFFENDER_ALIAS_ID",
    (
        "OFFENDER_ALIAS_ID",
        "FIRST_NAME",
        "MIDDLE_NAME",
        "LAST_NAME",
        "BIRTH_DATE",
        "SEX_CODE",
        "LAST_KNOWN_POSTCODE",
        "PNC_NUMBER",
        "NOMS_NUMBER",
        "RECEPTION_DATE",
        "RELEASE_DATE",
    ),
)
PROBATION = SourceLayout(
    "probation",
    "probation.csv",
    "csv",
    "CRN",
    (
        "CRN",
        "FORENAMES",
        "SURNAME",
        "DATE_OF_BIRTH",
        "GENDER",
        "POSTCODE",
        "PNC",
        "SENTENCE_DATE",
        "REQUIREMENT_TYPE",
    ),
)
BENEFITS = SourceLayout(
    "benefits",
    "benefits.parquet",
    "parquet",
    "CLAIMANT_ID",
    (
        "CLAIMANT_ID",
        "FORENAME",
        "MIDDLE_NAMES",
        "SURNAME",
        "DOB",
        "SEX",
        "ADDRESS_LINE_1",
        "POSTCODE",
        "NINO",
    ),
)
HOMELESSNESS = SourceLayout(
    "homelessness",
    "homelessness.csv",
    "csv",
    "CASE_REF",
    (
        "CASE_REF",
        "FIRST_NAME",
        "LAST_NAME",
        "DOB",
        "SEX",
        "LAST_SETTLED_POSTCODE",
        "NO_FIXED_ABODE",
        "NI_NUMBER",
        "APPLICATION_DATE",
    ),
)

LAYOUTS: dict[str, SourceLayout] = {
    layout.name: layout for layout in (NDTMS, PRISON, PROBATION, BENEFITS, HOMELESSNESS)
}
SOURCES: tuple[str, ...] = tuple(LAYOUTS)

GROUND_TRUTH_PATH = "ground_truth.parquet"
GROUND_TRUTH_COLUMNS = ("source", "source_record_id", "person_id")
