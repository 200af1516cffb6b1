"""Per-model report: report.md (grouped CV on training beside tuning and held-out seeds, each
against the naive baseline and the transparent rule, overall and per product) and a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

SPLITS = ("training", "tuning", "held_out")
HEAD = "| figure | CV (training) | tuning | held-out |"


def _row(label: str, figs: dict, get, fmt="{:.3f}") -> str:
    cells = []
    for s in SPLITS:
        try:
            cells.append(fmt.format(get(figs[s])))
        except (KeyError, TypeError):
            cells.append("–")
    return f"| {label} | " + " | ".join(cells) + " |"


def _flag(f: dict) -> str:
    return f"{f['precision']:.3f} / {f['recall']:.3f} ({f['tp']}/{f['events']}, {f['fp']} false)"


def _table(figs: dict, rows) -> list[str]:
    return [HEAD, "|---|---|---|---|"] + [_row(lbl, figs, get, fmt) for lbl, get, fmt in rows]


def _quality(figs: dict) -> list[str]:
    f3 = "{:.3f}"
    out = ["## Figures", ""] + _table(figs, [
        ("batches", lambda f: f["batches"], "{}"),
        ("macro-F1, model", lambda f: f["macro_f1"], f3),
        ("macro-F1, ordinal model on the known drivers", lambda f: f["drivers_macro_f1"], f3),
        ("macro-F1, majority class", lambda f: f["baseline_macro_f1"], f3),
        ("reject alert, model: precision / recall", lambda f: _flag(f["reject_model"]), "{}"),
        ("reject alert, spec rule", lambda f: _flag(f["reject_rule"]), "{}"),
        ("reject alert, model or rule (what the agent raises)", lambda f: _flag(f["reject_model_or_rule"]), "{}"),
        ("reject alert, model, healthy-line batches", lambda f: _flag(f["reject_model_healthy_line"]), "{}"),
    ])  # fmt: skip
    out += ["", "Per product, held-out: macro-F1 model / drivers; reject alert precision / recall of model and rule.", "",
            "| product | batches | macro-F1 | drivers | reject, model | reject, rule |", "|---|---|---|---|---|---|"]  # fmt: skip
    for p, v in figs["held_out"]["per_product"].items():
        out.append(f"| {p} | {v['batches']} | {v['macro_f1']:.3f} | {v['drivers_macro_f1']:.3f} | "
                   f"{_flag(v['reject_model'])} | {_flag(v['reject_rule'])} |")  # fmt: skip
    return out


def _yield(figs: dict) -> list[str]:
    f3 = "{:.3f}"
    out = ["## Figures", ""] + _table(figs, [
        ("batches", lambda f: f["batches"], "{}"),
        ("MAE (yield %), model", lambda f: f["mae"], f3),
        ("MAE, linear model on the known drivers", lambda f: f["drivers_mae"], f3),
        ("MAE, training mean", lambda f: f["baseline_mae"], f3),
        ("MAE of a perfect model (label noise floor)", lambda f: f["noise_floor_mae"], f3),
        ("R², model", lambda f: f["r2"], f3),
        ("`yield_low` (≤ 75 %), model: precision / recall", lambda f: _flag(f["yield_low_model"]), "{}"),
        ("`yield_low`, drivers model", lambda f: _flag(f["yield_low_drivers"]), "{}"),
        ("`yield_low`, model, healthy-line batches", lambda f: _flag(f["yield_low_model_healthy_line"]), "{}"),
    ])  # fmt: skip
    out += ["", "Per product, held-out:", "", "| product | batches | MAE model | MAE drivers | MAE mean |",
            "|---|---|---|---|---|"]  # fmt: skip
    for p, v in figs["held_out"]["per_product"].items():
        out.append(f"| {p} | {v['batches']} | {v['mae']:.3f} | {v['drivers_mae']:.3f} | {v['baseline_mae']:.3f} |")
    return out


def _bloom(figs: dict, threshold: float) -> list[str]:
    f3 = "{:.3f}"
    rows = [("windows", lambda f: f["windows"], "{}"),
            ("macro-F1, model (argmax)", lambda f: f["macro_f1"], f3),
            ("macro-F1, physics rule", lambda f: f["rule_macro_f1"], f3),
            ("macro-F1, never bloom", lambda f: f["baseline_macro_f1"], f3)]  # fmt: skip
    for c in ("fat_bloom", "sugar_bloom"):
        rows.append((f"`{c}`, model at p ≥ {threshold}: precision / recall",
                     lambda f, c=c: _flag(f["per_class"][c]["model"]), "{}"))  # fmt: skip
        rows.append((f"`{c}`, rule", lambda f, c=c: _flag(f["per_class"][c]["rule"]), "{}"))
    out = ["## Figures (windows of 300–600 s)", ""] + _table(figs, rows)
    out += ["", "Per product, held-out: recall of model / rule.", "",
            "| product | windows | fat bloom | sugar bloom |", "|---|---|---|---|"]  # fmt: skip
    for p, v in figs["held_out"]["per_product"].items():
        cells = [f"{v[c]['model']['recall']:.3f} / {v[c]['rule']['recall']:.3f} ({v[c]['model']['events']})"
                 for c in ("fat_bloom", "sugar_bloom")]  # fmt: skip
        out.append(f"| {p} | {v['windows']} | " + " | ".join(cells) + " |")
    return out


def _anomaly(figs: dict) -> list[str]:
    f3 = "{:.3f}"
    out = ["## Figures (60-s windows; sensor-dropout / stuck left out)", "",
           "The model decides when, at the spec rule's false-positive rate on healthy tuning "
           "windows, it finds more fault windows than the rule; it then runs at its own limit "
           "(no healthy tuning vector above it).", ""] + _table(figs, [
        ("windows", lambda f: f["windows"], "{}"),
        ("model: precision / recall", lambda f: _flag(f["model"]), "{}"),
        ("model at the rule's false-positive rate: precision / recall", lambda f: _flag(f["model_at_rule_fpr"]), "{}"),
        ("spec rule: precision / recall", lambda f: _flag(f["rule"]), "{}"),
        ("always flag: precision / recall", lambda f: _flag(f["always_flag"]), "{}"),
        ("healthy false-positive rate, model", lambda f: f["healthy_false_positive_rate"]["model"], f3),
        ("healthy false-positive rate, rule", lambda f: f["healthy_false_positive_rate"]["rule"], f3),
        ("average precision, model", lambda f: f["average_precision"]["model"], f3),
        ("average precision, random score", lambda f: f["average_precision"]["baseline"], f3),
    ])  # fmt: skip
    out += ["", "Recall per injected fault, held-out (model / rule):", ""]
    out += [f"- `{k}`: {v['model']:.3f} / {v['rule']:.3f}" for k, v in figs["held_out"]["recall_per_fault"].items()]
    return out


def _plot(name: str, ax, figs: dict, extra: dict) -> None:
    ho = figs["held_out"]
    if name in ("quality", "bloom"):
        classes = ["A", "B", "reject"] if name == "quality" else ["none", "fat", "sugar"]
        cm = np.zeros((3, 3), int)
        for t, p in zip(ho["y"], ho["proba"].argmax(axis=1)):
            cm[t, p] += 1
        ax.imshow(cm, cmap="Blues")
        ax.set_xticks(range(3), classes)
        ax.set_yticks(range(3), classes)
        for i in range(3):
            for j in range(3):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(f"{name}: held-out confusion matrix")
    elif name == "yield":
        y = ho["y"]
        ax.scatter(y, ho["pred"], s=8)
        ax.plot([y.min(), y.max()], [y.min(), y.max()], "k--", lw=1)
        ax.set_xlabel("true yield %")
        ax.set_ylabel("held-out prediction %")
        ax.set_title("yield: held-out predictions")
    else:
        s, y = ho["score"], ho["y"]
        ax.hist([s[y == 0], s[y == 1]], bins=50, label=["healthy", "fault"])
        ax.set_xlabel("score_samples (held-out)")
        ax.legend()
        ax.set_title("anomaly: held-out score distribution")


def write(name: str, out: Path, manifest: dict, est, extra: dict) -> None:
    m, d = manifest["metrics"], manifest["decision"]
    figs = extra["figs"]
    who = ("**The model decides alerts**" if d["decides"]
           else "**The rule decides alerts; the model's output is evidence only**")  # fmt: skip
    lines = [f"# `{name}` model report", "",
             f"Task: {manifest['task']} ({manifest['level']} level), version {manifest['version']}, "
             f"seed {manifest['seed']}. Data sha256 `{manifest['data_sha256'][:16]}…`.", "",
             "Three disjoint seed sets (models/DATA_CARD.md): **training** (fit; grouped CV, "
             f"{m['cv']}), **tuning** (hyper-parameters, thresholds, model-or-rule) and "
             "**held-out** (reported only; nothing is chosen on it).", "",
             f"Hyper-parameters chosen on tuning: `{manifest['params']}`.", "",
             f"Transparent rule: {d['rule']}. {who} (chosen on tuning).", ""]  # fmt: skip
    body = {"quality": lambda: _quality(figs), "yield": lambda: _yield(figs),
            "bloom": lambda: _bloom(figs, d["threshold"]), "anomaly": lambda: _anomaly(figs)}[name]()  # fmt: skip
    lines += body
    imp = getattr(est, "feature_importances_", None)
    if imp is not None:
        lines += ["", "## Feature importances", "", "| feature | importance |", "|---|---|"]
        lines += [f"| {n} | {v:.3f} |" for n, v in sorted(zip(extra["names"], imp.tolist()), key=lambda p: -p[1])]
    ref = manifest["reference"]
    lines += ["", "## Drift reference", "",
              f"{ref['samples']} training vectors; thresholds = mean + 3σ of each statistic over "
              f"reference windows ({ref['calibration']['windows']}), floored.", "",
              "| feature | PSI | JS | W1/σ |", "|---|---|---|---|"]  # fmt: skip
    for f in ref["features"]:
        t = f["thresholds"]
        lines.append(f"| {f['name']} | {t['psi']:.3f} | {t['js']:.3f} | {t['w1_sigma']:.3f} |")
    lines += ["", "## Export", "",
              f"`model.onnx` sha256 `{manifest['onnx']['sha256']}`; onnxruntime vs sklearn on "
              f"{manifest['golden']['rows']} golden rows (incl. rows one float32 ulp either side of "
              f"split thresholds): max |Δ| = {m['onnx_parity_max_abs']}.", ""]  # fmt: skip
    (out / "report.md").write_text("\n".join(lines))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    _plot(name, ax, figs, extra)
    fig.tight_layout()
    fig.savefig(out / "report.png", dpi=80, metadata={"Software": None})
    plt.close(fig)
