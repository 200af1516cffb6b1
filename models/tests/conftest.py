"""Shared fixtures: the simulator data set (generated once, checked against its lock)."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training import dataset, features  # noqa: E402

MODELS_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    try:
        dataset.generate(dataset.GENERATED_DIR, log=lambda m: None)
    except dataset.DataError as e:
        if os.environ.get("CHOCOLINE_INTEROP") == "1":
            raise
        pytest.skip(f"SKIPPED: no simulator to generate training data: {e}")
    dataset.check_lock(dataset.GENERATED_DIR)
    return dataset.GENERATED_DIR


@pytest.fixture(scope="session")
def tables(data_dir):
    """Feature tables per model (the sample ones on a subset of runs, for speed)."""
    batch_runs = dataset.load_set(data_dir, "batch")
    sample_runs = dataset.load_set(data_dir, "sample")[::3]
    return {
        "quality": features.batch_table(batch_runs, "quality"),
        "yield": features.batch_table(batch_runs, "yield"),
        "bloom": features.window_table(sample_runs, "bloom", stride=60),
        "anomaly": features.window_table(sample_runs, "anomaly", stride=60),
    }
