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
    /// Map from a signal name the models use to the register name in this plant, when they
    /// differ, e.g. `{ temperature = "tempering_temp" }`. Default: empty (names match).
    #[serde(default)]
    pub signal_map: BTreeMap<String, String>,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        FeaturesConfig {
            batch_id_signal: default_batch_id_signal(),
            product_signal: default_product_signal(),
            signal_map: BTreeMap::new(),
        }
    }
}

fn default_batch_id_signal() -> String {
    "batch_id".into()
}
fn default_product_signal() -> String {
    "recipe".into()
}
