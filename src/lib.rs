//! chocoline — an edge agent for chocolate production lines.
//!
//! Data flows one way through typed, bounded channels, one module per stage:
//!
//! | module | job |
//! |---|---|
//! | [`acquire`] | poll Modbus TCP / RTU devices → [`domain::Sample`] |
//! | [`features`] | ring buffers + feature-spec transforms → [`domain::FeatureVector`] |
//! | [`validate`] | refuse vectors with bad inputs → data-quality events |
//! | [`infer`] | ONNX models through tract (own tree ops) → [`domain::Prediction`] |
//! | [`monitor`] | drift against the training reference → [`domain::DriftWindow`] |
//! | [`alert`] | rules with hysteresis → [`domain::Alert`] |
//! | [`store`] | sled: outbox, history, state |
//! | [`publish`] | MQTT, at least once, in order |
//! | [`labels`] | lab results per batch (grade, defect, yield) in a journal beside the capture |
//! | [`export`] | capture + labels → the training pipeline's `samples.csv` / `batches.csv` |
//! | [`compare`] | serving vs candidate (shadow) model on the capture and the lab's labels |
//!
//! Around them: [`domain`] (the only types stages share), [`clock`] (wall and monotonic
//! time, clock-step detection), [`config`] (layered, validated
//! configuration), [`logging`] (tracing set-up), [`pipeline`] (wiring and shutdown),
//! [`simulate`] (the line simulator), [`evaluate`] (alerts scored as events against the
//! simulator's ground truth), `broker` (the demo's embedded MQTT broker, feature
//! `embedded-broker`), [`cli`] (subcommands), [`metrics`] (Prometheus registry
//! and endpoint) and [`health`] (systemd readiness and a progress-driven watchdog).

pub mod acquire;
pub mod alert;
#[cfg(feature = "embedded-broker")]
pub mod broker;
pub mod capture;
pub mod cli;
pub mod clock;
pub mod codec;
pub mod compare;
pub mod config;
pub mod domain;
pub mod evaluate;
pub mod export;
pub mod features;
pub mod fleet;
pub mod flow;
pub mod health;
pub mod infer;
pub mod labels;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod pipeline;
pub mod publish;
pub mod settings;
pub mod signals;
pub mod simulate;
pub mod sparkplug;
pub mod store;
pub mod validate;
pub mod wire;
