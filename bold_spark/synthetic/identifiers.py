"""Realistic-looking UK identifiers (SQL expressions), unique per person by construction."""

from __future__ import annotations

import string

from bold_spark.synthetic.randomness import pick, scramble_sql

_NI_FIRST = "ABCEGHJKLMNOPRSTWXYZ"  # never D F I Q U V
_NI_SECOND = "ABCEGHJKLMNPRSTWXYZ"  # never D F I O Q U V
_NI_NEVER_ISSUED = {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
NI_PREFIXES = "".join(a + b for a in _NI_FIRST for b in _NI_SECOND if a + b not in _NI_NEVER_ISSUED)
_NI_PREFIX_COUNT = len(NI_PREFIXES) // 2
_PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"  # index = (yy * 10**7 + serial) mod 23
_NOMS_FIRST = "AGB"
_LETTERS = string.ascii_uppercase

#: Pseudo-postcode for no fixed abode used in English administrative data.
NFA_POSTCODE = "ZZ99 3VZ"

#: Capacities: people (or person-rows) each format can number without collisions.
PNC_CAPACITY = 10_000_000
NOMS_CAPACITY = len(_NOMS_FIRST) * 10_000 * 676
CRN_CAPACITY = 26 * 1_000_000 // 2  # two CRNs per person


def _letter(alphabet: str, index_sql: str) -> str:
    return f"substr('{alphabet}', CAST({index_sql} AS INT) + 1, 1)"


def ni_number(person_id: str, suffix_draw: str) -> str:
    """'AB123456C': a valid prefix, six digits (the pair unique per person) and a suffix A-D."""
    x = scramble_sql(person_id, _NI_PREFIX_COUNT * 1_000_000, "ni")
    prefix = f"substr('{NI_PREFIXES}', CAST(div({x}, 1000000) AS INT) * 2 + 1, 2)"
    digits = f"lpad(CAST(pmod({x}, 1000000L) AS STRING), 6, '0')"
    return f"concat({prefix}, {digits}, {_letter('ABCD', pick(suffix_draw, 4))})"


def spaced_ni_number(ni: str) -> str:
    """'AB123456C' -> 'AB 12 34 56 C', as typed on many forms."""
    parts = [
        f"substr({ni}, {start}, {length})"
        for start, length in ((1, 2), (3, 2), (5, 2), (7, 2), (9, 1))
    ]
    return f"concat_ws(' ', {', '.join(parts)})"


def pnc_serial(person_id: str) -> str:
    """Seven-digit PNC serial, unique per person."""
    return scramble_sql(person_id, PNC_CAPACITY, "pnc")


def _pnc_check(year: str, serial: str) -> str:
    return _letter(_PNC_CHECK_LETTERS, f"pmod(pmod({year}, 100) * 10000000L + {serial}, 23L)")


def pnc_long(year: str, serial: str) -> str:
    """'2001/0123456A'."""
    return (
        f"concat(CAST({year} AS STRING), '/', lpad(CAST({serial} AS STRING), 7, '0'), "
        f"{_pnc_check(year, serial)})"
    )


def pnc_short(year: str, serial: str) -> str:
    """'01/123456A': two-digit year, serial without leading zeros."""
    return (
        f"concat(lpad(CAST(pmod({year}, 100) AS STRING), 2, '0'), '/', CAST({serial} AS STRING), "
        f"{_pnc_check(year, serial)})"
    )


def noms_number(person_id: str) -> str:
    """'A1234BC', unique per person."""
    x = scramble_sql(person_id, NOMS_CAPACITY, "noms")
    rest = f"pmod({x}, 6760000L)"
    return (
        f"concat({_letter(_NOMS_FIRST, f'div({x}, 6760000)')}, "
        f"lpad(CAST(div({rest}, 676) AS STRING), 4, '0'), "
        f"{_letter(_LETTERS, f'div(pmod({rest}, 676L), 26)')}, "
        f"{_letter(_LETTERS, f'pmod({rest}, 26L)')})"
    )


def crn(person_id: str, case_index: str) -> str:
    """'X123456': one letter and six digits; unique per (person, case 0 or 1)."""
    x = scramble_sql(f"({person_id}) * 2 + ({case_index})", 26 * 1_000_000, "crn")
    letter = _letter(_LETTERS, f"div({x}, 1000000)")
    return f"concat({letter}, lpad(CAST(pmod({x}, 1000000L) AS STRING), 6, '0'))"


def numeric_id(
    person_id: str,
    row_index: str,
    rows_per_person: int,
    digits: int,
    salt: str,
    prefix: str = "",
) -> str:
    """A record id unique per (person, row index < rows_per_person), zero-padded to ``digits``."""
    x = scramble_sql(f"({person_id}) * {rows_per_person} + ({row_index})", 10**digits, salt)
    return f"concat('{prefix}', lpad(CAST({x} AS STRING), {digits}, '0'))"
