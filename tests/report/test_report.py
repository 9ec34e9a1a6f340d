"""The quality and bias report of one small pipeline run (tests/report/conftest.py): where it
is written, that it is self-contained, that its numbers hold together, that the bias built
into the test data is flagged, and that no record value reaches the HTML or the PNGs."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path

import pytest

from bold_spark.report.render import SECTIONS
from tests.report.conftest import BIASED_SEX

pytestmark = pytest.mark.e2e

DATA_URI = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def png_text_chunks(png: bytes) -> dict[str, str]:
    """The tEXt/zTXt/iTXt metadata of a PNG (keyword -> text), parsed from the chunks."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    out, pos = {}, 8
    while pos < len(png):
        (length,), kind = struct.unpack(">I", png[pos:pos + 4]), png[pos + 4:pos + 8]
        body = png[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            k, v = body.split(b"\0", 1)
            out[k.decode("latin-1")] = v.decode("latin-1")
        elif kind == b"zTXt":
            k, v = body.split(b"\0", 1)
            out[k.decode("latin-1")] = zlib.decompress(v[1:]).decode("latin-1")
        elif kind == b"iTXt":
            k, rest = body.split(b"\0", 1)
            compressed, rest = rest[0], rest[2:]
            _lang, _tk, text = rest.split(b"\0", 2)
            out[k.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        pos += 12 + length
    return out


def test_report_is_written_under_the_output_root(reported):
    cfg, path, data, seconds = reported
    assert path == Path(cfg.output_root) / "reports" / data.run_id / "report.html"
    pngs = sorted(p.stem for p in path.parent.glob("*.png"))
    assert pngs == sorted(data.charts)
    assert {"completeness", "model_rich", "model_ndtms", "match_weights", "cluster_sizes",
            "source_links", "bias"} <= set(pngs)
    print(f"report built and written in {seconds:.1f}s")


def test_report_is_self_contained(reported):
    _, path, data, _ = reported
    text = path.read_text(encoding="utf-8")
    assert "<script" not in text.lower() and "<link" not in text.lower()
    assert not re.search(r"(src|href)=\"(?!data:|#)", text), "only data: URIs and anchors"
    assert "http://" not in text and "https://" not in text
    embedded = [base64.b64decode(b) for b in DATA_URI.findall(text)]
    files = {p.read_bytes() for p in path.parent.glob("*.png")}
    assert len(embedded) == len(data.charts) and set(embedded) == files
    for anchor, heading in SECTIONS:
        assert f'<section id="{anchor}"><h2>{heading}</h2>' in text


def test_summary_flags_the_bias_built_into_the_data(reported):
    """Women's records carry 5x the errors: the share of their true links found falls more
    than 2 points below the overall share, and the summary says so among the measured gaps,
    which come first. (With the multiplier at 1 the same population's gap for women was
    -1.0 pp, not flagged; at 5, -14.6 pp: the gap comes from the errors, not from who is in
    which source.)"""
    _, path, data, _ = reported
    bias = data.bias.set_index(["dimension", "group"])
    women = bias.loc[("sex", BIASED_SEX)]
    assert women["found_rated"] and women["found_flag"]
    assert women["found_gap_pp"] < -2.0
    other = bias.loc[("sex", "M" if BIASED_SEX == "F" else "F")]
    assert other["found_rate"] > women["found_rate"]
    flag = [f for f in data.flags if f.startswith(f"sex = {BIASED_SEX}: share of true links found")]
    assert len(flag) == 1 and "below the overall" in flag[0]
    measured = [f for f in data.flags if "true links found" in f]
    assert data.flags[:len(measured)] == measured  # measured gaps come first
    text = path.read_text(encoding="utf-8")
    summary = text[text.index('<section id="summary">'):text.index('<section id="inputs">')]
    assert f"sex = {BIASED_SEX}: share of true links found" in summary


def test_numbers_hold_together(reported):
    _, path, data, _ = reported
    agg = data.agg
    records = int(agg.groups.loc[agg.groups["dimension"] == "overall", "records"].iloc[0])
    assert records == sum(c["accepted"] for c in agg.run["source_counts"].values())
    for lv in data.thresholds:  # every record is in exactly one cluster at each level
        sub = agg.sizes[agg.sizes["level"] == lv]
        assert int((sub["cluster_size"] * sub["clusters"]).sum()) == records
    e = agg.edges.sum(numeric_only=True)
    assert e["accepted_high"] <= e["accepted_medium"] <= e["accepted_low"] <= e["edges"]
    assert 0 <= e["exp_false_high"] <= e["exp_false_medium"] <= e["exp_false_low"] <= e["accepted_low"]
    assert e["exp_missed_low"] <= e["exp_missed_medium"] <= e["exp_missed_high"]
    assert int(agg.histogram["edges"].sum()) == int(e["edges"])
    assert int(agg.rules["comparisons"].sum()) == int(e["edges"])
    links = agg.links
    assert ((links["linked"] >= 0) & (links["linked"] <= links["records_a"])).all()
    assert set(links["source_a"]) == set(data.agg.completeness["source"])
    acc = agg.accuracy["levels"]
    assert acc["high"].precision >= acc["low"].precision and acc["high"].recall <= acc["low"].recall
    assert 0.5 < acc["medium"].f1 <= 1.0
    pairs = agg.accuracy["source_pairs"]  # at report.level (medium): they split its pair counts
    assert sum(a.true_pairs for a in pairs.values()) == acc["medium"].true_pairs
    assert sum(a.true_positives for a in pairs.values()) == acc["medium"].true_positives
    html = path.read_text()
    assert "By source pair, at the medium threshold" in html
    assert all(f">{name}</td>" in html for name in pairs)


def test_one_record_per_person_splits_are_reported(reported):
    """benefits is declared one record per person (conf/datasets/benefits.yaml): the run
    record counts the clusters split per threshold and the report shows them."""
    _, path, data, _ = reported
    metrics = data.agg.run["metrics"]
    for lv in data.thresholds:
        split, parts = metrics[f"split_clusters_{lv}"], metrics[f"split_parts_{lv}"]
        assert split == 0 == parts or parts >= 2 * split > 0, (lv, split, parts)
    html = Path(path).read_text()
    assert "clusters split" in html and "clusters they became" in html


def test_counts_below_ten_are_suppressed(reported):
    _, path, _, _ = reported
    text = path.read_text(encoding="utf-8")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", text)
    counts = [int(c.replace(",", "")) for c in cells if re.fullmatch(r"\d[\d,]*", c)]
    assert counts, "the tables hold counts"
    assert all(n >= 10 for n in counts), sorted(counts)[:5]
    assert "&lt;10" in text  # the test data has small counts (quarantined rows at least)


def test_no_record_value_in_the_html_or_the_png_metadata(spark, reported):
    """The PII scan (bold_spark.privacy.pii_scan) over the page's text (embedded PNG data
    dropped: they are scanned as files, through their metadata) and every PNG's metadata,
    for every name, DOB, postcode, identifier and record id of the input extracts."""
    from bold_spark.privacy.pii_scan import identifying_values, scan_text

    cfg, path, _, _ = reported
    from bold_spark.standardise.person import NFA_ADDRESS_PATTERN

    # An address reading "NO FIXED ABODE" is the NFA status the report counts, not a value.
    values = {r["value"]: r["label"] for r in identifying_values(spark, cfg).collect()
              if not re.fullmatch(NFA_ADDRESS_PATTERN, r["value"].strip())}
    assert len(values) > 500
    text = DATA_URI.sub("data:image/png;base64,", path.read_text(encoding="utf-8"))
    lines = text.splitlines() + re.sub(r"<[^>]+>", " ", text).splitlines()
    metadata = [f"{k} {v}" for p in sorted(path.parent.glob("*.png"))
                for k, v in png_text_chunks(p.read_bytes()).items()]
    assert any("bold-spark report" in m for m in metadata)
    assert scan_text(lines, values, "report.html") == []
    assert scan_text(metadata, values, "png metadata") == []
    # ...and the scan would have seen a value had one been there
    planted = next(v for v, label in values.items() if "SURNAME" in label.upper() and len(v) > 4)
    assert scan_text([*lines, f"<td>{planted}</td>"], values, "report.html")


def test_a_sample_ground_truth_is_said_to_cover_only_some_records(spark, reported, tmp_path):
    """A ground truth for some of the records (a clerical sample): the measured figures are over
    the pairs among them, and the Estimated error section says how many records those are."""
    import copy
    import dataclasses

    from bold_spark.privacy.keys import SecretKey
    from bold_spark.publish import read_published
    from bold_spark.report.render import _error
    from bold_spark.report.report import measured_accuracy
    from tests.report.conftest import KEY

    cfg, _, data, _ = reported
    uri = str(tmp_path / "sample.parquet")
    spark.read.parquet(cfg.ground_truth).where("person_id % 2 = 0").write.parquet(uri)
    tables = read_published(spark, cfg.output_root)
    acc = measured_accuracy(spark, dataclasses.replace(cfg, ground_truth=uri), tables["records"],
                            tables["clusters"], SecretKey(KEY), list(data.thresholds), data.level)
    covered = acc["levels"]["medium"].records
    assert 0 < covered < acc["clustered"] == tables["clusters"].count()
    sampled = copy.copy(data)
    sampled.agg = copy.copy(data.agg)
    sampled.agg.accuracy = acc
    html = _error(sampled)
    assert f"covers {covered:,} of the {acc['clustered']:,} clustered records" in html
    assert "precision is optimistic" in html
    assert "covers" not in _error(data)  # the full truth covers every record
    # a truth hashed with another key matches no clustered record: a note, not made-up figures
    other = measured_accuracy(spark, cfg, tables["records"], tables["clusters"],
                              SecretKey(b"another-key-" + b"9" * 32), list(data.thresholds), data.level)
    assert set(other) == {"note"} and "matches none of the" in other["note"]


def test_model_levels_fixed_by_hand_are_shown_and_none_rests_on_no_data(reported):
    """Until 2026-12-04 the shipped NDTMS model gave a DOB differing in a way its levels do not
    name -88 bits (m ~1e-27, below one of the pairs its EM sessions saw), and the report flagged
    it. EM cannot estimate that m from NDTMS's fields (docs/accuracy.md); the model now fixes it
    (``fix_m_probability``) to the rich model's estimate. The report marks the fixed levels, and
    with the shipped models flags no level (test_render_parts checks a flagged one is shown)."""
    _, path, data, _ = reported
    for m in data.models:
        assert m.unsupported is not None and m.unsupported.empty, m.group
    ndtms = next(m for m in data.models if m.group == "ndtms")
    fixed = ndtms.params[ndtms.params["m_fixed"]]
    assert set(zip(fixed["comparison"], fixed["label"], strict=True)) == {
        ("dob", "Same year of birth"), ("dob", "All other comparisons")}
    assert fixed["match_weight"].min() > -10  # not the -88 bits the report used to flag
    text = path.read_text(encoding="utf-8")
    summary = text[text.index('<section id="summary">'):text.index('<section id="inputs">')]
    assert 'id="model-flags"' not in summary and 'id="unsupported-' not in text
    model = text[text.index('id="model-ndtms"'):]
    assert model.count(" (fixed)</td>") == 2
    # the training record written by hand is shown whole, not cut at its last slash
    assert "records of `bold generate --people 20000" in text
