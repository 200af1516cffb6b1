"""Feature spec version 1 (docs/feature-spec.md): transforms and per-model feature lists.

`apply` is the reference implementation the Rust features stage must reproduce (golden pairs
in models/golden_features.jsonl). The bulk helpers below only slice windows and call it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

FEATURE_SPEC_VERSION = 1
TRANSFORMS = ("last", "mean", "std", "min", "max", "slope", "ewma", "delta")


def apply(transform: str, t, x, params: dict | None = None) -> float:
    """One transform over one window: `t` seconds, `x` values, oldest first.

    Non-finite values are skipped; an empty remainder gives NaN.
    """
    params = params or {}
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if t.shape != x.shape:
        raise ValueError(f"t and x differ in length ({t.shape} vs {x.shape})")
    keep = np.isfinite(x)
    v = x[keep]
    tv = t[keep]
    n = len(v)
    if transform not in TRANSFORMS:
        raise ValueError(f"unknown transform {transform!r}; valid: {', '.join(TRANSFORMS)}")
    if transform == "ewma":
        alpha = params.get("alpha")
        if alpha is None or not (0.0 < float(alpha) <= 1.0):
            raise ValueError(f"ewma needs params.alpha in (0, 1], got {alpha!r}")
    if n == 0:
        return math.nan
    if transform == "last":
        return float(v[-1])
    if transform == "mean":
        return float(sum(v.tolist()) / n)
    if transform == "std":
        if n == 1:
            return 0.0
        m = sum(v.tolist()) / n
        return math.sqrt(sum(((v - m) ** 2).tolist()) / n)
    if transform == "min":
        return float(v.min())
    if transform == "max":
        return float(v.max())
    if transform == "delta":
        return float(v[-1] - v[0]) if n > 1 else 0.0
    if transform == "ewma":
        a = float(params["alpha"])
        s = float(v[0])
        for xk in v[1:].tolist():
            s = a * xk + (1.0 - a) * s
        return s
    # slope: OLS of v on (t - t_first), units per second.
    if n < 2:
        return 0.0
    xs = (tv - tv[0]).tolist()
    vs = v.tolist()
    mx = sum(xs) / n
    mv = sum(vs) / n
    sxx = sum((a - mx) * (a - mx) for a in xs)
    if sxx == 0.0:
        return 0.0
    sxy = sum((a - mx) * (b - mv) for a, b in zip(xs, vs))
    return sxy / sxx


def feature(name, signal, transform, window, **params) -> dict:
    return {"name": name, "signal": signal, "transform": transform, "window": window,
            "params": params}  # fmt: skip


def _batch_features() -> list[dict]:
    b = "batch"
    return [
        feature("temperature_mean", "temperature", "mean", b),
        feature("temperature_std", "temperature", "std", b),
        feature("temperature_max", "temperature", "max", b),
        feature("moisture_mean", "moisture", "mean", b),
        feature("moisture_last", "moisture", "last", b),
        feature("moisture_max", "moisture", "max", b),
        feature("ph_mean", "ph", "mean", b),
        feature("particle_size_mean", "particle_size", "mean", b),
        feature("particle_size_max", "particle_size", "max", b),
        feature("humidity_mean", "humidity", "mean", b),
        feature("humidity_max", "humidity", "max", b),
        feature("tunnel_temp_mean", "tunnel_temp", "mean", b),
        feature("cocoa_pct_last", "cocoa_pct", "last", b),
        feature("fermentation_index_last", "fermentation_index", "last", b),
        feature("bean_quality_last", "bean_quality", "last", b),
        feature("roast_time_last", "roast_time", "last", b),
    ]


#: Feature specs per model, in model input order.
SPECS: dict[str, list[dict]] = {
    "quality": _batch_features(),
    # Yield sees the whole batch picture, like quality: the rework a bloom or gritty defect
    # costs is only visible through the temperature, humidity, moisture and particle aggregates.
    "yield": _batch_features(),
    "bloom": [
        feature("temperature_mean_300", "temperature", "mean", 300),
        feature("temperature_max_300", "temperature", "max", 300),
        feature("temperature_slope_300", "temperature", "slope", 300),
        feature("temperature_ewma_600", "temperature", "ewma", 600, alpha=0.01),
        feature("humidity_mean_300", "humidity", "mean", 300),
        feature("humidity_max_300", "humidity", "max", 300),
        feature("moisture_mean_300", "moisture", "mean", 300),
        feature("moisture_slope_300", "moisture", "slope", 300),
        feature("tunnel_temp_mean_300", "tunnel_temp", "mean", 300),
        feature("cocoa_pct_last", "cocoa_pct", "last", 1),
    ],
    # Every process signal the line measures, as 60-s means, and the product: the SPC
    # detector (anomaly.py) judges each signal against its own product's healthy spread, so
    # it also watches the cooling tunnel and the conche, which no fault of the training data
    # touches.
    "anomaly": [
        feature("temperature_mean_60", "temperature", "mean", 60),
        feature("tunnel_temp_mean_60", "tunnel_temp", "mean", 60),
        feature("humidity_mean_60", "humidity", "mean", 60),
        feature("particle_size_mean_60", "particle_size", "mean", 60),
        feature("moisture_mean_60", "moisture", "mean", 60),
        feature("ph_mean_60", "ph", "mean", 60),
        feature("conche_temp_mean_60", "conche_temp", "mean", 60),
        feature("cocoa_pct_last", "cocoa_pct", "last", 1),
    ],
}
LEVEL = {"quality": "batch", "yield": "batch", "bloom": "sample", "anomaly": "sample"}


def vector(spec: list[dict], t: np.ndarray, cols: dict[str, np.ndarray], end: int | None = None):
    """Feature vector over rows `[.., end)` (sample level: each feature's own window ending
    at `end`; batch level: `end=None` means every row given)."""
    out = []
    for f in spec:
        x = cols[f["signal"]]
        if f["window"] == "batch":
            tw, xw = t, x
        else:
            w = int(f["window"])
            lo = max(0, end - w)
            tw, xw = t[lo:end], x[lo:end]
        out.append(apply(f["transform"], tw, xw, f["params"]))
    return out


def batch_table(runs, model: str) -> pd.DataFrame:
    """One row per closed, labelled batch: features + labels + group keys."""
    spec = SPECS[model]
    rows = []
    for run in runs:
        s = run.samples
        labels = run.batches.set_index("batch_id")
        t_all = s["ts_ms"].to_numpy(np.float64) / 1000.0
        for bid, idx in s.groupby("batch_id", sort=True).indices.items():
            if bid not in labels.index:
                continue  # still open at the end of the export
            lab = labels.loc[bid]
            cols = {f["signal"]: s[f["signal"]].to_numpy(np.float64)[idx] for f in spec}
            vals = vector(spec, t_all[idx], cols)
            rows.append(
                [*vals, lab["quality_grade"], float(lab["yield_pct"]), lab["defect"],
                 f"{run.name}/{int(bid)}", f"{run.name}/lot{int(lab['bean_lot'])}",
                 str(lab["product"]), run.split, run.name]
            )  # fmt: skip
    names = [f["name"] for f in spec]
    extra = ["quality_grade", "yield_pct", "defect", "batch", "lot", "product", "split", "run"]
    return pd.DataFrame(rows, columns=names + extra)


def longest_window(spec: list[dict]) -> int:
    """Samples the longest window of a sample-level spec needs."""
    return max(int(f["window"]) for f in spec)


#: Windows taken from one run at most (about): a run longer than `stride` × this is sampled
#: sparser, so that whole healthy days widen the healthy variety without outweighing the
#: fault windows of the 6 h runs.
WINDOWS_PER_RUN = 720


def window_table(runs, model: str, stride: int = 30) -> pd.DataFrame:
    """Sample-level vectors every `stride` rows (sparser in long runs, see
    `WINDOWS_PER_RUN`), once every window is full."""
    spec = SPECS[model]
    longest = longest_window(spec)
    rows = []
    for run in runs:
        s = run.samples
        step = max(stride, len(s) // WINDOWS_PER_RUN)
        t = s["ts_ms"].to_numpy(np.float64) / 1000.0
        cols = {f["signal"]: s[f["signal"]].to_numpy(np.float64) for f in spec}
        bloom = s["bloom_label"].to_numpy()
        fault = s["fault"].to_numpy()
        batch = s["batch_id"].to_numpy()
        product = product_codes(run)
        for end in range(longest, len(s) + 1, step):
            vals = vector(spec, t, cols, end)
            i = end - 1
            rows.append([*vals, bloom[i], fault[i], f"{run.name}/{int(batch[i])}", run.name,
                         product[i], run.split, int(s["ts_ms"].iat[i])])  # fmt: skip
    names = [f["name"] for f in spec]
    extra = ["bloom_label", "fault", "batch", "run", "product", "split", "ts_ms"]
    return pd.DataFrame(rows, columns=names + extra)


# --------------------------------------------------------------------------- every sample


def _chunks(n: int, size: int = 8192):
    for lo in range(0, n, size):
        yield lo, min(n, lo + size)


def rolling(f: dict, t: np.ndarray, x: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """`apply(f)` over rows `[end - window, end)` for every `end` in `ends` (each ≥ window),
    vectorised for finite input. Used where the per-vector loop of `vector` is too slow: the
    drift calibration evaluates every sample of the reference runs, as the agent does."""
    w = int(f["window"])
    tr = f["transform"]
    if not np.isfinite(x).all():
        raise ValueError("rolling() needs finite input; use vector() for data with gaps")
    out = np.empty(len(ends))
    if tr == "last":
        return x[ends - 1].astype(np.float64)
    sw_x = np.lib.stride_tricks.sliding_window_view(x, w)
    sw_t = np.lib.stride_tricks.sliding_window_view(t, w)
    starts = ends - w
    if tr == "ewma":
        a = float(f["params"]["alpha"])
        k = np.arange(w)
        wts = a * (1.0 - a) ** (w - 1 - k)
        wts[0] = (1.0 - a) ** (w - 1)
    for lo, hi in _chunks(len(ends)):
        xs = sw_x[starts[lo:hi]]
        if tr == "mean":
            out[lo:hi] = xs.sum(axis=1) / w
        elif tr == "max":
            out[lo:hi] = xs.max(axis=1)
        elif tr == "min":
            out[lo:hi] = xs.min(axis=1)
        elif tr == "std":
            m = xs.sum(axis=1, keepdims=True) / w
            out[lo:hi] = np.sqrt(((xs - m) ** 2).sum(axis=1) / w)
        elif tr == "delta":
            out[lo:hi] = xs[:, -1] - xs[:, 0] if w > 1 else 0.0
        elif tr == "ewma":
            out[lo:hi] = xs @ wts
        elif tr == "slope":
            ts = sw_t[starts[lo:hi]]
            ts = ts - ts[:, :1]
            mx = ts.sum(axis=1, keepdims=True) / w
            mv = xs.sum(axis=1, keepdims=True) / w
            sxx = ((ts - mx) ** 2).sum(axis=1)
            sxy = ((ts - mx) * (xs - mv)).sum(axis=1)
            out[lo:hi] = np.where(sxx == 0.0, 0.0, sxy / np.where(sxx == 0.0, 1.0, sxx))
        else:
            raise ValueError(f"unknown transform {tr!r}")
    return out


def every_sample_table(run, model: str, settle_ms: int = 0):
    """(ts_ms, X, products, batch): the vector the agent builds at every sample of a run once the
    longest window is full (stride 1, windows spanning batch changes as the agent's do),
    without the vectors the drift monitor leaves out — those less than `settle_ms` after
    the first sample of their batch (src/monitor/window.rs) — with the product code and the
    batch id of each.
    Healthy runs without gaps only (see `rolling`)."""
    spec = SPECS[model]
    s = run.samples
    t = s["ts_ms"].to_numpy(np.float64) / 1000.0
    ts = s["ts_ms"].to_numpy(np.int64)
    batch = s["batch_id"].to_numpy()
    first = np.r_[True, batch[1:] != batch[:-1]]
    batch_start = ts[np.flatnonzero(first)[np.cumsum(first) - 1]]
    ends = np.arange(longest_window(spec), len(s) + 1)
    ends = ends[ts[ends - 1] - batch_start[ends - 1] >= settle_ms]
    X = np.column_stack([rolling(f, t, s[f["signal"]].to_numpy(np.float64), ends) for f in spec])
    return ts[ends - 1], X, product_codes(run)[ends - 1], batch[ends - 1]


#: The simulator's recipes (DATA_CARD.md); a run's batches.csv overrides them.
RECIPE_CODES = {1: "DARK70", 2: "DARK55", 3: "MILK35", 4: "WHITE30"}


def product_codes(run) -> np.ndarray:
    """Product code (batches.csv `product`) of every sample, from its recipe id."""
    codes = dict(RECIPE_CODES)
    if run.batches is not None:
        codes.update(zip(run.batches["recipe"].astype(int), run.batches["product"].astype(str)))
    recipe = run.samples["recipe"].to_numpy().astype(int)
    missing = sorted(set(recipe.tolist()) - set(codes))
    if missing:
        raise ValueError(f"{run.name}: no product code for recipe(s) {missing} in batches.csv")
    return np.array([codes[r] for r in recipe.tolist()], dtype=object)


def episodes(run) -> list[tuple[str, str]]:
    """(fault, product) of every fault episode of a run: a contiguous stretch of rows with
    the same non-empty `fault`, and the product made at its first row."""
    fault = run.samples["fault"].to_numpy()
    starts = np.flatnonzero((fault != "") & np.r_[True, fault[1:] != fault[:-1]])
    products = product_codes(run)
    return [(str(fault[i]), str(products[i])) for i in starts]
