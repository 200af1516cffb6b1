#!/usr/bin/env python3
"""Generate the tree-model parity matrix: skl2onnx exports + fresh rows + sklearn outputs.

For every case it writes `<case>.onnx` and `<case>.csv` into OUT, and lists the cases in
`OUT/cases.json`. The CSV holds the input columns `x0..x{F-1}` then the expected output
columns, named after the ONNX outputs: `<output>` for one value per row, `<output>_<j>` for
several, plus `tie` (1 when sklearn's top two class probabilities are exactly equal, so the
label may legitimately differ).

Cases: DecisionTree, RandomForest, ExtraTrees, GradientBoosting, HistGradientBoosting
classifiers (binary / multiclass x int / string labels) and regressors (single target; multi
target where sklearn supports it), IsolationForest (max_features=1.0); each bare and behind a
StandardScaler exported as Sub + Div. Exports use zipmap=False and target_opset
{'': 17, 'ai.onnx.ml': 3}.

    gen_matrix.py OUT [--rows 10000] [--small]

--small makes tiny models (3 trees, depth 3) for the committed fixtures.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnx.helper as oh
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from skl2onnx import to_onnx

# skl2onnx 1.20 passes HistGradientBoosting's boolean `missing_go_to_left` array straight to
# onnx.helper.make_attribute, which rejects Python/NumPy bools in an INTS attribute. Cast
# integer lists holding bools to ints (the attribute is INTS by spec).
_make_attribute = oh.make_attribute


def _make_attribute_bools_as_ints(key, value, *args, **kwargs):
    if (
        isinstance(value, (list, tuple))
        and any(isinstance(v, (bool, np.bool_)) for v in value)
        and all(isinstance(v, (bool, np.bool_, int, np.integer)) for v in value)
    ):
        value = [int(v) for v in value]
    return _make_attribute(key, value, *args, **kwargs)


oh.make_attribute = _make_attribute_bools_as_ints

OPSET = {"": 17, "ai.onnx.ml": 3}
N_FEATURES = 6


def data(seed, n):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, N_FEATURES)) * np.array([1, 2, 0.5, 10, 1, 3]) + np.array(
        [0, 5, -1, 50, 0, 0]
    )
    return X.astype(np.float32)


def target_class(X, n_classes, seed):
    rng = np.random.RandomState(seed + 7)
    s = X[:, 0] + 0.3 * X[:, 1] - 0.05 * X[:, 3] + rng.normal(scale=0.7, size=len(X))
    qs = np.quantile(s, np.linspace(0, 1, n_classes + 1)[1:-1])
    return np.digitize(s, qs)


def target_reg(X, n_targets, seed):
    rng = np.random.RandomState(seed + 11)
    y0 = 2 * X[:, 0] + np.sin(X[:, 1]) + 0.1 * X[:, 3] - 5 + rng.normal(scale=0.3, size=len(X))
    if n_targets == 1:
        return y0
    y1 = X[:, 2] * X[:, 4] + rng.normal(scale=0.2, size=len(X))
    return np.column_stack([y0, y1])


def classifiers(small):
    t, d = (3, 3) if small else (30, 8)
    return {
        "dt": lambda: DecisionTreeClassifier(max_depth=d + 2, min_samples_split=5, random_state=0),
        "rf": lambda: RandomForestClassifier(n_estimators=t, max_depth=d, random_state=0),
        "et": lambda: ExtraTreesClassifier(n_estimators=t, max_depth=d, random_state=0),
        "gb": lambda: GradientBoostingClassifier(n_estimators=t, max_depth=3, random_state=0),
        "hgb": lambda: HistGradientBoostingClassifier(max_iter=t, max_depth=d, random_state=0),
    }


def regressors(small):
    t, d = (3, 3) if small else (30, 8)
    return {
        "dt": lambda: DecisionTreeRegressor(max_depth=d + 2, min_samples_split=5, random_state=0),
        "rf": lambda: RandomForestRegressor(n_estimators=t, max_depth=d, random_state=0),
        "et": lambda: ExtraTreesRegressor(n_estimators=t, max_depth=d, random_state=0),
        "gb": lambda: GradientBoostingRegressor(n_estimators=t, max_depth=3, random_state=0),
        "hgb": lambda: HistGradientBoostingRegressor(max_iter=t, max_depth=d, random_state=0),
    }


def export(model, X, scaled, classifier):
    options = {}
    if classifier:
        options[type(model)] = {"zipmap": False}
    if scaled:
        model = Pipeline([("scaler", StandardScaler()), ("model", model)])
        options[StandardScaler] = {"div": "div"}
    return model, options


def with_boundary(model, X, columns_of):
    """sklearn's outputs, and for a scaler pipeline the rows where float rounding decides.

    The export computes (x - mean) / scale in float32 (Sub + Div); sklearn computes it in
    float64 and rounds the result to float32 before its trees compare. The two can differ by
    one ulp, which flips a split when a value sits on a threshold. For those rows (`boundary`
    = 1) the expected outputs are sklearn's trees on the float32-scaled input (`alt:<column>`),
    i.e. the same model on exactly the values the ONNX graph computes.
    """
    if not isinstance(model, Pipeline):
        return columns_of(model, X)
    scaler, inner = model.named_steps["scaler"], model.named_steps["model"]
    main = columns_of(model, X)
    xs32 = ((X - scaler.mean_.astype(np.float32)) / scaler.scale_.astype(np.float32)).astype(
        np.float32
    )
    alt = columns_of(inner, xs32)
    boundary = np.zeros(len(X), dtype=bool)
    for (_, a), (_, b) in zip(main, alt):
        a, b = np.asarray(a), np.asarray(b)
        boundary |= (a != b) if a.dtype.kind in "OUSi" else ~np.isclose(a, b, rtol=0, atol=1e-9)
    return main + [("boundary", boundary.astype(int))] + [("alt:" + n, v) for n, v in alt]


def write_case(out, name, onx, X, columns, meta):
    with open(os.path.join(out, name + ".onnx"), "wb") as f:
        f.write(onx.SerializeToString())
    header = [f"x{i}" for i in range(X.shape[1])] + [c for c, _ in columns]
    with open(os.path.join(out, name + ".csv"), "w") as f:
        f.write(",".join(header) + "\n")
        cols = [X[:, i] for i in range(X.shape[1])] + [v for _, v in columns]
        for r in range(X.shape[0]):
            f.write(",".join(fmt(c[r]) for c in cols) + "\n")
    meta["name"] = name
    meta["outputs"] = [o.name for o in onx.graph.output]
    return meta


def fmt(v):
    if isinstance(v, (str, np.str_)):
        return str(v)
    if isinstance(v, (np.integer, int)):
        return str(int(v))
    return repr(float(v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    n_train = 400 if args.small else 3000
    cases = []
    seed = 0
    for scaled in (False, True):
        sfx = "_scaled" if scaled else ""
        for kind, make in classifiers(args.small).items():
            for n_classes in (2, 3):
                for labels in ("int", "str"):
                    seed += 1
                    X = data(seed, n_train)
                    y = target_class(X, n_classes, seed)
                    if labels == "str":
                        names = np.array(["alpha", "beta", "gamma"])
                        y = names[y]
                    else:
                        y = np.array([3, 7, 11])[y]
                    m, options = export(make(), X, scaled, True)
                    m.fit(X, y)
                    onx = to_onnx(m, X[:1], target_opset=OPSET, options=options)
                    Xt = data(seed + 1000, args.rows)
                    out_names = [o.name for o in onx.graph.output]

                    def clf_columns(model, X):
                        proba = model.predict_proba(X)
                        top = np.sort(proba, axis=1)
                        cols = [(out_names[0], model.predict(X))]
                        cols += [(f"{out_names[1]}_{j}", proba[:, j]) for j in range(proba.shape[1])]
                        cols.append(("tie", (top[:, -1] == top[:, -2]).astype(int)))
                        return cols

                    columns = with_boundary(m, Xt, clf_columns)
                    name = f"{kind}_clf_{n_classes}c_{labels}{sfx}"
                    cases.append(write_case(args.out, name, onx, Xt, columns, {"task": "classifier"}))
        for kind, make in regressors(args.small).items():
            targets = (1, 2) if kind in ("dt", "rf", "et") else (1,)
            for n_targets in targets:
                seed += 1
                X = data(seed, n_train)
                y = target_reg(X, n_targets, seed)
                m, options = export(make(), X, scaled, False)
                m.fit(X, y)
                onx = to_onnx(m, X[:1], target_opset=OPSET, options=options)
                Xt = data(seed + 1000, args.rows)
                out_name = onx.graph.output[0].name

                def reg_columns(model, X):
                    pred = np.asarray(model.predict(X)).reshape(len(X), -1)
                    return [(f"{out_name}_{j}" if pred.shape[1] > 1 else out_name, pred[:, j])
                            for j in range(pred.shape[1])]

                columns = with_boundary(m, Xt, reg_columns)
                name = f"{kind}_reg_{n_targets}t{sfx}"
                cases.append(write_case(args.out, name, onx, Xt, columns, {"task": "regressor"}))
        seed += 1
        X = data(seed, n_train)
        m, options = export(
            IsolationForest(n_estimators=5 if args.small else 100, max_features=1.0, random_state=0),
            X, scaled, False)
        m.fit(X)
        onx = to_onnx(m, X[:1], target_opset=OPSET, options=options)
        Xt = data(seed + 1000, args.rows)
        Xt[: len(Xt) // 20] *= 4  # some clear outliers
        out_names = [o.name for o in onx.graph.output]

        def iso_columns(model, X):
            return [(out_names[0], model.predict(X)), (out_names[1], model.decision_function(X))]

        columns = with_boundary(m, Xt, iso_columns)
        cases.append(write_case(args.out, f"iforest{sfx}", onx, Xt, columns, {"task": "anomaly"}))
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
    print(f"{len(cases)} cases, {args.rows} rows each, in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
