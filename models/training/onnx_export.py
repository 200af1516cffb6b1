"""ONNX export: skl2onnx for the forests and boosting, a graph of standard operators for
the SPC anomaly detector (`anomaly.ProductSPC`).

The sklearn graphs take one float32 input named `input` of shape [N, n_features] and use the
pinned opsets {'': 17, 'ai.onnx.ml': 3} (ai.onnx.ml 5 would replace the tree ops by
`TreeEnsemble`); the SPC graph has the same input and uses opset 12 (`export_spc`).

The IsolationForest the SPC detector replaced had its own compact converter; it left with
the model (git history, before the SPC change).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

OPSET = {"": 17, "ai.onnx.ml": 3}

# The operators the agent can load; the file says why there is a list.
SUPPORTED_OPS_FILE = Path(__file__).resolve().parent.parent / "supported_ops.txt"


def supported_ops() -> set[str]:
    lines = SUPPORTED_OPS_FILE.read_text().splitlines()
    return {s.strip() for s in lines if s.strip() and not s.startswith("#")}


def check_ops(model: onnx.ModelProto) -> None:
    """Refuse a graph the agent could not load, naming the operators it lacks."""
    missing = sorted({n.op_type for n in model.graph.node} - supported_ops())
    if missing:
        raise ValueError(
            f"the exported graph uses ONNX operators the agent does not include: "
            f"{', '.join(missing)} (list: {SUPPORTED_OPS_FILE.name})"
        )


def _finalise(model: onnx.ModelProto) -> bytes:
    """Deterministic bytes: fixed producer fields, no doc strings with versions or dates;
    only operators the agent can load."""
    check_ops(model)
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


def _table(name: str, table: np.ndarray):
    """A per-product table of `anomaly.ProductSPC` (one row per product, the pooled row
    last) as the graph's initializer: the pooled row moves first, so that row 0 is what
    an unmatched cocoa % reads (see `export_spc`)."""
    t = np.concatenate([table[-1:], table[:-1]]).astype(np.float32)
    return helper.make_tensor(name, TensorProto.FLOAT, list(t.shape), t.ravel().tolist())


def export_spc(est, n_features: int) -> bytes:
    """Per-product robust z graph of `anomaly.ProductSPC` (its module doc): standard ONNX
    operators only, each an exact IEEE float32 operation, so onnxruntime, tract and the
    float32 reference agree bit for bit.

    input [N, F] → process columns x [N, F-1] and cocoa % [N, 1] (Gather);
    known [N, K] = |cocoa − products| < tol (at most one 1 per row: `fit` refuses products
    closer than 2·tol, and the test is strict);
    row [N] = Σ known · [1 … K]: product k's row is k + 1, and 0 (the pooled row, first in
    the exported tables) when no product matched — an exact small integer, Cast to int64;
    median, spread [N, F-1] = Gather of the tables' rows by `row` (exact copies);
    contributions = (x − median) / spread; score_samples = −max |z|;
    decision_function = score_samples − offset.

    Earlier exports picked the rows with a one-hot MatMul (the same numbers: a matrix
    product by a one-hot row is exact), which tract ran as an optimised matrix product,
    about 29 % of the single-row time (docs/budget.md, "Session 25").
    """
    from .anomaly import PRODUCT_TOLERANCE

    p = est.product % n_features
    proc = [j for j in range(n_features) if j != p]
    k = len(est.products_)
    f32 = TensorProto.FLOAT
    inits = [
        helper.make_tensor("proc_idx", TensorProto.INT64, [len(proc)], proc),
        helper.make_tensor("product_idx", TensorProto.INT64, [1], [p]),
        helper.make_tensor("products", f32, [1, k], est.products_.tolist()),
        helper.make_tensor("tolerance", f32, [1], [PRODUCT_TOLERANCE]),
        helper.make_tensor("rows", f32, [1, k], [float(i + 1) for i in range(k)]),
        _table("median", est.median_),
        _table("spread", est.spread_),
        helper.make_tensor("offset", f32, [1], [float(est.offset_)]),
    ]
    nodes = [
        helper.make_node("Gather", ["input", "proc_idx"], ["x"], name="process", axis=1),
        helper.make_node("Gather", ["input", "product_idx"], ["cocoa"], name="product", axis=1),
        helper.make_node("Sub", ["cocoa", "products"], ["dp"], name="dp"),
        helper.make_node("Abs", ["dp"], ["adp"], name="adp"),
        helper.make_node("Less", ["adp", "tolerance"], ["hit"], name="hit"),
        helper.make_node("Cast", ["hit"], ["known"], name="known", to=f32),
        helper.make_node("Mul", ["known", "rows"], ["row_of"], name="row_of"),
        helper.make_node("ReduceSum", ["row_of"], ["row_f"], name="row_f", keepdims=0, axes=[1]),
        helper.make_node("Cast", ["row_f"], ["row"], name="row", to=TensorProto.INT64),
        helper.make_node("Gather", ["median", "row"], ["med"], name="med", axis=0),
        helper.make_node("Gather", ["spread", "row"], ["scale"], name="scale", axis=0),
        helper.make_node("Sub", ["x", "med"], ["dev"], name="dev"),
        helper.make_node("Div", ["dev", "scale"], ["contributions"], name="z"),
        helper.make_node("Abs", ["contributions"], ["az"], name="az"),
        helper.make_node("ReduceMax", ["az"], ["zmax"], name="zmax", keepdims=1, axes=[1]),
        helper.make_node("Neg", ["zmax"], ["score_samples"], name="score"),
        helper.make_node("Sub", ["score_samples", "offset"], ["decision_function"], name="decision"),
    ]
    graph = helper.make_graph(
        nodes,
        "product_spc",
        [helper.make_tensor_value_info("input", f32, [None, n_features])],
        [
            helper.make_tensor_value_info("score_samples", f32, [None, 1]),
            helper.make_tensor_value_info("decision_function", f32, [None, 1]),
            helper.make_tensor_value_info("contributions", f32, [None, len(proc)]),
        ],
        initializer=inits,
    )
    # ReduceSum/ReduceMax take `axes` as an attribute up to opset 12 (ReduceSum) / 17
    # (ReduceMax): the graph pins opset 12 of the default domain.
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)], ir_version=8)
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
