"""Figures of a model beside its naive baseline and its transparent rule, on one split.

Every function here takes the rows of one split (training-CV predictions, tuning or held-out)
and returns plain dicts of rounded figures for the manifest and the report, overall and per
product. Alert figures count what the agent would raise: a batch flagged reject, a batch
predicted at or below the `yield_low` threshold, a window over the bloom threshold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, mean_absolute_error, r2_score

#: `[alerts.yield_low]` raise threshold (src/alert/config.rs): a batch at or below this
#: yield % is a low-yield batch, predicted or true.
YIELD_LOW = 75.0
#: Weighing noise on the yield label (src/simulate/batch.rs): N(0, 0.6) as an Irwin–Hall sum.
YIELD_NOISE_SD = 0.6


def r6(x) -> float:
    return float(round(float(x), 6))


def scenario_of(run: pd.Series) -> np.ndarray:
    """Scenario of each row from its run name (`fat-bloom-s12` → `fat-bloom`)."""
    return run.astype(str).str.rsplit("-s", n=1).str[0].to_numpy()


def yield_noise_floor(sd: float = YIELD_NOISE_SD) -> float:
    """Mean absolute error of a perfect yield model: E|e| of the label noise, the simulator's
    Irwin–Hall(4) normal (sum of four U(0,1), centred, scaled to `sd`), by exact numeric
    integration of its piecewise-cubic density."""
    s = np.linspace(0.0, 4.0, 400_001)
    f = np.where(s < 1, s**3 / 6, np.where(s < 2, (-3 * s**3 + 12 * s**2 - 12 * s + 4) / 6,
                 np.where(s < 3, (3 * s**3 - 24 * s**2 + 60 * s - 44) / 6, (4 - s) ** 3 / 6)))  # fmt: skip
    e = np.abs(s - 2.0) * np.sqrt(3.0) * sd
    return r6(np.trapezoid(e * f, s))


def flags(truth: np.ndarray, flag: np.ndarray) -> dict:
    """Event counts and precision / recall / F1 of a boolean flag against boolean truth."""
    tp = int((flag & truth).sum())
    fp = int((flag & ~truth).sum())
    fn = int((~flag & truth).sum())
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"events": tp + fn, "flagged": tp + fp, "tp": tp, "fp": fp, "fn": fn,
            "precision": r6(prec), "recall": r6(rec), "f1": r6(f1)}  # fmt: skip


def per_product(products: np.ndarray, fn) -> dict:
    """`fn(mask)` for each product present, keyed by product code."""
    return {p: fn(products == p) for p in sorted(set(products.tolist()))}


def macro_f1(y, pred, n_classes: int) -> float:
    return r6(f1_score(y, pred, labels=list(range(n_classes)), average="macro", zero_division=0))


# --------------------------------------------------------------------------- quality


def quality(df: pd.DataFrame, y: np.ndarray, proba: np.ndarray, threshold: float,
            drivers_pred: np.ndarray, spec: np.ndarray, majority: int) -> dict:  # fmt: skip
    """Grade macro-F1 of the model, the ordinal drivers model and the majority class; reject
    alerts of the model (P(reject) ≥ threshold), of the spec rule and of both together (what
    `out_of_range_batch` raises), overall and on healthy-line batches (runs of `normal`)."""
    pred = proba.argmax(axis=1)
    reject = y == 2
    model_flag = proba[:, 2] >= threshold
    healthy = scenario_of(df["run"]) == "normal"
    products = df["product"].to_numpy()
    out = {
        "batches": int(len(y)),
        "macro_f1": macro_f1(y, pred, 3),
        "drivers_macro_f1": macro_f1(y, drivers_pred, 3),
        "baseline_macro_f1": macro_f1(y, np.full(len(y), majority), 3),
        "reject_model": flags(reject, model_flag),
        "reject_rule": flags(reject, spec),
        "reject_model_or_rule": flags(reject, model_flag | spec),
        "reject_model_healthy_line": flags(reject[healthy], model_flag[healthy]),
        "per_product": per_product(products, lambda m: {
            "batches": int(m.sum()), "macro_f1": macro_f1(y[m], pred[m], 3),
            "drivers_macro_f1": macro_f1(y[m], drivers_pred[m], 3),
            "reject_model": flags(reject[m], model_flag[m]),
            "reject_rule": flags(reject[m], spec[m])}),
    }  # fmt: skip
    return out


# --------------------------------------------------------------------------- yield


def yield_(df: pd.DataFrame, pred: np.ndarray, drivers: np.ndarray, mean: float) -> dict:
    """MAE / R² of the model, the linear drivers model and the training mean; `yield_low`
    as events (batches at or below `YIELD_LOW`, true vs predicted)."""
    y = df["yield_pct"].to_numpy(float)
    products = df["product"].to_numpy()
    low = y <= YIELD_LOW
    healthy = scenario_of(df["run"]) == "normal"

    def figures(m):
        return {"batches": int(m.sum()), "mae": r6(mean_absolute_error(y[m], pred[m])),
                "drivers_mae": r6(mean_absolute_error(y[m], drivers[m])),
                "baseline_mae": r6(np.abs(y[m] - mean).mean())}  # fmt: skip

    out = figures(np.ones(len(y), bool))
    out.update({
        "r2": r6(r2_score(y, pred)),
        "drivers_r2": r6(r2_score(y, drivers)),
        "noise_floor_mae": yield_noise_floor(),
        "yield_low_model": flags(low, pred <= YIELD_LOW),
        "yield_low_drivers": flags(low, drivers <= YIELD_LOW),
        "yield_low_model_healthy_line": flags(low[healthy], pred[healthy] <= YIELD_LOW),
        "per_product": per_product(products, figures),
    })  # fmt: skip
    return out


# --------------------------------------------------------------------------- bloom


def bloom(df: pd.DataFrame, y: np.ndarray, proba: np.ndarray, threshold: float,
          rule: np.ndarray) -> dict:  # fmt: skip
    """Per bloom class: windows flagged by the model (P(class) ≥ threshold) and by the physics
    rule against the label, overall and per product; macro-F1 of both and of "never"."""
    products = df["product"].to_numpy()
    pred = proba.argmax(axis=1)

    def classes(m):
        d = {}
        for i, c in ((1, "fat_bloom"), (2, "sugar_bloom")):
            d[c] = {"model": flags(y[m] == i, proba[m, i] >= threshold),
                    "rule": flags(y[m] == i, rule[m] == i)}  # fmt: skip
        return d

    return {
        "windows": int(len(y)),
        "macro_f1": macro_f1(y, pred, 3),
        "rule_macro_f1": macro_f1(y, rule, 3),
        "baseline_macro_f1": macro_f1(y, np.zeros(len(y), int), 3),
        "per_class": classes(np.ones(len(y), bool)),
        "per_product": per_product(products, lambda m: {"windows": int(m.sum()), **classes(m)}),
    }


def min_recall(fig: dict, who: str = "model") -> float:
    """Lowest per-class, per-product recall of a bloom figure set (for the summary)."""
    vals = [c[who]["recall"] for p in fig["per_product"].values() for k, c in p.items()
            if k != "windows" and c[who]["events"] > 0]  # fmt: skip
    return min(vals) if vals else 1.0
