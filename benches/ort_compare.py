#!/usr/bin/env python3
"""Time onnxruntime (1 thread) on the same files as benches/infer.rs and print the ratio to
chocoline's figures.

    python3 benches/ort_compare.py [--chocoline anchor_rf=1.9,gbr=0.9,...]

`--chocoline` takes chocoline's figures per model from `cargo bench --bench infer`'s summary,
`name=single_µs` or `name=single_µs/batch_µs_per_row`, to print ratios (onnxruntime time /
chocoline time, so > 1 means chocoline is faster); without it only onnxruntime's figures are
printed. Models are
benches/models/*.onnx (benches/gen_bench_models.py) and models/<name>/model.onnx when present.
"""
import argparse
import glob
import os
import time

import numpy as np

try:
    import onnxruntime as ort
except ImportError:  # pragma: no cover
    raise SystemExit("SKIPPED: onnxruntime is not installed")

HERE = os.path.dirname(os.path.abspath(__file__))


def median_us(fn, n):
    for _ in range(min(n, 50)):
        fn()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) * 1e6


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chocoline", default="", help="name=single_µs[/batch_µs_per_row],...")
    args = ap.parse_args()
    ours = dict(kv.split("=") for kv in args.chocoline.split(",") if "=" in kv)
    files = sorted(glob.glob(os.path.join(HERE, "models", "*.onnx")))
    files += sorted(glob.glob(os.path.join(HERE, "..", "models", "*", "model.onnx")))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    print(f"{'model':24} {'load ms':>9} {'single µs':>10} {'batch µs/row':>13} {'chocoline':>14} {'ratio 1':>8} {'ratio batch':>11}")
    for f in files:
        name = os.path.basename(f)[:-5] if os.path.basename(f) != "model.onnx" else os.path.basename(os.path.dirname(f))
        t = time.perf_counter()
        sess = ort.InferenceSession(f, opts, providers=["CPUExecutionProvider"])
        load_ms = (time.perf_counter() - t) * 1e3
        inp = sess.get_inputs()[0]
        width = inp.shape[1] if isinstance(inp.shape[1], int) else 6
        dtype = np.float64 if "double" in inp.type else np.float32
        rng = np.random.RandomState(0)
        one = rng.normal(size=(1, width)).astype(dtype)
        batch = rng.normal(size=(1000, width)).astype(dtype)
        single = median_us(lambda: sess.run(None, {inp.name: one}), 2000)
        per_row = median_us(lambda: sess.run(None, {inp.name: batch}), 50) / 1000
        mine = ours.get(name, "")
        parts = [float(p) for p in mine.split("/") if p]
        ratio = f"{single / parts[0]:.1f}x" if parts else ""
        ratio_b = f"{per_row / parts[1]:.1f}x" if len(parts) > 1 else ""
        print(f"{name:24} {load_ms:9.1f} {single:10.1f} {per_row:13.3f} {mine:>14} {ratio:>8} {ratio_b:>11}")


if __name__ == "__main__":
    main()
