"""Training on a line's own data: folders written by `chocoline export` (issue #18) beside
the simulated runs.

An export holds one stretch of one line's history: `samples.csv`, `batches.csv` with the lab's
labels joined, `export.json` (the time range and counts) and `.complete`. It carries batch
labels only (quality grade, defect, measured yield) — no per-sample bloom or fault labels — so
only the batch-level models (quality, yield) can learn from it.

`merged_root` builds a data root for `dataset.load_set` in a scratch folder: the simulated
runs of the `batch` set keep their split; every export joins the **training** split, whole (one
export is one stretch of line history, so no batch or lot straddles two splits). Tuning and
held-out figures therefore stay simulated; the line's own held-out figures come from
`chocoline model compare` on batches labelled after the export (it leaves out every batch
inside a range this data card lists).

`data_card` is what the manifest records under `"data"`: which simulated set and which exports
(range, counts, sha256 of the files) a model was trained on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import dataset

#: The files of an export that decide what a model learns.
EXPORT_FILES = ("samples.csv", "batches.csv")


def check_export(d: Path) -> dict:
    """Refuse a folder that is not a complete export; return its `export.json`."""
    if not (d / ".complete").is_file():
        raise dataset.DataError(f"{d}: not a complete export (no .complete; see docs/capture.md)")
    missing = [f for f in (*EXPORT_FILES, "export.json") if not (d / f).is_file()]
    if missing:
        raise dataset.DataError(f"{d}: missing {missing}: batch-level training needs labelled batches")
    try:
        meta = json.loads((d / "export.json").read_text())
    except json.JSONDecodeError as e:
        raise dataset.DataError(f"{d / 'export.json'}: {e}") from e
    for key in ("since_ms", "until_ms", "rows", "batches"):
        if not isinstance(meta.get(key), int):
            raise dataset.DataError(f"{d / 'export.json'}: `{key}` missing or not an integer")
    return meta


def file_sha256(d: Path) -> str:
    """One hash over the export's training files (the `sha  name` lines, as the data lock)."""
    return dataset.data_sha256(
        {f: hashlib.sha256((d / f).read_bytes()).hexdigest() for f in EXPORT_FILES}
    )


def run_names(exports: list[Path]) -> list[str]:
    """The run name of each export in the merged root (unique even for folders of one name)."""
    return [f"export-{i:02d}-{d.resolve().name}" for i, d in enumerate(exports)]


def merged_root(sim_root: Path, exports: list[Path], scratch: Path) -> Path:
    """A data root in `scratch` with the simulated `batch` runs (links, their own split) and
    each export as one more training run; returns it."""
    root = scratch / "merged"
    (root / "batch").mkdir(parents=True)
    splits = dict(dataset.run_splits(sim_root, "batch"))
    for name in splits:
        (root / "batch" / name).symlink_to((sim_root / "batch" / name).resolve())
    for name, d in zip(run_names(exports), exports):
        (root / "batch" / name).symlink_to(d.resolve())
        splits[name] = "training"
    (root / "splits.json").write_text(json.dumps({"batch": splits}, sort_keys=True, indent=1))
    return root


def data_card(sim_root: Path, sim_hash: str, exports: list[Path]) -> dict:
    """The manifest's `"data"`: the simulated set and every export a model learned from."""
    card = {
        "simulated": {
            "root": sim_root.name,
            "batch_runs": len(dataset.run_splits(sim_root, "batch")),
            "sha256": sim_hash,
        },
        "exports": [],
    }
    for name, d in zip(run_names(exports), exports):
        meta = check_export(d)
        card["exports"].append({
            "run": name,
            "folder": d.resolve().name,
            "split": "training",
            "since_ms": meta["since_ms"],
            "until_ms": meta["until_ms"],
            "rows": meta["rows"],
            "batches": meta["batches"],
            "sha256": file_sha256(d),
        })  # fmt: skip
    return card


def combined_hash(card: dict) -> str:
    """The manifest's `data_sha256` for a model trained on exports: over the simulated set's
    hash and each export's."""
    parts = {"simulated": card["simulated"]["sha256"]}
    parts.update({e["run"]: e["sha256"] for e in card["exports"]})
    return dataset.data_sha256(parts)


def version_with(base: str, card: dict) -> str:
    """A model trained on line data is another model: `BASE+line.<hash8>` (semver build
    metadata), so `model compare` and the predictions tell the two apart."""
    return f"{base}+line.{combined_hash(card)[:8]}"
