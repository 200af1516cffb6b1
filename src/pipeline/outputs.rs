//! The line's values beside the stage chain: the raw-signal tap between acquire and features,
//! feeding the JSON signals (`[mqtt.topics.signals]`) and the Sparkplug edge node
//! (`[sparkplug]`). Built here so that `live.rs` only wires them.

use super::build::Stages;
use crate::acquire::config::RegisterKind;
use crate::config::Config;
use crate::domain::Reading;
use crate::metrics::Registry;
use crate::publish::edge_node::EdgeNode;
use crate::signals::queue::{Ring, outcome_counter};
use crate::signals::stage::Tap;
use crate::signals::{Filter, SignalQueue};
use crate::sparkplug::map::{self, Register};
use crate::store::Outbox;

/// The alert kinds the edge node reports as node metrics (`alerts/{kind}`).
const ALERT_KINDS: [&str; 9] = [
    "fat_bloom_risk",
    "sugar_bloom_risk",
    "gritty",
    "out_of_range_batch",
    "anomaly",
    "drift",
    "low_confidence",
    "data_quality",
    "yield_low",
];

/// The tap (when signals or Sparkplug are on) and the edge node (when Sparkplug is on); the
/// JSON signals' ring is handed to the publisher here.
pub(super) fn taps(
    cfg: &Config,
    stages: &mut Stages,
    metrics: &Registry,
) -> (Option<Tap>, Option<EdgeNode>) {
    let sc = &cfg.mqtt.topics.signals;
    let spb = &cfg.sparkplug;
    if !sc.enabled && !spb.enabled {
        return (None, None);
    }
    let queue = sc.enabled.then(|| {
        let q = SignalQueue::new(sc.queue, metrics);
        stages.publisher.set_signals(q.clone(), sc.retain);
        tracing::info!(topics = %format!("{}/signals/+", cfg.mqtt.topic_prefix),
            deadband = sc.deadband, report_by_exception = sc.report_by_exception, "raw signals on");
        q
    });
    let (edge, readings) = match spb.enabled.then(|| edge_node(cfg, stages, metrics)) {
        Some((e, r)) => (Some(e), Some(r)),
        None => (None, None),
    };
    // The filter decides for both outputs; with only Sparkplug on it still needs `enabled`.
    let mut filter_cfg = sc.clone();
    filter_cfg.enabled = true;
    let tap = Tap {
        filter: Filter::new(filter_cfg),
        prefix: cfg.mqtt.topic_prefix.clone(),
        queue,
        sparkplug: readings,
        suppressed: outcome_counter(metrics, "suppressed"),
    };
    (Some(tap), edge)
}

/// The edge node with the metric map of `cfg`, and the ring of readings it publishes.
fn edge_node(cfg: &Config, stages: &Stages, metrics: &Registry) -> (EdgeNode, Ring<Reading>) {
    let registers: Vec<Register<'_>> = (cfg.devices.iter())
        .flat_map(|d| {
            d.registers.iter().map(move |r| Register {
                device: &d.name,
                name: &r.name,
                unit: &r.unit,
                boolean: matches!(r.register, RegisterKind::Coil | RegisterKind::Discrete)
                    || r.data_type == crate::codec::DataType::Bool,
            })
        })
        .collect();
    let models: Vec<&str> = cfg.models.enabled.iter().map(String::as_str).collect();
    let catalogue = map::catalogue(&registers, &ALERT_KINDS, &models);
    let counter = |outcome| {
        metrics.counter(
            "chocoline_sparkplug_readings_total",
            "Readings for Sparkplug DDATA by outcome: published (in a DDATA handed to the client), dropped (pushed out of the full ring while the broker was unreachable).",
            &[("outcome", outcome)],
        )
    };
    let readings = Ring::with_counters(
        cfg.mqtt.topics.signals.queue,
        counter("published"),
        counter("dropped"),
    );
    let edge_id = (cfg.sparkplug.edge_node_id.clone()).unwrap_or_else(|| cfg.agent.line.clone());
    tracing::info!(group = %cfg.sparkplug.group_id, edge_node = %edge_id, "Sparkplug edge node on");
    let edge = EdgeNode::new(
        &cfg.mqtt,
        &cfg.sparkplug,
        &edge_id,
        catalogue,
        readings.clone(),
        Outbox::new(stages.store.clone()),
    );
    (edge, readings)
}
