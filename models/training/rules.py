"""Transparent rules and naive baselines: what every model is measured against.

A model earns the right to decide alerts only by beating, on the tuning seeds, the rule a
process engineer would write without it (models/README.md, docs/alerts.md). Each rule here
reads the same feature vector the model sees, plus the product's published limits
(docs/alerts.md, `[[products]]` defaults), and nothing the line could not know at that time.

- `quality_spec_rule`: reject when a batch aggregate is outside the product spec — the rule the
  agent's `out_of_range_batch` runs beside P(reject) (src/alert/engine.rs `batch_spec`);
- `quality_drivers`: an ordinal (multinomial logistic) model on the known drivers of the grade
  (distance from the working band, moisture / pH / particle excess, fermentation, bean grade);
- `yield_drivers`: a linear model on the known drivers of yield (bean grade and its poor-lot
  knee, roast time around its optimum, particle size, fermentation deficit, bloom rework);
- `bloom_rule`: working temperature above the product's band (fat), humidity above the
  product's sugar-bloom limit or moisture above 2.3 % (sugar) — the physics of the labels;
- the naive baselines: majority class, training mean, never/always flag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: Product limits (DATA_CARD.md, docs/alerts.md): working band °C, sugar-bloom humidity
#: limit % RH, keyed by cocoa % (the only product identity in the feature vectors).
PRODUCTS = {
    70.0: {"code": "DARK70", "band": (31.0, 32.0), "humidity_limit": 83.0},
    55.0: {"code": "DARK55", "band": (31.0, 32.0), "humidity_limit": 83.0},
    35.0: {"code": "MILK35", "band": (30.0, 31.0), "humidity_limit": 78.0},
    30.0: {"code": "WHITE30", "band": (28.0, 30.0), "humidity_limit": 80.0},
}
#: Product spec of a batch (`[[products]]` defaults): moisture %, pH, particle-size maximum.
MOISTURE_SPEC = (1.0, 2.0)
PH_SPEC = (5.0, 5.5)
PARTICLE_MAX_UM = 25.0
#: Temperature margin above the band top before fat bloom starts (the simulator's physics
#: and `[alerts] temp_band_tolerance_c`), °C.
FAT_MARGIN_C = 0.5
#: Moisture above which the mass itself feeds sugar bloom, %.
WET_MOISTURE = 2.3


def product_column(df: pd.DataFrame, col: str, key: str) -> np.ndarray:
    """Per row: the product limit `key` for the row's cocoa % (column `col`)."""
    cocoa = df[col].to_numpy(float)
    out = np.full(len(df), np.nan)
    for pct, p in PRODUCTS.items():
        v = p[key]
        out[np.isclose(cocoa, pct)] = v if np.isscalar(v) else 0.5 * (v[0] + v[1])
    if np.isnan(out).any():
        bad = sorted(set(cocoa[np.isnan(out)].tolist()))
        raise ValueError(f"no product limits for cocoa % {bad[:4]}")
    return out


def band(df: pd.DataFrame, col: str = "cocoa_pct_last") -> tuple[np.ndarray, np.ndarray]:
    """(band bottom, band top) per row."""
    cocoa = df[col].to_numpy(float)
    lo, hi = np.full(len(df), np.nan), np.full(len(df), np.nan)
    for pct, p in PRODUCTS.items():
        m = np.isclose(cocoa, pct)
        lo[m], hi[m] = p["band"]
    return lo, hi


# --------------------------------------------------------------------------- quality


def quality_spec_rule(df: pd.DataFrame) -> np.ndarray:
    """True where a batch aggregate is outside the product spec (moisture mean, pH mean,
    particle-size mean): what `out_of_range_batch` raises on without any model."""
    m, ph, d = (df[c].to_numpy(float) for c in ("moisture_mean", "ph_mean", "particle_size_mean"))
    return (m < MOISTURE_SPEC[0]) | (m > MOISTURE_SPEC[1]) | (ph < PH_SPEC[0]) | (ph > PH_SPEC[1]) | (d > PARTICLE_MAX_UM)


def quality_terms(df: pd.DataFrame) -> np.ndarray:
    """Known drivers of the sensory grade, one column each (DATA_CARD.md "How labels arise")."""
    lo, hi = band(df)
    mid = 0.5 * (lo + hi)
    t = df["temperature_mean"].to_numpy(float)
    m = df["moisture_mean"].to_numpy(float)
    ph = df["ph_mean"].to_numpy(float)
    return np.column_stack([
        np.abs(t - mid),
        np.maximum(m - 1.6, 0) + np.maximum(1.0 - m, 0),
        np.maximum(ph - 5.5, 0) + np.maximum(5.0 - ph, 0),
        np.abs(ph - 5.3),
        np.maximum(df["particle_size_mean"].to_numpy(float) - 20.0, 0),
        np.maximum(1.05 - df["fermentation_index_last"].to_numpy(float), 0),
        np.maximum(0.93 - df["fermentation_index_last"].to_numpy(float), 0),
        df["bean_quality_last"].to_numpy(float),
        np.maximum(64.0 - df["bean_quality_last"].to_numpy(float), 0),
        df["cocoa_pct_last"].to_numpy(float),
        np.maximum(df["temperature_max"].to_numpy(float) - hi - FAT_MARGIN_C, 0),
        np.maximum(df["humidity_max"].to_numpy(float) - product_column(df, "cocoa_pct_last", "humidity_limit"), 0),
        np.maximum(df["moisture_max"].to_numpy(float) - WET_MOISTURE, 0),
        np.maximum(df["particle_size_max"].to_numpy(float) - 30.0, 0),
    ])  # fmt: skip


def quality_drivers(seed: int):
    """Multinomial logistic regression on `quality_terms` (standardised)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=10.0, max_iter=5000, random_state=seed))


# --------------------------------------------------------------------------- yield


def yield_terms(df: pd.DataFrame) -> np.ndarray:
    """Known drivers of yield (DATA_CARD.md): bean grade and its poor-lot knee, roast time
    around its optimum, particle size, fermentation deficit, bloom/grit rework signals."""
    bq = df["bean_quality_last"].to_numpy(float)
    roast = df["roast_time_last"].to_numpy(float)
    lo, hi = band(df)
    return np.column_stack([
        bq,
        np.maximum(60.0 - bq, 0),
        (roast - 22.0) ** 2,
        np.clip(df["particle_size_mean"].to_numpy(float) - 21.0, -4.0, 6.0),
        np.maximum(1.0 - df["fermentation_index_last"].to_numpy(float), 0),
        np.maximum(df["temperature_max"].to_numpy(float) - hi - FAT_MARGIN_C, 0),
        np.maximum(df["humidity_max"].to_numpy(float) - product_column(df, "cocoa_pct_last", "humidity_limit"), 0),
        np.maximum(df["particle_size_max"].to_numpy(float) - 30.0, 0),
    ])  # fmt: skip


def yield_drivers():
    """Ordinary least squares on `yield_terms`."""
    return LinearRegression()


# --------------------------------------------------------------------------- bloom


def bloom_rule(df: pd.DataFrame) -> np.ndarray:
    """Class index per window (0 none, 1 fat_bloom, 2 sugar_bloom) from the physics: the
    working temperature (300-s mean) above band top + margin → fat bloom; humidity (300-s
    max) above the product's limit or moisture (300-s mean) above 2.3 % → sugar bloom."""
    _, hi = band(df)
    fat = df["temperature_mean_300"].to_numpy(float) > hi + FAT_MARGIN_C
    limit = product_column(df, "cocoa_pct_last", "humidity_limit")
    sugar = (df["humidity_max_300"].to_numpy(float) > limit) | (
        df["moisture_mean_300"].to_numpy(float) > WET_MOISTURE
    )
    return np.where(fat, 1, np.where(sugar, 2, 0))
