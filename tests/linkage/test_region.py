"""An incremental run clusters again only the region its changes reach (bold_spark.linkage.region):
the region's clusters plus the published rows outside it must be exactly a full re-run's, at
every level, with the one-record-per-person split, whatever the change."""

import random
from collections import Counter

import pytest
from pyspark.sql import functions as F

from bold_spark.io.joins import by_keys
from bold_spark.linkage.clustering import cluster_records
from bold_spark.linkage.identify import carried_events, identify
from bold_spark.linkage.region import (
    carried_rows,
    cluster_settings,
    region_edges,
    region_keys,
    seed_keys,
)

THRESHOLDS = {"high": 0.99, "medium": 0.9, "low": 0.5}
LEVELS = list(THRESHOLDS)
EDGE_SCHEMA = ("record_key_l string, record_key_r string, source_l string, source_r string, "
               "match_probability double, run_id string")
COLUMNS = ["record_key", *[f"cluster_{x}_{lv}" for lv in LEVELS for x in ("key", "size")], "component_key"]


def week(rnd: random.Random, n_keys: int, n_edges: int, base=None):
    """Records (key, source) and edges for week 1 (``base`` None), or week 2 from week 1's: some
    records withdrawn, some changed, some new; the edges of changed and withdrawn records
    dropped, a few kept edges scored again (possibly across a threshold), fresh edges for the
    changed and new records, many below the lowest threshold. Returns records, edges (tuples)
    and the touched keys."""
    def edge(a, b, p, run):
        return (min(a, b), max(a, b), src[min(a, b)], src[max(a, b)], p, run)

    if base is None:
        keys = [f"k{i:03d}" for i in range(n_keys)]
        src = {k: rnd.choice(["prison", "probation", "benefits"]) for k in keys}
        pairs = {tuple(sorted(rnd.sample(keys, 2))) for _ in range(n_edges)}
        edges = [edge(a, b, rnd.choice([0.3, 0.6, 0.95, 0.995, rnd.random()]), "w1") for a, b in pairs]
        return src, edges, set()
    src, old = dict(base[0]), base[1]
    keys = sorted(src)
    gone = set(rnd.sample(keys, 4))
    changed = set(rnd.sample([k for k in keys if k not in gone], 6))
    new = [f"n{i:03d}" for i in range(5)]
    for k in gone:
        del src[k]
    for k in new:
        src[k] = rnd.choice(["prison", "probation", "benefits"])
    touched = gone | changed | set(new)
    kept = [e for e in old if not ({e[0], e[1]} & touched)]
    # kept edges scored again across the lowest threshold, both ways: a cut and a join that no
    # touched record is near
    above = [i for i, e in enumerate(kept) if e[4] >= THRESHOLDS["low"]]
    below = [i for i, e in enumerate(kept) if e[4] < THRESHOLDS["low"]]
    again = {i: 0.3 for i in rnd.sample(above, 3)} | {i: 0.97 for i in rnd.sample(below, 3)}
    edges = [edge(e[0], e[1], again[i], "w2") if i in again else e for i, e in enumerate(kept)]
    focus = sorted(changed | set(new))
    live = sorted(src)
    fresh = {tuple(sorted((f, rnd.choice(live)))) for f in focus for _ in range(3)}
    edges += [edge(a, b, rnd.choice([0.1, 0.2, 0.7, 0.95, 0.999]), "w2") for a, b in fresh if a != b]
    return src, edges, touched


def within(frame, region):
    return by_keys(frame, region, "record_key")


def frames(spark, src, edges):
    records = spark.createDataFrame(sorted(src.items()), "record_key string, source string")
    return records, spark.createDataFrame(edges, EDGE_SCHEMA)


@pytest.mark.parametrize("seed", [3])
def test_region_plus_carried_rows_equal_a_full_rerun(spark, seed):
    rnd = random.Random(seed)
    single = frozenset({"prison"})
    w1 = week(rnd, 150, 110)
    w2 = week(rnd, 0, 0, base=w1)
    (rec1, e1), (rec2, e2) = frames(spark, *w1[:2]), frames(spark, *w2[:2])
    prev = cluster_records(rec1, e1, THRESHOLDS, "w1", 1000, one_record_per_person=single).cache()
    full = cluster_records(rec2, e2, THRESHOLDS, "w2", 1000, one_record_per_person=single)
    touched = spark.createDataFrame([(k,) for k in sorted(w2[2])], "record_key string")
    seeds = seed_keys(touched, e2, "w2", THRESHOLDS["low"])
    region = region_keys(prev, seeds).cache()
    part = cluster_records(within(rec2, region), region_edges(e2, region), THRESHOLDS, "w2", 1000,
                           one_record_per_person=single)
    both = part.unionByName(carried_rows(prev, region, part.columns, "w2"))
    n_region, n_all = region.count(), rec2.count()
    assert 0 < n_region < n_all, (n_region, n_all)  # a part of the graph, not all of it
    assert both.count() == n_all
    assert sorted(both.select(*COLUMNS).collect()) == sorted(full.select(*COLUMNS).collect())
    # the region is closed: no edge at the lowest threshold leaves it
    low = e2.where(F.col("match_probability") >= THRESHOLDS["low"])
    keys = {r[0] for r in region.collect()}
    assert all((r[0] in keys) == (r[1] in keys) for r in low.select("record_key_l", "record_key_r").collect())


def test_person_ids_through_the_region_are_those_of_a_full_carry_over(spark):
    """identify on the region (with the whole table's rows for the churn) plus kept events for
    the carried rows: the same IDs, events and churn as identify over every record."""
    rnd = random.Random(5)
    w1 = week(rnd, 60, 80)
    w2 = week(rnd, 0, 0, base=w1)
    (rec1, e1), (rec2, e2) = frames(spark, *w1[:2]), frames(spark, *w2[:2])
    first = identify(cluster_records(rec1, e1, THRESHOLDS, "w1", 1000), None, LEVELS, "20260101T000000Z-a")
    prev = first.stable.cache()
    run = "20260108T000000Z-b"
    full = identify(cluster_records(rec2, e2, THRESHOLDS, "w2", 1000), prev, LEVELS, run)
    touched = spark.createDataFrame([(k,) for k in sorted(w2[2])], "record_key string")
    region = region_keys(prev, seed_keys(touched, e2, "w2", THRESHOLDS["low"])).cache()
    part = identify(cluster_records(within(rec2, region), region_edges(e2, region), THRESHOLDS, run, 1000),
                    within(prev, region), LEVELS, run, previous_rows=prev.count())
    carried = carried_rows(prev, region, part.stable.columns, run)
    ids = ["record_key", *[f"person_id_{lv}" for lv in LEVELS]]
    assert sorted(part.stable.unionByName(carried).select(*ids).collect()) == sorted(full.stable.select(*ids).collect())
    events = part.events.unionByName(carried_events(carried, LEVELS, run))
    assert Counter(map(tuple, events.collect())) == Counter(map(tuple, full.events.collect()))
    assert part.churn == full.churn and any(v > 0 for v in full.churn.values())


def test_settings_fingerprint_follows_thresholds_and_sources():
    a = cluster_settings(THRESHOLDS, frozenset({"prison"}))
    assert a == cluster_settings(dict(reversed(list(THRESHOLDS.items()))), {"prison"})
    assert a != cluster_settings({**THRESHOLDS, "low": 0.6}, {"prison"})
    assert a != cluster_settings(THRESHOLDS, frozenset())


def test_nothing_touched_is_an_empty_region(spark):
    """A run that changed nothing: no seeds, an empty region, every row carried over with a
    kept event per cluster and level."""
    rnd = random.Random(2)
    src, edges, _ = week(rnd, 30, 40)
    rec, e = frames(spark, src, edges)
    prev = identify(cluster_records(rec, e, THRESHOLDS, "w1", 1000), None, LEVELS,
                    "20260101T000000Z-a").stable.cache()
    none = spark.createDataFrame([], "record_key string")
    region = region_keys(prev, seed_keys(none, e, "w2", THRESHOLDS["low"]))
    assert region.count() == 0
    run = "20260108T000000Z-b"
    part = identify(cluster_records(within(rec, region), region_edges(e, region), THRESHOLDS, run, 1000),
                    within(prev, region), LEVELS, run, previous_rows=prev.count())
    carried = carried_rows(prev, region, part.stable.columns, run)
    assert part.stable.count() == 0 and carried.count() == rec.count()
    events = part.events.unionByName(carried_events(carried, LEVELS, run))
    per_level = {lv: prev.select(f"person_id_{lv}").distinct().count() for lv in LEVELS}
    assert {(r["threshold"], r["event"]): r["count"] for r in events.groupBy("threshold", "event").count().collect()} \
        == {(lv, "kept"): n for lv, n in per_level.items()}
    assert part.churn == {lv: 0.0 for lv in LEVELS}
