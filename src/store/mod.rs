//! Store: the sled database — outbox (what must reach the broker), prediction history, drift
//! windows, agent state. A record counts as stored only once flushed.
//!
//! | file | job |
//! |---|---|
//! | `config.rs` | `[store]` |
//! | `open.rs` | writable-dir check, lock, open, move a corrupt database aside |
//! | `ledger.rs` | generation and sequence bounds kept outside sled (torn-log detection) |
//! | `recovery.rs` | what the store reports about itself at open: corruption, rollback, alerts closed by a restart |
//! | `volatile.rs` | a full disk is a state: alerts from memory, recovery when there is room |
//! | `reopen.rs` | closing a failed database, opening it again (or moving it aside) |
//! | `readonly.rs` | `inspect`'s view: a scratch copy, so the evidence stays as it was |
//! | `db.rs` | the [`Store`] handle and its accounting |
//! | `append.rs` | ids, group commit |
//! | `retention.rs` | history retention (count and age; age robust to clock steps) |
//! | `budget.rs` | the disk budget: what is freed first, `store_full` |
//! | `outbox.rs` | what the publisher drains |
//! | `latest.rs` | each model's newest prediction and drift window, in memory |
//! | `fit.rs` | trimming an alert's evidence to `[mqtt] max_message_bytes` |
//! | `dead_letter.rs` | messages the broker will not take: kept aside, counted, announced |
//! | `message.rs` | the outbox entry encoding |
//! | `payload.rs` | record → topic + JSON payload |
//! | `snapshot.rs` | what `chocoline inspect` shows |
//! | `stage.rs` | the task |
//!
//! Wiring (pipeline): `let store = store::open(&cfg.store, envelope)?;`
//! then spawn `store::stage::run(store.clone(), records_rx)` and
//! `publish::Publisher::new(&cfg.mqtt, Outbox::new(store))?.run(shutdown)`; cancel `shutdown`
//! after the store stage has returned so the publisher drains what it flushed last.

pub mod append;
pub mod budget;
pub mod config;
pub mod db;
pub mod dead_letter;
pub mod error;
pub mod fit;
pub mod keys;
pub mod latest;
pub mod ledger;
pub mod message;
pub mod open;
pub mod outbox;
pub mod readonly;
pub mod recovery;
pub mod reopen;
pub mod retention;
pub mod snapshot;
pub mod stage;
pub mod volatile;

pub use crate::wire::{Envelope, MessageClass};
pub use append::Appended;
pub use db::{CounterValues, Store};
pub use error::StoreError;
pub use message::OutboxMessage;
pub use open::open;
pub use outbox::Outbox;
pub use snapshot::Snapshot;
