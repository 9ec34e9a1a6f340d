"""The plain 5-field dedupe model every engine in the benchmark runs: same comparisons, same
blocking rules, same training rules; written with Splink's creators so each backend gets its own
SQL dialect."""

from __future__ import annotations

import splink.comparison_library as cl
from splink import SettingsCreator, block_on

# Rules chosen to stay linear at national scale: no rule blocks on a single low-cardinality
# field (block_on("dob") alone is ~2e9 pairs at 10M records).
PREDICT_RULES = [
    block_on("dob", "first_initial"),
    block_on("surname", "first_name"),
    block_on("postcode", "first_initial"),
]
DETERMINISTIC_RULES = ["l.first_name = r.first_name and l.surname = r.surname and l.dob = r.dob"]
RECALL = 0.8
EM_RULES = [block_on("dob", "first_initial"), block_on("surname", "first_name")]
U_MAX_PAIRS = 1_000_000
COLUMNS = ["record_key", "source", "first_name", "surname", "first_initial", "dob", "dob_string",
           "sex", "postcode"]


def settings(dialect: str) -> dict:
    creator = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[
            cl.JaroWinklerAtThresholds("first_name", [0.92, 0.8]),
            cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]),
            cl.LevenshteinAtThresholds("dob_string", [1, 2]),
            cl.ExactMatch("sex"),
            cl.ExactMatch("postcode"),
        ],
        blocking_rules_to_generate_predictions=PREDICT_RULES,
        retain_matching_columns=False,
    )
    return creator.create_settings_dict(dialect)


def em_rule_sql(dialect: str) -> list[str]:
    return [r.get_blocking_rule(dialect).blocking_rule_sql for r in EM_RULES]
