"""Fitting on three disjoint seed sets: choose on tuning, fit on training, report held out.

For each model:

1. hyper-parameters: a fixed list of candidates (seeded sampler) is fitted on the training
   split and scored on the tuning split — no candidate is ever scored on held-out data;
2. grouped CV (GroupKFold(5) by physical bean lot or batch) of the chosen configuration on
   the training split, for the "CV beside held-out" comparison;
3. the exported model: the chosen configuration fitted on the whole training split;
4. thresholds and the model-or-rule decision: chosen on the tuning split;
5. figures of the model, its transparent rule and its naive baseline on every split
   (`evaluate`), for the manifest and the report.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import GroupKFold, ParameterSampler, cross_val_predict

from . import dataset, evaluate, features, rules

SEED = 42
CLASSES = {"quality": dataset.GRADES, "bloom": dataset.BLOOM_LABELS}
#: Reject alerts must be right this often on the tuning split (issue: ≥ 0.9 on a healthy line).
REJECT_PRECISION = 0.9
#: Candidate P(reject) thresholds, lowest first.
REJECT_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
#: Every bloom class must be found this often on every product of the tuning split.
BLOOM_RECALL = 0.95
#: Candidate bloom thresholds, highest first (the first that keeps `BLOOM_RECALL` wins).
BLOOM_THRESHOLDS = (0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2)

SPACES = {
    "quality": {"n_estimators": [100, 200], "max_depth": [8, 10, 12], "min_samples_split": [2, 5],
                "max_features": ["sqrt", 0.5], "class_weight": [None, "balanced"]},
    "bloom": {"n_estimators": [50, 100], "max_depth": [8, 10], "min_samples_split": [2, 5, 10],
              "max_features": ["sqrt", 0.5], "class_weight": [None, "balanced"]},
    "yield": {"n_estimators": [300, 600], "learning_rate": [0.03, 0.05], "max_depth": [2, 3, 4],
              "subsample": [0.8, 1.0], "min_samples_leaf": [1, 3, 5]},
}  # fmt: skip
N_CANDIDATES = {"quality": 6, "bloom": 4, "yield": 6}


def py(v):
    return v.item() if isinstance(v, np.generic) else v


def X_of(df: pd.DataFrame, name: str) -> np.ndarray:
    """Inputs as the float32 values the ONNX graph will see, held in float64."""
    names = [f["name"] for f in features.SPECS[name]]
    return df[names].to_numpy(np.float64).astype(np.float32).astype(np.float64)


def splits(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {s: df[df["split"] == s].reset_index(drop=True) for s in dataset.SPLITS}


def candidates(name: str) -> list[dict]:
    return [{k: py(v) for k, v in c.items()}
            for c in ParameterSampler(SPACES[name], N_CANDIDATES[name], random_state=SEED)]  # fmt: skip


def choose(name: str, make, X_tr, y_tr, X_tu, y_tu, score, log) -> dict:
    """The candidate with the best `score(y_tu, model.predict(X_tu))` (first on ties)."""
    best, best_s = None, -np.inf
    for c in candidates(name):
        s = score(y_tu, make(**c).fit(X_tr, y_tr).predict(X_tu))
        if s > best_s:
            best, best_s = c, s
    log(f"  {name}: chose {best} on the tuning split (score {best_s:.4f})")
    return best


def grouped_cv(est, X, y, groups, method: str | None = None):
    kw = {"method": method} if method else {}
    return cross_val_predict(clone(est), X, y, groups=groups, cv=GroupKFold(n_splits=5), **kw)


def labels(df: pd.DataFrame, name: str) -> np.ndarray:
    col = "quality_grade" if name == "quality" else "bloom_label"
    classes = CLASSES[name]
    return np.array([classes.index(v) for v in df[col].to_numpy()])


def forest(name: str, tr: pd.DataFrame, tu: pd.DataFrame, log):
    """A RandomForestClassifier for `name`: candidates fitted on training, the best macro-F1
    on tuning refitted on training. Returns (model, params, X_training, y_training)."""
    X_tr, y_tr = X_of(tr, name), labels(tr, name)

    def make(**c):
        return RandomForestClassifier(random_state=SEED, n_jobs=1, **c)

    def macro(y, p):
        return f1_score(y, p, average="macro")

    params = choose(name, make, X_tr, y_tr, X_of(tu, name), labels(tu, name), macro, log)
    return make(**params).fit(X_tr, y_tr), params, X_tr, y_tr


# --------------------------------------------------------------------------- quality


def reject_threshold(y, proba) -> float:
    """Lowest candidate threshold whose reject flags reach `REJECT_PRECISION` on tuning."""
    for t in REJECT_THRESHOLDS:
        if evaluate.flags(y == 2, proba[:, 2] >= t)["precision"] >= REJECT_PRECISION:
            return t
    return REJECT_THRESHOLDS[-1]


def fit_quality(df: pd.DataFrame, log):
    s = splits(df)
    tr, tu = s["training"], s["tuning"]
    model, params, X_tr, y_tr = forest("quality", tr, tu, log)
    drivers = rules.quality_drivers(SEED).fit(rules.quality_terms(tr), y_tr)
    majority = int(np.bincount(y_tr).argmax())
    tu_proba = model.predict_proba(X_of(tu, "quality"))
    threshold = reject_threshold(labels(tu, "quality"), tu_proba)
    figs = {}
    for split, d in s.items():
        y = labels(d, "quality")
        if split == "training":
            proba = grouped_cv(model, X_tr, y_tr, tr["lot"], "predict_proba")
            drv = grouped_cv(drivers, rules.quality_terms(tr), y_tr, tr["lot"])
        else:
            proba = model.predict_proba(X_of(d, "quality"))
            drv = drivers.predict(rules.quality_terms(d))
        figs[split] = evaluate.quality(d, y, proba, threshold, drv, rules.quality_spec_rule(d), majority)
        figs[split].update(proba=proba, y=y)  # arrays: dropped from the manifest, for the report
    tun = figs["tuning"]
    decides = (tun["reject_model_or_rule"]["f1"] > tun["reject_rule"]["f1"]
               and tun["reject_model"]["precision"] >= REJECT_PRECISION)  # fmt: skip
    decision = {"threshold": threshold, "positive": "reject", "decides": bool(decides),
                "rule": "an aggregate outside the product spec (moisture, pH, particle size)",
                "chosen_on": "tuning"}  # fmt: skip
    return model, X_tr, params, figs, decision


# --------------------------------------------------------------------------- yield


def fit_yield(df: pd.DataFrame, log):
    s = splits(df)
    tr, tu = s["training"], s["tuning"]
    X_tr, y_tr = X_of(tr, "yield"), tr["yield_pct"].to_numpy(float)

    def make(**c):
        return GradientBoostingRegressor(random_state=SEED, **c)

    def neg_mae(y, p):
        return -float(np.abs(y - p).mean())

    params = choose("yield", make, X_tr, y_tr, X_of(tu, "yield"), tu["yield_pct"].to_numpy(float), neg_mae, log)
    model = make(**params).fit(X_tr, y_tr)
    drivers = rules.yield_drivers().fit(rules.yield_terms(tr), y_tr)
    mean = float(y_tr.mean())
    figs = {}
    for split, d in s.items():
        if split == "training":
            pred = grouped_cv(model, X_tr, y_tr, tr["lot"])
            drv = grouped_cv(drivers, rules.yield_terms(tr), y_tr, tr["lot"])
        else:
            pred = model.predict(X_of(d, "yield"))
            drv = drivers.predict(rules.yield_terms(d))
        figs[split] = evaluate.yield_(d, pred, drv, mean)
        figs[split].update(pred=pred, y=d["yield_pct"].to_numpy(float))
    tun = figs["tuning"]
    decides = tun["mae"] < tun["drivers_mae"]
    decision = {"threshold": evaluate.YIELD_LOW, "decides": bool(decides),
                "rule": "linear model on the known yield drivers (models/training/rules.py)",
                "chosen_on": "tuning"}  # fmt: skip
    return model, X_tr, params, figs, decision


# --------------------------------------------------------------------------- bloom


def bloom_threshold(d: pd.DataFrame, y, proba) -> float:
    """Highest candidate threshold at which every bloom class is found at `BLOOM_RECALL` on
    every product of the tuning split (the lowest candidate if none is)."""
    for t in BLOOM_THRESHOLDS:
        if evaluate.min_recall(evaluate.bloom(d, y, proba, t, rules.bloom_rule(d))) >= BLOOM_RECALL:
            return t
    return BLOOM_THRESHOLDS[-1]


def fit_bloom(df: pd.DataFrame, log):
    s = splits(df)
    tr, tu = s["training"], s["tuning"]
    model, params, X_tr, y_tr = forest("bloom", tr, tu, log)
    y_tu = labels(tu, "bloom")
    threshold = bloom_threshold(tu, y_tu, model.predict_proba(X_of(tu, "bloom")))
    figs = {}
    for split, d in s.items():
        y = labels(d, "bloom")
        if split == "training":
            proba = grouped_cv(model, X_tr, y_tr, tr["batch"], "predict_proba")
        else:
            proba = model.predict_proba(X_of(d, "bloom"))
        figs[split] = evaluate.bloom(d, y, proba, threshold, rules.bloom_rule(d))
        figs[split].update(proba=proba, y=y)
    tun = figs["tuning"]
    beats = [tun["per_class"][c]["model"]["f1"] > tun["per_class"][c]["rule"]["f1"]
             for c in ("fat_bloom", "sugar_bloom")]  # fmt: skip
    decision = {"threshold": threshold, "decides": bool(all(beats)),
                "rule": "working temperature above band top + 0.5 °C (fat); humidity above the "
                        "product's limit or moisture above 2.3 % (sugar)",
                "chosen_on": "tuning"}  # fmt: skip
    return model, X_tr, params, figs, decision
