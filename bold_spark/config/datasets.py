"""Dataset configs (conf/datasets/<name>.yaml): how one source maps onto the canonical schema."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from bold_spark.config.strict import build, read_yaml
from bold_spark.exceptions import ConfigError
from bold_spark.io import files

#: Canonical person fields a source column may be mapped to.
CANONICAL_FIELDS: dict[str, str] = {
    "first_name": "first forename",
    "middle_names": "other forenames, space separated",
    "forenames": "all forenames in one column (split into first_name + middle_names)",
    "surname": "family name",
    "first_initial": "initial of the first forename (sources that carry initials only)",
    "surname_initial": "initial of the surname (sources that carry initials only)",
    "dob": "date of birth",
    "sex": "sex/gender code",
    "postcode": "full or partial UK postcode",
    "postcode_sector": "postcode sector only, e.g. 'SW1A 1'",
    "address": "free-text address (used only for the NFA flag; never written to outputs)",
    "nfa": "no-fixed-abode flag column",
    "pnc": "Police National Computer number",
    "ni_number": "National Insurance number",
    "crn": "nDelius case reference number",
    "prison_number": "NOMIS prison number",
    "event_date": "date of the event the record describes (episode start, reception...)",
}

#: Canonical fields treated as direct identifiers: keyed-hashed at ingest.
IDENTIFIER_FIELDS = ("pnc", "ni_number", "crn", "prison_number")

FORMATS = ("csv", "parquet", "delta")

#: How a source delivers its data (``delivery:``): its whole current extract each run (``full``),
#: or, in incremental runs, only what changed since the published records (``change_file``).
DELIVERIES = ("full", "change_file")
#: The operations of a change file's rows, in the order ``change_values`` lists them.
CHANGE_OPS = ("add", "update", "delete")

#: Text encodings a CSV extract may declare (``encoding:``), by accepted spelling -> canonical name.
ENCODINGS: dict[str, str] = {
    "utf-8": "utf-8", "utf8": "utf-8",
    "latin-1": "iso-8859-1", "latin1": "iso-8859-1", "iso-8859-1": "iso-8859-1",
    "windows-1252": "windows-1252", "cp1252": "windows-1252",
}

#: Columns of ``records`` (besides the canonical fields) and of the ``analysis`` table that an
#: analysis column's output name may not take (tests check this against ``RECORD_COLUMNS``).
RECORD_COLUMN_NAMES = (
    "record_key", "source", "snapshot_date", "run_id", "first_name_soundex", "surname_soundex",
    "surname_tokens", "dob_year", "dob_month", "dob_day", "dob_string", "dob_is_placeholder",
    "postcode_district", "postcode_area", "pnc_hash", "ni_number_hash", "crn_hash",
    "prison_number_hash", "dob_impossible", "postcode_invalid", "raw_fingerprint",
    "first_seen_run_id",
)

#: Types an analysis column may declare (``type:``) -> the Spark type it is written as.
ANALYSIS_TYPES: dict[str, str] = {"string": "string", "date": "date", "integer": "bigint"}

#: Canonical fields whose source columns may not also be analysis columns: names, initials, date
#: of birth, address, postcodes and direct identifiers never reach the analyst zone.
NON_ANALYSIS_FIELDS = ("first_name", "middle_names", "forenames", "surname", "first_initial",
                       "surname_initial", "dob", "address", "postcode", "postcode_sector",
                       *IDENTIFIER_FIELDS)

#: CSV reader options that ingest sets itself; a dataset config uses the typed key instead.
RESERVED_READ_OPTIONS: dict[str, str] = {
    "header": "the first line is always the header",
    "inferschema": "every column is read as a string",
    "mode": "bad rows always go to quarantine",
    "columnnameofcorruptrecord": "ingest names its own corrupt-record column",
    "multiline": "use the top-level key `multiline: true`",
    "encoding": "use the top-level key `encoding:`",
    "charset": "use the top-level key `encoding:`",
}


@dataclass(frozen=True)
class AnalysisColumn:
    """A non-identifying attribute carried from the source into ``records`` and the analyst-zone
    ``analysis`` table (e.g. a sentence date or a requirement type).

    ``column``: the source column; ``type``: string (as written, trimmed; blank -> null), date
    (parsed with ``formats``, tried in order) or integer. A value that does not parse as its type
    is kept as null and counted in the run record (``<name>_unparseable``): never quarantined,
    since an attribute must not take a person out of the linkage."""

    column: str
    type: str = "string"
    formats: list[str] = field(default_factory=list)

    @property
    def spark_type(self) -> str:
        """The Spark type the column is written as (``string``, ``date``, ``bigint``)."""
        return ANALYSIS_TYPES[self.type]


@dataclass(frozen=True)
class DatasetConfig:
    name: str
    path: str
    format: str
    record_id: str
    columns: dict[str, str]
    description: str = ""
    read_options: dict[str, str] = field(default_factory=dict)
    date_formats: dict[str, list[str]] = field(default_factory=dict)
    mandatory: list[str] = field(default_factory=lambda: ["dob"])
    sex_codes: dict[str, str] = field(default_factory=dict)
    nfa_values: list[str] = field(default_factory=list)
    snapshot_date: str | None = None
    encoded_fields: list[str] = field(default_factory=list)
    extra_columns: dict[str, str] = field(default_factory=dict)
    extra_identifiers: dict[str, str] = field(default_factory=dict)
    #: Output name -> non-identifying attribute for analysts (see :class:`AnalysisColumn`).
    analysis_columns: dict[str, AnalysisColumn] = field(default_factory=dict)
    #: Text encoding of a CSV extract: utf-8 (default), latin-1 or windows-1252.
    encoding: str = "utf-8"
    #: CSV only: quoted fields may hold line breaks. Each file is then read by one task.
    multiline: bool = False
    #: ``full`` (default): each run reads the source's whole current extract. ``change_file``:
    #: incremental runs only; the extract holds adds, updates and deletes (docs/change_files.md).
    delivery: str = "full"
    #: change_file: the source column holding each row's operation.
    change_column: str | None = None
    #: change_file: operation (add, update, delete) -> the value the source writes for it
    #: (matched trimmed and ignoring case); empty: the words add, update and delete.
    change_values: dict[str, str] = field(default_factory=dict)
    #: At most one record per person in this source (a register: one claimant account per
    #: person). Clustering then never puts two of its records in one cluster: a cluster that
    #: would hold two is split at its weakest links (docs/accuracy.md, "one record per person").
    one_record_per_person: bool = False
    file: str = ""

    @property
    def is_change_file(self) -> bool:
        return self.delivery == "change_file"

    @property
    def change_codes(self) -> dict[str, str]:
        """Operation -> the value a change file writes for it (``change_values`` or the words)."""
        return dict(self.change_values) or {op: op for op in CHANGE_OPS}

    @property
    def identifiers(self) -> list[str]:
        return [f for f in IDENTIFIER_FIELDS if f in self.columns]

    def source_columns_needed(self) -> list[str]:
        cols = [self.record_id, *self.columns.values(), *self.extra_columns.values(),
                *self.extra_identifiers.values(), *[a.column for a in self.analysis_columns.values()]]
        if self.is_change_file and self.change_column:
            cols.append(self.change_column)
        return list(dict.fromkeys(cols))


def validate_dataset_config(cfg: DatasetConfig) -> DatasetConfig:
    f = cfg.file
    if cfg.format not in FORMATS:
        raise ConfigError(f, "format", f"must be one of {FORMATS}, got {cfg.format!r}")
    for canon in cfg.columns:
        if canon not in CANONICAL_FIELDS:
            raise ConfigError(
                f, f"columns.{canon}",
                f"not a canonical field (allowed: {', '.join(CANONICAL_FIELDS)})",
            )
    for name in [*cfg.extra_columns, *cfg.extra_identifiers]:
        if name in CANONICAL_FIELDS or not name.isidentifier() or name != name.lower():
            raise ConfigError(f, f"extra_columns.{name}",
                              "extra column names must be new lower_snake_case names")
    _validate_analysis_columns(cfg)
    _validate_delivery(cfg)
    for canon in cfg.date_formats:
        if canon not in ("dob", "event_date"):
            raise ConfigError(f, f"date_formats.{canon}", "only dob and event_date take formats")
    for canon in cfg.mandatory:
        if canon not in cfg.columns:
            raise ConfigError(f, "mandatory", f"'{canon}' is mandatory but not mapped in columns")
    if "forenames" in cfg.columns and "first_name" in cfg.columns:
        raise ConfigError(f, "columns.forenames", "map either forenames or first_name, not both")
    if "nfa" in cfg.columns and not cfg.nfa_values:
        raise ConfigError(f, "nfa_values", "required when columns.nfa is mapped")
    encoding = ENCODINGS.get(cfg.encoding.strip().lower())
    if encoding is None:
        raise ConfigError(f, "encoding",
                          f"must be one of {', '.join(ENCODINGS)}, got {cfg.encoding!r}")
    if cfg.format != "csv" and (encoding != "utf-8" or cfg.multiline):
        key = "encoding" if encoding != "utf-8" else "multiline"
        raise ConfigError(f, key, f"applies to csv sources only (format is {cfg.format})")
    if cfg.format == "csv":
        for opt in cfg.read_options:
            if opt.lower() in RESERVED_READ_OPTIONS:
                raise ConfigError(f, f"read_options.{opt}",
                                  f"set by ingest ({RESERVED_READ_OPTIONS[opt.lower()]})")
    return replace(cfg, encoding=encoding)


def _validate_delivery(cfg: DatasetConfig) -> None:
    f = cfg.file
    if cfg.delivery not in DELIVERIES:
        raise ConfigError(f, "delivery", f"must be one of {', '.join(DELIVERIES)}, got {cfg.delivery!r}")
    if not cfg.is_change_file:
        for key, value in (("change_column", cfg.change_column), ("change_values", cfg.change_values)):
            if value:
                raise ConfigError(f, key, "applies to `delivery: change_file` only (delivery is "
                                          f"{cfg.delivery})")
        return
    col = (cfg.change_column or "").strip()
    if not col:
        raise ConfigError(f, "change_column", "required with `delivery: change_file`: the source "
                                              "column holding each row's operation")
    others = {cfg.record_id: "record_id",
              **{src: f"columns.{k}" for k, src in cfg.columns.items()},
              **{src: f"extra_columns.{k}" for k, src in cfg.extra_columns.items()},
              **{src: f"extra_identifiers.{k}" for k, src in cfg.extra_identifiers.items()},
              **{a.column: f"analysis_columns.{k}.column" for k, a in cfg.analysis_columns.items()}}
    if cfg.change_column in others:
        raise ConfigError(f, "change_column", f"'{cfg.change_column}' is also mapped as "
                                              f"{others[cfg.change_column]}: the operation needs its own column")
    if cfg.change_values:
        for op in cfg.change_values:
            if op not in CHANGE_OPS:
                raise ConfigError(f, f"change_values.{op}",
                                  f"not an operation (allowed: {', '.join(CHANGE_OPS)})")
        for op in CHANGE_OPS:
            if op not in cfg.change_values:
                raise ConfigError(f, f"change_values.{op}", "missing: give the value of each of "
                                                            f"{', '.join(CHANGE_OPS)}")
    seen: dict[str, str] = {}
    for op, value in cfg.change_codes.items():
        norm = value.strip().upper()
        if not norm:
            raise ConfigError(f, f"change_values.{op}", "must not be blank")
        if norm in seen:
            raise ConfigError(f, f"change_values.{op}", f"the same value as change_values.{seen[norm]} "
                                                        "(values are matched trimmed, ignoring case)")
        seen[norm] = op


def _validate_analysis_columns(cfg: DatasetConfig) -> None:
    f = cfg.file
    protected = {cfg.record_id: "record_id",
                 **{src: f"extra_identifiers.{k}" for k, src in cfg.extra_identifiers.items()},
                 **{src: f"columns.{k}" for k, src in cfg.columns.items() if k in NON_ANALYSIS_FIELDS}}
    taken = {*CANONICAL_FIELDS, *cfg.extra_columns, *(f"{n}_hash" for n in cfg.extra_identifiers),
             *RECORD_COLUMN_NAMES}
    for name, a in cfg.analysis_columns.items():
        key = f"analysis_columns.{name}"
        if not name.isidentifier() or name != name.lower() or name.startswith("_"):
            raise ConfigError(f, key, "analysis column names must be lower_snake_case names")
        if name in taken or name.startswith("person_id"):
            raise ConfigError(f, key, "the name is already a column of the records or analysis "
                                      "table: choose another output name")
        if a.column in protected:
            raise ConfigError(f, f"{key}.column",
                              f"source column '{a.column}' is mapped as {protected[a.column]} (an "
                              "identifier or name): it may not be an analysis column")
        if a.type not in ANALYSIS_TYPES:
            raise ConfigError(f, f"{key}.type",
                              f"must be one of {', '.join(ANALYSIS_TYPES)}, got {a.type!r}")
        if a.formats and a.type != "date":
            raise ConfigError(f, f"{key}.formats", "only date analysis columns take formats")


def load_dataset_config(path: str | Path) -> DatasetConfig:
    """Load and validate one dataset YAML; the dataset name defaults to the file stem."""
    path = str(path)
    data = read_yaml(path)
    data.setdefault("name", files.stem(path))
    cfg = build(DatasetConfig, {**data, "file": path}, path)
    return validate_dataset_config(cfg)
