//! Semantic validation of a merged configuration: every check runs and every problem is
//! reported, not just the first. Each check is a small function over the whole [`Config`]
//! with its own test; paths are already resolved against the configuration file's directory.
//!
//! Layout: this file holds the list of checks and the helpers they share; the checks live
//! beside it by what they check — [`devices`] (controllers, serial lines, registers),
//! [`pipeline`] (products, features, models, drift, alerts), [`model_tables`]
//! (`[models.<name>]`: folders and shadow candidates), [`fleet`] (trusted keys, installed
//! models), [`outputs`] (store, MQTT, log), [`capture`].

use std::collections::HashMap;
use std::path::Path;

use super::controller::Controller;
use super::keypath::KeyPath;
use super::structure::Problem;
use super::{Config, DataType, DeviceConfig, RegisterKind, RuleConfig};

mod capture;
mod devices;
mod fleet;
mod model_tables;
mod outputs;
#[cfg(test)]
mod outputs_tests;
mod pipeline;
#[cfg(test)]
mod tests;

use capture::*;
use devices::*;
use fleet::*;
pub(crate) use model_tables::candidate_files;
use model_tables::model_tables;
use outputs::*;
use pipeline::*;

/// A check adds the problems it finds.
type Check = fn(&Config, &mut Vec<Problem>);

const CHECKS: [Check; 23] = [
    devices_present,
    names,
    device_settings,
    device_timing,
    controllers,
    serial_buses,
    registers,
    overlaps,
    products,
    agent,
    features,
    feature_quality,
    models,
    model_tables,
    fleet,
    drift,
    alerts,
    alert_settings,
    store,
    mqtt,
    sparkplug,
    capture,
    log,
];

/// Runs every check; an empty result means the configuration is valid.
pub(crate) fn validate(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for check in CHECKS {
        check(cfg, &mut out);
    }
    out
}

fn push(out: &mut Vec<Problem>, path: KeyPath, message: impl Into<String>) {
    out.push(Problem::new(path, message));
}

fn dev(i: usize) -> KeyPath {
    KeyPath::root().key("devices").index(i)
}

fn reg(i: usize, j: usize) -> KeyPath {
    dev(i).key("registers").index(j)
}

fn product(i: usize) -> KeyPath {
    KeyPath::root().key("products").index(i)
}

/// Names that end up in metrics, logs and MQTT topics.
fn name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    (!ok).then(|| "must be non-empty and use only letters, digits, _, - and .".to_string())
}

fn band_problem(b: [f64; 2]) -> Option<String> {
    if !(b[0].is_finite() && b[1].is_finite()) {
        Some("both bounds must be finite numbers".into())
    } else if b[0] >= b[1] {
        Some(format!("min ({}) must be below max ({})", b[0], b[1]))
    } else {
        None
    }
}

/// Remembers where a name was first seen; returns that place when it was seen before.
fn first_seen<K: std::hash::Hash + Eq, V: Copy>(seen: &mut HashMap<K, V>, k: K, v: V) -> Option<V> {
    match seen.entry(k) {
        std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(v);
            None
        }
    }
}

fn register_names(cfg: &Config) -> Vec<&str> {
    cfg.devices
        .iter()
        .flat_map(|d| d.registers.iter().map(|r| r.name.as_str()))
        .collect()
}

/// Lists names for "expected one of", capped so that the message stays on one screen line.
fn one_of(names: &[&str]) -> String {
    const MAX: usize = 15;
    let mut s = names
        .iter()
        .take(MAX)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(", … ({} in all)", names.len()));
    }
    s
}
