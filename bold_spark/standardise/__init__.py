"""Pure DataFrame -> DataFrame transforms onto the canonical person schema.

    from bold_spark.standardise import to_canonical, RECORD_COLUMNS
    records = to_canonical(accepted_rows, dataset_config, key, "2026-12-01", run_id)

Names, dates, postcodes and identifiers are cleaned with Spark built-ins only; direct
identifiers are keyed-hashed with :mod:`bold_spark.privacy` primitives. Nothing here reads or
writes data, or imports :mod:`bold_spark.ingest` (``tests/test_layers.py``).
"""

from bold_spark.standardise.dates import (
    DEFAULT_DATE_FORMATS,
    EARLIEST_DOB,
    is_blank,
    parse_date,
    with_dob_parts,
)
from bold_spark.standardise.identifiers import (
    NORMALISERS,
    normalise_code,
    normalise_ni_number,
    normalise_pnc,
)
from bold_spark.standardise.names import (
    clean_name,
    fold_accents,
    initial,
    split_forenames,
    with_name_features,
)
from bold_spark.standardise.person import (
    RECORD_COLUMNS,
    clean_text,
    record_key,
    sex_code,
    to_canonical,
)
from bold_spark.standardise.postcodes import (
    compact_postcode,
    is_nfa_postcode,
    with_postcode_parts,
)

__all__ = [
    "DEFAULT_DATE_FORMATS",
    "EARLIEST_DOB",
    "NORMALISERS",
    "RECORD_COLUMNS",
    "clean_name",
    "clean_text",
    "compact_postcode",
    "fold_accents",
    "initial",
    "is_blank",
    "is_nfa_postcode",
    "normalise_code",
    "normalise_ni_number",
    "normalise_pnc",
    "parse_date",
    "record_key",
    "sex_code",
    "split_forenames",
    "to_canonical",
    "with_dob_parts",
    "with_name_features",
    "with_postcode_parts",
]
