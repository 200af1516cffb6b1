"""Command line: `python -m training data|train|report|same`."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from . import dataset, exports, features, golden, same, train


def log(msg: str) -> None:
    print(msg, flush=True)


def cmd_data(args) -> int:
    log(f"generating runs of {dataset.RUNS_FILE} into {args.data}")
    dataset.generate(args.data, log)
    if args.lock:
        dataset.write_lock(args.data)
        log(f"wrote {dataset.LOCK_FILE}")
    else:
        log(f"data sha256 {dataset.check_lock(args.data)} matches {dataset.LOCK_FILE.name}")
    return 0


def golden_features(data_dir: Path, out: Path) -> int:
    runs = dataset.load_set(data_dir, "sample")
    windows = []
    for k, run in enumerate(runs[:14]):
        s = run.samples
        lo = 2000 + 37 * k
        sig = ["temperature", "moisture", "ph", "humidity"][k % 4]
        t = s["ts_ms"].to_numpy(float)[lo : lo + 60] / 1000.0
        windows.append((t, s[sig].to_numpy(float)[lo : lo + 60]))
    cases = golden.feature_pairs(windows, train.SEED)
    golden.write_feature_pairs(out, cases)
    return len(cases)


def with_exports(args, scratch: Path) -> tuple[Path, dict]:
    """The merged data root and the data card of `--export`, built once: every model that may
    learn from exports is batch-level, so they all train on the same root and card."""
    card = exports.data_card(args.data, train.set_hash(args.data, "batch"), args.export)
    root = exports.merged_root(args.data, args.export, scratch)
    log(f"  + {len(args.export)} line export(s) in the training split: "
        + ", ".join(f"{e['folder']} ({e['batches']} batches)" for e in card["exports"]))
    return root, card


def cmd_train(args) -> int:
    names = list(train.MODEL_NAMES) if args.all else args.model
    if not names:
        log("nothing to train: give --all or --model NAME")
        return 2
    if args.export:
        sample_level = [n for n in names if features.LEVEL[n] != "batch"]
        if sample_level:
            log(f"--export: {sample_level} learn from per-sample labels, which a line export "
                "does not have; give --model quality and/or --model yield")
            return 2
        for d in args.export:
            exports.check_export(d)
    t0 = time.time()
    if args.data.resolve() == dataset.GENERATED_DIR.resolve():
        log("[1/3] data: simulator runs from data/runs.json")
        dataset.generate(args.data, log)
        dataset.check_lock(args.data)
    else:
        log(f"[1/3] data: {args.data} (foreign data, not checked against dataset.sha256)")
    log(f"[2/3] training {', '.join(names)} into {args.out}")
    with tempfile.TemporaryDirectory() as scratch:
        line = with_exports(args, Path(scratch)) if args.export else None
        for i, name in enumerate(names, 1):
            log(f" ({i}/{len(names)}) {name}")
            if line is None:
                sim_hash = train.set_hash(args.data, features.LEVEL[name])
                train.train_one(name, args.data, args.out, sim_hash, log)
            else:
                root, card = line
                train.train_one(name, root, args.out, exports.combined_hash(card), log, card)
    log("[3/3] golden feature pairs")
    if (args.data / "sample").is_dir():
        n = golden_features(args.data, args.out / "golden_features.jsonl")
        log(f"  wrote {n} cases to {args.out / 'golden_features.jsonl'}")
    else:
        log(f"  skipped: {args.data} has no sample set (golden_features.jsonl is built from it)")
    log(f"done in {time.time() - t0:.0f} s")
    return 0


def cmd_report(args) -> int:
    """Print each model's CV / tuning / held-out summary from its committed manifest."""
    import json

    for name in train.MODEL_NAMES:
        f = args.out / name / "manifest.json"
        if not f.is_file():
            log(f"{name}: no manifest at {f}")
            return 2
        m = json.loads(f.read_text())
        log(f"{name}: {train.summary(name, m['metrics'], m['decision'])}")
        log(f"  seeds: {json.dumps(m['metrics']['seed_sets'])}")
        log(f"  full figures: {args.out / name / 'report.md'}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("data", help="generate the simulator runs and check / write the lock")
    d.add_argument("--data", type=Path, default=dataset.GENERATED_DIR)
    d.add_argument("--lock", action="store_true", help="rewrite data/dataset.sha256")
    t = sub.add_parser("train", help="train, evaluate and export models")
    t.add_argument("--all", action="store_true", help="all four models")
    t.add_argument("--model", action="append", choices=train.MODEL_NAMES, default=[])
    t.add_argument("--data", type=Path, default=dataset.GENERATED_DIR,
                   help="data root with batch/ and sample/ run folders")  # fmt: skip
    t.add_argument("--out", type=Path, default=dataset.MODELS_DIR,
                   help="where <model>/ folders and golden_features.jsonl go")  # fmt: skip
    t.add_argument("--export", type=Path, action="append", default=[],
                   help="a `chocoline export` folder to learn from as well (training split; "
                        "quality and yield only); repeatable")  # fmt: skip
    r = sub.add_parser("report", help="print CV / tuning / held-out figures of trained models")
    r.add_argument("--out", type=Path, default=dataset.MODELS_DIR,
                   help="where the <model>/ folders are")  # fmt: skip
    s = sub.add_parser("same", help="do two manifest.json files agree (floats to 1e-9)?")
    s.add_argument("committed", type=Path)
    s.add_argument("retrained", type=Path)
    args = p.parse_args(argv)
    try:
        if args.cmd == "same":
            return same.check(args.committed, args.retrained, log)
        if args.cmd == "report":
            return cmd_report(args)
        return cmd_data(args) if args.cmd == "data" else cmd_train(args)
    except dataset.DataError as e:
        print(f"data error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
