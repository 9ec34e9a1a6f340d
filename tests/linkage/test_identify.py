"""Stable person IDs across runs: minting, carry-over, merges, splits, ties, retirement,
the events table, resolving old IDs and ID churn. Tiny inline clusters, real local Spark."""

import random
import re

import pytest
from pyspark.sql import Row

from bold_spark.linkage.identify import (
    EVENTS_SCHEMA,
    ID_PATTERN,
    IdentifyError,
    assign_person_ids,
    id_churn,
    identify,
    resolve_person_ids,
)

LEVELS = ["high", "medium"]
RUN1 = "20260101T000000Z-aaaa0001"
RUN2 = "20260201T000000Z-bbbb0002"
RUN3 = "20260301T000000Z-cccc0003"

# Run 1, first extract.
RUN1_GROUPS = {
    "medium": [["a1", "a2", "a3"], ["b1", "b2"], ["c1", "c2", "c3", "c4", "c5", "c6"],
               ["d1", "d2", "d3"], ["e1", "e2"], ["f1"], ["g1", "g2"], ["h1", "h2", "h3"],
               ["i1", "i2"]],
    "high": [["a1", "a2", "a3"], ["b1", "b2"], ["c1", "c2", "c3"], ["c4", "c5", "c6"],
             ["d1", "d2", "d3"], ["e1", "e2"], ["f1"], ["g1", "g2"], ["h1", "h2"], ["h3"],
             ["i1", "i2"]],
}
# Run 2: b3, x1, n1 added; c3, f1, g2 removed; h3 changed so that it now links with i1/i2.
# Medium: removing c3 splits C; x1 links D and E (a merge). High: x1 and b3 link to nothing.
RUN2_GROUPS = {
    "medium": [["a1", "a2", "a3"], ["b1", "b2", "b3"], ["c1", "c2"], ["c4", "c5", "c6"],
               ["d1", "d2", "d3", "e1", "e2", "x1"], ["g1"], ["h1", "h2"], ["i1", "i2", "h3"],
               ["n1"]],
    "high": [["a1", "a2", "a3"], ["b1", "b2"], ["b3"], ["c1", "c2"], ["c4", "c5", "c6"],
             ["d1", "d2", "d3"], ["e1", "e2"], ["x1"], ["g1"], ["h1", "h2"], ["i1", "i2", "h3"],
             ["n1"]],
}
# Run 3: run 2 again, plus f1 back on its own.
RUN3_GROUPS = {lv: [*groups, ["f1"]] for lv, groups in RUN2_GROUPS.items()}

EVENT_COLS = ["person_id", "event", "other_person_id", "threshold", "records", "previous_records"]


def make_clusters(spark, groups_by_level, tag, run_id="provisional", keyed=True):
    """The output shape of cluster_records, with provisional labels '<tag>:<smallest key>';
    ``keyed=False`` leaves out the ``cluster_key_<level>`` columns (tables written before them),
    which sends identify down its general path."""
    levels = [lv for lv in LEVELS if lv in groups_by_level]
    label, size, low = {}, {}, {}
    for lv, groups in groups_by_level.items():
        for g in groups:
            for k in g:
                label[lv, k] = f"{tag}:{lv}:{min(g)}"
                size[lv, k] = len(g)
                low[lv, k] = min(g)
    keys = sorted({k for groups in groups_by_level.values() for g in groups for k in g})
    main = "medium" if "medium" in levels else levels[0]
    key_cols = levels if keyed else []
    rows = [(k, "s", label[main, k], *[label[lv, k] for lv in levels],
             *[size[lv, k] for lv in levels], *[low[lv, k] for lv in key_cols], run_id) for k in keys]
    schema = ", ".join(["record_key string, source string, person_id string",
                        *[f"person_id_{lv} string" for lv in levels],
                        *[f"cluster_size_{lv} bigint" for lv in levels],
                        *[f"cluster_key_{lv} string" for lv in key_cols], "run_id string"])
    return spark.createDataFrame(rows, schema)


def run(clusters, previous, run_id, levels=LEVELS, **kw):
    stable, events = assign_person_ids(clusters, previous, levels, run_id, **kw)
    rows = stable.collect()
    ids = {lv: {r["record_key"]: r[f"person_id_{lv}"] for r in rows} for lv in levels}
    evs = [tuple(r[c] for c in EVENT_COLS) for r in events.collect()]
    return stable, rows, ids, evs, events


@pytest.fixture(scope="module", params=["keyed", "general"])
def runs(spark, request):
    """Runs 1, 2 and 3 chained, each on the previous run's stable output; once with the
    ``cluster_key_<level>`` columns (fast paths) and once without (general path)."""
    keyed = request.param == "keyed"
    out = {"keyed": keyed}
    s1, *r1 = run(make_clusters(spark, RUN1_GROUPS, "r1", RUN1, keyed), None, RUN1)
    s2, *r2 = run(make_clusters(spark, RUN2_GROUPS, "r2", RUN2, keyed), s1, RUN2)
    s3, *r3 = run(make_clusters(spark, RUN3_GROUPS, "r3", RUN3, keyed), s2, RUN3)
    out[1], out[2], out[3] = (s1, *r1), (s2, *r2), (s3, *r3)
    return out


def test_first_run_mints_every_id(runs):
    stable, rows, ids, evs, events = runs[1]
    assert [(f.name, f.dataType.simpleString()) for f in events.schema] == [
        tuple(c.strip().split(" ")) for c in EVENTS_SCHEMA.split(",")]
    keys = ["cluster_key_high", "cluster_key_medium"] if runs["keyed"] else []
    assert stable.columns == ["record_key", "source", "person_id", "person_id_high",
                              "person_id_medium", "cluster_size_high", "cluster_size_medium", *keys, "run_id"]
    for lv in LEVELS:
        groups = RUN1_GROUPS[lv]
        # one id per cluster, shared by its records, distinct between clusters
        assert all(len({ids[lv][k] for k in g}) == 1 for g in groups)
        assert len({ids[lv][g[0]] for g in groups}) == len(groups)
        for i in ids[lv].values():
            assert re.match(ID_PATTERN, i) and i.startswith("P20260101000000-"), i
        level_events = sorted(e for e in evs if e[3] == lv)
        assert level_events == sorted(
            (ids[lv][g[0]], "created", None, lv, len(g), None) for g in groups)
    # each level has its own ids, even for the same cluster; person_id is the medium id
    assert ids["high"]["a1"] != ids["medium"]["a1"]
    assert all(r["person_id"] == r["person_id_medium"] for r in rows)
    assert {r["cluster_size_medium"] for r in rows if r["record_key"].startswith("c")} == {6}
    assert len(evs) == len(RUN1_GROUPS["medium"]) + len(RUN1_GROUPS["high"]) == 20


def test_same_input_twice_gives_the_same_ids_and_only_kept(spark, runs):
    first, rows1 = runs[1][0], runs[1][1]
    again = make_clusters(spark, RUN1_GROUPS, "other-provisional-labels", RUN2, runs["keyed"])
    _, rows2, _, evs, _ = run(again, first, RUN2)
    cols = ["record_key", "person_id", "person_id_high", "person_id_medium"]
    assert sorted(tuple(r[c] for c in cols) for r in rows2) == sorted(tuple(r[c] for c in cols) for r in rows1)
    assert len(evs) == 20 and {e[1] for e in evs} == {"kept"}
    assert all(e[2] is None and e[4] == e[5] for e in evs)


def test_second_extract_gives_exactly_the_expected_events(runs):
    o, n = runs[1][2], runs[2][2]  # ids by level and record, run 1 and run 2
    _, _, _, evs, _ = runs[2]

    m, h = "medium", "high"
    expected_medium = [
        (o[m]["a1"], "kept", None, m, 3, 3),                  # untouched
        (o[m]["b1"], "kept", None, m, 3, 2),                  # b3 added
        (o[m]["c1"], "kept", None, m, 3, 6),                  # largest part c4-c6 keeps C
        (n[m]["c1"], "split_from", o[m]["c1"], m, 2, None),   # c1-c2 split off
        (o[m]["d1"], "kept", None, m, 6, 3),                  # D contributes most to D+E+x1
        (o[m]["e1"], "merged_into", o[m]["d1"], m, 0, 2),
        (o[m]["f1"], "retired", None, m, 0, 1),               # its only record removed
        (o[m]["g1"], "kept", None, m, 1, 2),                  # g2 removed
        (o[m]["h1"], "kept", None, m, 2, 3),                  # h3 moved to I
        (o[m]["i1"], "kept", None, m, 3, 2),
        (n[m]["n1"], "created", None, m, 1, None),
    ]
    expected_high = [
        (o[h]["a1"], "kept", None, h, 3, 3),
        (o[h]["b1"], "kept", None, h, 2, 2),
        (n[h]["b3"], "created", None, h, 1, None),
        (o[h]["c1"], "kept", None, h, 2, 3),
        (o[h]["c4"], "kept", None, h, 3, 3),
        (o[h]["d1"], "kept", None, h, 3, 3),                  # no merge at high
        (o[h]["e1"], "kept", None, h, 2, 2),
        (n[h]["x1"], "created", None, h, 1, None),
        (o[h]["f1"], "retired", None, h, 0, 1),
        (o[h]["g1"], "kept", None, h, 1, 2),
        (o[h]["h1"], "kept", None, h, 2, 2),
        (o[h]["h3"], "merged_into", o[h]["i1"], h, 0, 1),
        (o[h]["i1"], "kept", None, h, 3, 2),
        (n[h]["n1"], "created", None, h, 1, None),
    ]
    assert sorted(e for e in evs if e[3] == m) == sorted(expected_medium)
    assert sorted(e for e in evs if e[3] == h) == sorted(expected_high)
    assert len(evs) == 25

    # the ids the records carry now
    assert n[m]["c4"] == o[m]["c1"] and n[m]["c1"] != o[m]["c1"]
    assert {n[m][k] for k in ["d1", "e1", "x1"]} == {o[m]["d1"]}
    assert n[m]["h3"] == o[m]["i1"] and n[h]["h3"] == o[h]["i1"]
    # every untouched cluster keeps its id at every level
    for lv in LEVELS:
        for k in ["a1", "a2", "a3", "i1", "i2", "h1", "h2", "d1"]:
            assert n[lv][k] == o[lv][k]
    # new ids carry run 2's stamp and were never used before
    new = {n[m]["c1"], n[m]["n1"], n[h]["b3"], n[h]["x1"], n[h]["n1"]}
    assert all(i.startswith("P20260201000000-") for i in new) and len(new) == 5
    assert not new & {i for lv in LEVELS for i in o[lv].values()}


def test_retired_id_is_never_reused(runs):
    o, n3 = runs[1][2], runs[3][2]
    _, _, _, evs3, _ = runs[3]
    for lv in LEVELS:
        # f1 is back alone, as in run 1, but gets a fresh id, stamped by run 3
        assert n3[lv]["f1"] != o[lv]["f1"] and n3[lv]["f1"].startswith("P20260301000000-")
        assert (n3[lv]["f1"], "created", None, lv, 1, None) in evs3
    assert sorted(e[1] for e in evs3).count("kept") == 9 + 12 and len(evs3) == 23


def test_ties_older_then_smaller_id_and_second_round(spark):
    legacy = "P" + "f" * 20                      # an id from before stamps: the oldest
    old = "P20250101000000-" + "e" * 20
    new_0 = "P20260101000000-" + "0" * 20
    s_a, s_b = ("P20260101000000-" + c * 20 for c in "ab")
    new_3, whole = ("P20260101000000-" + c * 20 for c in "34")
    o1, o2 = "P20250101000000-" + "1" * 20, "P20260101000000-" + "2" * 20
    prev_groups = {legacy: ["t1", "t2"], new_0: ["t3", "t4"], s_b: ["u1", "u2"],
                   s_a: ["u3", "u4"], old: ["w1", "w2"], new_3: ["w3", "w4"],
                   whole: ["x1", "x2", "x3", "x4"], o1: ["y1", "y2", "y3", "y4", "y5"],
                   o2: ["y6", "y7"]}
    previous = spark.createDataFrame(
        [(k, pid) for pid, keys in prev_groups.items() for k in keys],
        "record_key string, person_id_medium string")
    labels = {"t": ["t1", "t2", "t3", "t4"], "u": ["u1", "u2", "u3", "u4"],
              "w": ["w1", "w2", "w3", "w4"],
              # equal split of x1-x4: labels sort opposite to the record keys on purpose
              "zz": ["x1", "x2"], "aa": ["x3", "x4"],
              "n1": ["y1", "y2", "y3"], "n2": ["y4", "y5", "y6", "y7"]}
    clusters = spark.createDataFrame(
        [(k, lab) for lab, keys in labels.items() for k in keys], "record_key string, person_id_medium string")

    _, _, ids, evs, _ = run(clusters, previous, RUN2, levels=["medium"])
    ids = ids["medium"]
    assert ids["t1"] == legacy                 # tie 2-2: the older id, though it sorts last
    assert ids["u1"] == s_a                    # tie 2-2, same stamp: the smaller id
    assert ids["w1"] == old                    # tie 2-2: older stamp
    assert ids["x1"] == whole
    assert ids["x3"] != ids["x1"]              # split tie: part with the smaller record key keeps
    assert ids["y1"] == o1                     # largest part of o1
    assert ids["y4"] == o2                     # its first choice o1 went to y1-y3: round 2 keeps o2
    got = {e[0]: e[1:] for e in evs}
    assert got[new_0] == ("merged_into", legacy, "medium", 0, 2)
    assert got[s_b] == ("merged_into", s_a, "medium", 0, 2)
    assert got[new_3] == ("merged_into", old, "medium", 0, 2)
    assert got[ids["x3"]] == ("split_from", whole, "medium", 2, None)
    assert got[o1] == ("kept", None, "medium", 3, 5) and got[o2] == ("kept", None, "medium", 4, 2)
    assert len(evs) == 10

    # with one round only, y4-y7 cannot keep o2: it splits from its first choice o1, o2 merges in
    _, _, ids1, evs1, _ = run(clusters, previous, RUN2, levels=["medium"], rounds=1)
    y4 = ids1["medium"]["y4"]
    got1 = {e[0]: e[1:] for e in evs1}
    assert y4 not in (o1, o2) and got1[y4] == ("split_from", o1, "medium", 4, None)
    assert got1[o2] == ("merged_into", y4, "medium", 0, 2)


def _random_groups(rng, keys, max_size):
    keys = list(keys)
    rng.shuffle(keys)
    groups = []
    while keys:
        n = rng.randint(1, max_size)
        groups.append(keys[:n])
        keys = keys[n:]
    return groups


def _split_some(rng, groups, share):
    out = []
    for g in groups:
        if len(g) > 1 and rng.random() < share:
            cut = rng.randint(1, len(g) - 1)
            out += [g[:cut], g[cut:]]
        else:
            out.append(list(g))
    return out


def _scenario(seed):
    """Two runs of random clusters at two levels (high splits medium): run 2 withdraws and adds
    records, moves some between clusters, merges and splits clusters."""
    rng = random.Random(seed)
    keys = [f"k{i:04d}" for i in range(400)]
    med1 = _random_groups(rng, keys, 5)
    removed = set(rng.sample(keys, 20))
    med2 = [[k for k in g if k not in removed] for g in med1]
    for k in rng.sample([k for g in med2 for k in g], 12):  # moves
        src = next(g for g in med2 if k in g)
        src.remove(k)
        rng.choice(med2).append(k)
    med2 = [g for g in med2 if g]
    for _ in range(6):  # merges
        a, b = rng.sample(range(len(med2)), 2)
        med2[a] += med2[b]
        med2[b] = []
        med2 = [g for g in med2 if g]
    med2 = _split_some(rng, med2, 0.03)
    for i in range(20):  # new records: alone or joining a cluster
        if rng.random() < 0.5:
            med2.append([f"n{i:03d}"])
        else:
            rng.choice(med2).append(f"n{i:03d}")
    return ({"medium": med1, "high": _split_some(rng, med1, 0.3)},
            {"medium": med2, "high": _split_some(rng, med2, 0.3)})


@pytest.mark.parametrize("seed", [7, 8])
def test_fast_paths_give_the_general_paths_ids_and_events(spark, seed):
    g1, g2 = _scenario(seed)
    cols = ["record_key", "person_id", "person_id_high", "person_id_medium"]
    got = {}
    for keyed in (True, False):
        r1 = identify(make_clusters(spark, g1, "r1", RUN1, keyed), None, LEVELS, RUN1)
        r2 = identify(make_clusters(spark, g2, "r2", RUN2, keyed), r1.stable, LEVELS, RUN2)
        got[keyed] = [(r, sorted(tuple(x[c] for c in cols) for x in r.stable.collect()),
                       sorted(tuple(x[c] for c in EVENT_COLS) for x in r.events.collect())) for r in (r1, r2)]
    (f1, f2), (p1, p2) = got[True], got[False]
    assert (f1[0].path, f2[0].path, p1[0].path, p2[0].path) == ("first", "carry", "general", "general")
    assert f1[1:] == p1[1:] and f2[1:] == p2[1:]
    events = {e[1] for e in f2[2]}
    assert events == {"kept", "created", "split_from", "merged_into", "retired"}, events
    assert f2[0].churn == pytest.approx(id_churn(p1[0].stable, p2[0].stable, LEVELS))
    assert 0 < f2[0].churn["medium"] < 0.5
    # the fast path sent only the changed clusters through the matching rules
    assert 0 < f2[0].touched < p2[0].touched


def test_resolve_person_ids_across_runs(spark, runs):
    o, n2 = runs[1][2]["medium"], runs[2][2]["medium"]
    events = runs[1][4].unionByName(runs[2][4]).unionByName(runs[3][4])
    e_id, d_id, f_id, c_id, c_part = o["e1"], o["d1"], o["f1"], o["c1"], n2["c1"]
    got = {(r["person_id"], r["current_person_id"], r["via"])
           for r in resolve_person_ids(events, [e_id, d_id, f_id, c_id, "Pnope"], "medium").collect()}
    assert got == {
        (e_id, d_id, "merged_into"),           # merged into D in run 2, D kept in run 3
        (d_id, d_id, "self"),
        (f_id, None, "retired"),
        (c_id, c_id, "self"), (c_id, c_part, "split_from"),
        ("Pnope", None, "unknown"),
    }
    # read as of run 2's published table, the c1-c2 part was already a separate person
    as_of = resolve_person_ids(events, [c_id], "medium", as_of_run=RUN2).collect()
    assert [(r["current_person_id"], r["via"]) for r in as_of] == [(c_id, "self")]
    # at high, e1's id was never merged
    e_high = runs[1][2]["high"]["e1"]
    assert [tuple(r) for r in resolve_person_ids(events, [e_high], "high").collect()] == [
        (e_high, e_high, "self")]


def test_resolve_follows_chains_and_only_later_splits(spark):
    ev = [("X", "created", None, "r1"), ("Y", "created", None, "r1"), ("Z", "created", None, "r1"),
          ("W", "split_from", "Z", "r2"), ("X", "merged_into", "Y", "r2"), ("Y", "kept", None, "r2"),
          ("Y", "merged_into", "Z", "r3"), ("Z", "kept", None, "r3"),
          ("V", "split_from", "Z", "r4"), ("Z", "kept", None, "r4")]
    events = spark.createDataFrame(
        [(p, e, other, "medium", run, 1, None) for p, e, other, run in ev], EVENTS_SCHEMA)
    got = sorted(tuple(r) for r in resolve_person_ids(events, ["X"], "medium").collect())
    # X -> Y -> Z, and V split off Z after the merge; W was split off before X's records arrived
    assert got == [("X", "V", "split_from"), ("X", "Z", "merged_into")]


def test_id_churn(runs):
    # 21 records are in both runs; medium: c1, c2 (split part), e1, e2 (merged), h3 (moved)
    churn = id_churn(runs[1][0], runs[2][0], LEVELS)
    assert churn == {"high": pytest.approx(1 / 21), "medium": pytest.approx(5 / 21)}
    assert id_churn(runs[2][0], runs[2][0], LEVELS) == {"high": 0.0, "medium": 0.0}


def test_bad_inputs_are_named(spark):
    clusters = spark.createDataFrame([Row(record_key="a", person_id_medium="x")])
    with pytest.raises(IdentifyError, match="person_id_high"):
        assign_person_ids(clusters, None, LEVELS, RUN1)
    with pytest.raises(IdentifyError, match="UTC stamp"):
        assign_person_ids(clusters, None, ["medium"], "run-x")
