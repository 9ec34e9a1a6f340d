"""Raw-row fingerprints: which rows of a full extract an incremental run need not standardise.

A record's ``raw_fingerprint`` is the keyed hash (HMAC, as record keys) of its validated row's
mapped values (:data:`~bold_spark.ingest.validate.RAW_COL`) together with a *standardisation
version*: a hash of the dataset config (less what does not change a record: path, snapshot
date, description...), the privacy settings and the source code of everything that turns a
raw row into a record. An incremental run standardises only the rows whose (record key,
fingerprint) is not already published: same raw values, same config, same code give the same
record, so the others are carried over without being read again. Anything that could change a
record (a date format, a code change, the Bloom-filter settings) changes every fingerprint, and
that run standardises everything again (then diffs the standardised content, as always).

Keyed, not a plain SHA-256: the values behind it are few (initials, a date of birth and a
postcode sector), and an unkeyed digest of them could be reversed by enumeration.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import marshal
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from bold_spark.ingest.validate import RAW_COL
from bold_spark.privacy.hashing import hmac_column

if TYPE_CHECKING:
    from pyspark.sql import Column

    from bold_spark.config.datasets import DatasetConfig
    from bold_spark.privacy.keys import SecretKey


#: Modules whose code decides what record a raw row becomes: a change to any of them changes
#: every fingerprint.
STANDARDISATION_MODULES = (
    "bold_spark.schema",
    "bold_spark.io.sources",
    "bold_spark.ingest.validate",
    "bold_spark.ingest.fingerprint",
    "bold_spark.standardise.person",
    "bold_spark.standardise.names",
    "bold_spark.standardise.dates",
    "bold_spark.standardise.postcodes",
    "bold_spark.standardise.identifiers",
    "bold_spark.privacy.hashing",
    "bold_spark.privacy.pprl",
    "bold_spark.privacy.bloom",
)

#: Dataset config fields that do not change the record a row becomes.
NOT_STANDARDISATION = ("path", "file", "description", "snapshot_date", "one_record_per_person")


@functools.cache
def code_version() -> str:
    """SHA-256 over the source of :data:`STANDARDISATION_MODULES`, read through each module's
    loader (a file, or a ``--py-files`` zip) once per process; for a module shipped compiled
    only, its code object (marshalled) instead."""
    h = hashlib.sha256()
    for name in STANDARDISATION_MODULES:
        spec = importlib.util.find_spec(name)
        loader = spec.loader if spec is not None else None
        source = loader.get_source(name) if hasattr(loader, "get_source") else None
        if source is not None:
            body = source.encode()
        elif hasattr(loader, "get_code"):
            body = marshal.dumps(loader.get_code(name))
        else:
            body = b""
        h.update(name.encode() + b"\0" + body + b"\0")
    return h.hexdigest()


def standardisation_version(ds: DatasetConfig, settings: object = None) -> str:
    """The version a source's fingerprints are salted with: the code (:func:`code_version`),
    the dataset config's fields that shape a record, and ``settings`` (a dataclass such as the
    privacy config: PPRL encodings depend on it; ``None`` for none). No key material: the
    privacy config names the key's environment variables, never the key."""
    fields = {k: v for k, v in dataclasses.asdict(ds).items() if k not in NOT_STANDARDISATION}
    extra = dataclasses.asdict(settings) if dataclasses.is_dataclass(settings) else settings
    payload = json.dumps({"code": code_version(), "dataset": fields, "settings": extra},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def raw_fingerprint(key: SecretKey, version: str) -> Column:
    """The fingerprint of a validated row (a column over :data:`RAW_COL`): HMAC of the SHA-256
    of ``version`` and the row's mapped values as JSON (64 hex characters: the HMAC then hashes
    a fixed 64-character string whatever the row's width)."""
    digest = F.sha2(F.concat(F.lit(version + ":"), F.col(RAW_COL)), 256)
    return hmac_column(key, digest, "raw_fingerprint")
