"""Golden files: model outputs the Rust side must reproduce, and feature-transform pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from . import features

#: Rows drawn from the data and rows placed one float32 ulp either side of a split threshold.
DATA_ROWS = 1400
THRESHOLD_PAIRS = 400


def _trees(est):
    if hasattr(est, "estimators_"):
        ests = est.estimators_
        return [e for row in np.atleast_1d(ests) for e in np.atleast_1d(row)]
    return []


def rows(est, X: np.ndarray, seed: int) -> np.ndarray:
    """float32 golden inputs: data rows plus near-threshold rows. Exactly the float32
    threshold is avoided: sklearn compares x <= t (float64) and ONNX x <= float32(t), which
    only disagree there."""
    rng = np.random.default_rng(seed)
    X32 = X.astype(np.float32)
    small = len(X32) < DATA_ROWS
    pick = rng.choice(len(X32), size=DATA_ROWS, replace=small)
    data = X.astype(np.float64)[pick]
    if small:
        # Fewer training rows than golden rows (batch models): the repeats get a 1 % jitter
        # so every golden row is a distinct input.
        data[len(X32):] *= 1.0 + rng.normal(0.0, 0.01, data[len(X32):].shape)
    out = [data.astype(np.float32)]
    splits = []
    for tree in _trees(est):
        tr = tree.tree_
        internal = np.flatnonzero(tr.children_left != -1)
        splits.extend((int(tr.feature[i]), float(tr.threshold[i])) for i in internal)
    if splits:
        chosen = rng.choice(len(splits), size=THRESHOLD_PAIRS, replace=len(splits) < THRESHOLD_PAIRS)
        near = []
        for k in chosen.tolist():
            f, thr = splits[k]
            t32 = np.float32(thr)
            base = X32[rng.integers(len(X32))].copy()
            for direction in (-np.inf, np.inf):
                r = base.copy()
                r[f] = np.nextafter(t32, np.float32(direction))
                near.append(r)
        out.append(np.asarray(near, dtype=np.float32))
    products = getattr(est, "products_", None)
    if products is not None:
        out.append(_product_edges(est, X32, products, rng))
    return np.concatenate(out).astype(np.float32)


#: Far-off golden rows of a per-product SPC model.
FAR_ROWS = 600


def _product_edges(est, X32: np.ndarray, products: np.ndarray, rng) -> np.ndarray:
    """Rows of a per-product model (anomaly.ProductSPC) at the edges of product matching:
    cocoa % one float32 ulp inside and outside the tolerance of each product, and products
    never seen in training (the pooled statistics)."""
    from .anomaly import PRODUCT_TOLERANCE

    col = est.product % X32.shape[1]
    tol = np.float32(PRODUCT_TOLERANCE)
    values = []
    for p in products.tolist():
        for edge in (np.float32(p) - tol, np.float32(p) + tol):
            values += [edge, np.nextafter(edge, np.float32(p)), np.nextafter(edge, np.float32(-p))]
    values += [np.float32(0.0), np.float32(50.0), np.float32(100.0)]
    rows = X32[rng.integers(len(X32), size=len(values))].copy()
    rows[:, col] = np.asarray(values, dtype=np.float32)
    # Far-off rows: process inputs up to 20 pooled spreads away, where a saturating score
    # (the IsolationForest's) would have stopped growing.
    far = X32[rng.integers(len(X32), size=FAR_ROWS)].astype(np.float64)
    proc = [j for j in range(X32.shape[1]) if j != col]
    far[:, proc] += rng.uniform(-20.0, 20.0, (FAR_ROWS, len(proc))) * est.spread_[-1]
    return np.vstack([rows, far.astype(np.float32)])


def write_csv(path: Path, names: list[str], X32: np.ndarray, out_cols: list[str], Y: np.ndarray):
    """Header + one row per input; floats as the shortest repr of the exact value."""
    lines = [",".join(names + out_cols)]
    for x, y in zip(X32.tolist(), Y.tolist()):
        lines.append(",".join([repr(float(v)) for v in x] + [_fmt(v) for v in y]))
    path.write_text("\n".join(lines) + "\n")


def _fmt(v) -> str:
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return repr(float(v))


# --------------------------------------------------------------------------- feature pairs


def _case(name, transform, params, t, x):
    exp = features.apply(transform, t, x, params)
    return {
        "case": name,
        "transform": transform,
        "params": params,
        "t": [float(v) for v in t],
        "x": [None if not math.isfinite(v) else float(v) for v in x],
        "expected": None if not math.isfinite(exp) else exp,
    }


def feature_pairs(sample_windows: list[tuple[np.ndarray, np.ndarray]], seed: int) -> list[dict]:
    """≥ 500 cases over every transform: short windows, constant, NaN, single value, equal
    timestamps, irregular spacing, real windows from the simulator."""
    rng = np.random.default_rng(seed)
    cases = []
    variants = [("last", {}), ("mean", {}), ("std", {}), ("min", {}), ("max", {}), ("slope", {}),
                ("ewma", {"alpha": 0.1}), ("ewma", {"alpha": 1.0}), ("ewma", {"alpha": 0.01}),
                ("delta", {})]  # fmt: skip
    nan = math.nan
    for tr, params in variants:
        tag = tr if tr != "ewma" else f"ewma{params['alpha']}"
        fixed = [
            ("single-value", [0.0], [3.5]),
            ("two-values", [0.0, 1.0], [1.0, 2.0]),
            ("three-values", [0.0, 1.0, 2.0], [2.0, -1.0, 4.5]),
            ("constant", list(np.arange(20.0)), [31.5] * 20),
            ("all-nan", [0.0, 1.0, 2.0], [nan, nan, nan]),
            ("empty", [], []),
            ("nan-first", [0.0, 1.0, 2.0, 3.0], [nan, 1.0, 2.0, 4.0]),
            ("nan-last", [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 4.0, nan]),
            ("nan-middle", [0.0, 1.0, 2.0, 3.0], [1.0, nan, 2.0, 8.0]),
            ("single-finite", [0.0, 1.0, 2.0], [nan, 7.25, nan]),
            ("equal-timestamps", [5.0, 5.0, 5.0], [1.0, 2.0, 3.0]),
            ("some-equal-timestamps", [0.0, 1.0, 1.0, 2.0], [1.0, 3.0, 2.0, 5.0]),
            ("irregular-spacing", [0.0, 0.5, 3.0, 3.1, 10.0], [1.0, 1.2, 0.7, 0.9, 2.0]),
            ("epoch-seconds", [1767225600.0 + k for k in range(5)], [30.1, 30.2, 30.2, 30.4, 30.3]),
            ("inf-skipped", [0.0, 1.0, 2.0], [1.0, math.inf, 3.0]),
            ("neg-inf-skipped", [0.0, 1.0, 2.0], [-math.inf, 2.0, 3.0]),
            ("negative-values", [0.0, 1.0, 2.0, 3.0], [-1.0, -4.0, -2.0, -8.0]),
            ("large-magnitude", [0.0, 1.0, 2.0], [1e6, 1e6 + 1.0, 1e6 + 3.0]),
        ]
        for name, t, x in fixed:
            cases.append(_case(f"{tag}-{name}", tr, params, t, x))
        for k in range(20):
            n = int(rng.integers(1, 40))
            t = np.cumsum(rng.uniform(0.2, 2.0, n)) + 1767225600.0
            x = rng.normal(30.0, 2.0, n)
            if k % 3 == 0:
                x[rng.random(n) < 0.2] = nan
            cases.append(_case(f"{tag}-random-{k}", tr, params, t.tolist(), x.tolist()))
        for k, (t, x) in enumerate(sample_windows):
            cases.append(_case(f"{tag}-simulator-{k}", tr, params, t.tolist(), x.tolist()))
    return cases


def write_feature_pairs(path: Path, cases: list[dict]) -> None:
    path.write_text("".join(json.dumps(c, sort_keys=True) + "\n" for c in cases))
