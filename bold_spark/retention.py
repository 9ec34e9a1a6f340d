"""Vacuum an output root without touching what readers see (``bold vacuum``).

Delta's VACUUM keeps the files of a table's *latest* version and of versions newer than the
retention. The published set may name an older version: after a run that failed or failed its
audit, each table it wrote has unpublished versions on top (the next run rolls them back before
it writes). A plain VACUUM then would delete files the published version reads. So, under the
output root's run lock (no run can be writing meanwhile):

1. every table whose latest version is not its published one is restored to it (Delta RESTORE:
   a new version with the published files, the same rows);
2. every table with deletion vectors has them purged (``REORG TABLE ... APPLY (PURGE)``: the
   files holding a masked row are rewritten without it), and, when that changed a published
   table, the set is published again naming the purged versions (same run id, its stages plus
   ``vacuum``; one append to ``published``) so readers read the purged files;
3. then each table is vacuumed: files no version newer than the retention needs are deleted.

After ``--retain-days 0`` no data file holds a withdrawn record or a deleted edge, and the
current published set reads as before; earlier sets' files are gone (with N days, sets published
within the last N days stay readable).

The restricted zone's tables (``restricted``: the raw values of quarantined rows, rewritten by
every run, outside the published set) are vacuumed with the same retention after the output
root's: their earlier versions hold the names, dates of birth and addresses of rows quarantined
by earlier runs, so erasure needs them gone too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bold_spark.exceptions import DeltaWriteError
from bold_spark.io.delta import (
    changed_after,
    has_deletion_vectors,
    purge_deletion_vectors,
    restore_if_changed,
    table_exists,
    vacuum_table,
    writer_for,
)
from bold_spark.publish import (
    DATA_TABLES,
    PUBLISHED,
    RUNS,
    acquire_lock,
    publish,
    published_set,
    release_lock,
    table_uri,
)
from bold_spark.runs import new_run_id

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VacuumResult:
    """What ``bold vacuum`` did to one table."""

    table: str
    files_deleted: int  # or, with dry_run, that would be
    restored_to: int | None = None  # the published version the table was rolled back to
    purged: bool = False  # deletion vectors purged (or, with dry_run, would be)


def vacuum_output(spark: SparkSession, output_root: str, retain_hours: float,
                  dry_run: bool = False, restricted: dict[str, str] | None = None) -> list[VacuumResult]:
    """Vacuum every table under ``output_root`` keeping the published set readable (see the
    module doc). ``dry_run``: change nothing, report what would be done (the file counts are
    Delta's own dry run, which assumes the table's latest version). ``restricted``: restricted-zone
    tables (name -> URI, e.g. ``{"quarantine_raw": cfg.restricted_uri("quarantine_raw")}``),
    vacuumed the same way afterwards (not published: their latest version is the current one);
    their results are named ``restricted:<name>``.

    Raises RunLockedError while a run holds the output root, DeltaWriteError when a table has
    deletion vectors and the session has no native Delta writer to purge them."""
    holder = "vacuum-" + new_run_id()
    acquire_lock(spark, output_root, holder)
    try:
        return _vacuum(spark, output_root, retain_hours, dry_run) + _vacuum_restricted(
            spark, restricted or {}, retain_hours, dry_run)
    finally:
        release_lock(spark, output_root, holder)


def _vacuum(spark: SparkSession, output_root: str, retain_hours: float,
            dry_run: bool) -> list[VacuumResult]:
    pset = published_set(spark, output_root)
    published = pset.versions if pset else {}
    tables = [t for t in DATA_TABLES + (PUBLISHED, RUNS)
              if table_exists(table_uri(output_root, t), spark)]
    restored: dict[str, int] = {}
    purged: set[str] = set()
    republish: dict[str, int] = {}  # published tables -> their purged version
    for table in tables:
        uri = table_uri(output_root, table)
        want = published.get(table)
        if want is not None and (changed_after(uri, want, spark) if dry_run
                                 else restore_if_changed(uri, want, spark)):
            logger.warning("%s: its latest version was not the published %d (a run that was not "
                           "published wrote after it): %s, so the vacuum keeps its files",
                           table, want, "it would be restored to it first" if dry_run else "restored")
            restored[table] = want
        if has_deletion_vectors(uri, spark):
            if writer_for(spark) != "native":
                raise DeltaWriteError(
                    f"{uri} has deletion vectors: purging them before the vacuum needs the native "
                    "Delta writer (the Delta Lake jars); vacuum from such a session, or rows they "
                    "mask would stay in its files")
            purged.add(table)
            version = None if dry_run else purge_deletion_vectors(uri, spark)
            if version is not None and table in published:
                republish[table] = version
    if republish and pset is not None:
        publish(spark, output_root, pset.run_id, pset.run_name, republish,
                {t: pset.rows[t] for t in republish}, [*filter(None, pset.stages.split(",")), "vacuum"])
        logger.info("published set %d again with the purged versions of %s", pset.seq + 1,
                    ", ".join(sorted(republish)))
    results = []
    for table in tables:
        uri = table_uri(output_root, table)
        n = vacuum_table(uri, retain_hours, spark, dry_run=dry_run)
        logger.info("%s: %d files %sdeleted", table, n, "would be " if dry_run else "")
        results.append(VacuumResult(table, n, restored.get(table), table in purged))
    return results


def _vacuum_restricted(spark: SparkSession, tables: dict[str, str], retain_hours: float,
                       dry_run: bool) -> list[VacuumResult]:
    results = []
    for name, uri in tables.items():
        if not table_exists(uri, spark):
            continue
        if has_deletion_vectors(uri, spark):  # never written with them; checked all the same
            raise DeltaWriteError(f"{uri} has deletion vectors: bold vacuum does not purge them in "
                                  "the restricted zone, so rows they mask would stay in its files")
        n = vacuum_table(uri, retain_hours, spark, dry_run=dry_run)
        logger.info("restricted %s: %d files %sdeleted (%s)", name, n, "would be " if dry_run else "", uri)
        results.append(VacuumResult(f"restricted:{name}", n))
    return results
