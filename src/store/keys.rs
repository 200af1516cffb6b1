//! Key layouts. Big-endian so that sled's byte order is numeric order: iterating a tree from
//! the front visits the oldest entry first.

use crate::domain::TimestampMs;

/// Outbox key: the sequence number.
pub fn seq_key(seq: u64) -> [u8; 8] {
    seq.to_be_bytes()
}

/// Sequence number of an outbox key (None for a malformed key).
pub fn seq_of(key: &[u8]) -> Option<u64> {
    let b: [u8; 8] = key.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// History key: data time, then sequence (unique even for equal timestamps). The sign bit is
/// flipped so that negative timestamps sort before positive ones.
pub fn ts_key(ts: TimestampMs, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    let t = (ts.0 as u64) ^ (1 << 63);
    k[..8].copy_from_slice(&t.to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Data time of a history key.
pub fn ts_of(key: &[u8]) -> Option<TimestampMs> {
    let b: [u8; 8] = key.get(..8)?.try_into().ok()?;
    Some(TimestampMs((u64::from_be_bytes(b) ^ (1 << 63)) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_keys_sort_numerically_across_zero() {
        let a = ts_key(TimestampMs(-5), 9);
        let b = ts_key(TimestampMs(0), 0);
        let c = ts_key(TimestampMs(7), 0);
        let d = ts_key(TimestampMs(7), 1);
        assert!(a < b && b < c && c < d);
        assert_eq!(ts_of(&a), Some(TimestampMs(-5)));
        assert!(seq_key(255) < seq_key(256));
        assert_eq!(seq_of(&seq_key(256)), Some(256));
    }
}
