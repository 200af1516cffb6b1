#!/usr/bin/env python3
"""Generate the benchmark models of docs/anchors.md into OUT (default benches/models).

- anchor_rf.onnx: RandomForestClassifier(n_estimators=100, max_depth=10, min_samples_split=5),
  6 float features, 3 classes, zipmap=False, target_opset {'': 17, 'ai.onnx.ml': 3};
- gbr.onnx: GradientBoostingRegressor(n_estimators=100, max_depth=3);
- iforest.onnx: IsolationForest(n_estimators=100, max_features=1.0);
- rows.csv: 1,000 rows of features (no header) for the batch figures.
"""
import os
import sys

import numpy as np
from sklearn.ensemble import GradientBoostingRegressor, IsolationForest, RandomForestClassifier
from skl2onnx import to_onnx

OPSET = {"": 17, "ai.onnx.ml": 3}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "models")
    os.makedirs(out, exist_ok=True)
    rng = np.random.RandomState(42)
    X = rng.normal(size=(5000, 6)).astype(np.float32)
    s = X[:, 0] + 0.5 * X[:, 1] * X[:, 2] + rng.normal(scale=0.5, size=len(X))
    y = np.digitize(s, np.quantile(s, [1 / 3, 2 / 3]))
    rf = RandomForestClassifier(n_estimators=100, max_depth=10, min_samples_split=5, random_state=0)
    rf.fit(X, y)
    onx = to_onnx(rf, X[:1], target_opset=OPSET, options={id(rf): {"zipmap": False}})
    open(os.path.join(out, "anchor_rf.onnx"), "wb").write(onx.SerializeToString())
    gbr = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(X, s)
    open(os.path.join(out, "gbr.onnx"), "wb").write(to_onnx(gbr, X[:1], target_opset=OPSET).SerializeToString())
    iso = IsolationForest(n_estimators=100, max_features=1.0, random_state=0).fit(X)
    open(os.path.join(out, "iforest.onnx"), "wb").write(to_onnx(iso, X[:1], target_opset=OPSET).SerializeToString())
    rows = rng.normal(size=(1000, 6)).astype(np.float32)
    np.savetxt(os.path.join(out, "rows.csv"), rows, delimiter=",", fmt="%.9g")


if __name__ == "__main__":
    main()
