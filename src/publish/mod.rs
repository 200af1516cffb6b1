//! Publish: drains the outbox to MQTT in order, deleting a message only on its PubAck.
//!
//! | file | job |
//! |---|---|
//! | `config.rs` | `[mqtt]` |
//! | `options.rs` | url, TLS (rustls + ring), credentials, last will → rumqttc options |
//! | `secrets.rs` | password / key files: refuse world-readable ones, never log them; their digests, so a reload notices a rotated one |
//! | `backoff.rs` | reconnect delays |
//! | `publisher.rs` | the task |
//!
//! Topics: `{prefix}/alerts/{kind}`, `{prefix}/predictions/{model}`, `{prefix}/drift`,
//! `{prefix}/data_quality`, `{prefix}/status` (retained `online` birth, retained `offline`
//! last will and goodbye).

pub mod backoff;
pub mod config;
pub mod edge_node;
pub mod error;
pub mod options;
pub mod publisher;
pub mod secrets;

pub use error::PublishError;
pub use publisher::{CommandFeed, PublishStats, Publisher};
