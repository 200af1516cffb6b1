//! The canonical signals the line produces (docs/signals.md): their names in the order of
//! the readings array, the index of each in that array, and the device of the sample
//! config that carries each.

/// Canonical signal names, in the order of [`LineSim::signals`](super::LineSim::signals).
pub(super) const SIGNALS: [&str; 13] = [
    "temperature",
    "tunnel_temp",
    "humidity",
    "particle_size",
    "moisture",
    "ph",
    "conche_temp",
    "batch_id",
    "recipe",
    "cocoa_pct",
    "roast_time",
    "fermentation_index",
    "bean_quality",
];

/// Index into [`SIGNALS`] / the readings array.
#[derive(Clone, Copy)]
pub(super) enum Sig {
    Temperature = 0,
    TunnelTemp,
    Humidity,
    ParticleSize,
    Moisture,
    Ph,
    ConcheTemp,
    BatchId,
    Recipe,
    CocoaPct,
    RoastTime,
    FermentationIndex,
    BeanQuality,
}

/// The device (of the sample config) that carries a canonical signal: `tempering`,
/// `refiner`, `conche` or `plc`.
pub fn device_of(signal: &str) -> Option<&'static str> {
    match signal {
        "temperature" | "tunnel_temp" | "humidity" => Some("tempering"),
        "particle_size" => Some("refiner"),
        "moisture" | "ph" | "conche_temp" => Some("conche"),
        "batch_id" | "recipe" | "cocoa_pct" | "roast_time" | "fermentation_index"
        | "bean_quality" => Some("plc"),
        _ => None,
    }
}
