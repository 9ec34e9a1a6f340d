"""Normalisation of direct identifiers before keyed hashing, so formatting never blocks a match."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

NI_PATTERN = r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]?$"
#: NI prefixes that are never issued (temporary/administrative numbers).
NI_INVALID_PREFIXES = ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")


def normalise_pnc(col: Column) -> Column:
    """PNC 'YYYY/NNNNNNNL' or 'YY/NNNNNL' -> 'YY/NNNNNNNL' (2-digit year, 7-digit serial)."""
    s = F.regexp_replace(F.upper(col.cast("string")), "[^0-9A-Z/]", "")
    m = r"^([0-9]{2}|[0-9]{4})/?([0-9]{1,7})([A-Z])$"
    year = F.regexp_extract(s, m, 1)
    serial = F.regexp_extract(s, m, 2)
    check = F.regexp_extract(s, m, 3)
    ok = s.rlike(m)
    return F.when(
        ok, F.concat(F.substring(year, -2, 2), F.lit("/"), F.lpad(serial, 7, "0"), check)
    )


def normalise_ni_number(col: Column) -> Column:
    s = F.regexp_replace(F.upper(col.cast("string")), "[^A-Z0-9]", "")
    ok = s.rlike(NI_PATTERN) & ~F.substring(s, 1, 2).isin(*NI_INVALID_PREFIXES)
    return F.when(ok, F.substring(s, 1, 8))  # the suffix letter is not part of the identity


def normalise_code(col: Column) -> Column:
    """CRN, prison number and other codes: upper case, alphanumerics only; empty -> null."""
    s = F.regexp_replace(F.upper(col.cast("string")), "[^A-Z0-9]", "")
    return F.when(s != "", s)


NORMALISERS = {
    "pnc": normalise_pnc,
    "ni_number": normalise_ni_number,
    "crn": normalise_code,
    "prison_number": normalise_code,
}
