"""Realistic-looking UK identifiers, unique per person by construction (see ``scramble``)."""

from __future__ import annotations

import string

from pyspark.sql import Column
from pyspark.sql import functions as F

from bold_spark.synthetic.randomness import scramble

_NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"  # no D F I Q U V
_NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"  # no D F I O Q U V
_NI_NEVER_ISSUED = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
NI_PREFIXES = "".join(
    a + b for a in _NI_FIRST for b in _NI_SECOND if a + b not in _NI_NEVER_ISSUED
)
_NI_PREFIX_COUNT = len(NI_PREFIXES) // 2
_PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"  # index = (yy * 10**7 + serial) mod 23
_NOMS_FIRST = "AGB"
_LETTERS = string.ascii_uppercase

#: Pseudo-postcode for no fixed abode used in English administrative data.
NFA_POSTCODE = "ZZ99 3VZ"


def _letter(alphabet: str, index: Column) -> Column:
    return F.substr(F.lit(alphabet), (index + 1).cast("int"), F.lit(1))


def ni_number(person_id: Column, suffix_draw: Column, seed: int) -> Column:
    """'AB123456C': a valid prefix, six digits (unique per person) and a suffix A-D."""
    x = scramble(person_id, _NI_PREFIX_COUNT * 1_000_000, seed, "ni")
    prefix_index = F.floor(x / 1_000_000).cast("int")
    prefix = F.substr(F.lit(NI_PREFIXES), prefix_index * 2 + 1, F.lit(2))
    digits = F.lpad(F.pmod(x, F.lit(1_000_000)).cast("string"), 6, "0")
    suffix = _letter("ABCD", F.floor(suffix_draw * 4))
    return F.concat(prefix, digits, suffix)


def spaced_ni_number(ni: Column) -> Column:
    """'AB123456C' -> 'AB 12 34 56 C', as typed on many forms."""
    return F.concat_ws(
        " ", F.substr(ni, F.lit(1), F.lit(2)), F.substr(ni, F.lit(3), F.lit(2)),
        F.substr(ni, F.lit(5), F.lit(2)), F.substr(ni, F.lit(7), F.lit(2)), F.substr(ni, F.lit(9), F.lit(1)),
    )


def pnc_serial(person_id: Column, seed: int) -> Column:
    """Seven-digit PNC serial, unique per person (up to 10 million people)."""
    return scramble(person_id, 10_000_000, seed, "pnc")


def pnc_check_letter(year: Column, serial: Column) -> Column:
    return _letter(_PNC_CHECK_LETTERS, F.pmod(F.pmod(year, F.lit(100)) * 10_000_000 + serial, F.lit(23)))


def pnc_long(year: Column, serial: Column) -> Column:
    """'2001/0123456A'."""
    return F.concat(
        year.cast("string"), F.lit("/"), F.lpad(serial.cast("string"), 7, "0"),
        pnc_check_letter(year, serial),
    )


def pnc_short(year: Column, serial: Column) -> Column:
    """'01/123456A': two-digit year, serial without leading zeros."""
    return F.concat(
        F.lpad(F.pmod(year, F.lit(100)).cast("string"), 2, "0"), F.lit("/"), serial.cast("string"),
        pnc_check_letter(year, serial),
    )


def noms_number(person_id: Column, seed: int) -> Column:
    """'A1234BC', unique per person (up to about 20 million people)."""
    x = scramble(person_id, len(_NOMS_FIRST) * 10_000 * 676, seed, "noms")
    first = _letter(_NOMS_FIRST, F.floor(x / (10_000 * 676)))
    rest = F.pmod(x, F.lit(10_000 * 676))
    digits = F.lpad(F.floor(rest / 676).cast("string"), 4, "0")
    pair = F.pmod(rest, F.lit(676))
    return F.concat(first, digits, _letter(_LETTERS, F.floor(pair / 26)), _letter(_LETTERS, F.pmod(pair, F.lit(26))))


def crn(person_id: Column, case_index: Column, seed: int) -> Column:
    """'X123456': one letter and six digits; unique per (person, case 0 or 1)."""
    x = scramble(person_id * 2 + case_index, 26 * 1_000_000, seed, "crn")
    return F.concat(_letter(_LETTERS, F.floor(x / 1_000_000)), F.lpad(F.pmod(x, F.lit(1_000_000)).cast("string"), 6, "0"))


def numeric_id(person_id: Column, row_index: Column, rows_per_person: int, digits: int,
               seed: int, salt: str, prefix: str = "") -> Column:
    """A record id unique per (person, row index < rows_per_person), zero-padded to ``digits``."""
    x = scramble(person_id * rows_per_person + row_index, 10**digits, seed, salt)
    return F.concat(F.lit(prefix), F.lpad(x.cast("string"), digits, "0"))
