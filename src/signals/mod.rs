//! Raw signals: the register values themselves, for historians and SCADA screens
//! (`[mqtt.topics.signals]`, off by default; docs/store-publish.md, "Raw signals").
//!
//! ```text
//! acquire ─Sample─▶ signals (tap) ─Sample─▶ features …
//!                      └─ filter ─▶ SignalQueue ─▶ publisher (QoS 0)
//! ```
//!
//! When signals are on, one small stage sits between acquire and features. It passes every
//! sample on unchanged and offers each reading to a [`Filter`] (report by exception with a
//! deadband, and a heartbeat after `max_silence`). What passes goes into a [`SignalQueue`],
//! a bounded ring in memory that the publisher empties whenever it is connected.
//!
//! Signals never touch the outbox: a broker outage fills the ring and then drops the oldest
//! signal (counted), while alerts keep all of the outbox's disk budget. They are not a
//! historian's archive: they are the latest values, at most once.

pub mod filter;
pub mod queue;
pub mod stage;

pub use filter::Filter;
pub use queue::SignalQueue;
