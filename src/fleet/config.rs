//! `[fleet]`: which signed model bundles this agent accepts.

use serde::{Deserialize, Serialize};

/// Trust settings for model bundles (`chocoline model install`, docs/fleet.md).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetConfig {
    /// Ed25519 public keys (64 hex characters, optionally prefixed `ed25519:`) whose bundles
    /// are accepted. Default: none — every bundle is refused.
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    /// Accept a bundle whose version is lower than the installed one. Default false.
    #[serde(default)]
    pub allow_downgrade: bool,
}
