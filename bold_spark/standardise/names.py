"""Name cleaning with Spark built-ins: upper case, accents folded, punctuation removed."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

#: Upper-case accented letters and, position by position, the plain letter each folds to.
ACCENTED = "ÀÁÂÃÄÅĀĂĄÇĆĈĊČÐĎÈÉÊËĒĔĖĘĚĜĞĠĢĤÌÍÎÏĨĪĬĮİĴĶĹĻĽŁÑŃŅŇÒÓÔÕÖØŌŎŐŔŖŘŚŜŞŠŢŤÙÚÛÜŨŪŬŮŰŲŴÝŸŶŹŻŽ"
PLAIN = "AAAAAAAAACCCCCDDEEEEEEEEEGGGGHIIIIIIIIIJKLLLLNNNNOOOOOOOOORRRSSSSTTUUUUUUUUUUWYYYZZZ"
assert len(ACCENTED) == len(PLAIN)
#: The same folding for Python strings (``text.upper().translate(ACCENT_FOLD)``).
ACCENT_FOLD = str.maketrans(ACCENTED, PLAIN)


def fold_accents(col: Column) -> Column:
    """Fold accented upper-case letters to plain ones (``'ZOË'`` -> ``'ZOE'``).

    Parameters:
        col: a string column, already upper case (lower-case accented letters are kept).

    Returns the column with every letter of :data:`ACCENTED` replaced by its :data:`PLAIN` one.
    """
    return F.translate(col, ACCENTED, PLAIN)


def clean_name(col: Column) -> Column:
    """A name upper cased, accents folded, apostrophes dropped, other punctuation made spaces.

    Parameters:
        col: the raw name, e.g. ``"  Zoë  o'Brien-Smith "``.

    Returns the cleaned name (``'ZOE OBRIEN SMITH'``); null where nothing is left.
    """
    upper = F.upper(F.trim(col))
    folded = fold_accents(upper)
    folded = F.regexp_replace(folded, "[ÆæŒœß]", "")  # rare ligatures: drop, do not guess
    no_apostrophes = F.regexp_replace(folded, "['’`]", "")
    spaced = F.regexp_replace(no_apostrophes, "[^A-Z]+", " ")
    cleaned = F.trim(F.regexp_replace(spaced, " +", " "))
    return F.when(cleaned == "", None).otherwise(cleaned)


def split_forenames(first: Column, middle: Column | None = None) -> tuple[Column, Column]:
    """Split forenames into a first name and middle names.

    Parameters:
        first: the first-name (or all-forenames) column.
        middle: a middle-names column, if the source has one.

    Returns ``(first_name, middle_names)`` columns, cleaned with :func:`clean_name`: the first
    token is the first name, every other token (of both columns) a middle name; null if none.
    """
    tokens = F.split(F.coalesce(clean_name(first), F.lit("")), " ")
    if middle is not None:
        extra = F.split(F.coalesce(clean_name(middle), F.lit("")), " ")
        tokens = F.concat(tokens, extra)
    tokens = F.filter(tokens, lambda t: t != "")
    first_name = F.try_element_at(tokens, F.lit(1))
    rest = F.array_join(F.slice(tokens, 2, 1000), " ")
    middle_names = F.when(rest == "", None).otherwise(rest)
    return first_name, middle_names


def initial(col: Column) -> Column:
    """A name's initial.

    Parameters:
        col: a raw name or initial.

    Returns the first letter of the name as :func:`clean_name` cleans it; null if none.
    """
    cleaned = clean_name(col)
    return F.when(cleaned.isNull(), None).otherwise(F.substring(cleaned, 1, 1))


def with_name_features(df: DataFrame) -> DataFrame:
    """Initials (where not given), Soundex codes and surname tokens from the cleaned names.

    Parameters:
        df: rows with cleaned ``first_name``, ``surname``, ``first_initial`` and
            ``surname_initial`` columns.

    Returns ``df`` with the initials filled in from the names where null, and
    ``first_name_soundex``, ``surname_soundex`` and ``surname_tokens`` added.
    """
    out = df.withColumn(
        "first_initial", F.coalesce(F.col("first_initial"), F.substring("first_name", 1, 1))
    ).withColumn(
        "surname_initial", F.coalesce(F.col("surname_initial"), F.substring("surname", 1, 1))
    )
    return out.withColumn(
        "first_name_soundex", F.when(F.col("first_name").isNotNull(), F.soundex("first_name"))
    ).withColumn(
        "surname_soundex",
        F.when(F.col("surname").isNotNull(), F.soundex(F.regexp_replace("surname", " ", ""))),
    ).withColumn(
        "surname_tokens",
        F.when(F.col("surname").isNotNull(), F.split("surname", " ")),
    )
