"""Map an accepted source DataFrame onto the canonical person schema (the `records` table)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from bold_spark.config.datasets import IDENTIFIER_FIELDS, AnalysisColumn, DatasetConfig
from bold_spark.privacy.hashing import hmac_column
from bold_spark.privacy.keys import SecretKey
from bold_spark.schema import DEFAULT_DATE_FORMATS, ID_COL, RAW_FINGERPRINT, date_formats
from bold_spark.standardise.dates import parse_date, with_dob_parts
from bold_spark.standardise.identifiers import NORMALISERS
from bold_spark.standardise.names import clean_name, initial, split_forenames, with_name_features
from bold_spark.standardise.postcodes import is_nfa_postcode, with_postcode_parts

#: Column order of the `records` table.
RECORD_COLUMNS = [
    "record_key", "source", "snapshot_date",
    "first_name", "middle_names", "surname", "first_initial", "surname_initial",
    "first_name_soundex", "surname_soundex", "surname_tokens",
    "dob", "dob_year", "dob_month", "dob_day", "dob_string", "dob_is_placeholder",
    "sex", "postcode", "postcode_sector", "postcode_district", "postcode_area", "nfa",
    "pnc_hash", "ni_number_hash", "crn_hash", "prison_number_hash",
    "event_date", "dob_impossible", "postcode_invalid", "run_id", RAW_FINGERPRINT,
]

NFA_ADDRESS_PATTERN = r"(?i)\b(NO FIXED ABODE|NFA|HOMELESS|NO FIXED ADDRESS)\b"

RECORD_KEY_HEX_CHARS = 32  # 128 bits of the HMAC: collisions are negligible at any scale


def _src(df: DataFrame, ds: DatasetConfig, canon: str) -> Column:
    return F.col(ds.columns[canon]) if canon in ds.columns else F.lit(None).cast("string")


def record_key(key: SecretKey, source: str, source_record_id: Column) -> Column:
    """The pseudonymous key of a record: the HMAC of ``source:source_record_id``.

    Parameters:
        key: the pseudonymisation key.
        source: the dataset's name.
        source_record_id: the record's id in the source (trimmed).

    Returns the first :data:`RECORD_KEY_HEX_CHARS` hex characters of the HMAC (128 bits).
    """
    digest = hmac_column(key, F.concat(F.lit(source + ":"), source_record_id), "record")
    return F.substring(digest, 1, RECORD_KEY_HEX_CHARS)


def sex_code(col: Column, codes: dict[str, str]) -> Column:
    """Sex as 'M', 'F' or null.

    Parameters:
        col: the source's sex column.
        codes: source value -> 'M'/'F' (case-insensitive); empty: the first letter is taken.

    Returns 'M', 'F', or null for anything else (unknown, not stated, other codes).
    """
    raw = F.upper(F.trim(col))
    if codes:
        mapping = F.create_map(*[F.lit(x) for kv in codes.items() for x in (kv[0].upper(), kv[1])])
        mapped = mapping[raw]
    else:
        mapped = F.substring(raw, 1, 1)
    return F.when(mapped.isin("M", "F"), mapped)


def _identifier_hash(df: DataFrame, ds: DatasetConfig, key: SecretKey, field: str) -> Column:
    if field not in ds.columns:
        return F.lit(None).cast("string")
    return hmac_column(key, NORMALISERS[field](_src(df, ds, field)), field)


def to_canonical(
    df: DataFrame, ds: DatasetConfig, key: SecretKey, snapshot_date: str, run_id: str
) -> DataFrame:
    """Accepted rows of one source as canonical person rows: the ``records`` table's rows.

    Parameters:
        df: the source's validated, accepted rows (they carry ``ID_COL``).
        ds: the dataset config mapping source columns to canonical fields.
        key: the key for record keys and identifier hashes.
        snapshot_date: the extract's date (ISO); later dates of birth are impossible.
        run_id: the run writing the rows.

    ``df``'s column :data:`RAW_FINGERPRINT`, when it has one, is kept (null otherwise): see
    :mod:`bold_spark.ingest.fingerprint`.

    Returns one row per input row with :data:`RECORD_COLUMNS`, then the dataset's extra
    columns, extra identifier hashes and analysis columns (typed, see :func:`analysis_value`):
    names cleaned, dates parsed, postcodes split, direct identifiers normalised and keyed-hashed
    (never kept in clear).
    """
    first_src = _src(df, ds, "forenames") if "forenames" in ds.columns else _src(df, ds, "first_name")
    middle_src = _src(df, ds, "middle_names") if "middle_names" in ds.columns else None
    first_name, middle_names = split_forenames(first_src, middle_src)
    snapshot = F.lit(snapshot_date).cast("date")
    nfa_flag = F.lit(False)
    if "nfa" in ds.columns:
        values = [v.upper() for v in ds.nfa_values]
        nfa_flag = nfa_flag | F.coalesce(F.upper(F.trim(_src(df, ds, "nfa"))).isin(*values), F.lit(False))
    nfa_flag = nfa_flag | F.coalesce(is_nfa_postcode(_src(df, ds, "postcode")), F.lit(False))
    nfa_flag = nfa_flag | F.coalesce(_src(df, ds, "address").rlike(NFA_ADDRESS_PATTERN), F.lit(False))

    out = df.select(
        record_key(key, ds.name, F.col(ID_COL)).alias("record_key"),
        F.lit(ds.name).alias("source"),
        snapshot.alias("snapshot_date"),
        first_name.alias("first_name"),
        middle_names.alias("middle_names"),
        clean_name(_src(df, ds, "surname")).alias("surname"),
        initial(_src(df, ds, "first_initial")).alias("first_initial"),
        initial(_src(df, ds, "surname_initial")).alias("surname_initial"),
        parse_date(_src(df, ds, "dob"), date_formats(ds, "dob")).alias("dob"),
        sex_code(_src(df, ds, "sex"), ds.sex_codes).alias("sex"),
        F.when(~nfa_flag, _src(df, ds, "postcode")).alias("postcode"),
        F.when(~nfa_flag, _src(df, ds, "postcode_sector")).alias("postcode_sector"),
        nfa_flag.alias("nfa"),
        *[_identifier_hash(df, ds, key, f).alias(f"{f}_hash") for f in IDENTIFIER_FIELDS],
        parse_date(_src(df, ds, "event_date"), date_formats(ds, "event_date")).alias("event_date"),
        F.lit(run_id).alias("run_id"),
        (F.col(RAW_FINGERPRINT) if RAW_FINGERPRINT in df.columns
         else F.lit(None).cast("string")).alias(RAW_FINGERPRINT),
        *[clean_text(F.col(src)).alias(name) for name, src in ds.extra_columns.items()],
        *[hmac_column(key, clean_text(F.col(src)), name).alias(f"{name}_hash")
          for name, src in ds.extra_identifiers.items()],
        *[analysis_value(F.col(a.column), a).alias(name) for name, a in ds.analysis_columns.items()],
    )
    out = with_name_features(out)
    out = with_dob_parts(out, reference_date=snapshot)
    out = with_postcode_parts(out)
    extras = [*ds.extra_columns, *[f"{n}_hash" for n in ds.extra_identifiers], *ds.analysis_columns]
    return out.select(*RECORD_COLUMNS, *extras)


def clean_text(col: Column) -> Column:
    """Free text for extra columns: upper case, trimmed, single spaces.

    Parameters:
        col: the raw text.

    Returns the cleaned text; null where empty.
    """
    s = F.trim(F.regexp_replace(F.upper(col.cast("string")), r"\s+", " "))
    return F.when(s != "", s)


def analysis_value(col: Column, a: AnalysisColumn) -> Column:
    """An analysis column's value as its declared type, otherwise as written.

    Parameters:
        col: the source column.
        a: its declaration: ``string`` (trimmed, blank -> null, case kept), ``date`` (parsed with
            ``a.formats``, else the default formats) or ``integer``.

    Returns the typed value; a value that does not parse is null (ingest counts those, see
    :func:`analysis_unparseable`).
    """
    text = F.trim(col.cast("string"))
    if a.type == "date":
        return parse_date(text, a.formats or DEFAULT_DATE_FORMATS)
    if a.type == "integer":
        return text.try_cast("bigint")
    return F.when(text != "", text)


def analysis_unparseable(col: Column, a: AnalysisColumn) -> Column:
    """True where ``col`` holds a value that :func:`analysis_value` turns into null."""
    text = F.trim(col.cast("string"))
    return (text != "") & analysis_value(col, a).isNull()
