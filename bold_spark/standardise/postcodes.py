"""UK postcodes: normalised unit, sector, district and area; NFA pseudo-postcodes recognised."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

#: Full unit postcode without the space, e.g. SW1A1AA, M11AE, B338TH.
UNIT_PATTERN = r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$"
#: Sector, e.g. 'SW1A 1'.
SECTOR_PATTERN = r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9]$"
#: Pseudo-postcodes used in English administrative data for no fixed abode.
NFA_POSTCODES = ("ZZ993VZ", "ZZ993WZ", "ZZ993CZ", "NF11NF")


def compact_postcode(col: Column) -> Column:
    """A postcode with no spaces or punctuation, for matching and pattern checks.

    Parameters:
        col: the raw postcode.

    Returns ``col`` upper cased with everything but letters and digits removed
    ('sw1a 1aa' -> 'SW1A1AA').
    """
    return F.regexp_replace(F.upper(col.cast("string")), "[^A-Z0-9]", "")


def is_nfa_postcode(col: Column) -> Column:
    """Whether a postcode is a no-fixed-abode pseudo-postcode.

    Parameters:
        col: the raw postcode (any spacing and case).

    Returns a boolean column: true for :data:`NFA_POSTCODES` ('ZZ99 3VZ'...).
    """
    return compact_postcode(col).isin(*NFA_POSTCODES)


def with_postcode_parts(df: DataFrame) -> DataFrame:
    """Normalise postcodes and derive their sector, district and area.

    Parameters:
        df: rows with ``postcode`` (a full postcode, any spacing and case) and
            ``postcode_sector`` (a partial one, for sources that hold only that) columns.

    Returns ``df`` with ``postcode`` as a unit ('SW1A 1AA'), ``postcode_sector`` ('SW1A 1'),
    ``postcode_district`` ('SW1A'), ``postcode_area`` ('SW') and ``postcode_invalid`` (a value
    was present but is not a postcode; it is nulled).
    """
    compact = compact_postcode(F.col("postcode"))
    valid_unit = compact.rlike(UNIT_PATTERN)
    outward = F.expr("substring(regexp_replace(upper(postcode), '[^A-Z0-9]', ''), 1, "
                     "length(regexp_replace(upper(postcode), '[^A-Z0-9]', '')) - 3)")
    inward = F.substring(compact, -3, 3)
    unit = F.when(valid_unit, F.concat_ws(" ", outward, inward))
    sector_from_unit = F.when(valid_unit, F.concat_ws(" ", outward, F.substring(inward, 1, 1)))
    given_sector = F.trim(F.regexp_replace(F.upper(F.col("postcode_sector")), " +", " "))
    valid_sector = given_sector.rlike(SECTOR_PATTERN)
    sector = F.coalesce(sector_from_unit, F.when(valid_sector, given_sector))
    invalid = (F.col("postcode").isNotNull() & (compact != "") & ~valid_unit) | (
        F.col("postcode_sector").isNotNull() & (given_sector != "") & ~valid_sector
    )
    out = (
        df.withColumn("postcode_invalid", F.coalesce(invalid, F.lit(False)))
        .withColumn("postcode", unit)
        .withColumn("postcode_sector", sector)
    )
    district = F.split(F.col("postcode_sector"), " ").getItem(0)
    return out.withColumn("postcode_district", district).withColumn(
        "postcode_area", F.regexp_extract(district, "^[A-Z]+", 0)
    )
