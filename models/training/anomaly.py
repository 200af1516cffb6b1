"""The anomaly detector: per-product multivariate SPC (robust z-scores of the process
signals), beside the product-spec rule a process engineer would write, both judged on
windows of injected process faults.

`ProductSPC` keeps, per product (cocoa %, the product identity in the feature vector), the
median and the robust spread (1.4826·MAD) of every process input over healthy training
windows. A window's contribution of signal j is z_j = (x_j − median_j) / spread_j; its score
is −max_j |z_j| (lower = more anomalous, sklearn's `score_samples` convention), and the
decision function is score − offset with offset = −limit, negative above the limit. The
limit is the largest |z| of any healthy window of the tuning split. The alert names the
signals with the largest |z| (src/alert/engine.rs).

Unlike the IsolationForest it replaces, the score does not saturate: a tunnel 6 °C warm
scores twice a tunnel 3 °C warm, and signals no supervised model was trained on a fault of
(the cooling tunnel, the conche) are watched as closely as the others.

Windows of `sensor-dropout` and `sensor-stuck` are left out of fitting and scoring: missing
or frozen inputs are the validate stage's job (data-quality events), not a process anomaly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GroupKFold

from . import dataset, evaluate, features, fit, rules

DATA_QUALITY_FAULTS = ("sensor-dropout", "sensor-stuck")
#: The product column of the anomaly inputs (features.SPECS["anomaly"]).
PRODUCT = "cocoa_pct_last"
#: Two rows belong to the same product when their cocoa % differ by less than this.
PRODUCT_TOLERANCE = 0.5
#: A signal gets per-product statistics when some product's median is this many pooled
#: spreads from the pooled median.
PER_PRODUCT_SPREADS = 1.0
#: The limit is this multiple of the largest healthy tuning |z|. The tuning split holds
#: about 9 days of healthy running; the largest of Gaussian-tailed maxima grows like
#: sqrt(2 ln n), so 1.25 stands for about a hundred times that span (with ≈ 170 independent
#: 60-s means a day). Without it, 3 false alerts in 14 alert-tuning days (seeds 9001–9014).
LIMIT_MARGIN = 1.25
#: Smallest spread: a signal constant in training (a quantised set point) would divide by 0.
MIN_SPREAD = 1e-3
#: Process-spec limits of the transparent rule: tunnel air °C, conche temperature around
#: its set point °C (docs/alerts.md) — the limits an engineer sets without data.
TUNNEL_LIMITS_C = (10.0, 16.0)
CONCHE_TOLERANCE_C = 5.0
CONCHE_SETPOINT_C = {70.0: 70.0, 55.0: 65.0, 35.0: 55.0, 30.0: 48.0}
MOISTURE_LIMITS = (1.0, rules.WET_MOISTURE)


class ProductSPC(BaseEstimator):
    """Per-product robust z-scores; see the module doc. `product` is the column index of
    the cocoa %; every other column is a process input."""

    def __init__(self, product: int = -1, limit: float = 5.0):
        self.product = product
        self.limit = limit

    def _split(self, X):
        X = np.asarray(X, dtype=np.float32)
        p = self.product % X.shape[1]
        proc = [j for j in range(X.shape[1]) if j != p]
        return X[:, proc], X[:, p]

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float32)
        if y is not None:
            X = X[np.asarray(y) == 0]
        x, cocoa = self._split(X)
        products = sorted({float(v) for v in np.unique(cocoa)})
        if any(b - a < 2 * PRODUCT_TOLERANCE for a, b in zip(products, products[1:])):
            raise ValueError(f"products closer than {2 * PRODUCT_TOLERANCE} cocoa %: {products}")
        rows = [x[np.abs(cocoa - p) < PRODUCT_TOLERANCE] for p in products] + [x]
        med = np.array([np.median(r, axis=0) for r in rows])
        mad = np.array([1.4826 * np.median(np.abs(r - m), axis=0) for r, m in zip(rows, med)])
        # A signal is judged per product only where the product sets its level (the
        # tempering and conche set points): its product medians lie more than one pooled
        # spread apart. Ambient and lot-driven signals (humidity, tunnel air, pH) get the
        # pooled statistics of every product, so an hour of the day in which one product
        # happened not to run in training does not look abnormal for it.
        pooled_spread = np.maximum(mad[-1], MIN_SPREAD)
        self.per_product_ = np.abs(med[:-1] - med[-1]).max(axis=0) > PER_PRODUCT_SPREADS * pooled_spread
        med[:-1, ~self.per_product_] = med[-1, ~self.per_product_]
        mad[:-1, ~self.per_product_] = mad[-1, ~self.per_product_]
        self.products_ = np.asarray(products, dtype=np.float32)
        self.median_ = med.astype(np.float32)  # one row per product, then the pooled row
        self.spread_ = np.maximum(mad, MIN_SPREAD).astype(np.float32)
        self.offset_ = np.float32(-self.limit)
        return self

    def onehot(self, cocoa: np.ndarray) -> np.ndarray:
        """Which stats row each window uses: its product's, or the pooled row (last) for a
        product not seen in training."""
        hit = (np.abs(cocoa[:, None] - self.products_[None, :]) < np.float32(PRODUCT_TOLERANCE))
        w = hit.astype(np.float32)
        return np.column_stack([w, np.float32(1.0) - w.sum(axis=1, dtype=np.float32)]).astype(np.float32)

    def contributions(self, X) -> np.ndarray:
        """z per process input, in float32 exactly as the ONNX graph computes it."""
        x, cocoa = self._split(X)
        w = self.onehot(cocoa)
        idx = w.argmax(axis=1)  # exactly one 1 per row: the row the graph's Gather picks
        return ((x - self.median_[idx]) / self.spread_[idx]).astype(np.float32)

    def score_samples(self, X) -> np.ndarray:
        return -np.abs(self.contributions(X)).max(axis=1)

    def decision_function(self, X) -> np.ndarray:
        return (self.score_samples(X) - self.offset_).astype(np.float32)


def spec_rule(d: pd.DataFrame) -> np.ndarray:
    """The transparent rule: any 60-s mean outside its product's written limits — the
    working band ± the fat-bloom margin, humidity above the sugar-bloom limit, particle size
    above 25 µm, moisture outside 1.0–2.3 %, pH outside 5.0–5.5, tunnel air outside
    10–16 °C, conche more than 5 °C from its set point."""
    lo, hi = rules.band(d, PRODUCT)
    cocoa = d[PRODUCT].to_numpy(float)
    conche_sp = np.array([CONCHE_SETPOINT_C.get(float(c), np.nan) for c in cocoa])
    col = {c: d[c].to_numpy(float) for c in d.columns if c.endswith("_mean_60")}
    out = (col["temperature_mean_60"] > hi + rules.FAT_MARGIN_C) | (col["temperature_mean_60"] < lo - rules.FAT_MARGIN_C)
    out |= col["humidity_mean_60"] > rules.product_column(d, PRODUCT, "humidity_limit")
    out |= col["particle_size_mean_60"] > rules.PARTICLE_MAX_UM
    out |= (col["moisture_mean_60"] < MOISTURE_LIMITS[0]) | (col["moisture_mean_60"] > MOISTURE_LIMITS[1])
    out |= (col["ph_mean_60"] < rules.PH_SPEC[0]) | (col["ph_mean_60"] > rules.PH_SPEC[1])
    out |= (col["tunnel_temp_mean_60"] < TUNNEL_LIMITS_C[0]) | (col["tunnel_temp_mean_60"] > TUNNEL_LIMITS_C[1])
    out |= ~(np.abs(col["conche_temp_mean_60"] - conche_sp) <= CONCHE_TOLERANCE_C)
    return out


def figures(d: pd.DataFrame, score: np.ndarray, limit: float) -> dict:
    """Model (|z| above `limit`) beside the spec rule and the naive baselines on one split."""
    fault = d["fault"].to_numpy()
    y = fault != ""
    flag, rule_flag = -score > limit, spec_rule(d)
    per = {f: {"model": evaluate.r6(flag[fault == f].mean()), "rule": evaluate.r6(rule_flag[fault == f].mean())}
           for f in sorted(set(fault.tolist()) - {""})}  # fmt: skip
    # The model at the rule's healthy false-positive rate (the same cost on a healthy line):
    # the comparison that decides, since the rule and the deployed limit sit at different
    # false-positive rates (Neyman–Pearson).
    fpr = float(rule_flag[~y].mean()) if (~y).any() else 0.0
    matched = -score > np.quantile(-score[~y], 1.0 - fpr) if (~y).any() else flag
    return {
        "windows": int(len(d)),
        "model": evaluate.flags(y, flag),
        "model_at_rule_fpr": evaluate.flags(y, matched),
        "rule": evaluate.flags(y, rule_flag),
        "always_flag": evaluate.flags(y, np.ones(len(d), bool)),
        "healthy_false_positive_rate": {"model": evaluate.r6(flag[~y].mean()),
                                        "rule": evaluate.r6(rule_flag[~y].mean())},  # fmt: skip
        "average_precision": {"model": evaluate.r6(average_precision_score(y, -score)),
                              "baseline": evaluate.r6(y.mean())},  # fmt: skip
        "recall_per_fault": per,
    }


def process_names() -> list[str]:
    """The process inputs of the anomaly model, in the order of its contributions."""
    return [f["name"] for f in features.SPECS["anomaly"] if f["name"] != PRODUCT]


def in_control(d: pd.DataFrame) -> np.ndarray:
    """0 for the windows the statistics are fitted on (healthy windows of normal runs), 1
    for the others (`ProductSPC.fit` keeps the rows where y == 0)."""
    normal = evaluate.scenario_of(d["run"]) == "normal"
    return (~(normal & (d["fault"] == "").to_numpy())).astype(int)


def healthy_every_sample(runs) -> np.ndarray:
    """The vectors the agent judges at every second of `runs`, where nothing in the window is
    faulty: windows holding a fault sample, a missing value, or a product change less than
    one window ago (the alert rule skips those, src/alert/engine.rs `model_settling`) are
    left out. Sensor-fault runs are left out whole."""
    spec = features.SPECS["anomaly"]
    w = features.longest_window(spec)
    out = []
    for run in runs:
        s = run.samples
        if evaluate.scenario_of(pd.Series([run.name]))[0] in DATA_QUALITY_FAULTS:
            continue
        t = s["ts_ms"].to_numpy(np.float64) / 1000.0
        cols = [s[f["signal"]].to_numpy(np.float64) for f in spec]
        bad = (s["fault"].to_numpy() != "") | ~np.isfinite(np.column_stack(cols)).all(axis=1)
        code = features.product_codes(run)
        changed = np.r_[False, code[1:] != code[:-1]]
        ends = np.arange(w, len(s) + 1)
        window = {"transform": "max", "window": w, "params": {}}
        skip = features.rolling(window, t, (bad | changed).astype(np.float64), ends) > 0
        ends = ends[~skip]
        X = np.column_stack([features.rolling(f, t, np.nan_to_num(c), ends) for f, c in zip(spec, cols)])
        out.append(X)
    return np.concatenate(out) if out else np.empty((0, len(spec)))


def fit_anomaly(df: pd.DataFrame, log, data_dir):
    df = df[~df["fault"].isin(DATA_QUALITY_FAULTS)].reset_index(drop=True)
    s = fit.splits(df)
    tr = s["training"]
    X_tr, y_tr = fit.X_of(tr, "anomaly"), (tr["fault"] != "").to_numpy(int)
    product = [f["name"] for f in features.SPECS["anomaly"]].index(PRODUCT)
    # Phase I data: the normal runs only. The fault runs cover the same 12 hours of every
    # day, so their healthy stretches would teach the statistics half of the humidity's
    # daily swing; the normal runs are whole days.
    model = ProductSPC(product=product).fit(X_tr, in_control(tr))
    # The limit: the largest |z| of any healthy tuning vector, every second as the agent
    # judges them (sparser windows miss the tails: 3 false alerts in 14 tuning days).
    healthy = healthy_every_sample(dataset.load_set(data_dir, "sample", ("tuning",)))
    limit = LIMIT_MARGIN * float(-model.score_samples(healthy).min())
    model.set_params(limit=limit)
    model.offset_ = np.float32(-limit)
    log(f"  anomaly: per-product robust z over {len(model.products_)} products, limit {limit:.3f} "
        f"({LIMIT_MARGIN} × the largest |z| of {len(healthy)} healthy tuning vectors)")  # fmt: skip
    figs = {}
    for split, d in s.items():
        X = fit.X_of(d, "anomaly")
        y = (d["fault"] != "").to_numpy(int)
        if split == "training":
            score = np.zeros(len(d), dtype=np.float32)
            phase1 = in_control(d)
            for a, b in GroupKFold(5).split(X, y, d["batch"]):
                score[b] = ProductSPC(product=product).fit(X[a], phase1[a]).score_samples(X[b])
        else:
            score = model.score_samples(X)
        figs[split] = figures(d, score, limit)
        figs[split].update(score=score, y=y)
    tun = figs["tuning"]
    decides = tun["model_at_rule_fpr"]["recall"] > tun["rule"]["recall"]
    decision = {"threshold": 0.0, "decides": bool(decides), "score_threshold": evaluate.r6(-limit),
                "rule": "any 60-s mean outside its product's written limits (working band ± 0.5 °C, "
                        "sugar-bloom humidity, 25 µm, moisture 1.0–2.3 %, pH 5.0–5.5, tunnel 10–16 °C, "
                        "conche set point ± 5 °C)", "chosen_on": "tuning"}  # fmt: skip
    params = {"statistic": "per-product median and 1.4826·MAD of the normal training runs' windows",
              "limit": evaluate.r6(limit), "limit_from": f"{LIMIT_MARGIN} × the largest |z| of the healthy tuning vectors, every second",
              "per_product": [n for n, pp in zip(process_names(), model.per_product_.tolist()) if pp]}  # fmt: skip
    return model, X_tr[y_tr == 0], params, figs, decision
