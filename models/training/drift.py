"""Drift reference: frozen bins from training quantiles, statistics, calibrated thresholds.

Definitions (docs/manifest.md "Drift statistics"), which the Rust monitor implements too:
- proportions `p_i = c_i / sum(c)` over the k + 2 bins (reference) and `q_i` (window);
- PSI = sum((q_i - p_i) * ln(q_i / p_i)) with both proportions floored at EPS = 1e-4;
- JS = Jensen–Shannon *distance*, base 2: sqrt(0.5 KL(p||m) + 0.5 KL(q||m)), m = (p+q)/2,
  terms with a zero proportion contribute 0;
- W1/σ = sum_i |P_i - Q_i| * (c_{i+1} - c_i) over consecutive bin centres, divided by the
  reference σ (1 when σ = 0); P, Q cumulative proportions; centres: e_0 for underflow,
  midpoints of regular bins, e_k for overflow.
"""

from __future__ import annotations

import math

import numpy as np

EPS = 1e-4
FLOORS = {"psi": 0.1, "js": 0.1, "w1_sigma": 0.1}


def edges(x: np.ndarray, k: int = 10) -> list[float]:
    """min, interior quantiles (deciles), max; strictly increasing (deduplicated)."""
    x = np.asarray(x, dtype=np.float64)
    qs = np.quantile(x, np.linspace(0.0, 1.0, k + 1), method="linear")
    out: list[float] = []
    for q in qs.tolist():
        if not out or q > out[-1]:
            out.append(float(q))
    if len(out) == 1:  # constant feature: one regular bin around the value
        out.append(math.nextafter(out[0], math.inf))
    return out


def counts(x: np.ndarray, e: list[float]) -> list[int]:
    """Counts per bin: underflow, k regular bins (last closed on the right), overflow."""
    x = np.asarray(x, dtype=np.float64)
    k = len(e) - 1
    out = [0] * (k + 2)
    idx = np.searchsorted(np.asarray(e), x, side="right")  # 0: < e0, k+1: > ek (or == ek)
    for i, xi in zip(idx.tolist(), x.tolist()):
        if i == 0:
            out[0] += 1
        elif i <= k:
            out[i] += 1
        elif xi == e[-1]:
            out[k] += 1
        else:
            out[k + 1] += 1
    return out


def centres(e: list[float]) -> list[float]:
    return [e[0]] + [(e[i] + e[i + 1]) / 2.0 for i in range(len(e) - 1)] + [e[-1]]


def _props(c) -> list[float]:
    n = float(sum(c))
    return [ci / n for ci in c] if n > 0 else [0.0] * len(c)


def psi(ref, win) -> float:
    p, q = _props(ref), _props(win)
    return sum((max(qi, EPS) - max(pi, EPS)) * math.log(max(qi, EPS) / max(pi, EPS))
               for pi, qi in zip(p, q))  # fmt: skip


def js(ref, win) -> float:
    p, q = _props(ref), _props(win)
    d = 0.0
    for pi, qi in zip(p, q):
        m = 0.5 * (pi + qi)
        if pi > 0:
            d += 0.5 * pi * math.log2(pi / m)
        if qi > 0:
            d += 0.5 * qi * math.log2(qi / m)
    return math.sqrt(max(d, 0.0))


def w1_sigma(ref, win, e: list[float], sigma: float) -> float:
    p, q = _props(ref), _props(win)
    c = centres(e)
    cp = cq = 0.0
    w = 0.0
    for i in range(len(c) - 1):
        cp += p[i]
        cq += q[i]
        w += abs(cp - cq) * (c[i + 1] - c[i])
    return w / (sigma if sigma > 0 else 1.0)


def agent_windows(ts_ms: np.ndarray, window_ms: int, min_samples: int, skip_ms: int = 0, batch=None):
    """Index arrays of the drift windows the agent's monitor closes over vectors stamped
    `ts_ms` (ascending), by the rule of src/monitor/window.rs: a window opens at its first
    vector; a vector with `ts - start >= window_ms` closes it — provided it holds at least
    `min_samples` vectors, else the window goes on — and opens the next one. With `batch`
    (batch id per vector), a batch change drops the open window unreported: a window never
    mixes two batches (sample-level monitors). The last, still open window is not reported.
    `skip_ms`: the agent started that long after the first vector (several start phases give
    more calibration windows of the same shape)."""
    out = []
    ts = np.asarray(ts_ms, dtype=np.int64)
    i0 = int(np.searchsorted(ts, ts[0] + skip_ms)) if len(ts) else 0
    start, first = None, i0
    for i in range(i0, len(ts)):
        if batch is not None and start is not None and batch[i] != batch[i - 1]:
            start = None
        if start is not None and ts[i] - start >= window_ms and i - first >= min_samples:
            out.append(np.arange(first, i))
            start = None
        if start is None:
            start, first = int(ts[i]), i
    return out


#: Mixture reference counts are proportions scaled to this total (src/monitor/window.rs).
MIX_SCALE = 1_000_000


def mixture(by_product: dict[str, list[int]], n: dict[str, int]) -> list[int]:
    """Reference counts for a window holding `n[p]` vectors of product `p`: the products'
    own reference proportions weighted by their share of the window, scaled to MIX_SCALE.
    Products are taken in sorted order, as the agent does (same float sums)."""
    total = sum(n.values())
    k = len(next(iter(by_product.values())))
    mix = [0.0] * k
    for p in sorted(n):
        c = by_product[p]
        s = float(sum(c))
        w = n[p] / total
        for i in range(k):
            mix[i] += w * (c[i] / s)
    return [int(round(m * MIX_SCALE)) for m in mix]


def reference(X: np.ndarray, names: list[str], chunks: list[np.ndarray], products=None) -> dict:
    """Manifest `reference` block: frozen bins and counts over the reference vectors `X`,
    thresholds = mean + 3σ of each statistic over `chunks`, index arrays of windows shaped
    like the agent's drift windows (`agent_windows`), floored at the domain defaults.

    `products` (product code per row of `X`): counts per product too (`by_product`), and
    each chunk is compared with the mixture of its products' references (`mixture`) — an
    hour of one product against all products would always look drifted."""
    feats = []
    codes = sorted(set(products.tolist())) if products is not None else []
    for j, name in enumerate(names):
        x = X[:, j].astype(np.float64)
        e = edges(x)
        c = counts(x, e)
        by = {p: counts(x[products == p], e) for p in codes}
        sigma = float(np.std(x))
        stats = {"psi": [], "js": [], "w1_sigma": []}
        for idx in chunks:
            cw = counts(x[idx], e)
            ref = c
            if codes:
                u, n = np.unique(products[idx], return_counts=True)
                ref = mixture(by, dict(zip(u.tolist(), n.tolist())))
            stats["psi"].append(psi(ref, cw))
            stats["js"].append(js(ref, cw))
            stats["w1_sigma"].append(w1_sigma(ref, cw, e, sigma))
        thr = {}
        for k, vals in stats.items():
            v = np.asarray(vals)
            thr[k] = float(max(FLOORS[k], float(v.mean() + 3.0 * v.std()))) if len(v) else FLOORS[k]
        f = {"name": name, "edges": e, "counts": c, "mean": float(x.mean()), "std": sigma,
             "thresholds": thr}  # fmt: skip
        if codes:
            f["by_product"] = by
        feats.append(f)
    return {"samples": int(X.shape[0]), "features": feats}
