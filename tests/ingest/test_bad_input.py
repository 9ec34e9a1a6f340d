"""The bad-input matrix (docs/bad_input.md): one test per case, with real Spark and real files.

Every test that ingests checks record conservation (rows in = accepted + quarantined, with the
records, quarantine and restricted frames holding exactly those rows) and that the analyst-zone
quarantine holds none of the values written to the files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from bold_spark.config.datasets import load_dataset_config
from bold_spark.exceptions import ConfigError, InputError
from bold_spark.ingest.ingest import ingest_sources
from bold_spark.ingest.validate import QUARANTINE_COLUMNS, RESTRICTED_COLUMNS
from bold_spark.io.sources import SourceColumnsError

HEADER = "ID,FIRST,SURNAME,DOB"
BASE_CFG = {
    "format": "csv", "record_id": "ID",
    "columns": {"forenames": "FIRST", "surname": "SURNAME", "dob": "DOB"},
    "date_formats": {"dob": ["dd/MM/yyyy"]}, "mandatory": ["dob"],
}
GOOD = ["1,Alice,Ashworth,01/02/1980", "2,Bernard,Blakemore,15/06/1975"]


def source(tmp_path: Path, body: str | bytes, name: str = "src", ext: str = "csv", **cfg):
    """Write an extract and its dataset config; return (DatasetConfig, uri)."""
    data = tmp_path / f"{name}.{ext}"
    if isinstance(body, str):
        body = body.encode("utf-8")
    data.write_bytes(body)
    conf = tmp_path / f"{name}.yaml"
    conf.write_text(yaml.safe_dump({**BASE_CFG, "path": data.name, **cfg}))
    return load_dataset_config(conf), str(data)


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


class Ingested:
    """An ``IngestedSources`` with both quarantine frames collected once (they are tiny)."""

    def __init__(self, out):
        self.out = out
        self.q = out.quarantine.collect()
        self.r = out.quarantine_restricted.collect()

    def __getattr__(self, name):
        return getattr(self.out, name)


def ingest(spark, key, *sources_, expect_rows_in: dict[str, int], values=()) -> Ingested:
    """Ingest ``(ds, uri)`` pairs and check conservation and the analyst zone's cleanliness."""
    datasets = {ds.name: ds for ds, _ in sources_}
    uris = {ds.name: uri for ds, uri in sources_}
    out = Ingested(ingest_sources(spark, datasets, uris, key, "run-bad", "2026-01-01"))
    for name, c in out.counts.items():
        assert c["rows_in"] == c["accepted"] + c["quarantined"], name
        assert c["rows_in"] == expect_rows_in[name], (name, c)
    accepted = {r["source"]: r["count"] for r in out.records.groupBy("source").count().collect()}
    for name, c in out.counts.items():
        assert accepted.get(name, 0) == c["accepted"], name
        assert sum(1 for r in out.q if r["source"] == name) == c["quarantined"], name
        assert sum(1 for r in out.r if r["source"] == name) == c["quarantined"], name
    assert tuple(out.quarantine.columns) == QUARANTINE_COLUMNS
    assert tuple(out.quarantine_restricted.columns) == RESTRICTED_COLUMNS
    assert all(r["reason_codes"] and r["reason"] and r["run_id"] == "run-bad" for r in out.q)
    analyst = json.dumps([r.asDict(recursive=True) for r in out.q]).upper()
    for v in values:
        assert v.upper() not in analyst, f"{v!r} is in the analyst-zone quarantine"
    return out


def reasons_by_id(out: Ingested) -> dict[str, list[str]]:
    """source_record_id -> reason codes (the restricted rows joined to the analyst ones)."""
    ids = {(r["source"], r["row_ref"]): r["source_record_id"] for r in out.r}
    found: dict[str, list[str]] = {}
    for r in out.q:
        found.setdefault(ids[(r["source"], r["row_ref"])] or "", []).extend(r["reason_codes"])
    return found


def names(out) -> dict[str, dict]:
    return {r["first_name"]: r.asDict() for r in out.records.collect()}


# ------------------------------------------------------------------ whole-input errors


def test_missing_file(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, csv_text(*GOOD))
    with pytest.raises(InputError, match=r"source 'src': input .*src.csv.gone does not exist"):
        ingest_sources(spark, {"src": ds}, {"src": uri + ".gone"}, secret_key, "r", "2026-01-01")


def test_zero_byte_file(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, b"")
    with pytest.raises(InputError, match=r"src.csv is empty: the file has 0 bytes"):
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")


def test_blank_lines_only(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, "\n  \n\n")
    with pytest.raises(InputError, match=r"src.csv holds only blank lines"):
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")


def test_header_only_file(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, csv_text())
    with pytest.raises(InputError, match=r"src.csv holds no rows: a header or schema but no data"):
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")


def test_wrong_column_names(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, csv_text(*GOOD, header="ID,FIRST,FAMILY_NAME,dob"))
    with pytest.raises(SourceColumnsError) as e:
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")
    msg = str(e.value)
    assert isinstance(e.value, ConfigError) and isinstance(e.value, InputError)
    assert msg.startswith(f"{ds.file}: key 'columns.dob': input {uri} lacks 2 of the 4")
    assert "'DOB' (columns.dob), 'SURNAME' (columns.surname)" in msg
    assert "its header has 4 column(s)" in msg
    assert "'DOB' is in the header as 'dob'" in msg  # a case-only difference is pointed out
    assert e.value.missing == [("columns.dob", "DOB"), ("columns.surname", "SURNAME")]


def test_headerless_file_error_quotes_no_values(spark, tmp_path, secret_key):
    """A file without its header row: its first row would be taken as the header, and the
    error must not quote those cells (they are a person's details)."""
    ds, uri = source(tmp_path, "\n".join(GOOD) + "\n")
    with pytest.raises(SourceColumnsError) as e:
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")
    msg = str(e.value)
    assert "lacks 4 of the 4 mapped column(s)" in msg
    for value in ("Alice", "Ashworth", "01/02/1980"):
        assert value not in msg


def test_repeated_header_column(spark, tmp_path, secret_key):
    body = csv_text("1,A,B,01/01/1990,C", header="ID,FIRST,SURNAME,DOB,surname")
    ds, uri = source(tmp_path, body)
    with pytest.raises(SourceColumnsError, match=r"names a mapped column more than once"):
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")


def test_wrong_delimiter(spark, tmp_path, secret_key):
    body = csv_text(*[r.replace(",", ";") for r in GOOD], header=HEADER.replace(",", ";"))
    ds, uri = source(tmp_path, body)
    with pytest.raises(SourceColumnsError) as e:
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")
    msg = str(e.value)
    assert "lacks 4 of the 4" in msg and "its header has 1 column(s)" in msg
    assert "holds ';': the file may use another delimiter (set read_options.sep)" in msg


def test_declared_delimiter_honoured(spark, tmp_path, secret_key):
    body = csv_text(*[r.replace(",", "|") for r in GOOD], header=HEADER.replace(",", "|"))
    ds, uri = source(tmp_path, body, read_options={"sep": "|"})
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 2})
    assert set(names(out)) == {"ALICE", "BERNARD"}


def test_binary_file_as_csv(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, b"PAR1\x00\x15\x04\x15\x10\x00\x01" * 20)
    with pytest.raises(InputError, match=r"the header line holds bytes that are not text"):
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")


def test_reserved_read_option_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'read_options.multiLine': set by ingest"):
        source(tmp_path, csv_text(*GOOD), read_options={"multiLine": "true"})


def test_unknown_encoding_is_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"key 'encoding': must be one of"):
        source(tmp_path, csv_text(*GOOD), encoding="ebcdic")


# ------------------------------------------------------------------ ragged and malformed rows


def test_ragged_rows_short_and_long(spark, tmp_path, secret_key):
    """Short and long rows are quarantined, also when the file has columns no config maps (the
    case where Spark's column pruning pads and truncates without flagging)."""
    header = HEADER + ",NOTES,FLAG"
    body = csv_text(
        "1,Alice,Ashworth,01/02/1980,n,f",
        "2,Bernard,Blakemore,15/06/1975",             # two fields missing
        "3,Cedric,Cholmondeley,03/03/1963,n,f,x,y",   # two extra fields
        "4,Dorothy,Dunwoody,04/04/1964,n,",           # six fields, the last empty: fine
        header=header,
    )
    ds, uri = source(tmp_path, body)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 4},
                 values=["Bernard", "Blakemore", "Cedric", "Cholmondeley"])
    assert reasons_by_id(out) == {"2": ["ragged_row"], "3": ["ragged_row"]}
    detail = {r["reason"] for r in out.q}
    assert detail == {"ragged_row: 4 fields where the header has 6",
                      "ragged_row: 8 fields where the header has 6"}
    assert set(names(out)) == {"ALICE", "DOROTHY"}
    raw = {r["source_record_id"]: r["raw_text"] for r in out.r}
    assert raw["3"] == "3,Cedric,Cholmondeley,03/03/1963,n,f,x,y"  # the row as read, restricted


def test_ragged_row_reusing_an_id_does_not_reject_the_good_row(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, csv_text(*GOOD, "2,Bernard"))
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 3})
    assert reasons_by_id(out) == {"2": ["ragged_row"]}
    assert set(names(out)) == {"ALICE", "BERNARD"}


def test_unclosed_quote(spark, tmp_path, secret_key):
    body = csv_text(*GOOD, '3,"Cedric,Cholmondeley,03/03/1963', '4,Dorothy,Dunwoody,"04/04/1964')
    ds, uri = source(tmp_path, body)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 4},
                 values=["Cedric", "Dunwoody", "04/04/1964"])
    assert reasons_by_id(out) == {"3": ["malformed_row"], "4": ["malformed_row"]}
    assert set(names(out)) == {"ALICE", "BERNARD"}


def test_embedded_newline_without_multiline(spark, tmp_path, secret_key):
    """Line mode (the default) cannot join a quoted field across lines: both pieces are
    quarantined, never accepted truncated."""
    body = csv_text(GOOD[0], '2,"Bernard\nJohn",Blakemore,15/06/1975', '3,Cedric,"Chol\nmondeley"')
    ds, uri = source(tmp_path, body)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 5},
                 values=["Bernard", "Blakemore", "Cedric"])
    codes = sorted(c for cs in reasons_by_id(out).values() for c in cs)
    assert codes == ["malformed_row", "malformed_row", "ragged_row", "ragged_row"]
    assert set(names(out)) == {"ALICE"}


def test_embedded_newline_with_multiline(spark, tmp_path, secret_key):
    header = HEADER + ",ADDRESS"
    body = csv_text('1,Alice,Ashworth,01/02/1980,"Flat 1,\n2 High St"',
                    '2,"Bernard\nJohn",Blakemore,15/06/1975,x', header=header)
    ds, uri = source(tmp_path, body, multiline=True,
                     columns={**BASE_CFG["columns"], "address": "ADDRESS"})
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 2})
    recs = names(out)
    assert set(recs) == {"ALICE", "BERNARD"} and recs["BERNARD"]["middle_names"] == "JOHN"


def test_multiline_ragged_rows(spark, tmp_path, secret_key):
    header = HEADER + ",NOTES"
    body = csv_text('1,Alice,Ashworth,01/02/1980,"two\nlines"', "2,Bernard,Blakemore",
                    "3,Cedric,Cholmondeley,03/03/1963,n,extra", header=header)
    ds, uri = source(tmp_path, body, multiline=True)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 3}, values=["Blakemore"])
    assert reasons_by_id(out) == {"2": ["ragged_row"], "3": ["ragged_row"]}
    assert set(names(out)) == {"ALICE"}


def test_multiline_unclosed_quote_swallowing_rows(spark, tmp_path, secret_key):
    """With multiline, an unclosed quote reads on to the next quote (here: the end of the file),
    taking the rows after it into one field: that row is quarantined, not accepted."""
    body = csv_text(GOOD[0], '2,Bernard,Blakemore,"15/06/1975', "3,Cedric,Cholmondeley,03/03/1963",
                    "4,Dorothy,Dunwoody,04/04/1964")
    ds, uri = source(tmp_path, body, multiline=True)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 2},
                 values=["Cedric", "Dorothy", "Blakemore"])
    assert reasons_by_id(out) == {"2": ["malformed_row"]}
    assert set(names(out)) == {"ALICE"}


# ------------------------------------------------------------------ encodings


MULLER = "3,Jos\u00e9,M\u00dcLLER,03/03/1963"


def test_latin1_bytes_in_utf8_source_are_quarantined(spark, tmp_path, secret_key):
    """A Latin-1 row in a UTF-8 source: quarantined as undecodable, never "M LLER"."""
    body = csv_text(*GOOD).encode("utf-8") + (MULLER + "\n").encode("latin-1")
    ds, uri = source(tmp_path, body)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 3}, values=["LLER", "Jos"])
    assert reasons_by_id(out) == {"3": ["undecodable"]}
    [reason] = [r["reason"] for r in out.q]
    assert reason == "undecodable: FIRST, SURNAME hold(s) bytes that are not valid utf-8 text"
    assert out.records.where(F.col("surname").contains("LLER")).count() == 0


def test_latin1_bytes_in_utf8_multiline_source_are_quarantined(spark, tmp_path, secret_key):
    body = csv_text(*GOOD).encode("utf-8") + (MULLER + "\n").encode("latin-1")
    ds, uri = source(tmp_path, body, multiline=True)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 3})
    assert reasons_by_id(out) == {"3": ["undecodable"]}


@pytest.mark.parametrize("declared", ["latin-1", "iso-8859-1"])
def test_declared_latin1_is_honoured(spark, tmp_path, secret_key, declared):
    ds, uri = source(tmp_path, csv_text(*GOOD, MULLER).encode("latin-1"), encoding=declared)
    assert ds.encoding == "iso-8859-1"
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 3})
    recs = names(out)
    assert recs["JOSE"]["surname"] == "MULLER"  # Ü read as Ü, then folded as name cleaning does
    assert out.counts["src"]["quarantined"] == 0


@pytest.mark.parametrize("multiline", [False, True])
def test_declared_windows_1252_is_honoured(spark, tmp_path, secret_key, multiline):
    """windows-1252 curly apostrophe decodes; an undefined byte (0x81) is undecodable."""
    body = (csv_text(*GOOD, "3,Ciar\u00e1n,O\u2019Brien,03/03/1963").encode("cp1252")
            + b"4,Dorothy,Dun\x81woody,04/04/1964\n")
    ds, uri = source(tmp_path, body, encoding="windows-1252", multiline=multiline)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 4}, values=["woody"])
    raw = {r["source_record_id"]: r["raw_row"] for r in out.r}
    assert reasons_by_id(out) == {"4": ["undecodable"]}
    assert "Dun\ufffdwoody" in json.loads(raw["4"])["SURNAME"]
    src = out.records.where(F.col("surname") == "OBRIEN")
    assert src.count() == 1  # the apostrophe was read as one, then cleaned as names are


def test_utf8_bom(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, b"\xef\xbb\xbf" + csv_text(*GOOD).encode("utf-8"))
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 2})
    assert set(names(out)) == {"ALICE", "BERNARD"}


# ------------------------------------------------------------------ Parquet types


def test_parquet_wrong_types(spark, tmp_path, secret_key):
    uri = str(tmp_path / "typed.parquet")
    spark.createDataFrame(
        [("1", ["Alice"], "Ashworth", 19800201.0)],
        "ID string, FIRST array<string>, SURNAME string, DOB double",
    ).write.parquet(uri)
    ds, _ = source(tmp_path, b"", name="typed", ext="unused", format="parquet")
    with pytest.raises(InputError) as e:
        ingest_sources(spark, {"typed": ds}, {"typed": uri}, secret_key, "r", "2026-01-01")
    msg = str(e.value)
    assert f"input {uri}: 2 mapped column(s) have a type ingest cannot read as text" in msg
    assert "'FIRST' (columns.forenames) is array<string>" in msg
    assert "'DOB' (columns.dob) is double" in msg


def test_parquet_typed_dates_and_ids(spark, tmp_path, secret_key):
    """Integer ids and date-typed DOBs are fine: a date is written in the field's first format."""
    uri = str(tmp_path / "typed.parquet")
    spark.createDataFrame(
        [(1, "Alice", "Ashworth", "1980-02-01"), (2, "Bernard", "Blakemore", None)],
        "ID bigint, FIRST string, SURNAME string, DOB string",
    ).withColumn("DOB", F.to_date("DOB")).write.parquet(uri)
    ds, _ = source(tmp_path, b"", name="typed", ext="unused", format="parquet")
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"typed": 2})
    assert reasons_by_id(out) == {"2": ["missing_mandatory"]}
    assert str(names(out)["ALICE"]["dob"]) == "1980-02-01"


def test_parquet_files_with_conflicting_types(spark, tmp_path, secret_key):
    """Two files of one input disagree on a column's type: an error naming the input."""
    uri = tmp_path / "parts"
    spark.createDataFrame([("1", "Alice", "Ashworth", "01/02/1980")],
                          "ID string, FIRST string, SURNAME string, DOB string"
                          ).write.parquet(str(uri / "a"))
    spark.createDataFrame([("2", "Bernard", "Blakemore", 19750615)],
                          "ID string, FIRST string, SURNAME string, DOB int"
                          ).write.parquet(str(uri / "b"))
    for part in ("a", "b"):
        for f in (uri / part).glob("part-*"):
            f.rename(uri / f"{part}-{f.name}")
    ds, _ = source(tmp_path, b"", name="parts", ext="unused", format="parquet")
    with pytest.raises(InputError, match=rf"source 'parts': .*{uri}.* \(FAILED_READ_FILE"):
        ingest_sources(spark, {"parts": ds}, {"parts": str(uri)}, secret_key, "r", "2026-01-01")


# ------------------------------------------------------------------ dates and ids


def test_dates_mandatory_and_optional(spark, tmp_path, secret_key):
    """Mandatory dob: blank or unparseable (31/02 included) -> quarantine; impossible (before
    1900, after the snapshot) -> accepted with dob null and dob_impossible. Optional event date:
    unparseable -> accepted as null, counted."""
    header = HEADER + ",SEEN"
    body = csv_text(
        "1,Alice,Ashworth,01/02/1980,01/01/2020",
        "2,Bernard,Blakemore,31/02/1980,01/01/2020",   # impossible calendar date: unparseable
        "3,Cedric,Cholmondeley,1980-02-01,",           # wrong format
        "4,Dorothy,Dunwoody,,01/01/2020",              # blank
        "5,Edith,Entwistle,01/01/1850,01/01/2020",     # before 1900
        "6,Fergus,Fotheringham,01/01/2030,01/01/2020",  # after the snapshot
        "7,Gwen,Grosvenor,07/07/1977,2020-13-45",      # optional event date unparseable
        "8,Hugo,Hetherington,08/08/1988,31/04/2020",   # optional event date impossible
        header=header,
    )
    ds, uri = source(tmp_path, body, columns={**BASE_CFG["columns"], "event_date": "SEEN"},
                     date_formats={"dob": ["dd/MM/yyyy"], "event_date": ["dd/MM/yyyy"]})
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 8},
                 values=["31/02/1980", "1980-02-01", "Blakemore", "Dunwoody"])
    assert reasons_by_id(out) == {"2": ["unparseable_dob"], "3": ["unparseable_dob"],
                                  "4": ["missing_mandatory"]}
    recs = names(out)
    for name in ("EDITH", "FERGUS"):
        assert recs[name]["dob"] is None and recs[name]["dob_impossible"] is True
    assert recs["GWEN"]["event_date"] is None and recs["HUGO"]["event_date"] is None
    assert str(recs["ALICE"]["event_date"]) == "2020-01-01"
    assert out.counts["src"]["event_date_unparseable"] == 2
    assert out.counts["src"]["dob_unparseable"] == 0
    assert out.reason_counts["src"] == {"missing_mandatory": 1, "unparseable_dob": 2}


def test_optional_dob_unparseable_is_counted(spark, tmp_path, secret_key):
    ds, uri = source(tmp_path, csv_text(*GOOD, "3,Cedric,Cholmondeley,1963-03-03", "4,D,D,"),
                     mandatory=[])
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 4})
    assert out.counts["src"]["quarantined"] == 0
    assert out.counts["src"]["dob_unparseable"] == 1
    assert names(out)["CEDRIC"]["dob"] is None


def test_mandatory_event_date_unparseable(spark, tmp_path, secret_key):
    header = HEADER + ",SEEN"
    body = csv_text("1,Alice,Ashworth,01/02/1980,01/01/2020", "2,Bernard,Blakemore,15/06/1975,2020",
                    header=header)
    ds, uri = source(tmp_path, body, columns={**BASE_CFG["columns"], "event_date": "SEEN"},
                     date_formats={"dob": ["dd/MM/yyyy"], "event_date": ["dd/MM/yyyy"]},
                     mandatory=["dob", "event_date"])
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 2})
    assert reasons_by_id(out) == {"2": ["unparseable_event_date"]}


def test_duplicate_and_missing_ids(spark, tmp_path, secret_key):
    body = csv_text(*GOOD, "3,Cedric,Cholmondeley,03/03/1963", "3,Cedric,Cholmondeley,03/03/1963",
                    "3,Cedric,Chumley,03/03/1963", ",Dorothy,Dunwoody,04/04/1964",
                    "   ,Edith,Entwistle,05/05/1955")
    ds, uri = source(tmp_path, body)
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 7},
                 values=["Cholmondeley", "Dunwoody", "Entwistle"])
    found = reasons_by_id(out)
    assert found == {"3": ["duplicate_id"] * 3, "": ["missing_id"] * 2}
    dups = [r for r in out.q if "duplicate_id" in r["reason_codes"]]
    assert {r["reason"] for r in dups} == {"duplicate_id: duplicate record id (ID) on 3 rows"}
    keys = {r["record_key"] for r in out.q}
    assert None in keys and len(keys) == 2  # one keyed reference for id 3; none for blank ids
    assert set(names(out)) == {"ALICE", "BERNARD"}


def test_id_collision_after_normalisation(spark, tmp_path, secret_key):
    """Ids are trimmed before keying: ' 3' and '3' would share a record key, so both rows are
    quarantined with a reason that says the raw forms differ."""
    ds, uri = source(tmp_path, csv_text(*GOOD, "3,Cedric,Cholmondeley,03/03/1963",
                                        " 3 ,Cyril,Cholmondeley,03/03/1963"))
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 4}, values=["Cyril"])
    assert reasons_by_id(out) == {"3": ["id_collision", "id_collision"]}
    [reason] = {r["reason"] for r in out.q}
    assert reason.startswith("id_collision: record id (ID) equal on 2 rows only after trimming")


def test_zero_accepted_rows(spark, tmp_path, secret_key):
    """A source whose every row is rejected stops the run, with the reasons and counts."""
    ds, uri = source(tmp_path, csv_text("1,Alice,Ashworth,1980-02-01", "2,Bernard,Blakemore,"))
    with pytest.raises(InputError) as e:
        ingest_sources(spark, {"src": ds}, {"src": uri}, secret_key, "r", "2026-01-01")
    msg = str(e.value)
    assert "none of the 2 rows of" in msg and "src.csv was accepted" in msg
    assert "missing_mandatory=1, unparseable_dob=1" in msg
    assert "1980-02-01" not in msg and "Ashworth" not in msg


def test_several_bad_sources_are_all_named(spark, tmp_path, secret_key, caplog):
    """Sources are checked at once: when several stop the run, every one is named in the log
    and the first in configuration order is raised, whichever kind of error finished first (a
    read failure in a check, a source with no accepted row found after)."""
    good = source(tmp_path, csv_text(*GOOD), name="alpha")
    empty = source(tmp_path, csv_text("1,Alice,Ashworth,1980-02-01"), name="beta")
    uri = tmp_path / "parts"  # two files disagreeing on DOB's type: the read fails in its check
    spark.createDataFrame([("1", "Alice", "Ashworth", "01/02/1980")],
                          "ID string, FIRST string, SURNAME string, DOB string").write.parquet(str(uri / "a"))
    spark.createDataFrame([("2", "Bernard", "Blakemore", 19750615)],
                          "ID string, FIRST string, SURNAME string, DOB int").write.parquet(str(uri / "b"))
    for part in ("a", "b"):
        for f in (uri / part).glob("part-*"):
            f.rename(uri / f"{part}-{f.name}")
    parts, _ = source(tmp_path, b"", name="parts", ext="unused", format="parquet")
    also_empty = source(tmp_path, csv_text("9,Cedric,Cholmondeley,"), name="gamma")
    order = [good, empty, (parts, str(uri)), also_empty]
    with caplog.at_level("ERROR", logger="bold_spark.ingest.ingest"), pytest.raises(InputError) as e:
        ingest_sources(spark, {ds.name: ds for ds, _ in order}, {ds.name: u for ds, u in order},
                       secret_key, "r", "2026-01-01")
    assert str(e.value).startswith("source 'beta': none of the 1 rows of")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "3 sources stop the run: beta, parts, gamma" in logged
    assert f"source parts: InputError: source 'parts': reading input {uri} failed (FAILED_READ_FILE" in logged
    assert "source gamma: InputError: source 'gamma': none of the 1 rows of" in logged
    assert "alpha" not in logged
    for v in ("Alice", "Ashworth", "Cholmondeley", "1980-02-01"):
        assert v not in logged and v not in str(e.value)
    # the other way round, the read failure is the first source that stops the run
    order = [good, (parts, str(uri)), empty]
    with pytest.raises(InputError, match=r"^source 'parts': reading input .* \(FAILED_READ_FILE"):
        ingest_sources(spark, {ds.name: ds for ds, _ in order}, {ds.name: u for ds, u in order},
                       secret_key, "r", "2026-01-01")


# ------------------------------------------------------------------ layouts and zones


def test_three_sources_with_different_layouts(spark, tmp_path, secret_key):
    """Sources with different extra columns and identifiers union by name: a column a source
    lacks is null for it."""
    a = source(tmp_path, csv_text("a1,Alice,Ashworth,01/02/1980,12,Leeds",
                                  header=HEADER + ",STREET_NO,TOWN"),
               name="alpha", extra_columns={"street_number": "STREET_NO", "town": "TOWN"})
    b = source(tmp_path, csv_text("b1,Bernard,Blakemore,15/06/1975,X123",
                                  header=HEADER + ",SSN"),
               name="beta", extra_identifiers={"soc_sec_id": "SSN"})
    pq = str(tmp_path / "gamma.parquet")
    spark.createDataFrame([("g1", "Cedric", "Cholmondeley", "03/03/1963", "York")],
                          "ID string, FIRST string, SURNAME string, DOB string, TOWN string"
                          ).write.parquet(pq)
    g_ds, _ = source(tmp_path, b"", name="gamma", ext="unused", format="parquet",
                     extra_columns={"town": "TOWN"})
    out = ingest(spark, secret_key, a, b, (g_ds, pq),
                 expect_rows_in={"alpha": 1, "beta": 1, "gamma": 1})
    recs = {r["source"]: r.asDict() for r in out.records.collect()}
    assert {"street_number", "town", "soc_sec_id_hash"} <= set(out.records.columns)
    assert recs["alpha"]["street_number"] == "12" and recs["alpha"]["soc_sec_id_hash"] is None
    assert recs["beta"]["town"] is None and len(recs["beta"]["soc_sec_id_hash"]) == 64
    assert recs["gamma"]["town"] == "YORK" and recs["gamma"]["street_number"] is None


def test_quarantine_zones_are_separate(spark, tmp_path, secret_key):
    """The analyst-zone quarantine holds reasons and references only; the restricted frame holds
    the id and raw values, joined on (source, run_id, row_ref)."""
    ds, uri = source(tmp_path, csv_text(*GOOD, "X9,Cedric,Cholmondeley,31/02/1963"))
    out = ingest(spark, secret_key, (ds, uri), expect_rows_in={"src": 3},
                 values=["X9", "Cedric", "Cholmondeley", "31/02/1963"])
    [q] = out.q
    [r] = out.r
    assert (q["source"], q["run_id"], q["row_ref"]) == (r["source"], r["run_id"], r["row_ref"])
    assert q["reason_codes"] == ["unparseable_dob"] and len(q["record_key"]) == 32
    assert r["source_record_id"] == "X9"
    assert json.loads(r["raw_row"]) == {"ID": "X9", "FIRST": "Cedric", "SURNAME": "Cholmondeley",
                                        "DOB": "31/02/1963"}
    assert r["raw_text"] == "X9,Cedric,Cholmondeley,31/02/1963"


def test_stale_hadoop_checksum_names_the_cause(spark, tmp_path, secret_key):
    """An extract written by Spark and then edited in place keeps its old hidden .crc beside
    it: Hadoop's checksum check fails the read, and the error says so instead of asking whether
    the file is a CSV."""
    out_dir = tmp_path / "src.csv"
    spark.createDataFrame([("1", "Alice", "Ashworth", "01/02/1980")],
                          "ID string, FIRST string, SURNAME string, DOB string"
                          ).coalesce(1).write.option("header", True).csv(str(out_dir))
    part = next(out_dir.glob("part-*.csv"))
    assert (out_dir / f".{part.name}.crc").exists()
    part.write_text(csv_text(*GOOD))  # edited in place: the .crc no longer matches
    ds, _ = source(tmp_path, b"", name="src", ext="unused")
    with pytest.raises(InputError) as err:
        ingest_sources(spark, {"src": ds}, {"src": str(out_dir)}, secret_key, "r", "2026-01-01")
    msg = str(err.value)
    assert f"source 'src': input {out_dir}" in msg or str(out_dir) in msg
    assert "checksum error" in msg and ".crc" in msg
    assert "is it a csv file" not in msg
    assert "Alice" not in msg and "Ashworth" not in msg
