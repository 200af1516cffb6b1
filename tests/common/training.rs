//! A small simulated training set for tests that retrain (`python3 -m training train --data
//! DIR`): the simulator's own export of a few runs per scenario, with `splits.json` so that
//! every scenario is in each split. Seeds 20001+ are used by no committed model and chosen
//! nothing: this set only exercises the pipeline.

use std::path::{Path, PathBuf};

/// Scenarios of the batch set.
const SCENARIOS: [&str; 5] = ["normal", "fat-bloom", "sugar-bloom", "gritty", "drift"];
/// Runs per scenario and their split, in order.
const SPLITS: [&str; 6] = [
    "training", "training", "training", "training", "tuning", "held_out",
];

/// Write the set under `root` (`root/batch/<scenario>-s<seed>/`, `root/splits.json`); returns
/// `root`.
pub fn small_simulated_set(root: &Path) -> PathBuf {
    let mut splits = serde_json::Map::new();
    let mut seed = 20_001;
    for scenario in SCENARIOS {
        for split in SPLITS {
            let name = format!("{scenario}-s{seed}");
            let dir = root.join("batch").join(&name);
            let o = super::cli::run(&[
                "simulate",
                "--export-csv",
                &dir.display().to_string(),
                "--scenario",
                scenario,
                "--seed",
                &seed.to_string(),
                "--duration",
                "24h",
                "--interval",
                "60s",
                "--fault-start",
                "60m",
                "--fault-duration",
                "2h",
                "--fault-every",
                "8h",
            ]);
            assert!(o.status.success(), "simulate: {}", super::cli::stderr(&o));
            splits.insert(name, split.into());
            seed += 1;
        }
    }
    let text = serde_json::json!({ "batch": splits }).to_string();
    std::fs::write(root.join("splits.json"), text).unwrap();
    root.to_path_buf()
}
