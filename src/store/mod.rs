//! Store: the sled database — outbox (what must reach the broker), prediction history, drift
//! windows, agent state. A record counts as stored only once flushed.

pub mod config;
