//! Read planning: the registers of one slave merged into as few requests as possible.
//!
//! Registers of the same table are sorted by address and merged while the merged read stays
//! within `max_word_registers_per_request` (coils and discretes: the protocol's 2000 bits) and
//! the hole between two registers is at most [`MAX_HOLE_WORDS`]. A device that rejects a read
//! spanning a hole (exception 2) gets that block split into its contiguous parts by
//! [`ReadBlock::split_at_holes`], so one strict device costs one failed read, not every cycle.

use crate::acquire::config::{DataType, DeviceConfig, RegisterKind};

/// Largest hole, in words (or bits), that is read and thrown away to save a request.
pub const MAX_HOLE_WORDS: u16 = 8;
/// Protocol limit on bits in one read coils / read discrete inputs request.
pub const MAX_BITS_PER_REQUEST: u16 = 2000;
/// Protocol limit on words in one read holding / input registers request.
pub const MAX_WORDS_PER_REQUEST: u16 = 125;

/// A register that cannot be read as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A value wider than the device's longest allowed read.
    #[error(
        "device \"{device}\" register \"{register}\": {data_type:?} needs {words} words but max_word_registers_per_request is {max}"
    )]
    TooWide {
        /// Device name.
        device: String,
        /// Register name.
        register: String,
        /// Its type.
        data_type: DataType,
        /// Words it needs.
        words: u16,
        /// The device's limit.
        max: u16,
    },
    /// A value that runs past address 65535.
    #[error(
        "device \"{device}\" register \"{register}\": address {address} + {words} words runs past 65535"
    )]
    PastEnd {
        /// Device name.
        device: String,
        /// Register name.
        register: String,
        /// Start address.
        address: u16,
        /// Words it needs.
        words: u16,
    },
}

/// Where one configured register sits inside a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Index of the register in the device's `registers` list (config order).
    pub register: usize,
    /// Offset of its first word (or bit) from the block start.
    pub offset: u16,
    /// Words (or bits) it occupies.
    pub len: u16,
}

/// One read request: a function code, a start address and a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBlock {
    /// Register table (selects function code 1, 2, 3 or 4).
    pub kind: RegisterKind,
    /// First address read.
    pub start: u16,
    /// Words (or bits) read.
    pub count: u16,
    /// The registers decoded from this block.
    pub fields: Vec<Field>,
}

impl ReadBlock {
    /// True when the block reads addresses no register uses.
    pub fn has_holes(&self) -> bool {
        let covered: u32 = self
            .covered_parts()
            .iter()
            .map(|b| u32::from(b.count))
            .sum();
        covered < u32::from(self.count)
    }

    /// The block split into parts without holes (each part keeps the fields it covers).
    pub fn split_at_holes(&self) -> Vec<ReadBlock> {
        self.covered_parts()
    }

    fn covered_parts(&self) -> Vec<ReadBlock> {
        let mut fields = self.fields.clone();
        fields.sort_by_key(|f| (f.offset, f.len));
        let mut parts: Vec<ReadBlock> = Vec::new();
        for f in fields {
            let addr = self.start.saturating_add(f.offset);
            match parts.last_mut() {
                Some(p) if u32::from(addr) <= u32::from(p.start) + u32::from(p.count) => {
                    let end = (u32::from(addr) + u32::from(f.len))
                        .max(u32::from(p.start) + u32::from(p.count));
                    p.count = u16::try_from(end - u32::from(p.start)).unwrap_or(u16::MAX);
                    p.fields.push(Field {
                        offset: addr - p.start,
                        ..f
                    });
                }
                _ => parts.push(ReadBlock {
                    kind: self.kind,
                    start: addr,
                    count: f.len,
                    fields: vec![Field { offset: 0, ..f }],
                }),
            }
        }
        parts
    }
}

fn is_bits(kind: RegisterKind) -> bool {
    matches!(kind, RegisterKind::Coil | RegisterKind::Discrete)
}

/// Plans the reads of one device with the default hole size.
pub fn plan(device: &DeviceConfig) -> Result<Vec<ReadBlock>, PlanError> {
    plan_with_hole(device, MAX_HOLE_WORDS)
}

/// Plans the reads of one device, bridging holes of at most `max_hole` words (bits).
pub fn plan_with_hole(device: &DeviceConfig, max_hole: u16) -> Result<Vec<ReadBlock>, PlanError> {
    let max_words = device
        .max_word_registers_per_request
        .clamp(1, MAX_WORDS_PER_REQUEST);
    let mut blocks = Vec::new();
    for kind in [
        RegisterKind::Holding,
        RegisterKind::Input,
        RegisterKind::Coil,
        RegisterKind::Discrete,
    ] {
        let bits = is_bits(kind);
        let max = if bits {
            MAX_BITS_PER_REQUEST
        } else {
            max_words
        };
        let mut regs: Vec<(usize, u16, u16)> = Vec::new();
        for (i, r) in device.registers.iter().enumerate() {
            if r.register != kind {
                continue;
            }
            let len = if bits { 1 } else { r.data_type.words() };
            if len > max {
                return Err(PlanError::TooWide {
                    device: device.name.clone(),
                    register: r.name.clone(),
                    data_type: r.data_type,
                    words: len,
                    max,
                });
            }
            if u32::from(r.address) + u32::from(len) > 65536 {
                return Err(PlanError::PastEnd {
                    device: device.name.clone(),
                    register: r.name.clone(),
                    address: r.address,
                    words: len,
                });
            }
            regs.push((i, r.address, len));
        }
        regs.sort_by_key(|&(i, a, l)| (a, l, i));
        let mut current: Option<ReadBlock> = None;
        for (i, addr, len) in regs {
            let reg_end = u32::from(addr) + u32::from(len);
            if let Some(b) = current.as_mut() {
                let end = u32::from(b.start) + u32::from(b.count);
                let new_end = end.max(reg_end);
                let fits = new_end - u32::from(b.start) <= u32::from(max);
                let close = u32::from(addr) <= end + u32::from(max_hole);
                if fits && close {
                    b.count = u16::try_from(new_end - u32::from(b.start)).unwrap_or(max);
                    b.fields.push(Field {
                        register: i,
                        offset: addr - b.start,
                        len,
                    });
                    continue;
                }
            }
            if let Some(done) = current.take() {
                blocks.push(done);
            }
            current = Some(ReadBlock {
                kind,
                start: addr,
                count: len,
                fields: vec![Field {
                    register: i,
                    offset: 0,
                    len,
                }],
            });
        }
        blocks.extend(current);
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquire::config::RegisterConfig;

    fn device(max: u16, regs: &[(&str, RegisterKind, u16, DataType)]) -> DeviceConfig {
        let toml = format!(
            "name = \"d\"\ncontroller = \"tcp://127.0.0.1:502\"\nmax_word_registers_per_request = {max}\n"
        );
        let mut d: DeviceConfig = toml_edit::de::from_str(&toml).unwrap();
        for (name, kind, address, data_type) in regs {
            let mut r: RegisterConfig =
                toml_edit::de::from_str(&format!("name = \"{name}\"\naddress = {address}"))
                    .unwrap();
            r.register = *kind;
            r.data_type = *data_type;
            d.registers.push(r);
        }
        d
    }

    use DataType::*;
    use RegisterKind::*;

    #[test]
    fn contiguous_and_small_holes_merge() {
        let d = device(
            125,
            &[
                ("a", Holding, 0, Float32),
                ("b", Holding, 2, Uint16),
                ("c", Holding, 10, Float64),   // hole of 7 words: bridged
                ("far", Holding, 100, Uint16), // hole of 86: new block
            ],
        );
        let p = plan(&d).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].start, p[0].count), (0, 14));
        assert_eq!(
            p[0].fields.iter().map(|f| f.offset).collect::<Vec<_>>(),
            vec![0, 2, 10]
        );
        assert_eq!((p[1].start, p[1].count), (100, 1));
        assert!(p[0].has_holes());
        let parts = p[0].split_at_holes();
        assert_eq!(
            parts.iter().map(|b| (b.start, b.count)).collect::<Vec<_>>(),
            vec![(0, 3), (10, 4)]
        );
        assert_eq!(parts[1].fields[0].offset, 0);
        assert_eq!(parts[1].fields[0].register, 2);
    }

    #[test]
    fn never_over_max_and_tables_separate() {
        let regs: Vec<(String, RegisterKind, u16, DataType)> = (0..20)
            .map(|i| (format!("r{i}"), Holding, i * 2, Uint32))
            .chain([
                ("coil".to_string(), Coil, 0, Bool),
                ("inp".to_string(), Input, 0, Uint16),
            ])
            .collect();
        let refs: Vec<(&str, RegisterKind, u16, DataType)> = regs
            .iter()
            .map(|(n, k, a, t)| (n.as_str(), *k, *a, *t))
            .collect();
        let p = plan(&device(6, &refs)).unwrap();
        let holding: Vec<_> = p.iter().filter(|b| b.kind == Holding).collect();
        assert!(holding.iter().all(|b| b.count <= 6));
        // 40 words in blocks of at most 6 that never split a 2-word value: 7 blocks.
        assert_eq!(holding.len(), 7);
        assert_eq!(p.iter().filter(|b| b.kind == Coil).count(), 1);
        assert_eq!(p.iter().filter(|b| b.kind == Input).count(), 1);
        let fields: usize = p.iter().map(|b| b.fields.len()).sum();
        assert_eq!(fields, 22);
    }

    #[test]
    fn errors_name_the_register() {
        let e = plan(&device(2, &[("wide", Holding, 0, Float64)])).unwrap_err();
        assert!(e.to_string().contains("\"wide\""), "{e}");
        let e = plan(&device(125, &[("end", Holding, 65535, Uint32)])).unwrap_err();
        assert!(matches!(e, PlanError::PastEnd { .. }));
    }
}
