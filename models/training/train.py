"""Train, evaluate (grouped CV and held-out seeds against baselines and rules), export and
document the four models. Fitting and choosing live in `fit.py` / `anomaly.py`, figures in
`evaluate.py`, the transparent rules in `rules.py`."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from . import anomaly, dataset, drift, evaluate, exports, features, fit, golden, onnx_export, report

SEED = fit.SEED
MODEL_NAMES = ("quality", "yield", "bloom", "anomaly")
VERSION = "2.0.0"
#: Models whose exported graph changed kind since `VERSION`: the SPC detector replaced the
#: IsolationForest (other inputs, a `contributions` output).
VERSIONS = {"anomaly": "3.0.0"}
CLASSES = fit.CLASSES
FITTERS = {"quality": fit.fit_quality, "yield": fit.fit_yield, "bloom": fit.fit_bloom,
           "anomaly": anomaly.fit_anomaly}  # fmt: skip
#: Fitters that also read the raw runs (not only the feature table).
NEEDS_RUNS = {"anomaly"}
#: Per model: the CV group (a physical bean lot or batch).
GROUP = {"quality": "lot", "yield": "lot", "bloom": "batch", "anomaly": "batch"}


def r6(x: float) -> float:
    return float(round(float(x), 6))


# --------------------------------------------------------------------------- data per model


def table(name: str, data_dir: Path, log) -> pd.DataFrame:
    """Every split's rows of one model, with `split`, `product` and group columns. Refuses a
    table in which one feature row belongs to two physical lots / batches."""
    level = features.LEVEL[name]
    runs = dataset.load_set(data_dir, level)
    counts = {s: sum(r.split == s for r in runs) for s in dataset.SPLITS}
    log(f"  {name}: {len(runs)} {level} runs loaded {counts}, computing features")
    names = [f["name"] for f in features.SPECS[name]]
    if level == "batch":
        df = features.batch_table(runs, name)
    else:
        df = features.window_table(runs, name)
        finite = np.isfinite(df[names].to_numpy()).all(axis=1)
        # Windows with an input missing are refused by the validate stage, not fed to a model.
        df = df[finite].reset_index(drop=True)
    dataset.check_no_shared_rows(df, names, GROUP[name], f"{name} ({level} set)")
    return df


def strip(figs: dict) -> dict:
    """Figures without the per-row arrays kept for the report."""
    return {s: {k: v for k, v in f.items() if not isinstance(v, np.ndarray)} for s, f in figs.items()}


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

    Training split only. Sample-level models: every sample of the `normal` runs of set `sample` turned into the
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
        shape = {"vectors": n, "step": 1, "source": "batches of the normal training runs of set batch"}
    else:
        parts, prods, chunks, offset = [], [], [], 0
        for run in dataset.load_set(data_dir, "sample", ("training",)):
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
                 "source": "every sample of the normal training runs of set sample"}  # fmt: skip
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
    s, d, z = est.score_samples(X32), est.decision_function(X32), est.contributions(X32)
    cols = ["score_samples", "decision_function"] + [f"z_{n}" for n in anomaly.process_names()]
    return (cols, np.column_stack([s, d, z]),
            {"score_samples": s[:, None], "decision_function": d[:, None], "contributions": z})  # fmt: skip





def parity(expected: dict, got: dict) -> float:
    worst = 0.0
    for k, v in expected.items():
        g = np.asarray(got[k], dtype=np.float64).reshape(np.asarray(v).shape)
        worst = max(worst, float(np.max(np.abs(g - np.asarray(v, dtype=np.float64)))))
    return worst


def train_one(
    name: str, data_dir: Path, out_root: Path, data_hash: str, log, data_card: dict | None = None
) -> dict:
    """Fit, evaluate and export one model into `out_root/name`. `data_card`: the line exports
    it also learned from (training/exports.py), recorded in the manifest's `"data"`."""
    t0 = time.time()
    df = table(name, data_dir, log)
    extra = {"data_dir": data_dir} if name in NEEDS_RUNS else {}
    est, X, params, figs, decision = FITTERS[name](df, log, **extra)
    spec = features.SPECS[name]
    n = len(spec)
    blob = onnx_export.export_spc(est, n) if name == "anomaly" else onnx_export.export_sklearn(est, n)
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
    metrics = {
        "cv": f"GroupKFold(5) by {'bean lot' if GROUP[name] == 'lot' else 'batch'} on the training split",
        "splits": strip(figs),
        "seed_sets": seed_sets(features.LEVEL[name]),
        "onnx_parity_max_abs": float(f"{worst:.3g}"),
    }  # fmt: skip

    train_df = df[df["split"] == "training"].reset_index(drop=True)
    ref = drift_reference(name, train_df, data_dir)
    import hashlib

    import onnx
    import onnxruntime
    import skl2onnx

    if name == "anomaly":
        outputs = [{"name": "score_samples", "role": "score_samples"},
                   {"name": "decision_function", "role": "decision_function"},
                   {"name": "contributions", "role": "contributions", "columns": anomaly.process_names()}]  # fmt: skip
        task = "anomaly"
    elif name == "yield":
        outputs = [{"name": "variable", "role": "value"}]
        task = "regressor"
    else:
        outputs = [{"name": "label", "role": "label"},
                   {"name": "probabilities", "role": "probabilities"}]  # fmt: skip
        task = "classifier"
    manifest = {
        "schema": "chocoline.manifest/1",
        "name": name,
        "version": VERSIONS.get(name, VERSION),
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
        "params": {k: fit.py(v) for k, v in params.items()},
        "seed": SEED,
        "versions": {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__,
                     "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__},  # fmt: skip
        "data_sha256": data_hash,
    }
    if task == "classifier":
        manifest["classes"] = CLASSES[name]
    if data_card is not None:
        manifest["data"] = data_card
        manifest["version"] = exports.version_with(manifest["version"], data_card)
    (out / "manifest.json").write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n")
    report.write(name, out, manifest, est, {"names": names, "figs": figs})
    log(f"  {name}: done in {time.time() - t0:.0f} s; {summary(name, metrics, decision)}")
    return metrics


def seed_sets(level: str) -> dict:
    """Seeds of each split in the generated data (runs.json), per scenario."""
    out: dict = {}
    for r in dataset.load_runs_spec()["sets"][level]:
        out.setdefault(r["split"], {}).setdefault(r["scenario"], []).append(r["seed"])
    return {s: {sc: [min(v), max(v), len(v)] for sc, v in d.items()} for s, d in out.items()}


def summary(name: str, m: dict, decision: dict) -> str:
    """One line: CV, tuning and held-out figure of the model and its rule, and who decides."""
    sp = m["splits"]
    who = "model decides" if decision["decides"] else "rule decides, model is evidence"
    if name == "quality":
        s = " / ".join(f"{sp[k]['macro_f1']:.3f}" for k in dataset.SPLITS)
        r = " / ".join(f"{sp[k]['drivers_macro_f1']:.3f}" for k in dataset.SPLITS)
        return f"macro-F1 CV/tuning/held-out {s} (drivers {r}); {who}"
    if name == "yield":
        s = " / ".join(f"{sp[k]['mae']:.3f}" for k in dataset.SPLITS)
        r = " / ".join(f"{sp[k]['drivers_mae']:.3f}" for k in dataset.SPLITS)
        return f"MAE CV/tuning/held-out {s} (drivers {r}, floor {sp['held_out']['noise_floor_mae']:.3f}); {who}"
    if name == "bloom":
        s = " / ".join(f"{sp[k]['macro_f1']:.3f}" for k in dataset.SPLITS)
        low = evaluate.min_recall(sp["held_out"])
        return f"macro-F1 CV/tuning/held-out {s}; held-out min recall {low:.3f}; {who}"
    s = " / ".join(f"{sp[k]['model']['f1']:.3f}" for k in dataset.SPLITS)
    r = " / ".join(f"{sp[k]['rule']['f1']:.3f}" for k in dataset.SPLITS)
    mr = " / ".join(f"{sp[k]['model_at_rule_fpr']['recall']:.3f}" for k in dataset.SPLITS)
    rr = " / ".join(f"{sp[k]['rule']['recall']:.3f}" for k in dataset.SPLITS)
    return (f"window F1 CV/tuning/held-out {s} (spec rule {r}); recall at the rule's false-positive "
            f"rate {mr} (rule {rr}); {who}")


def set_hash(data_dir: Path, level: str) -> str:
    h = dataset.file_hashes(data_dir)
    return dataset.data_sha256({p: v for p, v in h.items() if p.startswith(level + "/")})
