"""Training on line exports (`--export`, training/exports.py): what is refused, how the
merged data root splits, and what the data card records."""

import json
from pathlib import Path

import pytest

from training import cli, dataset, exports


def sim_root(tmp_path: Path) -> Path:
    """A foreign root of three batch runs (only names and split files matter here)."""
    root = tmp_path / "sim"
    for name in ("a", "b", "c"):
        (root / "batch" / name).mkdir(parents=True)
        (root / "batch" / name / "samples.csv").write_text("ts_ms\n")
    (root / "splits.json").write_text(json.dumps({"batch": {"a": "training", "b": "tuning", "c": "held_out"}}))
    return root


def an_export(tmp_path: Path, name: str = "line-1-w49", complete: bool = True) -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "samples.csv").write_text("ts_ms,batch_id\n1,7\n")
    (d / "batches.csv").write_text("batch_id\n7\n")
    meta = {"schema": "chocoline.export/1", "since_ms": 1000, "until_ms": 5000, "rows": 1,
            "batches": 1, "batch_ids": ["7"], "written_by": "0.1.0"}  # fmt: skip
    (d / "export.json").write_text(json.dumps(meta))
    if complete:
        (d / ".complete").write_text("")
    return d


def test_an_incomplete_export_is_refused_naming_the_folder(tmp_path):
    d = an_export(tmp_path, complete=False)
    with pytest.raises(dataset.DataError, match=r"not a complete export \(no .complete"):
        exports.check_export(d)
    (d / ".complete").write_text("")
    (d / "export.json").write_text('{"since_ms": 1}')
    with pytest.raises(dataset.DataError, match="`until_ms` missing or not an integer"):
        exports.check_export(d)
    (d / "export.json").unlink()
    with pytest.raises(dataset.DataError, match=r"missing \['export.json'\]"):
        exports.check_export(d)


def test_exports_join_the_training_split_and_simulated_runs_keep_theirs(tmp_path):
    sim, e1, e2 = sim_root(tmp_path), an_export(tmp_path, "w49"), an_export(tmp_path, "w49b")
    root = exports.merged_root(sim, [e1, e2], tmp_path / "scratch")
    splits = dataset.run_splits(root, "batch")
    assert splits == {"a": "training", "b": "tuning", "c": "held_out",
                      "export-00-w49": "training", "export-01-w49b": "training"}  # fmt: skip
    assert (root / "batch" / "export-00-w49" / "batches.csv").read_text() == "batch_id\n7\n"


def test_the_data_card_records_each_export_and_changes_the_version(tmp_path):
    sim, e = sim_root(tmp_path), an_export(tmp_path)
    card = exports.data_card(sim, "ab" * 32, [e])
    assert card["simulated"] == {"root": "sim", "batch_runs": 3, "sha256": "ab" * 32}
    (entry,) = card["exports"]
    assert (entry["since_ms"], entry["until_ms"], entry["rows"], entry["batches"]) == (1000, 5000, 1, 1)
    assert entry["split"] == "training" and entry["folder"] == "line-1-w49"
    version = exports.version_with("2.0.0", card)
    assert version.startswith("2.0.0+line.") and len(version) == len("2.0.0+line.") + 8
    # Other labels, another model: the version follows the export's content.
    (e / "batches.csv").write_text("batch_id\n8\n")
    assert exports.version_with("2.0.0", exports.data_card(sim, "ab" * 32, [e])) != version


def test_sample_level_models_cannot_train_on_exports(tmp_path, capsys):
    e = an_export(tmp_path)
    code = cli.main(["train", "--model", "bloom", "--export", str(e), "--data", str(sim_root(tmp_path))])
    assert code == 2
    assert "['bloom'] learn from per-sample labels" in capsys.readouterr().out
    code = cli.main(["train", "--model", "quality", "--export", str(tmp_path / "nope")])
    assert code == 2
    assert "not a complete export" in capsys.readouterr().err
