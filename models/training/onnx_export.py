"""ONNX export: skl2onnx for the forests and boosting, a compact converter for IsolationForest.

All graphs take one float32 input named `input` of shape [N, n_features] and use the pinned
opsets {'': 17, 'ai.onnx.ml': 3} (ai.onnx.ml 5 would replace the tree ops by `TreeEnsemble`).

The compact IsolationForest graph is one `TreeEnsembleRegressor` holding every tree; each
leaf carries `depth(leaf) + c(n_samples(leaf)) - 1` (sklearn's path length with the average
path-length correction), summed over trees. Then standard ops compute
`score_samples = -2^(-sum / (n_trees * c(max_samples)))` and
`decision_function = score_samples - offset_`. It replaces skl2onnx's ≈ 1,500-node export
(per tree Gather + TreeEnsembleRegressor + LabelEncoder).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = {"": 17, "ai.onnx.ml": 3}


def _c(n: float) -> float:
    """Average path length of an unsuccessful BST search over n points (sklearn's c(n))."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n


def _f32_floor(t: float) -> float:
    """The largest float32 ≤ t. For every float32 input x, `x <= _f32_floor(t)` iff
    `x <= t`, which is the comparison sklearn makes (float32 input, float64 threshold);
    rounding to nearest instead would send x == float32(t) > t the wrong way. Isolation
    trees draw thresholds uniformly, so that case is met on real data."""
    t32 = np.float32(t)
    if float(t32) > t:
        t32 = np.nextafter(t32, np.float32(-np.inf))
    return float(t32)


def _finalise(model: onnx.ModelProto) -> bytes:
    """Deterministic bytes: fixed producer fields, no doc strings with versions or dates."""
    model.graph.name = "chocoline"  # skl2onnx puts a random uuid here
    model.producer_name = "chocoline-training"
    model.producer_version = "1"
    model.doc_string = ""
    onnx.checker.check_model(model)
    return model.SerializeToString(deterministic=True)


def export_sklearn(est, n_features: int) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    options = {id(est): {"zipmap": False}} if hasattr(est, "classes_") else None
    onx = convert_sklearn(
        est,
        initial_types=[("input", FloatTensorType([None, n_features]))],
        target_opset=OPSET,
        options=options,
    )
    return _finalise(onx)


def export_iforest(est, n_features: int) -> bytes:
    """Compact IsolationForest graph (see module doc)."""
    if getattr(est, "_max_features", n_features) != n_features:
        raise ValueError("compact export needs max_features=1.0 (every tree sees every feature)")
    tree_ids, node_ids, feat_ids, values, modes, true_ids, false_ids = [], [], [], [], [], [], []
    t_tree, t_node, t_w = [], [], []
    for ti, tree in enumerate(est.estimators_):
        tr = tree.tree_
        depths = tr.compute_node_depths()
        leaf_len = np.asarray(depths, dtype=np.float64) + np.array(
            [_c(float(n)) for n in tr.n_node_samples]
        ) - 1.0
        for ni in range(tr.node_count):
            left, right = int(tr.children_left[ni]), int(tr.children_right[ni])
            tree_ids.append(ti)
            node_ids.append(ni)
            if left == -1:
                feat_ids.append(0)
                values.append(0.0)
                modes.append("LEAF")
                true_ids.append(0)
                false_ids.append(0)
                t_tree.append(ti)
                t_node.append(ni)
                t_w.append(float(leaf_len[ni]))
            else:
                feat_ids.append(int(tr.feature[ni]))
                values.append(_f32_floor(float(tr.threshold[ni])))
                modes.append("BRANCH_LEQ")
                true_ids.append(left)
                false_ids.append(right)
    scale = -math.log(2.0) / (len(est.estimators_) * _c(float(est._max_samples)))
    nodes = [
        helper.make_node(
            "TreeEnsembleRegressor", ["input"], ["path_sum"], domain="ai.onnx.ml",
            name="paths", n_targets=1, aggregate_function="SUM", post_transform="NONE",
            nodes_treeids=tree_ids, nodes_nodeids=node_ids, nodes_featureids=feat_ids,
            nodes_values=values, nodes_modes=modes, nodes_truenodeids=true_ids,
            nodes_falsenodeids=false_ids, target_ids=[0] * len(t_w), target_treeids=t_tree,
            target_nodeids=t_node, target_weights=t_w,
        ),  # fmt: skip
        helper.make_node("Mul", ["path_sum", "scale"], ["exponent"], name="normalise"),
        helper.make_node("Exp", ["exponent"], ["pow2"], name="pow2"),
        helper.make_node("Neg", ["pow2"], ["score_samples"], name="score"),
        helper.make_node("Sub", ["score_samples", "offset"], ["decision_function"], name="decision"),
    ]
    inits = [
        helper.make_tensor("scale", TensorProto.FLOAT, [1], [scale]),
        helper.make_tensor("offset", TensorProto.FLOAT, [1], [float(est.offset_)]),
    ]
    graph = helper.make_graph(
        nodes,
        "isolation_forest",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, n_features])],
        [
            helper.make_tensor_value_info("score_samples", TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info("decision_function", TensorProto.FLOAT, [None, 1]),
        ],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in OPSET.items()],
        ir_version=8,
    )
    return _finalise(model)


def run_onnx(blob: bytes, X: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(blob, so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(None, {"input": np.asarray(X, dtype=np.float32)})
    return dict(zip(names, outs))
