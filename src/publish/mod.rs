//! Publish: drains the outbox to MQTT in order, deleting a message only on its PubAck.

pub mod config;
