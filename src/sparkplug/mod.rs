//! Sparkplug B (v3.0) on the wire: the payload schema as prost messages ([`proto`]), metric
//! values and their datatypes ([`value`]) and the topic namespace ([`topic`]).
//!
//! This is the encoding layer of issue #19's Sparkplug mode; the edge-node session (births,
//! death certificate, `bdSeq`/`seq`, rebirth, primary host STATE) builds on it. Facts used
//! here come from the Sparkplug 3.0.0 specification (Eclipse Sparkplug, tag `v3.0.0`) and
//! Eclipse Tahu's `sparkplug_b.proto`; each is cited where it is used.

pub mod config;
pub mod describe;
pub mod host;
pub mod map;
pub mod node;
pub mod proto;
pub mod topic;
pub mod value;

pub use proto::{DataType, Metric, Payload};
pub use topic::{MessageType, Topic, TopicError};

#[cfg(test)]
mod node_tests;
