"""Train, evaluate (grouped CV against baselines), export and document the four models."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, clone
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import GradientBoostingRegressor, IsolationForest, RandomForestClassifier
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_absolute_percentage_error,
    r2_score,
)
from sklearn.model_selection import GroupKFold, RandomizedSearchCV, cross_val_predict

from . import dataset, drift, features, golden, onnx_export, report

SEED = 42
MODEL_NAMES = ("quality", "yield", "bloom", "anomaly")
VERSION = "1.0.0"
CLASSES = {"quality": dataset.GRADES, "bloom": dataset.BLOOM_LABELS}
#: Alert threshold of the bloom model: a class other than "none" with probability ≥ this.
BLOOM_THRESHOLD = 0.5
#: IsolationForest's `contamination` during the hyper-parameter search (scored by average
#: precision, which ignores the offset); the exported offset is set from held-out healthy
#: windows instead (see `fit_model`).
ANOMALY_CONTAMINATION = 0.02


def r6(x: float) -> float:
    return float(round(float(x), 6))


# --------------------------------------------------------------------------- data per model


def table(name: str, data_dir: Path, log) -> pd.DataFrame:
    level = features.LEVEL[name]
    runs = dataset.load_set(data_dir, level)
    log(f"  {name}: {len(runs)} {level} runs loaded, computing features")
    if level == "batch":
        return features.batch_table(runs, name)
    df = features.window_table(runs, name)
    names = [f["name"] for f in features.SPECS[name]]
    finite = np.isfinite(df[names].to_numpy()).all(axis=1)
    # Windows with an input missing are refused by the validate stage, not fed to a model.
    return df[finite].reset_index(drop=True)


# --------------------------------------------------------------------------- anomaly wrapper


class HealthyIsolationForest(BaseEstimator):
    """IsolationForest fitted on the healthy rows only (y == 0): it learns what the line
    looks like without faults; RandomizedSearchCV scores it on faults it never saw."""

    def __init__(self, n_estimators=100, max_samples=256, random_state=SEED):
        self.n_estimators = n_estimators
        self.max_samples = max_samples
        self.random_state = random_state

    def make(self):
        return IsolationForest(
            n_estimators=self.n_estimators,
            max_samples=self.max_samples,
            max_features=1.0,
            contamination=ANOMALY_CONTAMINATION,
            random_state=self.random_state,
        )

    def fit(self, X, y):
        self.forest_ = self.make().fit(X[np.asarray(y) == 0])
        return self

    def score_samples(self, X):
        return self.forest_.score_samples(X)

    def decision_function(self, X):
        return self.forest_.decision_function(X)


def _ap_scorer(est, X, y):
    return average_precision_score(y, -est.score_samples(X))


# --------------------------------------------------------------------------- training


def fit_model(name: str, df: pd.DataFrame, log):
    """Search, cross-validate against a baseline, fit the final model.

    Returns (estimator, X float64 of float32 values, metrics, params, extra-for-report)."""
    names = [f["name"] for f in features.SPECS[name]]
    # Train on the float32 values the ONNX graph will see.
    X = df[names].to_numpy(np.float64).astype(np.float32).astype(np.float64)
    cv = GroupKFold(n_splits=5)
    extra: dict = {"names": names}
    if name in ("quality", "bloom"):
        classes = CLASSES[name]
        ylab = df["quality_grade" if name == "quality" else "bloom_label"].to_numpy()
        y = np.array([classes.index(v) for v in ylab])
        groups = df["lot" if name == "quality" else "batch"].to_numpy()
        space = {
            "n_estimators": [50, 100],
            "max_depth": [6, 8, 10],
            "min_samples_split": [2, 5, 10],
            "max_features": ["sqrt", 0.5],
            "class_weight": [None, "balanced"],
        }
        search = RandomizedSearchCV(
            RandomForestClassifier(random_state=SEED, n_jobs=1), space, n_iter=6,
            scoring="f1_macro", cv=cv, random_state=SEED, n_jobs=1, refit=True,
        )  # fmt: skip
        log(f"  {name}: RandomizedSearchCV (6 candidates x 5 grouped folds) on {len(X)} rows")
        search.fit(X, y, groups=groups)
        best = search.best_estimator_
        proba = cross_val_predict(clone(best), X, y, groups=groups, cv=cv, method="predict_proba")
        pred = proba.argmax(axis=1)
        base = cross_val_predict(DummyClassifier(strategy="most_frequent"), X, y, groups=groups, cv=cv)
        cm = confusion_matrix(y, pred, labels=range(len(classes)))
        metrics = {
            "cv": "GroupKFold(5) by " + ("bean lot" if name == "quality" else "batch"),
            "rows": int(len(X)),
            "macro_f1": r6(f1_score(y, pred, average="macro")),
            "baseline_macro_f1": r6(f1_score(y, base, average="macro")),
            "baseline": "majority class",
            "confusion_matrix": cm.tolist(),
            "class_counts": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        }
        if name == "bloom":
            per = {}
            for i, c in enumerate(classes[1:], start=1):
                hit = proba[:, i] >= BLOOM_THRESHOLD
                pos = y == i
                per[c] = {
                    "recall": r6(hit[pos].mean()) if pos.any() else 0.0,
                    "precision": r6(pos[hit].mean()) if hit.any() else 0.0,
                    "baseline_recall": r6((base[pos] == i).mean()) if pos.any() else 0.0,
                }
            metrics["at_threshold"] = {"threshold": BLOOM_THRESHOLD, "per_class": per}
        extra.update(classes=classes, cm=cm)
        params = search.best_params_
    elif name == "yield":
        y = df["yield_pct"].to_numpy(np.float64)
        groups = df["lot"].to_numpy()
        space = {
            "n_estimators": [100, 200, 300],
            "learning_rate": [0.03, 0.05, 0.1],
            "max_depth": [2, 3, 4],
            "subsample": [0.8, 1.0],
            "min_samples_leaf": [1, 3, 5],
        }
        search = RandomizedSearchCV(
            GradientBoostingRegressor(random_state=SEED), space, n_iter=8,
            scoring="neg_mean_absolute_error", cv=cv, random_state=SEED, n_jobs=1, refit=True,
        )  # fmt: skip
        log(f"  {name}: RandomizedSearchCV (8 candidates x 5 grouped folds) on {len(X)} rows")
        search.fit(X, y, groups=groups)
        best = search.best_estimator_
        pred = cross_val_predict(clone(best), X, y, groups=groups, cv=cv)
        base = cross_val_predict(DummyRegressor(strategy="mean"), X, y, groups=groups, cv=cv)
        metrics = {
            "cv": "GroupKFold(5) by bean lot",
            "rows": int(len(X)),
            "mae": r6(mean_absolute_error(y, pred)),
            "mape_pct": r6(100 * mean_absolute_percentage_error(y, pred)),
            "r2": r6(r2_score(y, pred)),
            "baseline": "training mean",
            "baseline_mae": r6(mean_absolute_error(y, base)),
            "baseline_mape_pct": r6(100 * mean_absolute_percentage_error(y, base)),
        }
        extra.update(y=y, pred=pred)
        params = search.best_params_
    else:  # anomaly
        fault = df["fault"].to_numpy()
        # A dropped or frozen sensor is a data-quality event (validate stage: comm_error /
        # stuck), not a process anomaly: leave those windows out of fitting and scoring.
        keep = ~np.isin(fault, ["sensor-dropout", "sensor-stuck"])
        df, X, fault = df[keep].reset_index(drop=True), X[keep], fault[keep]
        y = (fault != "").astype(int)
        groups = df["batch"].to_numpy()
        space = {"n_estimators": [50, 100, 150], "max_samples": [128, 256, 512]}
        search = RandomizedSearchCV(
            HealthyIsolationForest(), space, n_iter=5, scoring=_ap_scorer, cv=cv,
            random_state=SEED, n_jobs=1, refit=True,
        )  # fmt: skip
        log(f"  {name}: RandomizedSearchCV (5 candidates x 5 grouped folds) on {len(X)} rows")
        search.fit(X, y, groups=groups)
        params = {k: v for k, v in search.best_params_.items()}
        score = np.zeros(len(X))
        for tr, te in cv.split(X, y, groups):
            m = HealthyIsolationForest(**params).fit(X[tr], y[tr])
            score[te] = m.score_samples(X[te])
        # Decision threshold: the lowest score of a healthy window of a batch the forest did
        # not see (out of fold). A share of training windows (`contamination`) would flag
        # whole healthy batches of unseen bean lots: healthy windows are autocorrelated, so
        # a 2 % share comes as hours of alarms. This keeps what lies beyond healthy variety.
        threshold = float(score[y == 0].min())
        flag = score < threshold
        per_fault = {
            f: r6(flag[fault == f].mean()) for f in sorted(set(fault.tolist()) - {""})
        }
        prevalence = float(y.mean())
        metrics = {
            "cv": "GroupKFold(5) by batch; fitted on healthy windows of the training folds",
            "rows": int(len(X)),
            "precision": r6(y[flag].mean() if flag.any() else 0.0),
            "recall": r6(flag[y == 1].mean()),
            "false_positive_rate": r6(flag[y == 0].mean()),
            "average_precision": r6(average_precision_score(y, -score)),
            "recall_per_fault": per_fault,
            "baseline": "flag every window (precision = prevalence, recall 1); random score AP = prevalence",
            "baseline_precision": r6(prevalence),
            "baseline_average_precision": r6(prevalence),
        }
        best = IsolationForest(
            n_estimators=params["n_estimators"], max_samples=params["max_samples"],
            max_features=1.0, contamination=ANOMALY_CONTAMINATION, random_state=SEED,
        ).fit(X[y == 0])  # fmt: skip
        # decision_function = score_samples - offset_: anomalous below the threshold above.
        best.offset_ = threshold
        metrics["score_threshold"] = r6(threshold)
        extra.update(score=score, y=y)
        params = {**params, "max_features": 1.0, "offset": "lowest out-of-fold healthy score"}
    params = {k: (v if not isinstance(v, np.generic) else v.item()) for k, v in params.items()}
    return best, X, metrics, params, extra, df


#: Drift windows as the agent's `[drift]` defaults shape them (src/monitor/config.rs):
#: 15 minutes of data time, and at least `DRIFT_MIN_SAMPLES` vectors before a window is judged.
DRIFT_WINDOW_MS = 900_000
DRIFT_MIN_SAMPLES = 20
#: Vectors this soon after a batch change are not counted (`[drift] batch_settle`).
DRIFT_SETTLE_MS = 1_800_000
#: Start phases of the agent over each reference run (more windows of the same shape).
DRIFT_SKIPS_MS = tuple(k * DRIFT_WINDOW_MS // 4 for k in range(4))


def drift_reference(name: str, df: pd.DataFrame, data_dir: Path) -> dict:
    """The manifest's drift reference: normal operation, in the agent's window shape.

    Sample-level models: every sample of the `normal` runs of set `sample` turned into the
    vector the agent builds (stride 1), without the first `DRIFT_SETTLE_MS` of each batch,
    binned overall and per product; thresholds from the windows the agent's monitor closes
    over those vectors, each against the mixture of its products' references. Batch-level models: the batches of the
    `normal` runs; a window is `DRIFT_MIN_SAMPLES` consecutive batches (an hour holds less
    than one batch, so the minimum-samples rule sets the shape).
    """
    names = [f["name"] for f in features.SPECS[name]]
    if features.LEVEL[name] == "batch":
        normal = df[df["batch"].str.startswith("normal-")].reset_index(drop=True)
        X = normal[names].to_numpy(np.float64)
        products = None
        n = DRIFT_MIN_SAMPLES
        chunks = [np.arange(s, s + n) for s in range(0, len(X) - n + 1)]
        shape = {"vectors": n, "step": 1, "source": "batches of the normal runs of set batch"}
    else:
        parts, prods, chunks, offset = [], [], [], 0
        for run in dataset.load_set(data_dir, "sample"):
            if not run.name.startswith("normal-"):
                continue
            ts, Xr, pr, batch = features.every_sample_table(run, name, DRIFT_SETTLE_MS)
            for skip in DRIFT_SKIPS_MS:
                w = drift.agent_windows(ts, DRIFT_WINDOW_MS, DRIFT_MIN_SAMPLES, skip, batch)
                chunks += [c + offset for c in w]
            parts.append(Xr)
            prods.append(pr)
            offset += len(Xr)
        X = np.concatenate(parts)
        products = np.concatenate(prods)
        shape = {"duration_ms": DRIFT_WINDOW_MS, "min_samples": DRIFT_MIN_SAMPLES,
                 "batch_settle_ms": DRIFT_SETTLE_MS, "start_phases_ms": list(DRIFT_SKIPS_MS),
                 "reference": "mixture of the window's products (by_product)",
                 "source": "every sample of the normal runs of set sample"}  # fmt: skip
    ref = drift.reference(X, names, chunks, products)
    ref["calibration"] = {**shape, "windows": len(chunks), "rule": "mean + 3 sd per statistic"}
    return ref


def outputs_for(name: str, est, X32: np.ndarray):
    """sklearn outputs on float32 inputs, as golden columns."""
    if name in CLASSES:
        p = est.predict_proba(X32)
        cols = ["label"] + [f"p_{c}" for c in CLASSES[name]]
        Y = np.column_stack([p.argmax(axis=1), p]).astype(object)
        Y[:, 0] = Y[:, 0].astype(int)
        return cols, Y, {"label": p.argmax(axis=1), "probabilities": p}
    if name == "yield":
        v = est.predict(X32)
        return ["value"], v[:, None], {"variable": v[:, None]}
    s, d = est.score_samples(X32), est.decision_function(X32)
    return (["score_samples", "decision_function"], np.column_stack([s, d]),
            {"score_samples": s[:, None], "decision_function": d[:, None]})  # fmt: skip


def parity(expected: dict, got: dict) -> float:
    worst = 0.0
    for k, v in expected.items():
        g = np.asarray(got[k], dtype=np.float64).reshape(np.asarray(v).shape)
        worst = max(worst, float(np.max(np.abs(g - np.asarray(v, dtype=np.float64)))))
    return worst


def train_one(name: str, data_dir: Path, out_root: Path, data_hash: str, log) -> dict:
    t0 = time.time()
    df = table(name, data_dir, log)
    est, X, metrics, params, extra, df = fit_model(name, df, log)
    spec = features.SPECS[name]
    n = len(spec)
    blob = onnx_export.export_iforest(est, n) if name == "anomaly" else onnx_export.export_sklearn(est, n)
    out = out_root / name
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(blob)

    G = golden.rows(est, X, SEED)
    cols, Y, expected = outputs_for(name, est, G)
    got = onnx_export.run_onnx(blob, G)
    worst = parity(expected, got)
    tol = 1e-5 if name != "yield" else 1e-4
    if worst > tol:
        raise RuntimeError(f"{name}: onnxruntime differs from sklearn by {worst} > {tol}")
    names = [f["name"] for f in spec]
    golden.write_csv(out / "golden.csv", names, G, cols, Y)
    metrics["onnx_parity_max_abs"] = float(f"{worst:.3g}")

    ref = drift_reference(name, df, data_dir)
    import hashlib

    import onnx
    import onnxruntime
    import skl2onnx

    if name == "anomaly":
        outputs = [{"name": "score_samples", "role": "score_samples"},
                   {"name": "decision_function", "role": "decision_function"}]  # fmt: skip
        decision = {"threshold": 0.0}
        task = "anomaly"
    elif name == "yield":
        outputs = [{"name": "variable", "role": "value"}]
        decision = {"threshold": 78.0}
        task = "regressor"
    else:
        outputs = [{"name": "label", "role": "label"},
                   {"name": "probabilities", "role": "probabilities"}]  # fmt: skip
        task = "classifier"
        decision = ({"threshold": BLOOM_THRESHOLD} if name == "bloom"
                    else {"threshold": 0.5, "positive": "reject"})  # fmt: skip
    manifest = {
        "schema": "chocoline.manifest/1",
        "name": name,
        "version": VERSION,
        "task": task,
        "level": features.LEVEL[name],
        "onnx": {"file": "model.onnx", "sha256": hashlib.sha256(blob).hexdigest(),
                 "input": "input", "outputs": outputs},  # fmt: skip
        "feature_spec_version": features.FEATURE_SPEC_VERSION,
        "features": spec,
        "decision": decision,
        "reference": ref,
        "golden": {"file": "golden.csv", "rows": int(len(G)), "tolerance": tol},
        "metrics": metrics,
        "params": params,
        "seed": SEED,
        "versions": {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__,
                     "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__},  # fmt: skip
        "data_sha256": data_hash,
    }
    if task == "classifier":
        manifest["classes"] = CLASSES[name]
    (out / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n")
    report.write(name, out, manifest, est, extra)
    log(f"  {name}: done in {time.time() - t0:.0f} s; {summary(name, metrics)}")
    return metrics


def summary(name: str, m: dict) -> str:
    if name in ("quality", "bloom"):
        s = f"macro-F1 {m['macro_f1']:.3f} vs baseline {m['baseline_macro_f1']:.3f}"
        if name == "bloom":
            s += "; recall@0.5 " + ", ".join(
                f"{c} {v['recall']:.3f}" for c, v in m["at_threshold"]["per_class"].items())
        return s
    if name == "yield":
        return (f"MAE {m['mae']:.3f} % (MAPE {m['mape_pct']:.2f} %) vs baseline "
                f"{m['baseline_mae']:.3f} % ({m['baseline_mape_pct']:.2f} %)")  # fmt: skip
    return (f"precision {m['precision']:.3f} recall {m['recall']:.3f} AP {m['average_precision']:.3f}"
            f" vs baseline precision/AP {m['baseline_precision']:.3f}")  # fmt: skip


def set_hash(data_dir: Path, level: str) -> str:
    h = dataset.file_hashes(data_dir)
    return dataset.data_sha256({p: v for p, v in h.items() if p.startswith(level + "/")})
