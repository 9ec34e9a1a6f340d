"""Hash-based randomness, as Spark SQL expression text.

Every random draw is ``xxhash64(seed, salt, keys...)`` turned into a uniform double in [0, 1):
its value depends only on the seed, the salt and the key columns, never on partitioning or
execution order. Different salts give independent draws for the same key.

The seed is a column (``_seed``, joined in from a one-row table), not a literal: Spark inlines
literals into the Java code it generates, so a literal seed would make every seed compile its
own code (seconds per query); as data, every seed shares the compiled code.

Why SQL text: the generator composes thousands of expression nodes. Built node by node through
the PySpark Column API, each node costs Py4J round trips (about 14,000 of them, several seconds,
per population); as SQL text the JVM parses each stage's expressions in one call. The helpers
below return SQL strings and are combined with ``selectExpr``/``F.expr``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame

_MANTISSA = 1 << 53
#: Largest multiplier used by ``scramble_sql``: keeps (x mod m) * a below 2**63 for m <= 10**10.
_MAX_MULTIPLIER = 900_000_000
_SALT_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:/-.")


def num(x: float) -> str:
    """A SQL double literal."""
    return f"{float(x)!r}D"


def sql_str(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


#: The column holding the seed on every row (see the module docstring).
SEED_COL = "_seed"


def uniform_sql(salt: str, *keys: str) -> str:
    """A uniform double in [0, 1) determined by the seed, the salt and the key columns."""
    if not set(salt) <= _SALT_CHARS:
        raise ValueError(f"salt {salt!r} must be a plain identifier")
    cols = ", ".join(f"`{k}`" for k in keys)
    return f"(shiftrightunsigned(xxhash64(`{SEED_COL}`, '{salt}', {cols}), 11) / {_MANTISSA}.0D)"


@dataclass(frozen=True)
class Draws:
    """Uniform draws keyed on fixed columns, e.g. ``Draws("person", ("person_id",))``;
    ``d.u("dob")`` is the SQL of the draw salted "dob", computed where it is used."""

    namespace: str
    keys: tuple[str, ...]

    def u(self, salt: str) -> str:
        """SQL of the uniform draw salted ``salt`` (in [0, 1), a hash of the keys)."""
        return uniform_sql(f"{self.namespace}:{salt}", *self.keys)


class MaterialisedDraws(Draws):
    """Draws computed once per row as columns: ``u(salt)`` returns a reference to column
    ``_u_<salt>`` and records it; ``materialise(df)`` adds every recorded draw.

    The error model uses each draw in several places (every CASE branch, every character
    position of a typo); referencing a column instead of repeating the hash keeps expression
    trees, plans and generated code several times smaller. Build all SQL first, then
    materialise, then apply it."""

    def __init__(self, namespace: str, keys: tuple[str, ...]):
        super().__init__(namespace, keys)
        object.__setattr__(self, "_salts", {})

    def u(self, salt: str) -> str:
        """A reference to the draw's column ``_u_<salt>``, recorded for :meth:`materialise`."""
        self._salts.setdefault(salt, None)
        return f"`_u_{salt}`"

    def materialise(self, df: DataFrame) -> DataFrame:
        """``df`` with a column for every draw referenced so far that it lacks."""
        present = set(df.columns)
        new = [
            f"{uniform_sql(f'{self.namespace}:{salt}', *self.keys)} AS `_u_{salt}`"
            for salt in self._salts
            if f"_u_{salt}" not in present
        ]
        return df.selectExpr("*", *new) if new else df


def below(u: str, probability: float | str) -> str:
    """True with the given probability (a number, or SQL giving one)."""
    p = num(probability) if isinstance(probability, (int, float)) else probability
    return f"({u} < {p})"


def pick(u: str, n: int | str) -> str:
    """An INT in 0..n-1, uniformly (``n`` a number or SQL)."""
    n_sql = str(int(n)) if isinstance(n, int) else f"({n})"
    return f"CAST(least(floor({u} * {n_sql}), {n_sql} - 1) AS INT)"


def categorical(u: str, probabilities: Sequence[float]) -> str:
    """An INT index 0..k-1 drawn with the given probabilities (adding up to 1)."""
    whens, cumulative = [], 0.0
    for i, p in enumerate(probabilities[:-1]):
        cumulative += p
        whens.append(f"WHEN {u} < {num(cumulative)} THEN {i}")
    if not whens:
        return "0"
    return f"(CASE {' '.join(whens)} ELSE {len(probabilities) - 1} END)"


def case_by_bins(u: str, branches: Sequence[tuple[float, str]], otherwise: str) -> str:
    """CASE over consecutive slices of [0, 1): branch i applies when u falls in its slice, so
    each branch happens with its own probability and the branches exclude each other."""
    whens, upper = [], 0.0
    for probability, value in branches:
        upper += probability
        if probability > 0:
            whens.append(f"WHEN {u} < {num(upper)} THEN {value}")
    if not whens:
        return otherwise
    return f"(CASE {' '.join(whens)} ELSE {otherwise} END)"


def _multiplier(modulus: int) -> int:
    a = int(min(modulus, _MAX_MULTIPLIER) * 0.6180339887) | 1
    while math.gcd(a, modulus) != 1:
        a -= 2
    return a


def scramble_sql(x: str, modulus: int, salt: str) -> str:
    """A BIGINT bijection of 0..modulus-1 (an affine permutation): distinct inputs give distinct
    outputs, so identifiers made from it never collide, yet they do not look sequential."""
    if modulus > 10**10:
        raise ValueError("scramble supports moduli up to 10**10 (64-bit arithmetic)")
    offset = f"pmod(xxhash64(`{SEED_COL}`, '{salt}'), {modulus}L)"  # differs by seed
    times = f"pmod(CAST({x} AS BIGINT), {modulus}L) * {_multiplier(modulus)}L"
    return f"pmod({times} + {offset}, {modulus}L)"
