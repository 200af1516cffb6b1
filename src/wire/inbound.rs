//! What comes in on the wire: a message received on one of the agent's command topics
//! (`{prefix}/cmd/label`), as the publisher hands it to whoever handles that topic. Payloads
//! are capped where they arrive: one over the cap is handed on without its bytes, so that a
//! flood of large messages costs no memory beyond the client's own packet limit.

/// One message received on a command topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The payload as received; empty when it was over the cap (see [`Inbound::over_cap`]).
    pub payload: Vec<u8>,
    /// Its size as received, in bytes.
    pub size: usize,
    /// The broker delivered it as a retained message (a stale command, sent again on every
    /// connection).
    pub retained: bool,
}

impl Inbound {
    /// `payload`, copied only when it is at most `cap` bytes.
    pub fn capped(payload: &[u8], cap: usize, retained: bool) -> Inbound {
        Inbound {
            payload: if payload.len() <= cap {
                payload.to_vec()
            } else {
                Vec::new()
            },
            size: payload.len(),
            retained,
        }
    }

    /// Whether the payload was over the cap, and so not copied.
    pub fn over_cap(&self) -> bool {
        self.size > self.payload.len()
    }
}

/// What to do with a command that cannot wait (its handler's queue is full): the record that
/// answers it (published through the outbox), built (and counted) by the handler's own code.
pub type Busy = std::sync::Arc<dyn Fn(&Inbound) -> crate::domain::Record + Send + Sync>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_over_the_cap_are_not_copied() {
        let small = Inbound::capped(b"{}", 2, false);
        assert_eq!((small.payload.as_slice(), small.size), (&b"{}"[..], 2));
        assert!(!small.over_cap());
        let big = Inbound::capped(&[b'x'; 3], 2, true);
        assert!(big.payload.is_empty() && big.size == 3 && big.retained);
        assert!(big.over_cap());
    }
}
