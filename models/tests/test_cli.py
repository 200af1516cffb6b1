"""The `python -m training` command line and the data plumbing around it: exit codes, the
lock file, the simulator look-up and unreadable inputs, each failing with a clear message."""

import os
import runpy
import stat
import sys
import time
from pathlib import Path

import pytest

from training import cli, dataset
from training.dataset import DataError

MODELS_DIR = Path(__file__).resolve().parent.parent


def fake_simulator(tmp_path: Path, body: str) -> Path:
    """An executable standing in for `chocoline`; it logs each call to calls.log."""
    script = tmp_path / "fake-chocoline"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path / 'calls.log'}\n{body}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_train_without_a_model_is_bad_input(capsys):
    assert cli.main(["train"]) == 2
    assert "nothing to train" in capsys.readouterr().out


def test_train_on_missing_foreign_data_names_the_directory(tmp_path, capsys):
    missing = tmp_path / "no-such-data"
    code = cli.main(["train", "--model", "quality", "--data", str(missing), "--out", str(tmp_path / "out")])
    assert code == 2
    out, err = capsys.readouterr()
    assert "foreign data" in out
    assert f"{missing / 'batch'}: no such data set directory" in err
    assert not (tmp_path / "out" / "quality").exists()


def test_unknown_model_name_is_refused_by_argparse(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--model", "cocoa"])
    assert e.value.code == 2
    assert "invalid choice: 'cocoa'" in capsys.readouterr().err


def test_module_entry_point_exits_with_the_command_status(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["training", "train"])
    with pytest.raises(SystemExit) as e:
        runpy.run_module("training", run_name="__main__", alter_sys=False)
    assert e.value.code == 2
    assert "nothing to train" in capsys.readouterr().out


def test_a_failing_simulator_is_a_data_error_naming_the_run(tmp_path, monkeypatch, capsys):
    sim = fake_simulator(tmp_path, 'echo "register map exploded" >&2; exit 3')
    monkeypatch.setenv("CHOCOLINE_BIN", str(sim))
    out_dir = tmp_path / "data"
    assert cli.main(["data", "--data", str(out_dir)]) == 2
    first = dataset.load_runs_spec()["sets"]["batch"][0]
    err = capsys.readouterr().err
    assert f"simulator failed for {dataset.run_name(first)}: register map exploded" in err
    # Stopped at the first failure (a run already started beside it may finish: JOBS at once),
    # and the failed run is not marked complete.
    assert 1 <= len(calls(tmp_path)) <= dataset.JOBS
    assert not list(out_dir.rglob(".complete"))


def test_data_lock_round_trip_and_tampering(tmp_path, monkeypatch, capsys):
    """`data --lock` pins what the simulator wrote; `data` accepts it unchanged (without
    re-running complete runs), refuses it once a CSV changes, and refuses a missing lock."""
    # Each fake export writes one row that depends on the seed argument.
    sim = fake_simulator(
        tmp_path,
        'while [ $# -gt 0 ]; do case "$1" in --export-csv) d="$2";; --seed) s="$2";; esac; shift; done\n'
        'mkdir -p "$d" && printf "ts_ms,seed\\n1,%s\\n" "$s" > "$d/samples.csv"',
    )
    monkeypatch.setenv("CHOCOLINE_BIN", str(sim))
    lock = tmp_path / "dataset.sha256"
    monkeypatch.setattr(dataset, "LOCK_FILE", lock)
    data = tmp_path / "data"
    spec = dataset.load_runs_spec()["sets"]
    n_runs = sum(len(r) for r in spec.values())

    assert cli.main(["data", "--data", str(data), "--lock"]) == 0
    assert len(calls(tmp_path)) == n_runs
    lines = lock.read_text().splitlines()
    assert len(lines) == n_runs
    assert all(line.endswith("/samples.csv") for line in lines)

    assert cli.main(["data", "--data", str(data)]) == 0
    assert len(calls(tmp_path)) == n_runs, "complete runs must not be simulated again"
    want = dataset.data_sha256(dataset.file_hashes(data))
    assert f"data sha256 {want} matches" in capsys.readouterr().out

    victim = data / "batch" / dataset.run_name(spec["batch"][0]) / "samples.csv"
    victim.write_text("ts_ms,seed\n1,tampered\n")
    assert cli.main(["data", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "differs from data/dataset.sha256" in err
    assert victim.relative_to(data).as_posix() in err

    lock.unlink()
    with pytest.raises(DataError, match="missing; run `python -m training data --lock`"):
        dataset.check_lock(data)


def test_many_changed_files_are_listed_up_to_five(tmp_path, monkeypatch):
    data = tmp_path / "data"
    for k in range(7):
        (data / f"r{k}").mkdir(parents=True)
        (data / f"r{k}" / "samples.csv").write_text(f"{k}\n")
    lock = tmp_path / "lock"
    monkeypatch.setattr(dataset, "LOCK_FILE", lock)
    dataset.write_lock(data)
    for k in range(7):
        (data / f"r{k}" / "samples.csv").write_text("changed\n")
    with pytest.raises(DataError) as e:
        dataset.check_lock(data)
    msg = str(e.value)
    assert msg.count("samples.csv") == 5 and msg.endswith(" …")


def test_simulator_lookup_prefers_a_fresh_build_over_cargo(tmp_path, monkeypatch):
    monkeypatch.delenv("CHOCOLINE_BIN", raising=False)
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path))
    built = tmp_path / "debug" / "chocoline"
    built.parent.mkdir()
    built.write_text("")
    # Newer than every Rust source: trusted.
    future = time.time() + 3600
    os.utime(built, (future, future))
    assert dataset.find_simulator() == [str(built)]
    # Older than the sources: rebuilt through cargo instead.
    os.utime(built, (0, 0))
    cmd = dataset.find_simulator()
    assert cmd[:2] == ["cargo", "run"] and cmd[-1] == "--"
    assert str(dataset.REPO_DIR / "Cargo.toml") in cmd
    # No cargo either: a clear error.
    monkeypatch.setattr(dataset.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="no simulator: set CHOCOLINE_BIN"):
        dataset.find_simulator()


def test_unreadable_csv_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        dataset.read_csv(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="not a readable CSV"):
        dataset.read_csv(empty)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"ts_ms,x\n\xff\xfe\x00\x81,\x9f\n")
    with pytest.raises(DataError, match="not a readable CSV"):
        dataset.read_csv(binary)


def test_golden_features_command_reproduces_the_committed_file(data_dir, tmp_path):
    out = tmp_path / "golden_features.jsonl"
    n = cli.golden_features(data_dir, out)
    assert n >= 500
    assert out.read_bytes() == (MODELS_DIR / "golden_features.jsonl").read_bytes()


def test_report_prints_every_models_split_figures(capsys):
    assert cli.main(["report"]) == 0
    out = capsys.readouterr().out
    for name in ("quality", "yield", "bloom", "anomaly"):
        assert f"{name}: " in out
    assert "CV/tuning/held-out" in out and "held_out" in out


def test_report_without_models_is_bad_input(tmp_path, capsys):
    assert cli.main(["report", "--out", str(tmp_path)]) == 2
    assert "no manifest" in capsys.readouterr().out
