"""The plain 5-field dedupe model every engine in the benchmark runs: same comparisons, same
blocking rules, same training rules; written with Splink's creators so each backend gets its own
SQL dialect."""

from __future__ import annotations

import splink.comparison_library as cl
from splink import SettingsCreator, block_on

# Rules chosen to stay near-linear at national scale: every rule pairs a date of birth or a
# postcode with a name, so blocks stay small as the population grows (block_on("surname",
# "first_name") gives 13.5M pairs at 1M records and ~100x that at 10M: SMITH JOHN grows
# quadratically). The rules block on dob_string, the column the DOB comparison reads, so that
# an EM session blocking on DOB leaves the DOB comparison out (Splink matches on column names).
# results_wide_blocking.* holds a 1M-record run with the earlier, wider rules.
PREDICT_RULES = [
    block_on("dob_string", "surname"),
    block_on("dob_string", "first_name"),
    block_on("postcode", "first_initial"),
]
EM_RULES = [block_on("dob_string", "surname"), block_on("postcode", "first_name")]
# The wide variant (``--wide-at``): the earlier rules, about 16M comparisons at 1M records of the
# standard preset and 37M of the realistic one, because linkage at scale is rarely one comparison
# per record. (On dob_string, not dob, for the reason above: the same pairs.)
WIDE_PREDICT_RULES = [block_on("dob_string", "first_initial"), block_on("surname", "first_name")]
WIDE_EM_RULES = WIDE_PREDICT_RULES
# The "tf" variant (``--tf-at``): the narrow rules and model with term-frequency adjustments on the
# exact levels of the two name comparisons, so agreeing on a rare name weighs more than agreeing
# on a common one: an accuracy variant (issue 17's F1 at 10M), run for bold-spark.
# The "full" variant: the tf model plus the fields the benchmark population has beyond the five,
# as a linkage analyst would use them: the PNC (prison, probation) and NI number (benefits,
# homelessness) hashes, middle names, and postcode sector / district / area levels; blocking adds
# one rule per identifier (linear in records). An accuracy variant (issue 17's F1 at 10M with the
# population's own fields), run for bold-spark only.
FULL_PREDICT_RULES = [*PREDICT_RULES, block_on("pnc_hash"), block_on("ni_number_hash")]
BLOCKINGS = {"narrow": (PREDICT_RULES, EM_RULES), "wide": (WIDE_PREDICT_RULES, WIDE_EM_RULES),
             "tf": (PREDICT_RULES, EM_RULES), "full": (FULL_PREDICT_RULES, EM_RULES)}
DETERMINISTIC_RULES = ["l.first_name = r.first_name and l.surname = r.surname and l.dob = r.dob"]
RECALL = 0.8
U_MAX_PAIRS = 1_000_000
COLUMNS = ["record_key", "source", "first_name", "surname", "first_initial", "dob", "dob_string",
           "sex", "postcode"]
FULL_COLUMNS = [*COLUMNS, "middle_names", "pnc_hash", "ni_number_hash"]


def columns(blocking: str = "narrow") -> list[str]:
    """The record columns a variant's model reads."""
    return FULL_COLUMNS if blocking == "full" else COLUMNS


def em_rules(blocking: str = "narrow") -> list:
    return BLOCKINGS[blocking][1]


def settings(dialect: str, blocking: str = "narrow") -> dict:
    tf = blocking in ("tf", "full")
    full = blocking == "full"
    creator = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_key",
        comparisons=[
            cl.JaroWinklerAtThresholds("first_name", [0.92, 0.8]).configure(term_frequency_adjustments=tf),
            cl.JaroWinklerAtThresholds("surname", [0.92, 0.8]).configure(term_frequency_adjustments=tf),
            cl.LevenshteinAtThresholds("dob_string", [1, 2]),
            cl.ExactMatch("sex"),
            cl.PostcodeComparison("postcode") if full else cl.ExactMatch("postcode"),
            *([cl.JaroWinklerAtThresholds("middle_names", [0.92]), cl.ExactMatch("pnc_hash"),
               cl.ExactMatch("ni_number_hash")] if full else []),
        ],
        blocking_rules_to_generate_predictions=BLOCKINGS[blocking][0],
        retain_matching_columns=False,
    )
    return creator.create_settings_dict(dialect)


def em_rule_sql(dialect: str, blocking: str = "narrow") -> list[str]:
    return [r.get_blocking_rule(dialect).blocking_rule_sql for r in em_rules(blocking)]
