//! Following a primary host application's STATE (Sparkplug 3.0.0, "Primary Host
//! Application"), without the MQTT client.
//!
//! The host publishes `spBv1.0/STATE/{host_id}`, retained, QoS 1, as UTF-8 JSON
//! `{"online": true|false, "timestamp": <ms>}`; its will is the same with `online: false`
//! and the timestamp of its CONNECT. An edge node configured with that host:
//! - sends its births only once it has read `online: true` with a timestamp no older than
//!   the last STATE it accepted (`message-flow-edge-node-birth-publish-phid-wait-online`,
//!   `…-wait-timestamp`);
//! - when it reads `online: false` with a timestamp no older than that, publishes its NDEATH,
//!   disconnects and starts a new session (`…-phid-offline`,
//!   `operational-behavior-edge-node-termination-host-offline`); an older `online: false` is
//!   stale and changes nothing (`…-host-offline-timestamp`).
//!
//! Data that arrive while the host is away wait in memory, and go out after the next births
//! marked `is_historical` (the edge node does that).

use serde::Deserialize;

/// A STATE payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct HostState {
    /// The host is connected.
    pub online: bool,
    /// Milliseconds since the epoch, from the host.
    pub timestamp: u64,
}

/// Read a STATE payload; a reason when it is not one (the v2.2 plain `ONLINE`/`OFFLINE`
/// strings are not valid in 3.0 and are refused too).
pub fn parse(raw: &[u8]) -> Result<HostState, String> {
    serde_json::from_slice(raw).map_err(|e| format!("not a Sparkplug 3.0 STATE payload: {e}"))
}

/// What the edge node does after a STATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the births now (the host came online; the node had none out).
    Birth,
    /// Publish NDEATH, disconnect, start over (the host went offline).
    Die,
    /// Nothing to do: stale, a repeat, or offline while nothing was born.
    Ignore,
}

/// The primary host as one session of the edge node has seen it.
#[derive(Debug, Clone, Default)]
pub struct PrimaryHost {
    /// Timestamp of the last STATE accepted.
    last: Option<u64>,
    /// The births are out (the host was online when they went).
    born: bool,
}

impl PrimaryHost {
    /// Whether the births are out: data may flow.
    pub fn born(&self) -> bool {
        self.born
    }

    /// Take a STATE in.
    pub fn on_state(&mut self, s: HostState) -> Verdict {
        if self.last.is_some_and(|last| s.timestamp < last) {
            return Verdict::Ignore;
        }
        self.last = Some(s.timestamp);
        match (s.online, self.born) {
            (true, false) => {
                self.born = true;
                Verdict::Birth
            }
            (false, true) => {
                self.born = false;
                Verdict::Die
            }
            _ => Verdict::Ignore,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(online: bool, timestamp: u64) -> HostState {
        HostState { online, timestamp }
    }

    #[test]
    fn births_wait_for_online_and_offline_ends_the_session() {
        let mut h = PrimaryHost::default();
        assert!(!h.born());
        assert_eq!(h.on_state(st(false, 10)), Verdict::Ignore);
        assert_eq!(h.on_state(st(true, 20)), Verdict::Birth);
        assert!(h.born());
        assert_eq!(h.on_state(st(true, 20)), Verdict::Ignore, "a repeat");
        assert_eq!(h.on_state(st(false, 30)), Verdict::Die);
        assert!(!h.born());
    }

    #[test]
    fn an_older_state_changes_nothing() {
        let mut h = PrimaryHost::default();
        assert_eq!(h.on_state(st(true, 100)), Verdict::Birth);
        // The will of an earlier host connection, delivered late.
        assert_eq!(h.on_state(st(false, 99)), Verdict::Ignore);
        assert!(h.born());
        // Same timestamp counts (the will carries the CONNECT's timestamp).
        assert_eq!(h.on_state(st(false, 100)), Verdict::Die);
        assert_eq!(h.on_state(st(true, 50)), Verdict::Ignore, "stale online");
        assert!(!h.born());
    }

    #[test]
    fn only_the_3_0_json_form_is_read() {
        assert_eq!(
            parse(br#"{"online": true, "timestamp": 1700000000000}"#),
            Ok(st(true, 1_700_000_000_000))
        );
        assert!(parse(b"ONLINE").is_err());
        assert!(parse(br#"{"online": true}"#).is_err());
    }
}
