"""SQL text for blocking, comparison vectors and match weights, generated apart from running it.

The comparison-vector (gamma) and match-weight expressions are Splink's own, taken from its
Settings objects, so the maths is Splink's by construction; only the execution plan differs
(one Spark SQL pass instead of Splink's chain of materialised tables).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from splink.internals.dialects import SplinkDialect
from splink.internals.predict import _combine_prior_and_mws

RECORD_KEY = "record_key"
_SELECT = "SELECT "


@lru_cache(maxsize=4096)
def spark_sql(expr: str) -> str:
    """One SQL expression transpiled as Splink's Spark backend does before running it
    (its dialect-neutral casts such as ``float8`` become Spark types)."""
    import splink.internals.spark.spark_helpers.custom_spark_dialect  # noqa: F401 - registers it

    out = sqlglot.transpile(_SELECT + expr, read="spark", write="customspark")[0]
    return out[len(_SELECT):]


SOURCE = "source"


@dataclass(frozen=True)
class BlockingRule:
    """A blocking rule and its position in the model (a pair is found by the first rule that
    blocks it; later rules skip it)."""

    index: int
    sql: str  # Spark SQL over aliases l and r


def blocking_rules(settings) -> list[BlockingRule]:
    """The model's blocking rules for prediction, in order.

    Parameters:
        settings: the model as Splink's Settings object (``LinkModel.splink_settings()``).

    Returns one :class:`BlockingRule` per rule, indexed from 0.
    """
    return [
        BlockingRule(i, br.blocking_rule_sql)
        for i, br in enumerate(settings._blocking_rules_to_generate_predictions)
    ]


def equi_join_keys(rule: BlockingRule) -> list[tuple[str, str]]:
    """(left expression, right expression) pairs of the rule's equality conditions."""
    from splink.internals.blocking import BlockingRule as SplinkRule

    return SplinkRule(rule.sql, sql_dialect_str="spark")._equi_join_conditions


def block_keys(rule: BlockingRule) -> list[str]:
    """The rule's block key expressions over one record, or [] when it has no symmetric
    equi-join (every pair is a candidate: one block)."""
    keys = equi_join_keys(rule)
    symmetric = bool(keys) and all(left == right for left, right in keys)
    return [left for left, _ in keys] if symmetric else []


def tf_columns(settings) -> list[str]:
    """Input columns that carry term-frequency adjustments."""
    cols: list[str] = []
    for comparison in settings.comparisons:
        for level in comparison.comparison_levels:
            if level._has_tf_adjustments:
                cols.append(level._tf_adjustment_input_column.input_name)
    return list(dict.fromkeys(cols))


_L_R_COL = re.compile(r"\b(?:l|r)\s*\.\s*`?([A-Za-z_][A-Za-z0-9_]*)`?")


def and_terms(rule_sql: str) -> list[str]:
    """A rule's terms joined by ``and``, split as written and stripped (an ``and`` inside
    parentheses splits too, leaving unbalanced terms: callers treat those as unknown)."""
    return [t.strip() for t in re.split(r"\s+and\s+", rule_sql.strip(), flags=re.IGNORECASE)]


def _balanced(text: str) -> bool:
    """Every parenthesis in ``text`` closes, in order."""
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def rule_term(term: str) -> tuple[str, ...]:
    """One ``and`` term in a form that does not depend on operand order: an equality's two sides
    sorted, a parenthesised ``or`` of such terms with its operands sorted
    (``(l.x or r.x)`` and ``(r.x or l.x)`` are one term); anything else as written."""
    term = term.strip()
    if term.startswith("(") and term.endswith(")") and _balanced(term[1:-1]):
        parts = re.split(r"\s+or\s+", term[1:-1], flags=re.IGNORECASE)
        if len(parts) > 1 and all(_balanced(p) for p in parts):
            return ("or", *sorted("|".join(rule_term(p)) for p in parts))
    sides = term.split(" = ")
    return tuple(sorted(x.strip() for x in sides)) if len(sides) == 2 else (term,)


def columns_in_rule(rule_sql: str) -> list[str]:
    """Columns a rule reads through the ``l.`` and ``r.`` aliases, in order, once each."""
    return list(dict.fromkeys(_L_R_COL.findall(rule_sql)))


def comparison_input_columns(settings) -> list[str]:
    """Input columns the model's comparison levels read, in order, once each."""
    cols: list[str] = []
    for comparison in settings.comparisons:
        for level in comparison.comparison_levels:
            cols.extend(c.input_name for c in level._input_columns_used_by_sql_condition)
    return list(dict.fromkeys(cols))


def needed_columns(settings, extra_rules: list[str] = ()) -> list[str]:
    """Record columns scoring or training a model reads: what to select from ``records``.

    Parameters:
        settings: the model as Splink's Settings object.
        extra_rules: more rules to read columns from (training's deterministic and EM rules).

    Returns ``record_key``, ``source``, then every column a comparison or rule reads, once.
    """
    cols = [RECORD_KEY, SOURCE, *comparison_input_columns(settings)]
    for rule in [*(r.sql for r in blocking_rules(settings)), *extra_rules]:
        cols.extend(columns_in_rule(rule))
    return list(dict.fromkeys(cols))


def gamma_expressions(settings) -> list[str]:
    """``CASE ... END as gamma_<comparison>`` for each comparison (Splink's own SQL)."""
    return [spark_sql(c._case_statement) for c in settings.comparisons]


def gamma_columns(settings) -> list[str]:
    """``gamma_<comparison>`` column names, one per comparison, in the model's order."""
    return [c._gamma_column_name for c in settings.comparisons]


def match_weight_part_expressions(settings) -> list[str]:
    """Per-comparison match weight (and tf adjustment) columns, Splink's own SQL."""
    exprs: list[str] = []
    for c in settings.comparisons:
        exprs.extend(spark_sql(e) for e in c._columns_to_select_for_match_weight_parts(False, False)
                     if e.strip().upper().startswith("CASE"))
    return exprs


def match_weight_terms(settings) -> list[str]:
    """Names of the per-comparison weight columns the match weight sums (Splink's)."""
    terms: list[str] = []
    for c in settings.comparisons:
        terms.extend(c._match_weight_columns_to_sum)
    return terms


def final_score_expressions(settings) -> tuple[str, str]:
    """(match_weight expression, match_probability expression) over the weight parts."""
    prior = settings.core_model_settings.probability_two_random_records_match
    mw, mp = _combine_prior_and_mws(prior, match_weight_terms(settings),
                                    SplinkDialect.from_string("spark"))
    return spark_sql(mw), spark_sql(mp)
