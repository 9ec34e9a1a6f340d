"""Untrained starting models for the shipped link groups (``bold model-init`` writes them).

Plain Splink settings dicts in the Spark SQL dialect; ``bold train`` fills in m, u and prior.
"""

from __future__ import annotations

from typing import Any


def _null(col: str) -> dict[str, Any]:
    return {"sql_condition": f"{col}_l IS NULL OR {col}_r IS NULL",
            "label_for_charts": f"{col} is NULL", "is_null_level": True}


def _level(sql: str, label: str, tf: str | None = None) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if tf:
        level["tf_adjustment_column"] = tf
        level["tf_adjustment_weight"] = 1.0
    return level


def _else() -> dict[str, Any]:
    return {"sql_condition": "ELSE", "label_for_charts": "All other comparisons"}


def _exact_comparison(col: str, description: str, tf: bool = False) -> dict[str, Any]:
    return {
        "output_column_name": col,
        "comparison_description": description,
        "comparison_levels": [
            _null(col), _level(f"{col}_l = {col}_r", f"Exact match on {col}", col if tf else None), _else()
        ],
    }


def _dob_comparison() -> dict[str, Any]:
    return {
        "output_column_name": "dob",
        "comparison_description": "Date of birth: exact, placeholder, day/month swap, one typo, year",
        "comparison_levels": [
            _null("dob"),
            _level("dob_l = dob_r AND NOT dob_is_placeholder_l", "Exact match (not 1 Jan)"),
            _level("dob_l = dob_r", "Exact match on a 1 January date (placeholder?)"),
            _level("dob_year_l = dob_year_r AND dob_month_l = dob_day_r "
                   "AND dob_day_l = dob_month_r", "Day and month swapped"),
            _level("levenshtein(dob_string_l, dob_string_r) <= 1", "One character different"),
            _level("dob_year_l = dob_year_r", "Same year of birth"),
            _else(),
        ],
    }


def _name_comparison(col: str) -> dict[str, Any]:
    levels = [
        _null(col),
        _level(f"{col}_l = {col}_r", f"Exact match on {col}", col),
        _level(f"jaro_winkler({col}_l, {col}_r) >= 0.92", f"Jaro-Winkler {col} >= 0.92"),
    ]
    if col == "surname":
        levels.append(_level("arrays_overlap(surname_tokens_l, surname_tokens_r)",
                             "Shares a surname part (hyphenated/double-barrelled)"))
    if col == "first_name":
        levels.append(_level(
            "array_contains(split(coalesce(middle_names_r, ''), ' '), first_name_l) OR "
            "array_contains(split(coalesce(middle_names_l, ''), ' '), first_name_r)",
            "First name found among the other's middle names"))
    levels += [
        _level(f"jaro_winkler({col}_l, {col}_r) >= 0.8", f"Jaro-Winkler {col} >= 0.8"),
        _else(),
    ]
    return {"output_column_name": col, "comparison_description": f"{col} similarity",
            "comparison_levels": levels}


def _postcode_comparison() -> dict[str, Any]:
    return {
        "output_column_name": "postcode",
        "comparison_description": "Postcode unit, sector, district",
        "comparison_levels": [
            _null("postcode_district"),
            _level("postcode_l = postcode_r", "Same postcode unit"),
            _level("postcode_sector_l = postcode_sector_r", "Same postcode sector"),
            _level("postcode_district_l = postcode_district_r", "Same postcode district"),
            _else(),
        ],
    }


def _sector_comparison() -> dict[str, Any]:
    return {
        "output_column_name": "postcode_sector",
        "comparison_description": "Postcode sector, district",
        "comparison_levels": [
            _null("postcode_district"),
            _level("postcode_sector_l = postcode_sector_r", "Same postcode sector"),
            _level("postcode_district_l = postcode_district_r", "Same postcode district"),
            _else(),
        ],
    }


def _settings(comparisons, rules) -> dict[str, Any]:
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": "record_key",
        "probability_two_random_records_match": 0.0001,
        "em_convergence": 0.0001,
        "max_iterations": 25,
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [{"blocking_rule": r} for r in rules],
    }


def rich_identifier_model() -> tuple[dict[str, Any], dict[str, Any]]:
    """Sources with names, DOB and identifiers (prison, probation, benefits, homelessness)."""
    settings = _settings(
        [
            _name_comparison("first_name"),
            _name_comparison("surname"),
            _dob_comparison(),
            _exact_comparison("sex", "Sex"),
            _postcode_comparison(),
            _exact_comparison("pnc_hash", "PNC (keyed hash)"),
            _exact_comparison("ni_number_hash", "NI number (keyed hash)"),
            _exact_comparison("prison_number_hash", "Prison number (keyed hash)"),
        ],
        [
            "l.pnc_hash = r.pnc_hash",
            "l.ni_number_hash = r.ni_number_hash",
            "l.prison_number_hash = r.prison_number_hash",
            "l.dob = r.dob and l.surname_soundex = r.surname_soundex",
            "l.dob = r.dob and l.first_name_soundex = r.first_name_soundex",
            "l.surname = r.surname and l.first_name = r.first_name and l.dob_year = r.dob_year",
            "l.postcode = r.postcode and l.dob_year = r.dob_year and l.first_initial = r.first_initial",
        ],
    )
    meta = {
        "description": "Rich-identifier link group: names, DOB, sex, postcode, hashed PNC/NI/prison number",
        "sources": ["prison", "probation", "benefits", "homelessness"],
        "training": {
            "deterministic_rules": ["l.ni_number_hash = r.ni_number_hash", "l.pnc_hash = r.pnc_hash",
                                    "l.prison_number_hash = r.prison_number_hash"],
            "recall": 0.6,
            "em_blocking_rules": ["l.dob = r.dob",
                                  "l.surname = r.surname and l.first_name = r.first_name"],
            "u_max_pairs": 1_000_000,
            "seed": 1,
        },
    }
    return settings, meta


def low_information_model() -> tuple[dict[str, Any], dict[str, Any]]:
    """NDTMS: initials, DOB, sex and postcode sector only, linked to every other source."""
    settings = _settings(
        [
            _exact_comparison("first_initial", "First initial", tf=True),
            _exact_comparison("surname_initial", "Surname initial", tf=True),
            _dob_comparison(),
            _exact_comparison("sex", "Sex"),
            _sector_comparison(),
        ],
        [
            "l.dob = r.dob and l.first_initial = r.first_initial",
            "l.dob = r.dob and l.surname_initial = r.surname_initial",
            "l.first_initial = r.first_initial and l.surname_initial = r.surname_initial "
            "and l.dob_year = r.dob_year and l.postcode_district = r.postcode_district",
        ],
    )
    meta = {
        "description": "Low-information link group: NDTMS (initials, DOB, sex, postcode sector) against all sources",
        "sources": ["ndtms", "prison", "probation", "benefits", "homelessness"],
        "training": {
            "deterministic_rules": ["l.dob = r.dob and l.first_initial = r.first_initial and "
                                    "l.surname_initial = r.surname_initial and l.sex = r.sex "
                                    "and l.postcode_sector = r.postcode_sector"],
            "recall": 0.5,
            "em_blocking_rules": ["l.dob = r.dob",
                                  "l.first_initial = r.first_initial and l.surname_initial = r.surname_initial "
                                  "and l.postcode_sector = r.postcode_sector"],
            "u_max_pairs": 1_000_000,
            "seed": 1,
        },
    }
    return settings, meta


TEMPLATES = {"rich": rich_identifier_model, "ndtms": low_information_model}


def _jw_comparison(col: str, description: str) -> dict[str, Any]:
    return {
        "output_column_name": col,
        "comparison_description": description,
        "comparison_levels": [
            _null(col),
            _level(f"{col}_l = {col}_r", f"Exact match on {col}"),
            _level(f"jaro_winkler({col}_l, {col}_r) >= 0.9", f"Jaro-Winkler {col} >= 0.9"),
            _level(f"jaro_winkler({col}_l, {col}_r) >= 0.7", f"Jaro-Winkler {col} >= 0.7"),
            _else(),
        ],
    }


def febrl_model() -> tuple[dict[str, Any], dict[str, Any]]:
    """FEBRL4 (the public benchmark): two files of synthetic Australian records, linked A to B."""
    settings = _settings(
        [
            _name_comparison("first_name"),
            _name_comparison("surname"),
            _dob_comparison(),
            _jw_comparison("address_1", "Street address"),
            _jw_comparison("suburb", "Suburb"),
            _exact_comparison("postcode_au", "Postcode"),
            _exact_comparison("street_number", "Street number"),
            _exact_comparison("soc_sec_id_hash", "Social security id (keyed hash)"),
        ],
        [
            "l.first_name = r.first_name and l.surname = r.surname",
            "l.surname = r.surname and l.dob = r.dob",
            "l.first_name = r.first_name and l.dob = r.dob",
            "l.postcode_au = r.postcode_au and l.first_name = r.first_name",
            "l.soc_sec_id_hash = r.soc_sec_id_hash",
            "l.dob = r.dob and l.postcode_au = r.postcode_au",
            "l.postcode_au = r.postcode_au and l.street_number = r.street_number",
        ],
    )
    meta = {
        "description": "FEBRL4 benchmark: febrl4a linked to febrl4b",
        "sources": ["febrl4a", "febrl4b"],
        "training": {
            "deterministic_rules": ["l.soc_sec_id_hash = r.soc_sec_id_hash and l.dob = r.dob"],
            "recall": 0.7,
            "em_blocking_rules": ["l.dob = r.dob", "l.surname = r.surname"],
            "u_max_pairs": 1_000_000,
            "seed": 1,
        },
    }
    return settings, meta


TEMPLATES["febrl"] = febrl_model
