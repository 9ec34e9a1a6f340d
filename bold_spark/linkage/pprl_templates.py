"""Untrained starting models for PPRL mode (records encoded by privacy/pprl.py).

Same shape as linkage/templates.py (plain Splink settings dicts in Spark SQL, plus the meta
``bold train`` needs), but every comparison reads encoded columns only: Dice similarity of
Bloom filters (``*_bf``, a Spark built-in expression, no UDF per pair), equality of keyed hashes,
and the few coarse values PPRL records keep in clear (dob_year, sex, postcode district).
Blocking uses keyed hashes and MinHash keys of the Bloom filters (``*_mh``).

Register with the CLI by ``TEMPLATES.update(PPRL_TEMPLATES)``; then
``bold model-init pprl_rich --out conf/models/pprl_rich.json``.
"""

from __future__ import annotations

from typing import Any

from bold_spark.linkage.templates import _else, _exact_comparison, _level, _null, _settings
from bold_spark.privacy.bloom import dice_sql

#: Dice thresholds of the name levels, calibrated on synthetic names (docs/privacy.md): one
#: typo in a 5-8 letter name scores about 0.7-0.85, unrelated names about 0.2-0.35.
NAME_DICE_LEVELS = (0.8, 0.6)


def _dice(col: str) -> str:
    return dice_sql(f"{col}_l", f"{col}_r")


def bloom_comparison(col: str, description: str, thresholds=NAME_DICE_LEVELS, tf: bool = True) -> dict[str, Any]:
    """Exact (identical encodings), Dice >= each threshold, else."""
    bf = f"{col}_bf"
    levels = [_null(bf), _level(f"{bf}_l = {bf}_r", f"Identical {col} encodings", bf if tf else None)]
    levels += [_level(f"{_dice(bf)} >= {t}", f"Dice {col} >= {t}") for t in thresholds]
    levels.append(_else())
    return {"output_column_name": col, "comparison_description": description, "comparison_levels": levels}


def hashed_dob_comparison() -> dict[str, Any]:
    """DOB on keyed hashes: exact, day/month swapped, two of year/month/day agree, same year."""
    return {
        "output_column_name": "dob",
        "comparison_description": "Date of birth (keyed hashes): exact, day/month swap, "
                                  "two of three parts, year",
        "comparison_levels": [
            _null("dob_hash"),
            _level("dob_hash_l = dob_hash_r", "Exact match (keyed hash)"),
            _level("dob_hash_l = dob_swap_hash_r OR dob_swap_hash_l = dob_hash_r", "Day and month swapped"),
            _level("dob_ym_hash_l = dob_ym_hash_r OR dob_md_hash_l = dob_md_hash_r "
                   "OR dob_yd_hash_l = dob_yd_hash_r", "Two of year, month, day agree"),
            _level("dob_year_l = dob_year_r", "Same year of birth"),
            _else(),
        ],
    }


def hashed_postcode_comparison() -> dict[str, Any]:
    """Postcode on keyed hashes: same unit, same sector, same district (kept clear), else."""
    return {
        "output_column_name": "postcode",
        "comparison_description": "Postcode unit and sector (keyed hashes), district",
        "comparison_levels": [
            _null("postcode_district"),
            _level("postcode_hash_l = postcode_hash_r", "Same postcode unit"),
            _level("postcode_sector_hash_l = postcode_sector_hash_r", "Same postcode sector"),
            _level("postcode_district_l = postcode_district_r", "Same postcode district"),
            _else(),
        ],
    }


def hashed_sector_comparison() -> dict[str, Any]:
    """Postcode sector on a keyed hash (sources with no full postcode): same sector, same
    district, else."""
    return {
        "output_column_name": "postcode_sector",
        "comparison_description": "Postcode sector (keyed hash), district",
        "comparison_levels": [
            _null("postcode_district"),
            _level("postcode_sector_hash_l = postcode_sector_hash_r", "Same postcode sector"),
            _level("postcode_district_l = postcode_district_r", "Same postcode district"),
            _else(),
        ],
    }


def pprl_rich_model() -> tuple[dict[str, Any], dict[str, Any]]:
    """Rich-identifier sources in PPRL mode: Bloom-filter names, hashed DOB, postcode, ids."""
    settings = _settings(
        [
            bloom_comparison("first_name", "First name (Bloom filter, Dice)"),
            bloom_comparison("surname", "Surname (Bloom filter, Dice)"),
            hashed_dob_comparison(),
            _exact_comparison("sex", "Sex"),
            hashed_postcode_comparison(),
            _exact_comparison("pnc_hash", "PNC (keyed hash)"),
            _exact_comparison("ni_number_hash", "NI number (keyed hash)"),
            _exact_comparison("prison_number_hash", "Prison number (keyed hash)"),
        ],
        [
            "l.pnc_hash = r.pnc_hash",
            "l.ni_number_hash = r.ni_number_hash",
            "l.prison_number_hash = r.prison_number_hash",
            "l.dob_hash = r.dob_hash and l.surname_mh = r.surname_mh",
            "l.dob_hash = r.dob_hash and l.first_name_mh = r.first_name_mh",
            "l.surname_mh = r.surname_mh and l.first_name_mh = r.first_name_mh and l.dob_year = r.dob_year",
            ("l.postcode_hash = r.postcode_hash and l.dob_year = r.dob_year "
             "and l.first_initial_hash = r.first_initial_hash"),
        ],
    )
    meta = {
        "description": "Rich-identifier link group, PPRL mode: Bloom-filter names (Dice), keyed-hash "
                       "DOB and postcode, sex, keyed-hash PNC/NI/prison number",
        "sources": ["prison", "probation", "benefits", "homelessness"],
        "training": {
            "deterministic_rules": ["l.ni_number_hash = r.ni_number_hash", "l.pnc_hash = r.pnc_hash",
                                    "l.prison_number_hash = r.prison_number_hash"],
            "recall": 0.6,
            "em_blocking_rules": ["l.dob_hash = r.dob_hash",
                                  "l.surname_bf = r.surname_bf and l.first_name_bf = r.first_name_bf"],
            "u_max_pairs": 1_000_000,
            "seed": 1,
        },
    }
    return settings, meta


def pprl_low_information_model() -> tuple[dict[str, Any], dict[str, Any]]:
    """NDTMS in PPRL mode: keyed-hash initials, DOB and postcode sector, against every source."""
    settings = _settings(
        [
            _exact_comparison("first_initial_hash", "First initial (keyed hash)", tf=True),
            _exact_comparison("surname_initial_hash", "Surname initial (keyed hash)", tf=True),
            hashed_dob_comparison(),
            _exact_comparison("sex", "Sex"),
            hashed_sector_comparison(),
        ],
        [
            "l.dob_hash = r.dob_hash and l.first_initial_hash = r.first_initial_hash",
            "l.dob_hash = r.dob_hash and l.surname_initial_hash = r.surname_initial_hash",
            ("l.first_initial_hash = r.first_initial_hash and l.surname_initial_hash = r.surname_initial_hash "
             "and l.dob_year = r.dob_year and l.postcode_district = r.postcode_district"),
        ],
    )
    meta = {
        "description": "Low-information link group, PPRL mode: NDTMS (keyed-hash initials, DOB, "
                       "postcode sector; sex) against all sources",
        "sources": ["ndtms", "prison", "probation", "benefits", "homelessness"],
        "training": {
            "deterministic_rules": [("l.dob_hash = r.dob_hash and l.first_initial_hash = r.first_initial_hash "
                                     "and l.surname_initial_hash = r.surname_initial_hash and l.sex = r.sex "
                                     "and l.postcode_sector_hash = r.postcode_sector_hash")],
            "recall": 0.5,
            "em_blocking_rules": ["l.dob_hash = r.dob_hash",
                                  ("l.first_initial_hash = r.first_initial_hash "
                                   "and l.surname_initial_hash = r.surname_initial_hash "
                                   "and l.postcode_sector_hash = r.postcode_sector_hash")],
            "u_max_pairs": 1_000_000,
            "seed": 1,
        },
    }
    return settings, meta


def pprl_febrl_model() -> tuple[dict[str, Any], dict[str, Any]]:
    """FEBRL4 in PPRL mode: every text field a Bloom filter (extra columns are encoded too)."""
    settings = _settings(
        [
            bloom_comparison("first_name", "First name (Bloom filter, Dice)"),
            bloom_comparison("surname", "Surname (Bloom filter, Dice)"),
            hashed_dob_comparison(),
            bloom_comparison("address_1", "Street address (Bloom filter, Dice)", (0.8, 0.6), tf=False),
            bloom_comparison("suburb", "Suburb (Bloom filter, Dice)", (0.8, 0.6), tf=False),
            bloom_comparison("postcode_au", "Postcode (Bloom filter, Dice)", (0.6,), tf=False),
            bloom_comparison("street_number", "Street number (Bloom filter)", (), tf=False),
            _exact_comparison("soc_sec_id_hash", "Social security id (keyed hash)"),
        ],
        [
            "l.first_name_mh = r.first_name_mh and l.surname_mh = r.surname_mh",
            "l.surname_mh = r.surname_mh and l.dob_hash = r.dob_hash",
            "l.first_name_mh = r.first_name_mh and l.dob_hash = r.dob_hash",
            "l.postcode_au_bf = r.postcode_au_bf and l.first_name_mh = r.first_name_mh",
            "l.soc_sec_id_hash = r.soc_sec_id_hash",
            "l.dob_hash = r.dob_hash and l.postcode_au_bf = r.postcode_au_bf",
            "l.postcode_au_bf = r.postcode_au_bf and l.street_number_bf = r.street_number_bf",
        ],
    )
    meta = {
        "description": "FEBRL4 benchmark in PPRL mode: febrl4a linked to febrl4b",
        "sources": ["febrl4a", "febrl4b"],
        "training": {
            "deterministic_rules": ["l.soc_sec_id_hash = r.soc_sec_id_hash and l.dob_hash = r.dob_hash"],
            "recall": 0.7,
            "em_blocking_rules": ["l.dob_hash = r.dob_hash", "l.surname_bf = r.surname_bf"],
            "u_max_pairs": 1_000_000,
            "seed": 1,
        },
    }
    return settings, meta


PPRL_TEMPLATES = {
    "pprl_rich": pprl_rich_model,
    "pprl_ndtms": pprl_low_information_model,
    "pprl_febrl": pprl_febrl_model,
}
