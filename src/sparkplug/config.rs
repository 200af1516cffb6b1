//! `[sparkplug]`: the agent as a Sparkplug B edge node (off by default). A config section at
//! the ground floor: the config module assembles it, the publisher reads it.

use serde::{Deserialize, Serialize};

/// `[sparkplug]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparkplugConfig {
    /// Connect as an edge node beside the JSON publisher. Default false.
    #[serde(default)]
    pub enabled: bool,
    /// `group_id` of every topic. Default "chocoline".
    #[serde(default = "default_group")]
    pub group_id: String,
    /// `edge_node_id`; default: `[agent] line`.
    #[serde(default)]
    pub edge_node_id: Option<String>,
    /// The primary host application's id: while its `spBv1.0/STATE/{id}` says offline, no
    /// births or data are sent (data wait in memory). Default: none (send at once).
    #[serde(default)]
    pub primary_host_id: Option<String>,
}

fn default_group() -> String {
    "chocoline".into()
}

impl Default for SparkplugConfig {
    fn default() -> Self {
        SparkplugConfig {
            enabled: false,
            group_id: default_group(),
            edge_node_id: None,
            primary_host_id: None,
        }
    }
}
