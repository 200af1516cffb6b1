"""Data validation: the loader accepts the documented schema and refuses the rest clearly."""

import numpy as np
import pandas as pd
import pytest

from training import dataset
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
    assert len(runs) == 50
    defects = pd.concat([r.batches for r in runs])["defect"].value_counts()
    # Every defect class exists in the training data.
    assert set(defects.index) == set(dataset.DEFECTS), defects
    sample_runs = dataset.load_set(data_dir, "sample")
    faults = set(pd.concat([r.samples["fault"] for r in sample_runs]).unique())
    assert faults == {"", "fat-bloom", "sugar-bloom", "gritty", "sensor-stuck", "sensor-dropout", "drift"}
