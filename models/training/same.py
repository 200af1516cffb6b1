"""Do two manifests say the same thing? `python -m training same COMMITTED RETRAINED`.

CI retrains every model and wants the committed files back. model.onnx, golden.csv and
golden_features.jsonl must come back byte for byte: they are what the device computes and is
checked against. manifest.json also carries the drift reference (bin edges, mean, σ,
thresholds), summary statistics over float64 feature columns. numpy picks its SIMD kernels
by CPU at run time, so a column's last bit can differ between machines (seen: AVX-512 vs
AVX2 hosts gave one bin edge 30.402211712164092 vs 30.402211712164096). Those floats are
compared to a relative tolerance of 1e-9 — nine orders below any drift threshold — while
every string, integer, boolean, key and list length must match exactly.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

#: Relative tolerance for floats (absolute near zero).
REL = 1e-9


def differences(want, got, path: str = "$", rel: float = REL) -> list[str]:
    """Every place where `got` does not say what `want` says, as `path: want != got`."""
    if isinstance(want, bool) or isinstance(got, bool):
        return [] if want is got else [f"{path}: {want!r} != {got!r}"]
    if isinstance(want, float) or isinstance(got, float):
        if isinstance(want, (int, float)) and isinstance(got, (int, float)):
            if isinstance(want, int) != isinstance(got, int):
                return [f"{path}: {want!r} != {got!r} (int vs float)"]
            if math.isclose(want, got, rel_tol=rel, abs_tol=rel):
                return []
        return [f"{path}: {want!r} != {got!r}"]
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing in retrained" for k in want.keys() - got.keys()]
        out += [f"{path}.{k}: not in committed" for k in got.keys() - want.keys()]
        for k in sorted(want.keys() & got.keys()):
            out += differences(want[k], got[k], f"{path}.{k}", rel)
        return out
    if isinstance(want, list) and isinstance(got, list):
        if len(want) != len(got):
            return [f"{path}: {len(want)} items != {len(got)}"]
        out = []
        for i, (a, b) in enumerate(zip(want, got)):
            out += differences(a, b, f"{path}[{i}]", rel)
        return out
    return [] if type(want) is type(got) and want == got else [f"{path}: {want!r} != {got!r}"]


def largest_float_gap(want, got) -> float:
    """Largest relative difference between floats found at the same place (0 if none)."""
    if isinstance(want, float) and isinstance(got, float):
        scale = max(abs(want), abs(got), 1e-300)
        return abs(want - got) / scale
    if isinstance(want, dict) and isinstance(got, dict):
        return max([largest_float_gap(want[k], got[k]) for k in want.keys() & got.keys()] or [0.0])
    if isinstance(want, list) and isinstance(got, list):
        return max([largest_float_gap(a, b) for a, b in zip(want, got)] or [0.0])
    return 0.0


def check(committed: Path, retrained: Path, log) -> int:
    """Exit status of `python -m training same`: 0 when the manifests agree."""
    want = json.loads(committed.read_text())
    got = json.loads(retrained.read_text())
    diffs = differences(want, got)
    gap = largest_float_gap(want, got)
    for d in diffs[:20]:
        log(f"  {d}")
    if len(diffs) > 20:
        log(f"  … and {len(diffs) - 20} more")
    verdict = "differ" if diffs else "agree"
    log(f"{committed} and {retrained} {verdict} (largest relative float gap {gap:.1e})")
    return 1 if diffs else 0
