"""Drift reference bins and statistics (docs/manifest.md)."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from training import drift


def test_bins_follow_the_manifest_layout():
    e = [0.0, 1.0, 2.0]
    assert drift.counts([-1, 0, 0.5, 1, 1.5, 2, 3], e) == [1, 2, 3, 1]
    # The last regular bin is closed on the right; only values above e_k overflow.
    assert drift.counts([2.0], e) == [0, 0, 1, 0]
    assert np.allclose(drift.edges(np.arange(101.0)), np.arange(0.0, 101.0, 10.0))
    const = drift.edges(np.full(50, 3.0))
    assert len(const) == 2 and const[0] == 3.0 < const[1]
    assert drift.counts(np.full(50, 3.0), const) == [0, 50, 0]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=4, max_size=12))
def test_statistics_of_identical_distributions_are_zero(c):
    if sum(c) == 0:
        c = [1] + c[1:]
    e = list(map(float, range(len(c) - 1)))
    assert drift.psi(c, c) == 0.0
    assert drift.js(c, c) == 0.0
    assert drift.w1_sigma(c, c, e, 1.0) == 0.0


def test_statistics_grow_with_a_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 5000)
    e = drift.edges(x)
    ref = drift.counts(x, e)
    small = drift.counts(rng.normal(0.1, 1, 500), e)
    large = drift.counts(rng.normal(1.5, 1, 500), e)
    assert drift.psi(ref, small) < 0.1 < drift.psi(ref, large)
    assert drift.js(ref, small) < drift.js(ref, large) <= 1.0
    assert drift.w1_sigma(ref, small, e, 1.0) < 0.2 < drift.w1_sigma(ref, large, e, 1.0)
    # W1 on bin centres approximates the mean shift.
    assert math.isclose(drift.w1_sigma(ref, large, e, 1.0), 1.5, rel_tol=0.25)


def test_agent_windows_follow_the_monitor_rule():
    # Vectors every 10 min for 5 h: hourly windows hold 6 vectors; the 7th opens the next.
    ts = np.arange(0, 5 * 3_600_000 + 1, 600_000)
    w = drift.agent_windows(ts, 3_600_000, 1)
    assert [c.tolist() for c in w] == [list(range(6 * i, 6 * i + 6)) for i in range(5)]
    # A minimum of 9 vectors stretches each window to 9 vectors (90 min).
    w = drift.agent_windows(ts, 3_600_000, 9)
    assert [len(c) for c in w] == [9, 9, 9]
    # Starting 25 min later: the first window opens at the first vector at/after +25 min.
    w = drift.agent_windows(ts, 3_600_000, 1, skip_ms=1_500_000)
    assert w[0][0] == 3


def test_mixture_weights_each_products_proportions_by_its_share_of_the_window():
    by = {"A": [0, 10, 0, 0], "B": [0, 0, 30, 10]}
    # 3 vectors of A, 1 of B: 0.75·(0, 1, 0, 0) + 0.25·(0, 0, 0.75, 0.25), scaled to 1e6.
    assert drift.mixture(by, {"B": 1, "A": 3}) == [0, 750_000, 187_500, 62_500]
    assert drift.mixture(by, {"A": 5}) == [0, drift.MIX_SCALE, 0, 0]


def test_reference_compares_each_chunk_with_its_products_mixture():
    # Product A lives on [0, 1), B on [10, 11): every one-product chunk matches its product.
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(0, 1, 400), rng.uniform(10, 11, 400)])
    products = np.array(["A"] * 400 + ["B"] * 400, dtype=object)
    chunks = [np.arange(s, s + 100) for s in range(0, 800, 100)]
    ref = drift.reference(x[:, None], ["x"], chunks, products)
    f = ref["features"][0]
    assert sorted(f["by_product"]) == ["A", "B"]
    assert [sum(c) for c in f["by_product"].values()] == [400, 400]
    # Against the all-products reference each chunk would be half the distribution away.
    whole = drift.reference(x[:, None], ["x"], chunks)["features"][0]
    assert f["thresholds"]["w1_sigma"] < 0.2 < whole["thresholds"]["w1_sigma"]
    assert "by_product" not in whole


def test_agent_windows_never_span_a_batch_change():
    # One vector a minute, 15 min windows; batch 2 starts at minute 20: the window opened at
    # minute 15 is dropped, the next one opens at minute 20.
    ts = np.arange(0, 50) * 60_000
    batch = np.array([1] * 20 + [2] * 30)
    w = drift.agent_windows(ts, 900_000, 1, batch=batch)
    assert [(c[0], c[-1]) for c in w] == [(0, 14), (20, 34)]
