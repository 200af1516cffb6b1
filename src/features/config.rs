//! `[features]`: how readings become model inputs. The transforms themselves come from the
//! models' manifests (`feature_spec`); this section maps plant signals onto them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Feature-stage settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Signal holding the PLC's batch id; a change closes the batch. Default "batch_id".
    #[serde(default = "default_batch_id_signal")]
    pub batch_id_signal: String,
    /// Signal holding the product / recipe code. Default "recipe".
    #[serde(default = "default_product_signal")]
    pub product_signal: String,
    /// Signals that identify the bean lot: the PLC's lot number, or the lot's intake figures
    /// (a change of any of them is a new lot). The pH drift rule keeps its baseline per lot;
    /// without lot signals each batch is its own lot. Default: none.
    #[serde(default)]
    pub lot_signals: Vec<String>,
    /// Map from a signal name the models use to the register name in this plant, when they
    /// differ, e.g. `{ temperature = "tempering_temp" }`. Default: empty (names match).
    #[serde(default)]
    pub signal_map: BTreeMap<String, String>,
    /// Signals that are constant by nature (per batch or per bean lot): exempt from the stuck
    /// and spike checks. Default: batch_id, recipe, cocoa_pct, roast_time,
    /// fermentation_index, bean_quality.
    #[serde(default = "default_static_signals")]
    pub static_signals: Vec<String>,
    /// A sensor is stuck after this many consecutive readings that change by no more than
    /// `stuck_tolerance`. 0 disables the check. Default 60 (one minute at a 1 s poll).
    #[serde(default = "default_stuck_samples")]
    pub stuck_samples: u32,
    /// Largest change between two readings still counted as "no change", in engineering
    /// units. Default 0.0 (a frozen register repeats its value exactly).
    #[serde(default)]
    pub stuck_tolerance: f64,
    /// Spike factor k: a reading is a spike when it is more than k · 1.4826 · MAD away from
    /// the median of the previous `spike_window` readings. Default 8.0.
    #[serde(default = "default_spike_k")]
    pub spike_k: f64,
    /// Floor of the spike threshold as a fraction of |median| (quiet quantised signals have
    /// MAD 0). Default 0.05.
    #[serde(default = "default_spike_min_rel")]
    pub spike_min_rel: f64,
    /// Readings in the spike median / MAD window; 0 disables the check. Default 31.
    #[serde(default = "default_spike_window")]
    pub spike_window: usize,
    /// Most samples kept per signal for duration windows (count windows size their ring
    /// themselves). Default 3600.
    #[serde(default = "default_max_window_samples")]
    pub max_window_samples: usize,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        FeaturesConfig {
            batch_id_signal: default_batch_id_signal(),
            product_signal: default_product_signal(),
            lot_signals: Vec::new(),
            signal_map: BTreeMap::new(),
            static_signals: default_static_signals(),
            stuck_samples: default_stuck_samples(),
            stuck_tolerance: 0.0,
            spike_k: default_spike_k(),
            spike_min_rel: default_spike_min_rel(),
            spike_window: default_spike_window(),
            max_window_samples: default_max_window_samples(),
        }
    }
}

fn default_batch_id_signal() -> String {
    "batch_id".into()
}
fn default_product_signal() -> String {
    "recipe".into()
}
fn default_static_signals() -> Vec<String> {
    [
        "batch_id",
        "recipe",
        "cocoa_pct",
        "roast_time",
        "fermentation_index",
        "bean_quality",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}
fn default_stuck_samples() -> u32 {
    60
}
fn default_spike_k() -> f64 {
    8.0
}
fn default_spike_min_rel() -> f64 {
    0.05
}
fn default_spike_window() -> usize {
    31
}
fn default_max_window_samples() -> usize {
    3600
}

impl FeaturesConfig {
    /// The register name carrying a canonical signal (`signal_map`, else the same name).
    pub fn register_of<'a>(&'a self, signal: &'a str) -> &'a str {
        self.signal_map.get(signal).map_or(signal, String::as_str)
    }

    /// The per-reading check settings.
    pub fn check_params(&self) -> crate::validate::CheckParams {
        crate::validate::CheckParams {
            stuck_samples: self.stuck_samples,
            stuck_tolerance: self.stuck_tolerance,
            spike_k: self.spike_k,
            spike_min_rel: self.spike_min_rel,
            spike_window: self.spike_window,
        }
    }
}
