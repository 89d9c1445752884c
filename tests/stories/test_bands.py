"""The numpy LSH band table against a brute-force reference: same candidates through
inserts, merges, removals and reused rows."""

from __future__ import annotations

import numpy as np

from stories.bands import BandTable

BANDS, ROWS = 8, 2


def shares_a_band(a: np.ndarray, b: np.ndarray) -> bool:
    """The reference: two signatures agree on every value of some band."""
    pairs = (a[: BANDS * ROWS] == b[: BANDS * ROWS]).reshape(BANDS, ROWS)
    return bool(pairs.all(axis=1).any())


def test_candidates_match_the_reference_through_merges_and_reuse() -> None:
    rng = np.random.default_rng(7)
    pool = rng.integers(0, 3, size=(400, BANDS * ROWS), dtype=np.uint32)  # many collisions
    table = BandTable(BANDS, ROWS, merge_every=16)
    held: dict[int, np.ndarray] = {}
    for step in range(400):
        row = int(rng.integers(0, 40))  # rows are reused, as the index reuses them
        if row in held:
            table.remove(row)
            del held[row]
        if rng.random() < 0.8:
            table.insert(row, pool[step])
            held[row] = pool[step]
        probe = pool[int(rng.integers(0, 400))]
        expected = sorted(r for r, v in held.items() if shares_a_band(probe, v))
        assert table.query(probe).tolist() == expected, step
    assert table.entries <= BANDS * (len(held) + 16 + 40)  # removed entries went at merges


def test_an_empty_table_and_a_lone_item() -> None:
    table = BandTable(BANDS, ROWS)
    values = np.arange(BANDS * ROWS, dtype=np.uint32)
    assert table.query(values).tolist() == []
    table.insert(3, values)
    assert table.query(values).tolist() == [3]
    other = values + np.uint32(100)
    assert table.query(other).tolist() == []
    table.remove(3)
    assert table.query(values).tolist() == []


def test_a_crowded_bucket_gives_its_newest_entries() -> None:
    values = np.arange(BANDS * ROWS, dtype=np.uint32)
    for merge_every in (10, 1000):  # all merged into the arrays; all waiting in the dict
        table = BandTable(BANDS, ROWS, merge_every=merge_every, max_per_bucket=100)
        for row in range(300):  # 300 copies of one signature
            table.insert(row, values)
        assert table.query(values).tolist() == list(range(200, 300))


def test_bulk_inserts_give_the_same_candidates_as_one_by_one() -> None:
    rng = np.random.default_rng(11)
    pool = rng.integers(0, 3, size=(300, BANDS * ROWS), dtype=np.uint32)  # many collisions
    one, bulk = (BandTable(BANDS, ROWS, merge_every=16, max_per_bucket=10**6) for _ in range(2))
    ops = [(int(rng.integers(0, 60)), rng.random() < 0.2) for _ in range(300)]
    for step, (row, _) in enumerate(ops[:100]):  # some rows in both before, some merged
        for table in (one, bulk):
            table.remove(row)
            table.insert(row, pool[step])
    with bulk.bulk():
        for step, (row, remove) in enumerate(ops[100:], 100):
            for table in (one, bulk):
                if remove:  # a removal inside counts at once, and the row may come back
                    table.remove(row)
                table.insert(row, pool[step])
    for probe in pool:
        assert bulk.query(probe).tolist() == one.query(probe).tolist()
    assert bulk.entries <= one.entries  # the removed rows' entries went at the merge


def test_a_crowded_bucket_filled_in_bulk_gives_its_newest_entries() -> None:
    values = np.arange(BANDS * ROWS, dtype=np.uint32)
    table = BandTable(BANDS, ROWS, max_per_bucket=100)
    with table.bulk():
        for row in range(300):  # 300 copies of one signature: insertion order is kept
            table.insert(row, values)
        assert table.query(values).tolist() == []  # found only once the bulk ends
    assert table.query(values).tolist() == list(range(200, 300))
