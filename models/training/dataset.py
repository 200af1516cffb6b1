"""Training data: generation through the Rust simulator, loading and validation.

The simulator (`chocoline simulate --export-csv`) is the single source of truth for the
physics. `data/runs.json` lists the exact runs (scenario, seed, duration, interval, fault
window); `data/dataset.sha256` pins the bytes they produce, so a changed simulator is noticed
instead of silently producing different models.

The loader accepts any directory holding `samples.csv` (+ `batches.csv` for batch labels) in
the schema of DATA_CARD.md, so real plant history can replace the simulated runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from threading import Event

import numpy as np
import pandas as pd

MODELS_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = MODELS_DIR.parent
RUNS_FILE = MODELS_DIR / "data" / "runs.json"
LOCK_FILE = MODELS_DIR / "data" / "dataset.sha256"
GENERATED_DIR = MODELS_DIR / "data" / "generated"

#: Canonical signals (docs/signals.md) other than the leading batch_id / recipe columns.
SIGNALS = [
    "temperature",
    "tunnel_temp",
    "humidity",
    "particle_size",
    "moisture",
    "ph",
    "conche_temp",
    "cocoa_pct",
    "roast_time",
    "fermentation_index",
    "bean_quality",
]
#: Columns every samples.csv must have.
SAMPLE_REQUIRED = ["ts_ms", "batch_id", "recipe"] + SIGNALS
#: Optional label columns (simulated data has them; plant history usually not).
SAMPLE_OPTIONAL = ["scenario", "fault", "bloom_label"]
BATCH_COLUMNS = [
    "batch_id",
    "recipe",
    "product",
    "chocolate",
    "start_ms",
    "end_ms",
    "bean_lot",
    "quality_grade",
    "yield_pct",
    "defect",
]
GRADES = ["A", "B", "reject"]
DEFECTS = ["none", "fat_bloom", "sugar_bloom", "gritty", "off_flavour"]
BLOOM_LABELS = ["none", "fat_bloom", "sugar_bloom"]

#: Physically possible ranges: a value outside is a broken sensor or a unit mix-up, not
#: a process state (the process bands of domain.md are much narrower).
PLAUSIBLE = {
    "temperature": (0.0, 80.0),
    "tunnel_temp": (-5.0, 40.0),
    "humidity": (0.0, 100.0),
    "particle_size": (1.0, 200.0),
    "moisture": (0.0, 10.0),
    "ph": (3.0, 8.0),
    "conche_temp": (10.0, 110.0),
    "cocoa_pct": (0.0, 100.0),
    "roast_time": (0.0, 180.0),
    "fermentation_index": (0.0, 3.0),
    "bean_quality": (0.0, 100.0),
}
#: Largest share of missing (empty / NaN) values tolerated per signal column. Features skip
#: non-finite values (docs/feature-spec.md), but a mostly-empty column is a broken export.
MAX_MISSING_SHARE = 0.5


class DataError(ValueError):
    """Input data does not follow the documented schema; the message names file and column."""


@dataclass
class Run:
    """One exported run: its samples and closed batches."""

    name: str
    samples: pd.DataFrame
    batches: pd.DataFrame | None
    #: `training`, `tuning` or `held_out` (see `SPLITS`).
    split: str = "training"


#: The three disjoint seed sets (DATA_CARD.md): fitting and grouped CV; choosing
#: hyper-parameters, thresholds and model-or-rule; reporting only.
SPLITS = ("training", "tuning", "held_out")


# --------------------------------------------------------------------------- generation


def load_runs_spec() -> dict:
    return json.loads(RUNS_FILE.read_text())


def run_name(spec: dict) -> str:
    return f"{spec['scenario']}-s{spec['seed']}"


def find_simulator() -> list[str]:
    """The command that runs the simulator: $CHOCOLINE_BIN, else `cargo run --quiet --`."""
    binary = os.environ.get("CHOCOLINE_BIN")
    if binary:
        return [binary]
    target = os.environ.get("CARGO_TARGET_DIR", str(REPO_DIR / "target"))
    for profile in ("release", "debug"):
        candidate = Path(target) / profile / "chocoline"
        if candidate.is_file():
            # Only trust a built binary that is newer than the simulator sources.
            newest = max(p.stat().st_mtime for p in (REPO_DIR / "src").rglob("*.rs"))
            if candidate.stat().st_mtime >= newest:
                return [str(candidate)]
    if shutil.which("cargo") is None:
        raise DataError("no simulator: set CHOCOLINE_BIN or install cargo to build chocoline")
    return ["cargo", "run", "--quiet", "--manifest-path", str(REPO_DIR / "Cargo.toml"), "--"]


def simulate_one(cmd: list[str], d: Path, r: dict, failed: Event) -> None:
    """Export one run into d (marked complete only once the simulator succeeded); nothing once
    another run has failed."""
    if failed.is_set():
        return
    args = cmd + [
        "simulate", "--export-csv", str(d), "--scenario", r["scenario"],
        "--seed", str(r["seed"]), "--duration", r["duration"],
        "--interval", r["interval"], "--fault-start", r["fault_start"],
        "--fault-duration", r["fault_duration"],
    ]  # fmt: skip
    if r.get("fault_every"):
        args += ["--fault-every", r["fault_every"]]
    res = subprocess.run(args, capture_output=True, text=True, cwd=REPO_DIR)
    if res.returncode != 0:
        failed.set()
        raise DataError(f"simulator failed for {run_name(r)}: {res.stderr.strip()}")
    (d / ".complete").write_text("")


#: Simulator processes run at once. Each run has its own seed and folder, so the files are the
#: same for any value (data/dataset.sha256 checks it).
JOBS = 2


def generate(out_dir: Path = GENERATED_DIR, log=print) -> Path:
    """Export every run of runs.json into out_dir/<set>/<run>/ (skipping complete ones)."""
    spec = load_runs_spec()
    todo = []
    for set_name, runs in spec["sets"].items():
        for i, r in enumerate(runs):
            d = out_dir / set_name / run_name(r)
            if (d / "samples.csv").is_file() and (d / ".complete").is_file():
                continue
            todo.append((f"  simulate {set_name} {i + 1}/{len(runs)}: {run_name(r)}", d, r))
    if not todo:
        return out_dir
    cmd = find_simulator()
    failed = Event()
    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        futures = [(line, pool.submit(simulate_one, cmd, d, r, failed)) for line, d, r in todo]
        # Progress from this thread only (prints from the workers would interleave), in run
        # order, each line once its run is done.
        for line, f in futures:
            f.result()
            log(line)
    return out_dir


def file_hashes(data_dir: Path) -> dict[str, str]:
    """sha256 of every CSV under data_dir, keyed by relative path (sorted)."""
    out = {}
    for p in sorted(data_dir.rglob("*.csv")):
        out[p.relative_to(data_dir).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def data_sha256(hashes: dict[str, str]) -> str:
    """One hash over all files: sha256 of the `sha  path` lines."""
    text = "".join(f"{h}  {p}\n" for p, h in sorted(hashes.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def write_lock(data_dir: Path = GENERATED_DIR) -> None:
    hashes = file_hashes(data_dir)
    LOCK_FILE.write_text("".join(f"{h}  {p}\n" for p, h in sorted(hashes.items())))


def check_lock(data_dir: Path = GENERATED_DIR) -> str:
    """Verify the generated data against data/dataset.sha256; return the data hash."""
    hashes = file_hashes(data_dir)
    if not LOCK_FILE.is_file():
        raise DataError(f"{LOCK_FILE} missing; run `python -m training data --lock`")
    want = {}
    for line in LOCK_FILE.read_text().splitlines():
        h, p = line.split("  ", 1)
        want[p] = h
    if hashes != want:
        diff = sorted(p for p in set(hashes) | set(want) if hashes.get(p) != want.get(p))
        raise DataError(
            "generated data differs from data/dataset.sha256 (simulator changed?): "
            + ", ".join(diff[:5])
            + (" …" if len(diff) > 5 else "")
        )
    return data_sha256(hashes)


# --------------------------------------------------------------------------- loading


def _numeric(df: pd.DataFrame, col: str, where: str) -> None:
    if not pd.api.types.is_numeric_dtype(df[col]):
        bad = pd.to_numeric(df[col], errors="coerce").isna() & df[col].notna()
        first = df.loc[bad, col].iloc[0] if bad.any() else "?"
        raise DataError(f"{where}: column {col!r} is not numeric (e.g. {first!r})")


def validate_samples(df: pd.DataFrame, where: str = "samples.csv") -> pd.DataFrame:
    """Check schema, types, NaN and ranges; return the frame (label columns filled)."""
    missing = [c for c in SAMPLE_REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; see models/DATA_CARD.md")
    if len(df) == 0:
        raise DataError(f"{where}: no rows")
    for col in SAMPLE_REQUIRED:
        _numeric(df, col, where)
    for col in ("ts_ms", "batch_id", "recipe"):
        n = int(df[col].isna().sum())
        if n:
            raise DataError(f"{where}: column {col!r} has {n} empty / NaN value(s)")
    ts = df["ts_ms"].to_numpy()
    if np.any(np.diff(ts) <= 0):
        i = int(np.argmax(np.diff(ts) <= 0))
        raise DataError(f"{where}: ts_ms not strictly increasing at row {i + 2} ({ts[i + 1]})")
    for col, (lo, hi) in PLAUSIBLE.items():
        x = df[col].to_numpy(dtype=float)
        if np.isinf(x).any():
            raise DataError(f"{where}: column {col!r} has infinite values")
        share = float(np.isnan(x).mean())
        if share > MAX_MISSING_SHARE:
            raise DataError(
                f"{where}: column {col!r} is {share:.0%} empty / NaN "
                f"(at most {MAX_MISSING_SHARE:.0%} allowed)"
            )
        bad = (x < lo) | (x > hi)
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(
                f"{where}: column {col!r}: {int(bad.sum())} value(s) outside [{lo}, {hi}], "
                f"first {x[i]} at ts_ms={int(ts[i])}"
            )
    df = df.copy()
    for col in ("scenario", "fault"):
        if col not in df.columns:
            df[col] = ""
        df[col] = df[col].astype(object).where(df[col].notna(), "").astype(str)
    if "bloom_label" not in df.columns:
        df["bloom_label"] = np.nan
    if df["bloom_label"].notna().any():
        bad = ~df["bloom_label"].isin(BLOOM_LABELS)
        if bad.any():
            raise DataError(
                f"{where}: bloom_label {df['bloom_label'][bad].iloc[0]!r} not in {BLOOM_LABELS}"
            )
    return df


def validate_batches(df: pd.DataFrame, where: str = "batches.csv") -> pd.DataFrame:
    missing = [c for c in BATCH_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; see models/DATA_CARD.md")
    for col in BATCH_COLUMNS:
        n = int(df[col].isna().sum())
        if n:
            raise DataError(f"{where}: column {col!r} has {n} empty / NaN value(s)")
    for col in ("batch_id", "recipe", "start_ms", "end_ms", "bean_lot", "yield_pct"):
        _numeric(df, col, where)
    if df["batch_id"].duplicated().any():
        raise DataError(f"{where}: duplicate batch_id {df['batch_id'][df.batch_id.duplicated()].iloc[0]}")
    for col, allowed in (("quality_grade", GRADES), ("defect", DEFECTS)):
        bad = ~df[col].isin(allowed)
        if bad.any():
            raise DataError(f"{where}: {col} {df[col][bad].iloc[0]!r} not in {allowed}")
    y = df["yield_pct"].to_numpy(float)
    if ((y <= 0) | (y > 100)).any():
        raise DataError(f"{where}: yield_pct outside (0, 100]")
    if (df["end_ms"] <= df["start_ms"]).any():
        raise DataError(f"{where}: a batch ends before it starts")
    return df


def read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=True)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a readable CSV: {e}") from None


def load_run(
    d: Path, name: str | None = None, need_batches: bool = False, split: str = "training"
) -> Run:
    samples = validate_samples(read_csv(d / "samples.csv"), f"{d / 'samples.csv'}")
    batches = None
    if (d / "batches.csv").is_file():
        batches = validate_batches(read_csv(d / "batches.csv"), f"{d / 'batches.csv'}")
    elif need_batches:
        raise DataError(f"{d}: batches.csv missing (batch-level models need batch labels)")
    return Run(name or d.name, samples, batches, split)


def foreign_splits(data_dir: Path, set_name: str, names: list[str]) -> dict[str, str]:
    """Split of each run of foreign data: `DIR/splits.json` (`{"batch": {"run": "tuning",
    ...}, ...}`) where given, else by position in sorted order — the first 60 % of runs
    training, the next 20 % tuning, the rest held out (whole runs: a run is one stretch of
    line history, so no batch or lot straddles two splits)."""
    f = data_dir / "splits.json"
    if f.is_file():
        try:
            given = json.loads(f.read_text()).get(set_name, {})
        except (json.JSONDecodeError, AttributeError) as e:
            raise DataError(f"{f}: not a JSON object of sets: {e}") from None
        bad = {n: v for n, v in given.items() if v not in SPLITS}
        if bad:
            raise DataError(f"{f}: {set_name}: unknown split(s) {bad}; valid: {list(SPLITS)}")
        missing = [n for n in names if n not in given]
        if missing:
            raise DataError(f"{f}: {set_name}: no split for run(s) {missing[:5]}")
        return {n: given[n] for n in names}
    n = len(names)
    cut1, cut2 = round(0.6 * n), round(0.8 * n)
    return {name: SPLITS[0 if i < cut1 else 1 if i < cut2 else 2] for i, name in enumerate(names)}


def load_set(data_dir: Path, set_name: str, splits: tuple[str, ...] = SPLITS) -> list[Run]:
    """Runs of one set that belong to `splits`, in runs.json order (or sorted directory
    order for foreign data)."""
    base = data_dir / set_name
    split_of = run_splits(data_dir, set_name)
    return [
        load_run(base / n, n, need_batches=(set_name == "batch"), split=split)
        for n, split in split_of.items()
        if split in splits
    ]


def run_splits(data_dir: Path, set_name: str) -> dict[str, str]:
    """Run name → split of one set, in runs.json order (or sorted directory order for
    foreign data); nothing is read but the listing and the split files."""
    base = data_dir / set_name
    if not base.is_dir():
        raise DataError(f"{base}: no such data set directory")
    names = [p.name for p in sorted(base.iterdir()) if (p / "samples.csv").is_file()]
    if data_dir.resolve() == GENERATED_DIR.resolve():
        runs = load_runs_spec()["sets"][set_name]
        return {run_name(r): r["split"] for r in runs}
    return foreign_splits(data_dir, set_name, names)


def check_no_shared_rows(df: pd.DataFrame, names: list[str], group: str, where: str) -> None:
    """Refuse a table in which one exact feature row belongs to two groups (lots / batches):
    a copy of one physical batch on both sides of a CV split would make the CV figures
    measure memory, not prediction. Rows that repeat within one group are fine."""
    key = df[names].round(12).astype(str).agg("|".join, axis=1)
    per = pd.DataFrame({"key": key, "group": df[group]}).drop_duplicates()
    shared = per[per.duplicated("key", keep=False)]
    if len(shared):
        groups = sorted(shared["group"].astype(str).unique().tolist())
        raise DataError(
            f"{where}: {shared['key'].nunique()} feature row(s) appear in more than one "
            f"{group} (e.g. {groups[:4]}): copies of one physical {group} in several runs"
        )
