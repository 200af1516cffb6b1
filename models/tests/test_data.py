"""Data validation: the loader accepts the documented schema and refuses the rest clearly."""

import numpy as np
import pandas as pd
import pytest

from training import dataset, features
from training.dataset import DataError


def good_samples(n=20) -> pd.DataFrame:
    ts = 1_767_225_600_000 + 1000 * np.arange(n)
    df = pd.DataFrame({"ts_ms": ts, "batch_id": 1001, "recipe": 1})
    vals = {"temperature": 31.5, "tunnel_temp": 13.0, "humidity": 55.0, "particle_size": 21.0,
            "moisture": 1.5, "ph": 5.3, "conche_temp": 70.0, "cocoa_pct": 70.0,
            "roast_time": 20.0, "fermentation_index": 1.1, "bean_quality": 80.0}  # fmt: skip
    for k, v in vals.items():
        df[k] = v
    return df


def test_plant_history_without_label_columns_is_accepted():
    df = dataset.validate_samples(good_samples())
    assert (df["fault"] == "").all()
    assert df["bloom_label"].isna().all()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.drop(columns=["ph"]), "missing column(s) ['ph']"),
        (lambda d: d.assign(humidity=d.humidity.astype(object).where(d.index != 3, "wet")), "'humidity' is not numeric"),
        (lambda d: d.assign(humidity=np.where(d.index == 4, 130.0, d.humidity)), "'humidity': 1 value(s) outside [0.0, 100.0]"),
        (lambda d: d.assign(ts_ms=d.ts_ms.where(d.index != 5, d.ts_ms[4])), "ts_ms not strictly increasing"),
        (lambda d: d.assign(batch_id=np.where(d.index == 2, np.nan, 1001.0)), "'batch_id' has 1 empty / NaN"),
        (lambda d: d.assign(moisture=np.where(d.index < 15, np.nan, 1.5)), "'moisture' is 75% empty / NaN"),
        (lambda d: d.assign(ph=np.where(d.index == 1, np.inf, 5.3)), "'ph' has infinite values"),
        (lambda d: d.assign(bloom_label="mould"), "bloom_label 'mould'"),
        (lambda d: d.iloc[:0], "no rows"),
    ],
)
def test_bad_samples_are_refused_with_a_clear_error(mutate, message):
    with pytest.raises(DataError) as e:
        dataset.validate_samples(mutate(good_samples()), "x.csv")
    assert message in str(e.value)
    assert str(e.value).startswith("x.csv: ")


def test_a_few_missing_values_are_tolerated():
    df = good_samples().assign(moisture=lambda d: np.where(d.index == 3, np.nan, 1.5))
    assert dataset.validate_samples(df)["moisture"].isna().sum() == 1


def good_batches() -> pd.DataFrame:
    return pd.DataFrame([{"batch_id": 1001, "recipe": 1, "product": "DARK70", "chocolate": "dark",
                          "start_ms": 0, "end_ms": 10, "bean_lot": 100, "quality_grade": "A",
                          "yield_pct": 84.0, "defect": "none"}])  # fmt: skip


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.assign(quality_grade="C"), "quality_grade 'C' not in"),
        (lambda d: d.assign(defect="mould"), "defect 'mould' not in"),
        (lambda d: d.assign(yield_pct=140.0), "yield_pct outside"),
        (lambda d: d.assign(end_ms=0), "ends before it starts"),
        (lambda d: pd.concat([d, d]), "duplicate batch_id 1001"),
        (lambda d: d.drop(columns=["bean_lot"]), "missing column(s) ['bean_lot']"),
    ],
)
def test_bad_batches_are_refused(mutate, message):
    dataset.validate_batches(good_batches())
    with pytest.raises(DataError, match=".*") as e:
        dataset.validate_batches(mutate(good_batches()))
    assert message in str(e.value)


def test_foreign_csv_directory_loads(tmp_path):
    good_samples().to_csv(tmp_path / "samples.csv", index=False)
    run = dataset.load_run(tmp_path)
    assert len(run.samples) == 20 and run.batches is None
    with pytest.raises(DataError, match="batches.csv missing"):
        dataset.load_run(tmp_path, need_batches=True)
    (tmp_path / "samples.csv").write_text("ts_ms,batch_id\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        dataset.load_run(tmp_path)


def test_generated_data_matches_its_lock_and_schema(data_dir):
    runs = dataset.load_set(data_dir, "batch")
    assert len(runs) == len(dataset.load_runs_spec()["sets"]["batch"])
    defects = pd.concat([r.batches for r in runs])["defect"].value_counts()
    # Every defect class exists in the training data.
    assert set(defects.index) == set(dataset.DEFECTS), defects
    sample_runs = dataset.load_set(data_dir, "sample")
    faults = set(pd.concat([r.samples["fault"] for r in sample_runs]).unique())
    assert faults == {"", "fat-bloom", "sugar-bloom", "gritty", "sensor-stuck", "sensor-dropout", "drift"}


def test_seed_sets_are_disjoint_and_every_split_has_every_scenario():
    for level, runs in dataset.load_runs_spec()["sets"].items():
        seeds = {s: {r["seed"] for r in runs if r["split"] == s} for s in dataset.SPLITS}
        for a in dataset.SPLITS:
            for b in dataset.SPLITS:
                if a < b:
                    assert not seeds[a] & seeds[b], (level, a, b, seeds[a] & seeds[b])
        scen = {s: {r["scenario"] for r in runs if r["split"] == s} for s in dataset.SPLITS}
        assert scen["training"] == scen["tuning"] == scen["held_out"], (level, scen)
        names = [dataset.run_name(r) for r in runs]
        assert len(names) == len(set(names)), level


def test_enough_fault_episodes_on_every_product(data_dir):
    """≥ 20 training episodes per fault scenario; bloom episodes on all four products."""
    runs = dataset.load_set(data_dir, "sample", ("training",))
    per: dict = {}
    for run in runs:
        for fault, product in features.episodes(run):
            per.setdefault(fault, {}).setdefault(product, 0)
            per[fault][product] += 1
    for fault, products in per.items():
        assert sum(products.values()) >= 20, (fault, products)
    for fault in ("fat-bloom", "sugar-bloom"):
        assert set(per[fault]) == {"DARK70", "DARK55", "MILK35", "WHITE30"}, per[fault]


def frame(rows, group):
    return pd.DataFrame({"a": [r[0] for r in rows], "b": [r[1] for r in rows], "g": group})


def test_a_feature_row_shared_by_two_groups_is_refused():
    ok = frame([(1.0, 2.0), (1.0, 2.0), (3.0, 4.0)], ["lot1", "lot1", "lot2"])
    dataset.check_no_shared_rows(ok, ["a", "b"], "g", "t")  # repeats inside one lot are fine
    bad = frame([(1.0, 2.0), (3.0, 4.0), (1.0, 2.0)], ["lot1", "lot2", "lot3"])
    with pytest.raises(DataError, match=r"t: 1 feature row\(s\) appear in more than one g"):
        dataset.check_no_shared_rows(bad, ["a", "b"], "g", "t")


def test_generated_tables_share_no_row_across_lots_or_batches(tables):
    """The property the CV rests on, on the real generated data (the old simulator re-used
    the normal run's draws in every fault run of a seed: about half the rows were copies)."""
    from training import train

    for name, df in tables.items():
        names = [f["name"] for f in features.SPECS[name]]
        df = df[np.isfinite(df[names].to_numpy()).all(axis=1)]
        dataset.check_no_shared_rows(df, names, train.GROUP[name], name)


def test_foreign_data_splits_by_file_or_by_position(tmp_path):
    names = [f"r{k}" for k in range(10)]
    got = dataset.foreign_splits(tmp_path, "batch", names)
    assert [got[n] for n in names] == ["training"] * 6 + ["tuning"] * 2 + ["held_out"] * 2
    (tmp_path / "splits.json").write_text('{"batch": {"r0": "held_out", "r1": "training"}}')
    assert dataset.foreign_splits(tmp_path, "batch", ["r0", "r1"]) == {"r0": "held_out", "r1": "training"}
    with pytest.raises(DataError, match="no split for run"):
        dataset.foreign_splits(tmp_path, "batch", ["r0", "r2"])
    (tmp_path / "splits.json").write_text('{"batch": {"r0": "later"}}')
    with pytest.raises(DataError, match="unknown split"):
        dataset.foreign_splits(tmp_path, "batch", ["r0"])
