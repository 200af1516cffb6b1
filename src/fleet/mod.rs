//! Signed model bundles: pack a model folder into one signed file, check it against the
//! trusted keys, install it beside the shipped models and roll back (issue #20; docs/fleet.md).
//!
//! This module knows model folders and files only — nothing of Modbus or MQTT. The registry
//! (`crate::infer::registry`) reads what [`install`] wrote through [`install::resolve`].
//!
//! - [`keys`]: Ed25519 signing keys (PKCS#8 PEM, as openssl writes them) and public keys (hex).
//! - [`bundle`]: the file format; [`bundle::pack`] and [`bundle::open`].
//! - [`install`]: stage, prove (sha256, manifest, tract, golden rows), swap one symlink.
//! - [`health`]: the health window's judgement of a newly deployed version.
//! - [`config`]: the `[fleet]` section.

pub mod bundle;
pub mod config;
pub mod error;
pub mod health;
pub mod install;
pub mod keys;

pub use config::FleetConfig;
pub use error::FleetError;
