"""training.same: which manifest differences CI tolerates (float noise) and which it does not."""

import json

from training import cli, same


def manifest():
    return {
        "name": "bloom",
        "version": 3,
        "sha256": "ab" * 32,
        "reference": {"samples": 12, "features": [{"edges": [30.402211712164092, 31.5],
                                                     "counts": [0, 5, 7, 0], "std": 0.4483}]},
        "decision": {"model_decides": True},
    }


def test_last_bit_float_noise_is_tolerated():
    got = manifest()
    got["reference"]["features"][0]["edges"][0] = 30.402211712164096
    assert same.differences(manifest(), got) == []
    assert 0 < same.largest_float_gap(manifest(), got) < 1e-15


def test_a_real_float_change_is_reported_with_its_path():
    got = manifest()
    got["reference"]["features"][0]["std"] = 0.4484
    assert same.differences(manifest(), got) == ["$.reference.features[0].std: 0.4483 != 0.4484"]


def test_integers_strings_booleans_and_shapes_must_match_exactly():
    cases = [
        ("counts", lambda m: m["reference"]["features"][0]["counts"].__setitem__(1, 6)),
        ("sha256", lambda m: m.__setitem__("sha256", "cd" * 32)),
        ("model_decides", lambda m: m["decision"].__setitem__("model_decides", False)),
        ("items", lambda m: m["reference"]["features"][0]["edges"].append(32.0)),
        ("missing", lambda m: m.pop("version")),
        ("int vs float", lambda m: m.__setitem__("version", 3.0)),
    ]
    for word, change in cases:
        got = manifest()
        change(got)
        diffs = same.differences(manifest(), got)
        assert len(diffs) == 1 and (word in diffs[0]), (word, diffs)


def test_cli_exit_status(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(manifest()))
    b.write_text(json.dumps(manifest()))
    assert cli.main(["same", str(a), str(b)]) == 0
    changed = manifest()
    changed["reference"]["samples"] = 13
    b.write_text(json.dumps(changed))
    assert cli.main(["same", str(a), str(b)]) == 1
    assert "$.reference.samples: 12 != 13" in capsys.readouterr().out
