//! Wire: what goes on the wire to the control room, at a floor below both the store and the
//! publisher. The store turns each record into its final message when it stores it (topic,
//! QoS, retain, JSON payload — [`payload`]) so the outbox holds exactly what is published; the
//! publisher sends those messages and the status birth / last will. Commands that come in
//! (a lab label) are handed on as [`inbound::Inbound`]. Both import this module; it imports
//! neither.

pub mod inbound;
pub mod labels;
pub mod payload;
pub mod signals;
pub mod topics;

pub use inbound::Inbound;
pub use payload::{Draft, Envelope, schema};
pub use topics::{DEFAULT_MAX_MESSAGE_BYTES, MessageClass, TopicClass, TopicsConfig};
