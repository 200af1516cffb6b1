"""The anomaly detector: an IsolationForest fitted on healthy training windows, beside a
per-product robust z-score rule, both judged on windows of injected process faults.

Windows of `sensor-dropout` and `sensor-stuck` are left out of fitting and scoring: missing
or frozen inputs are the validate stage's job (data-quality events), not a process anomaly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GroupKFold, ParameterSampler

from . import evaluate, features, fit

#: IsolationForest's `contamination` while fitting (the exported offset is set on the tuning
#: split instead, see `fit_anomaly`).
CONTAMINATION = 0.02
SPACE = {"n_estimators": [50, 100, 150], "max_samples": [128, 256, 512]}
N_CANDIDATES = 5
DATA_QUALITY_FAULTS = ("sensor-dropout", "sensor-stuck")


class HealthyIsolationForest(BaseEstimator):
    """IsolationForest fitted on the healthy rows only (y == 0)."""

    def __init__(self, n_estimators=100, max_samples=256, random_state=fit.SEED):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X, y):
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators, max_samples=self.max_samples, max_features=1.0,
            contamination=CONTAMINATION, random_state=self.random_state,
        ).fit(X[np.asarray(y) == 0])  # fmt: skip
        return self

    def score_samples(self, X):
        return self.forest_.score_samples(X)


def robust_z(train: pd.DataFrame, names: list[str]):
    """The transparent rule: per product (cocoa %), the largest |x − median| / (1.4826·MAD)
    over the process inputs, with medians and MADs of healthy training windows."""
    inputs = [n for n in names if n != "cocoa_pct_last"]
    stats = {}
    for pct, g in train.groupby("cocoa_pct_last"):
        x = g[inputs].to_numpy(float)
        med = np.median(x, axis=0)
        mad = 1.4826 * np.median(np.abs(x - med), axis=0)
        stats[float(pct)] = (med, np.maximum(mad, 1e-6))

    def score(d: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(d))
        cocoa = d["cocoa_pct_last"].to_numpy(float)
        x = d[inputs].to_numpy(float)
        for pct, (med, mad) in stats.items():
            m = np.isclose(cocoa, pct)
            out[m] = np.abs((x[m] - med) / mad).max(axis=1)
        return out

    return score


def figures(d: pd.DataFrame, flag: np.ndarray, rule_flag: np.ndarray, score, rule_score) -> dict:
    fault = d["fault"].to_numpy()
    y = fault != ""
    per = {f: {"model": evaluate.r6(flag[fault == f].mean()), "rule": evaluate.r6(rule_flag[fault == f].mean())}
           for f in sorted(set(fault.tolist()) - {""})}  # fmt: skip
    return {
        "windows": int(len(d)),
        "model": evaluate.flags(y, flag),
        "rule": evaluate.flags(y, rule_flag),
        "healthy_false_positive_rate": {"model": evaluate.r6(flag[~y].mean()),
                                        "rule": evaluate.r6(rule_flag[~y].mean())},  # fmt: skip
        "average_precision": {"model": evaluate.r6(average_precision_score(y, -score)),
                              "rule": evaluate.r6(average_precision_score(y, rule_score)),
                              "baseline": evaluate.r6(y.mean())},  # fmt: skip
        "recall_per_fault": per,
    }


def fit_anomaly(df: pd.DataFrame, log):
    df = df[~df["fault"].isin(DATA_QUALITY_FAULTS)].reset_index(drop=True)
    s = fit.splits(df)
    tr, tu = s["training"], s["tuning"]
    X_tr, y_tr = fit.X_of(tr, "anomaly"), (tr["fault"] != "").to_numpy(int)
    X_tu, y_tu = fit.X_of(tu, "anomaly"), (tu["fault"] != "").to_numpy(int)
    best, best_ap = None, -1.0
    for c in ParameterSampler(SPACE, N_CANDIDATES, random_state=fit.SEED):
        c = {k: fit.py(v) for k, v in c.items()}
        ap = average_precision_score(y_tu, -HealthyIsolationForest(**c).fit(X_tr, y_tr).score_samples(X_tu))
        if ap > best_ap:
            best, best_ap = c, ap
    log(f"  anomaly: chose {best} on the tuning split (AP {best_ap:.4f})")
    model = IsolationForest(max_features=1.0, contamination=CONTAMINATION, random_state=fit.SEED,
                            **best).fit(X_tr[y_tr == 0])  # fmt: skip
    # Thresholds from healthy tuning windows: the lowest model score, the highest rule z.
    threshold = float(model.score_samples(X_tu[y_tu == 0]).min())
    model.offset_ = threshold
    names = [f["name"] for f in features.SPECS["anomaly"]]
    rule = robust_z(tr[y_tr == 0], names)
    z_limit = float(rule(tu[y_tu == 0]).max())
    figs = {}
    for split, d in s.items():
        X = fit.X_of(d, "anomaly")
        if split == "training":
            score = np.zeros(len(d))
            y = (d["fault"] != "").to_numpy(int)
            for a, b in GroupKFold(5).split(X, y, d["batch"]):
                score[b] = HealthyIsolationForest(**best).fit(X[a], y[a]).score_samples(X[b])
        else:
            score = model.score_samples(X)
        z = rule(d)
        figs[split] = figures(d, score < threshold, z > z_limit, score, z)
        figs[split].update(score=score, y=(d["fault"] != "").to_numpy(int))
    tun = figs["tuning"]
    decides = tun["model"]["f1"] > tun["rule"]["f1"]
    decision = {"threshold": 0.0, "decides": bool(decides), "score_threshold": evaluate.r6(threshold),
                "rule": f"per-product robust z of the 60-s means above {z_limit:.2f} "
                        "(the highest healthy tuning window)", "chosen_on": "tuning"}  # fmt: skip
    params = {**best, "max_features": 1.0, "offset": "lowest healthy tuning score"}
    return model, X_tr[y_tr == 0], params, figs, decision
