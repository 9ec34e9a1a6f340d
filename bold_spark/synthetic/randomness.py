"""Hash-based randomness: a value depends only on (seed, salt, key columns), never on partitioning.

Every random draw is ``xxhash64(seed, salt, keys...)`` turned into a uniform double in [0, 1).
Different salts give independent draws for the same key.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

_MANTISSA = float(1 << 53)
#: Largest multiplier used by ``scramble``: keeps (x mod m) * a below 2**63 for m <= 10**10.
_MAX_MULTIPLIER = 900_000_000


def uniform_sql(seed: int, salt: str, *keys: str) -> str:
    """SQL text of a uniform double in [0, 1) determined by the seed, the salt and the key
    columns. Built as SQL (parsed once in the JVM) because composing hundreds of draws through
    the Column API costs a Py4J round trip per node."""
    if not all(ch.isalnum() or ch in "_:/-." for ch in salt):
        raise ValueError(f"salt {salt!r} must be a plain identifier")
    cols = ", ".join(f"`{k}`" for k in keys)
    return f"(shiftrightunsigned(xxhash64({int(seed)}, '{salt}', {cols}), 11) / {_MANTISSA!r}D)"


def uniform(seed: int, salt: str, *keys: str) -> Column:
    return F.expr(uniform_sql(seed, salt, *keys))


@dataclass(frozen=True)
class Draws:
    """Uniform draws keyed on fixed columns: ``Draws(seed, "ndtms", ("person_id", "row_no")).u("dob")``."""

    seed: int
    namespace: str
    keys: tuple[str, ...]

    def sql(self, salt: str) -> str:
        return uniform_sql(self.seed, f"{self.namespace}:{salt}", *self.keys)

    def u(self, salt: str) -> Column:
        return F.expr(self.sql(salt))


def below(u: Column, probability: float | Column) -> Column:
    """True with the given probability."""
    return u < (probability if isinstance(probability, Column) else F.lit(float(probability)))


def pick(u: Column, n: int | Column) -> Column:
    """An integer in 0..n-1, uniformly."""
    n_col = n if isinstance(n, Column) else F.lit(int(n))
    return F.least(F.floor(u * n_col), n_col - 1).cast("int")


def categorical(u: Column, probabilities: Sequence[float]) -> Column:
    """Index 0..k-1 drawn with the given probabilities (they should add up to 1)."""
    cumulative = 0.0
    expr = None
    for i, p in enumerate(probabilities[:-1]):
        cumulative += p
        expr = (F.when(u < cumulative, F.lit(i)) if expr is None
                else expr.when(u < cumulative, F.lit(i)))
    last = F.lit(len(probabilities) - 1)
    return last if expr is None else expr.otherwise(last)


def seed_offset(seed: int, salt: str, modulus: int) -> int:
    """A stable (not Python-hash-randomised) integer in 0..modulus-1 from the seed and a salt."""
    digest = hashlib.blake2b(f"{seed}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % modulus


def _multiplier(modulus: int) -> int:
    a = int(min(modulus, _MAX_MULTIPLIER) * 0.6180339887) | 1
    while math.gcd(a, modulus) != 1:
        a -= 2
    return a


def scramble(x: Column, modulus: int, seed: int, salt: str) -> Column:
    """A bijection of 0..modulus-1 (an affine permutation): distinct inputs give distinct outputs,
    so identifiers made from it never collide, yet they do not look sequential."""
    if modulus > 10**10:
        raise ValueError("scramble supports moduli up to 10**10 (64-bit arithmetic)")
    a = _multiplier(modulus)
    b = seed_offset(seed, salt, modulus)
    m = F.lit(modulus).cast("long")
    return F.pmod(F.pmod(x.cast("long"), m) * F.lit(a).cast("long") + F.lit(b).cast("long"), m)
