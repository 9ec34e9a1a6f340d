"""Name cleaning with Spark built-ins: upper case, accents folded, punctuation removed."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

_ACCENTED = "ÀÁÂÃÄÅĀĂĄÇĆĈĊČÐĎÈÉÊËĒĔĖĘĚĜĞĠĢĤÌÍÎÏĨĪĬĮİĴĶĹĻĽŁÑŃŅŇÒÓÔÕÖØŌŎŐŔŖŘŚŜŞŠŢŤÙÚÛÜŨŪŬŮŰŲŴÝŸŶŹŻŽ"
_PLAIN = "AAAAAAAAACCCCCDDEEEEEEEEEGGGGHIIIIIIIIIJKLLLLNNNNOOOOOOOOORRRSSSSTTUUUUUUUUUUWYYYZZZ"
assert len(_ACCENTED) == len(_PLAIN)


def clean_name(col: Column) -> Column:
    """'  Zoë  o'Brien-Smith ' -> 'ZOE OBRIEN SMITH'; empty -> null."""
    upper = F.upper(F.trim(col))
    folded = F.translate(upper, _ACCENTED, _PLAIN)
    folded = F.regexp_replace(folded, "[ÆæŒœß]", "")  # rare ligatures: drop, do not guess
    no_apostrophes = F.regexp_replace(folded, "['’`]", "")
    spaced = F.regexp_replace(no_apostrophes, "[^A-Z]+", " ")
    cleaned = F.trim(F.regexp_replace(spaced, " +", " "))
    return F.when(cleaned == "", None).otherwise(cleaned)


def split_forenames(first: Column, middle: Column | None = None) -> tuple[Column, Column]:
    """First token is the first name; every other forename token goes to middle names."""
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
    cleaned = clean_name(col)
    return F.when(cleaned.isNull(), None).otherwise(F.substring(cleaned, 1, 1))


def with_name_features(df: DataFrame) -> DataFrame:
    """Initials (where not given), Soundex codes and surname tokens from the cleaned names."""
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
