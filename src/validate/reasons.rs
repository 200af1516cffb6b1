//! A set of [`ReasonCode`]s in one byte: the per-reading checks run for every register of
//! every poll, so they must not allocate.

use crate::domain::ReasonCode;

/// Bit set of reason codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ReasonSet(u8);

const ALL: [ReasonCode; 7] = [
    ReasonCode::NotFinite,
    ReasonCode::OutOfRange,
    ReasonCode::Stuck,
    ReasonCode::Spike,
    ReasonCode::Stale,
    ReasonCode::CommError,
    ReasonCode::Missing,
];

fn bit(r: ReasonCode) -> u8 {
    1 << (ALL.iter().position(|x| *x == r).unwrap_or(0) as u8)
}

impl ReasonSet {
    /// The empty set.
    pub const EMPTY: ReasonSet = ReasonSet(0);

    /// Add a code.
    pub fn insert(&mut self, r: ReasonCode) {
        self.0 |= bit(r);
    }

    /// With a code added.
    pub fn with(mut self, r: ReasonCode) -> Self {
        self.insert(r);
        self
    }

    /// Is the code present?
    pub fn contains(self, r: ReasonCode) -> bool {
        self.0 & bit(r) != 0
    }

    /// No code at all.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The codes in declaration order.
    pub fn to_vec(self) -> Vec<ReasonCode> {
        ALL.iter().copied().filter(|r| self.contains(*r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_roundtrip() {
        let s = ReasonSet::EMPTY
            .with(ReasonCode::Spike)
            .with(ReasonCode::NotFinite);
        assert!(s.contains(ReasonCode::Spike) && !s.contains(ReasonCode::Stuck));
        assert_eq!(s.to_vec(), vec![ReasonCode::NotFinite, ReasonCode::Spike]);
        assert!(ReasonSet::EMPTY.is_empty());
        for r in ALL {
            assert_eq!(ReasonSet::EMPTY.with(r).to_vec(), vec![r]);
        }
    }
}
