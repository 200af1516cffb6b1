//! The outbox entry: one MQTT message exactly as it will be published, plus its id.
//!
//! Encoded in a small length-prefixed binary layout rather than JSON so that the payload (itself
//! JSON) is stored once, unescaped — this is what "disk bytes per stored alert" measures:
//!
//! ```text
//! u8 version(=1) | u8 class | u8 qos | u8 retain | i64 BE created_ms
//! | u16 BE id_len | id | u16 BE topic_len | topic | payload (rest)
//! ```

use super::error::StoreError;
use crate::wire::MessageClass;

/// One outbox entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Message id (also inside the payload), for consumer de-duplication.
    pub id: String,
    /// Topic class.
    pub class: MessageClass,
    /// Full MQTT topic.
    pub topic: String,
    /// 0 or 1.
    pub qos: u8,
    /// MQTT retain flag.
    pub retain: bool,
    /// Wall-clock time the store accepted it (ms since epoch): "oldest undelivered age".
    pub created_ms: i64,
    /// JSON payload.
    pub payload: Vec<u8>,
}

const VERSION: u8 = 1;
const HEADER: usize = 1 + 1 + 1 + 1 + 8;

impl OutboxMessage {
    /// Encode for the outbox tree.
    pub fn encode(&self) -> Vec<u8> {
        let id = truncate_u16(self.id.as_bytes());
        let topic = truncate_u16(self.topic.as_bytes());
        let mut out = Vec::with_capacity(HEADER + 4 + id.len() + topic.len() + self.payload.len());
        out.push(VERSION);
        out.push(self.class.to_byte());
        out.push(self.qos);
        out.push(u8::from(self.retain));
        out.extend_from_slice(&self.created_ms.to_be_bytes());
        out.extend_from_slice(&(id.len() as u16).to_be_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        out.extend_from_slice(topic);
        out.extend_from_slice(&self.payload);
        out
    }

    /// Decode an outbox value; `key` only names the entry in the error.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self, StoreError> {
        let bad = |reason: &str| StoreError::BadEntry {
            tree: "outbox",
            key: hex::encode(key),
            reason: reason.to_string(),
        };
        let mut r = Reader { bytes, pos: 0 };
        let version = r.take(1).ok_or_else(|| bad("empty entry"))?;
        if version != [VERSION] {
            return Err(bad("unknown entry version"));
        }
        let head = r.take(HEADER - 1).ok_or_else(|| bad("truncated header"))?;
        let class = head
            .first()
            .copied()
            .and_then(MessageClass::from_byte)
            .ok_or_else(|| bad("unknown message class"))?;
        let qos = head.get(1).copied().unwrap_or(0);
        let retain = head.get(2).copied().unwrap_or(0) != 0;
        let mut created = [0u8; 8];
        created.copy_from_slice(head.get(3..11).ok_or_else(|| bad("truncated header"))?);
        let id = r.string().ok_or_else(|| bad("truncated or non-UTF-8 id"))?;
        let topic = r
            .string()
            .ok_or_else(|| bad("truncated or non-UTF-8 topic"))?;
        let payload = bytes.get(r.pos..).unwrap_or_default().to_vec();
        Ok(OutboxMessage {
            id,
            class,
            topic,
            qos,
            retain,
            created_ms: i64::from_be_bytes(created),
            payload,
        })
    }
}

/// Ids and topics are short; a longer one is cut rather than corrupting the length prefix.
fn truncate_u16(b: &[u8]) -> &[u8] {
    b.get(..b.len().min(u16::MAX as usize)).unwrap_or(b)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn string(&mut self) -> Option<String> {
        let len = self.take(2)?;
        let n = u16::from_be_bytes([*len.first()?, *len.get(1)?]) as usize;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> OutboxMessage {
        OutboxMessage {
            id: "site-line-ab12-7".into(),
            class: MessageClass::Alert,
            topic: "chocoline/alerts/gritty".into(),
            qos: 1,
            retain: true,
            created_ms: 1_700_000_000_123,
            payload: br#"{"schema":"chocoline.alert/1"}"#.to_vec(),
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        let enc = m.encode();
        assert_eq!(OutboxMessage::decode(b"k", &enc).unwrap(), m);
        assert_eq!(MessageClass::of_encoded(&enc), Some(MessageClass::Alert));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let enc = sample().encode();
        // Cutting anywhere inside the header, id or topic must be refused.
        let fixed = HEADER + 2 + 16 + 2 + 23;
        for cut in 0..fixed {
            assert!(
                OutboxMessage::decode(b"k", &enc[..cut]).is_err(),
                "cut {cut}"
            );
        }
        assert!(OutboxMessage::decode(b"k", &[9, 1, 1, 1]).is_err());
    }
}
