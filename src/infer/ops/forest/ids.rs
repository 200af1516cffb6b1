//! Load-time indexes keyed by ONNX ids: the tree grouping and the per-tree node id table.

/// Load-time maps keyed by ONNX ids. Building the layout hashes every node several times,
/// and SipHash made that a visible part of model load time; the keys are small integers from
/// the model file, so a multiply-rotate hash is enough (a hostile file can at worst slow its
/// own loading down).
pub(super) type Map<K, V> =
    std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A multiply-rotate hasher for integer ids (see [`Map`]).
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}

/// Per-tree grouping of node and vote indices, keyed by tree id. Exporters list a tree's
/// nodes (and votes) consecutively, so the last tree looked up is checked before the map.
#[derive(Default)]
pub(super) struct TreeGroups {
    pub(super) ids: Vec<i64>,
    pub(super) nodes: Vec<Vec<u32>>,
    pub(super) votes: Vec<Vec<u32>>,
    pos: Map<i64, usize>,
    last: Option<(i64, usize)>,
}

impl TreeGroups {
    /// Position of tree `id`; `create` adds an unknown tree, otherwise it is `None`.
    pub(super) fn position(&mut self, id: i64, create: bool) -> Option<usize> {
        if let Some((last, pos)) = self.last
            && last == id
        {
            return Some(pos);
        }
        let pos = match self.pos.get(&id) {
            Some(&p) => p,
            None if create => {
                let p = self.ids.len();
                self.ids.push(id);
                self.nodes.push(Vec::new());
                self.votes.push(Vec::new());
                self.pos.insert(id, p);
                p
            }
            None => return None,
        };
        self.last = Some((id, pos));
        Some(pos)
    }
}

/// A tree's ONNX node ids → member slots `0..n`: a direct table when the ids are dense (every
/// exporter numbers a tree's nodes `0..n`), a hash map when they are not.
pub(super) enum IdIndex {
    Dense { min: i64, slots: Vec<u32> },
    Sparse(Map<i64, u32>),
}

impl IdIndex {
    const EMPTY: u32 = u32::MAX;

    /// Index the ids (in slot order); `Ok(Err(id))` names a duplicate id.
    pub(super) fn new<E>(
        ids: impl Iterator<Item = Result<i64, E>> + Clone,
    ) -> Result<Result<IdIndex, i64>, E> {
        let (mut min, mut max, mut len) = (i64::MAX, i64::MIN, 0usize);
        for id in ids.clone() {
            let id = id?;
            min = min.min(id);
            max = max.max(id);
            len += 1;
        }
        let span = u64::try_from(i128::from(max) - i128::from(min)).unwrap_or(u64::MAX);
        if len > 0 && span < 2 * len as u64 + 64 {
            let mut slots = vec![IdIndex::EMPTY; span as usize + 1];
            for (slot, id) in ids.enumerate() {
                let id = id?;
                let cell = usize::try_from(id - min)
                    .ok()
                    .and_then(|c| slots.get_mut(c));
                match cell {
                    Some(c) if *c == IdIndex::EMPTY => *c = slot as u32,
                    _ => return Ok(Err(id)),
                }
            }
            return Ok(Ok(IdIndex::Dense { min, slots }));
        }
        let mut map = Map::with_capacity_and_hasher(len, Default::default());
        for (slot, id) in ids.enumerate() {
            let id = id?;
            if map.insert(id, slot as u32).is_some() {
                return Ok(Err(id));
            }
        }
        Ok(Ok(IdIndex::Sparse(map)))
    }

    /// Slot of node `id`.
    pub(super) fn get(&self, id: i64) -> Option<usize> {
        let slot = match self {
            IdIndex::Dense { min, slots } => {
                let c = usize::try_from(id.checked_sub(*min)?).ok()?;
                *slots.get(c)?
            }
            IdIndex::Sparse(map) => *map.get(&id)?,
        };
        (slot != IdIndex::EMPTY).then_some(slot as usize)
    }
}
