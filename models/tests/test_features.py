"""Feature transforms (spec v1): properties with hypothesis, and the golden pairs file."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training import features
from training.features import apply

from conftest import MODELS_DIR

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60)


def times(n, step=1.0, start=0.0):
    return [start + step * i for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(values, st.randoms())
def test_order_free_transforms_ignore_permutation(xs, rnd):
    ys = list(xs)
    rnd.shuffle(ys)
    for tr in ("mean", "std", "min", "max"):
        a, b = apply(tr, times(len(xs)), xs), apply(tr, times(len(ys)), ys)
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), tr


@settings(max_examples=200, deadline=None)
@given(values, st.floats(-1e3, 1e3), st.floats(-1e6, 1e9))
def test_shift_invariances(xs, c, t0):
    t = times(len(xs))
    shifted = [x + c for x in xs]
    assert math.isclose(apply("mean", t, shifted), apply("mean", t, xs) + c, abs_tol=1e-7)
    assert math.isclose(apply("std", t, shifted), apply("std", t, xs), abs_tol=1e-6)
    assert math.isclose(apply("delta", t, shifted), apply("delta", t, xs), abs_tol=1e-9)
    # Slope does not care where time starts nor where the values sit.
    t_late = [t0 + ti for ti in t]
    assert math.isclose(apply("slope", t_late, shifted), apply("slope", t, xs), abs_tol=1e-6)


@settings(max_examples=200, deadline=None)
@given(values, st.floats(0.001, 1.0))
def test_window_bounds(xs, alpha):
    t = times(len(xs))
    lo, hi = apply("min", t, xs), apply("max", t, xs)
    for tr, p in (("mean", {}), ("last", {}), ("ewma", {"alpha": alpha})):
        v = apply(tr, t, xs, p)
        assert lo - 1e-9 <= v <= hi + 1e-9, tr
    assert apply("std", t, xs) <= (hi - lo) / 2 + 1e-9


@settings(max_examples=200, deadline=None)
@given(values, st.lists(st.booleans(), min_size=60, max_size=60))
def test_nan_is_skipped_like_a_missing_sample(xs, holes):
    t = times(len(xs), 0.7)
    with_nan = [math.nan if h else x for x, h in zip(xs, holes)]
    kept_t = [ti for ti, h in zip(t, holes) if not h]
    kept_x = [x for x, h in zip(xs, holes) if not h]
    for tr, p in (("mean", {}), ("std", {}), ("slope", {}), ("ewma", {"alpha": 0.3}), ("delta", {}), ("last", {})):
        a = apply(tr, t, with_nan, p)
        if not kept_x:
            assert math.isnan(a)
        else:
            assert a == apply(tr, kept_t, kept_x, p), tr


@settings(max_examples=100, deadline=None)
@given(st.floats(-10, 10), st.floats(-100, 100), st.integers(2, 50), st.floats(0.1, 5))
def test_slope_of_a_line_is_its_coefficient(a, b, n, dt):
    t = times(n, dt, 1767225600.0)
    x = [a * (ti - t[0]) + b for ti in t]
    assert math.isclose(apply("slope", t, x), a, rel_tol=1e-6, abs_tol=1e-6)


def test_edge_cases():
    assert math.isnan(apply("mean", [], []))
    assert math.isnan(apply("last", [0, 1], [math.nan, math.nan]))
    assert apply("std", [0], [4.0]) == 0.0
    assert apply("slope", [3, 3, 3], [1, 2, 3]) == 0.0
    assert apply("slope", [0], [1]) == 0.0
    assert apply("delta", [0], [1]) == 0.0
    assert apply("ewma", [0, 1, 2], [1.0, 2.0, 4.0], {"alpha": 0.5}) == 2.75
    with pytest.raises(ValueError, match="alpha"):
        apply("ewma", [0], [1], {})
    with pytest.raises(ValueError, match="unknown transform"):
        apply("median", [0], [1])


def test_specs_are_well_formed():
    for model, spec in features.SPECS.items():
        names = [f["name"] for f in spec]
        assert len(names) == len(set(names)), model
        for f in spec:
            assert f["transform"] in features.TRANSFORMS
            assert f["window"] == "batch" or (isinstance(f["window"], int) and f["window"] >= 1)
            assert (f["window"] == "batch") == (features.LEVEL[model] == "batch")


def test_golden_feature_pairs_file():
    path = MODELS_DIR / "golden_features.jsonl"
    cases = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(cases) >= 500
    names = {c["case"] for c in cases}
    assert len(names) == len(cases)
    for needle in ("single-value", "constant", "all-nan", "equal-timestamps", "nan-middle", "empty"):
        assert any(needle in n for n in names), needle
    assert {c["transform"] for c in cases} == set(features.TRANSFORMS)
    for c in cases:
        x = [math.nan if v is None else v for v in c["x"]]
        got = apply(c["transform"], c["t"], x, c["params"])
        if c["expected"] is None:
            assert math.isnan(got), c["case"]
        else:
            assert abs(got - c["expected"]) <= 1e-9 * max(1.0, abs(got)), c["case"]


@pytest.mark.parametrize("transform", sorted(features.TRANSFORMS))
def test_rolling_equals_the_reference_transform(transform):
    """The vectorised every-sample path used by the drift calibration computes what
    `apply` (the spec's reference implementation) computes."""
    rng = np.random.default_rng(3)
    n, w = 400, 37
    t = np.cumsum(rng.uniform(0.5, 1.5, n)) + 1.7e9
    x = np.cumsum(rng.normal(0, 1, n)) + 30.0
    f = features.feature("f", "s", transform, w, **({"alpha": 0.05} if transform == "ewma" else {}))
    ends = np.arange(w, n + 1)
    got = features.rolling(f, t, x, ends)
    for e, g in zip(ends.tolist(), got.tolist()):
        want = apply(transform, t[e - w : e], x[e - w : e], f["params"])
        assert abs(g - want) <= 1e-9 * max(1.0, abs(want)), (transform, e, g, want)


def test_every_sample_table_skips_settling_vectors_and_names_products():
    import pandas as pd

    from training.dataset import Run

    n = 400
    s = pd.DataFrame({
        "ts_ms": np.arange(n, dtype=np.int64) * 1000,
        "batch_id": [7] * 150 + [8] * 250,
        "recipe": [3] * 150 + [4] * 250,
    })  # fmt: skip
    for sig in {f["signal"] for f in features.SPECS["anomaly"]}:
        s[sig] = np.linspace(1.0, 2.0, n)
    ts, X, products, batch = features.every_sample_table(Run("r", s, None), "anomaly", settle_ms=100_000)
    # Full 60-sample windows end at row 59 onwards; rows 0-99 (batch 7) and 150-249
    # (batch 8) are within 100 s of their batch's first sample.
    rows = ts // 1000
    assert rows.tolist() == list(range(100, 150)) + list(range(250, 400))
    assert X.shape == (200, len(features.SPECS["anomaly"]))
    assert set(products[:50]) == {"MILK35"} and set(products[50:]) == {"WHITE30"}
    assert set(batch[:50]) == {7} and set(batch[50:]) == {8}
