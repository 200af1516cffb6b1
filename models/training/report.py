"""Per-model report: report.md (grouped-CV figures against the baseline) and a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _importances(est, names):
    imp = getattr(est, "feature_importances_", None)
    if imp is None:
        return []
    return sorted(zip(names, imp.tolist()), key=lambda p: -p[1])


def write(name: str, out: Path, manifest: dict, est, extra: dict) -> None:
    m = manifest["metrics"]
    names = extra["names"]
    lines = [f"# `{name}` model report", "",
             f"Task: {manifest['task']} ({manifest['level']} level), version {manifest['version']}, "
             f"seed {manifest['seed']}. Data sha256 `{manifest['data_sha256'][:16]}…`.", "",
             f"Evaluation: {m['cv']}, {m['rows']} rows. Hyper-parameters from RandomizedSearchCV "
             f"(fixed seed): `{manifest['params']}`.", "", "## Figures against the baseline", "",
             "| metric | model | baseline |", "|---|---|---|"]  # fmt: skip
    fig, ax = plt.subplots(figsize=(6, 4.5))
    if name in ("quality", "bloom"):
        classes = extra["classes"]
        lines.append(f"| macro-F1 | {m['macro_f1']:.3f} | {m['baseline_macro_f1']:.3f} ({m['baseline']}) |")
        if name == "bloom":
            for c, v in m["at_threshold"]["per_class"].items():
                lines.append(f"| recall `{c}` at p ≥ {m['at_threshold']['threshold']} | "
                             f"{v['recall']:.3f} (precision {v['precision']:.3f}) | {v['baseline_recall']:.3f} |")  # fmt: skip
        cm = np.asarray(extra["cm"])
        lines += ["", "Confusion matrix (rows true, columns predicted, grouped-CV predictions):", "",
                  "| true \\ pred | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]  # fmt: skip
        for c, row in zip(classes, cm.tolist()):
            lines.append(f"| {c} | " + " | ".join(str(v) for v in row) + " |")
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(len(classes)), classes)
        ax.set_yticks(range(len(classes)), classes)
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}: grouped-CV confusion matrix")
    elif name == "yield":
        lines.append(f"| MAE (yield %) | {m['mae']:.3f} | {m['baseline_mae']:.3f} ({m['baseline']}) |")
        lines.append(f"| MAPE % | {m['mape_pct']:.3f} | {m['baseline_mape_pct']:.3f} |")
        lines.append(f"| R² | {m['r2']:.3f} | 0 |")
        ax.scatter(extra["y"], extra["pred"], s=8)
        lo, hi = float(np.min(extra["y"])), float(np.max(extra["y"]))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel("true yield %")
        ax.set_ylabel("grouped-CV prediction %")
        ax.set_title("yield: grouped-CV predictions")
    else:
        lines.append(f"| precision at decision < 0 | {m['precision']:.3f} | {m['baseline_precision']:.3f} |")
        lines.append(f"| recall at decision < 0 | {m['recall']:.3f} | 1.000 |")
        lines.append(f"| false-positive rate (healthy windows) | {m['false_positive_rate']:.3f} | 1.000 |")
        lines.append(f"| average precision | {m['average_precision']:.3f} | {m['baseline_average_precision']:.3f} |")
        if "score_threshold" in m:
            lines += ["", f"Decision threshold: `score_samples` < {m['score_threshold']:.4f}, the lowest "
                      "score of a healthy window of a batch held out of the fit (grouped CV), so the "
                      "healthy false-positive rate is 0 by construction. The detector flags only what "
                      "lies beyond the healthy variety of recipes, bean lots and hours of the day; "
                      "the simulated faults mostly stay inside it (recall below)."]  # fmt: skip
        lines += ["", "Recall per injected fault (share of fault windows flagged):", ""]
        lines += [f"- `{f}`: {r:.3f}" for f, r in m["recall_per_fault"].items()]
        lines += ["", "`sensor-dropout` and `sensor-stuck` windows are left out: missing or frozen "
                  "inputs are the validate stage's job (data-quality events with reason "
                  "`comm_error` / `stuck`), not the process-anomaly model's.", "",
                  "Fault windows include the 15-minute onset and recovery ramps and the early part "
                  "of the slow pH drift, where the process is still inside its normal range; "
                  "recall counts them as misses."]  # fmt: skip
        s, y = extra["score"], extra["y"]
        ax.hist([s[y == 0], s[y == 1]], bins=50, label=["healthy", "fault"], stacked=False)
        ax.set_xlabel("score_samples (grouped CV)")
        ax.legend()
        ax.set_title("anomaly: score distribution")
    imp = _importances(est, names)
    if imp:
        lines += ["", "## Feature importances", "", "| feature | importance |", "|---|---|"]
        lines += [f"| {n} | {v:.3f} |" for n, v in imp]
    ref = manifest["reference"]
    chunk = ("20 consecutive batches" if manifest["level"] == "batch"
             else "one hour of 30-s-stride windows of one run")  # fmt: skip
    lines += ["", "## Drift reference", "",
              f"{ref['samples']} training vectors; thresholds = mean + 3σ of each statistic over "
              f"reference chunks of {chunk}, floored at 0.1. Features that follow the recipe or "
              "the bean lot (temperature, cocoa %, pH…) differ strongly between chunks, so their "
              "calibrated thresholds are high: one recipe or lot per window is normal. "
              "A per-product reference would tighten them.", "",
              "| feature | PSI | JS | W1/σ |", "|---|---|---|---|"]  # fmt: skip
    for f in ref["features"]:
        t = f["thresholds"]
        lines.append(f"| {f['name']} | {t['psi']:.3f} | {t['js']:.3f} | {t['w1_sigma']:.3f} |")
    lines += ["", "## Export", "",
              f"`model.onnx` sha256 `{manifest['onnx']['sha256']}`; onnxruntime vs sklearn on "
              f"{manifest['golden']['rows']} golden rows (incl. rows one float32 ulp either side of "
              f"split thresholds): max |Δ| = {m['onnx_parity_max_abs']}.", ""]  # fmt: skip
    (out / "report.md").write_text("\n".join(lines))
    fig.tight_layout()
    fig.savefig(out / "report.png", dpi=80, metadata={"Software": None})
    plt.close(fig)
