"""Normalisation of direct identifiers before keyed hashing, so formatting never blocks a match."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

NI_PATTERN = r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]?$"
#: NI prefixes that are never issued (temporary/administrative numbers).
NI_INVALID_PREFIXES = ("BG", "GB", "NK", "KN", "TN", "NT", "ZZ")


def normalise_pnc(col: Column) -> Column:
    """A Police National Computer number in one canonical form, so formatting never blocks a
    match: 'YYYY/NNNNNNNL' or 'YY/NNNNNL' -> 'YY/NNNNNNNL' (2-digit year, 7-digit serial).

    Parameters:
        col: the raw PNC (any case, spacing and punctuation).

    Returns the normalised PNC, or null where the value is not a PNC.
    """
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
    """A National Insurance number as its 8 identifying characters ('AB123456'), upper case,
    without spaces or the suffix letter.

    Parameters:
        col: the raw NI number.

    Returns the normalised number, or null where it is malformed or has a prefix that is never
    issued (:data:`NI_INVALID_PREFIXES`).
    """
    s = F.regexp_replace(F.upper(col.cast("string")), "[^A-Z0-9]", "")
    ok = s.rlike(NI_PATTERN) & ~F.substring(s, 1, 2).isin(*NI_INVALID_PREFIXES)
    return F.when(ok, F.substring(s, 1, 8))  # the suffix letter is not part of the identity


def normalise_code(col: Column) -> Column:
    """CRN, prison number and other codes: upper case, alphanumerics only.

    Parameters:
        col: the raw code.

    Returns the normalised code; null where nothing is left.
    """
    s = F.regexp_replace(F.upper(col.cast("string")), "[^A-Z0-9]", "")
    return F.when(s != "", s)


NORMALISERS = {
    "pnc": normalise_pnc,
    "ni_number": normalise_ni_number,
    "crn": normalise_code,
    "prison_number": normalise_code,
}
