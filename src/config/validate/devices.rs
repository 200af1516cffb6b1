//! Checks of `[[devices]]`: controllers, serial lines, slave ids, timing, registers.

use super::*;
use crate::config::error::{DATA_BITS_RANGE, MAX_WORDS_RANGE, SLAVE_ID_RANGE, STOP_BITS_RANGE};

pub(super) fn devices_present(cfg: &Config, out: &mut Vec<Problem>) {
    if cfg.devices.is_empty() {
        push(
            out,
            KeyPath::root().key("devices"),
            "at least one [[devices]] entry is required",
        );
    }
    for (i, d) in cfg.devices.iter().enumerate() {
        if d.registers.is_empty() {
            push(
                out,
                dev(i).key("registers"),
                "at least one [[devices.registers]] entry is required",
            );
        }
    }
}

pub(super) fn names(cfg: &Config, out: &mut Vec<Problem>) {
    let mut devices: HashMap<&str, usize> = HashMap::new();
    let mut regs: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, d) in cfg.devices.iter().enumerate() {
        if let Some(m) = name_problem(&d.name) {
            push(out, dev(i).key("name"), m);
        } else if let Some(first) = first_seen(&mut devices, d.name.as_str(), i) {
            push(
                out,
                dev(i).key("name"),
                format!("duplicate device name (also devices[{first}]); names must be unique"),
            );
        }
        for (j, r) in d.registers.iter().enumerate() {
            if let Some(m) = name_problem(&r.name) {
                push(out, reg(i, j).key("name"), m);
            } else if let Some((fi, fj)) = first_seen(&mut regs, r.name.as_str(), (i, j)) {
                push(
                    out,
                    reg(i, j).key("name"),
                    format!(
                        "duplicate register name (also devices[{fi}].registers[{fj}]); register \
                         names are signal names and must be unique across all devices"
                    ),
                );
            }
        }
    }
}

pub(super) fn device_settings(cfg: &Config, out: &mut Vec<Problem>) {
    for (i, d) in cfg.devices.iter().enumerate() {
        if let Some(m) = slave_id_problem(d) {
            push(out, dev(i).key("slave_id"), m);
        }
        if !(5..=8).contains(&d.data_bits) {
            push(
                out,
                dev(i).key("data_bits"),
                format!("expected {DATA_BITS_RANGE}"),
            );
        }
        if !(1..=2).contains(&d.stop_bits) {
            push(
                out,
                dev(i).key("stop_bits"),
                format!("expected {STOP_BITS_RANGE}"),
            );
        }
        if !(1..=125).contains(&d.max_word_registers_per_request) {
            push(
                out,
                dev(i).key("max_word_registers_per_request"),
                format!("expected {MAX_WORDS_RANGE}"),
            );
        }
        if d.baud_rate == 0 {
            push(
                out,
                dev(i).key("baud_rate"),
                "must be positive, e.g. 9600 or 19200",
            );
        }
    }
}

/// Unit ids 1..=247 address one slave. 0 is the broadcast address: on a serial line no slave
/// answers a read sent to it, so every poll would time out; a Modbus TCP device addressed by
/// its IP address may ignore the unit id or expect 0 or 255 (`tokio_modbus::Slave::tcp_device`).
/// 248..=254 are reserved.
fn slave_id_problem(d: &DeviceConfig) -> Option<String> {
    let serial = Controller::parse(&d.controller).is_ok_and(|c| c.is_serial());
    match d.slave_id {
        1..=247 => None,
        0 | 255 if !serial => None,
        0 => Some(format!(
            "0 is the broadcast address, which no slave on a serial line answers; expected \
             {SLAVE_ID_RANGE}"
        )),
        _ => Some(format!("expected {SLAVE_ID_RANGE}")),
    }
}

pub(super) fn device_timing(cfg: &Config, out: &mut Vec<Problem>) {
    for (i, d) in cfg.devices.iter().enumerate() {
        if d.poll_interval.get().is_zero() {
            push(
                out,
                dev(i).key("poll_interval"),
                "must be longer than 0, e.g. \"1s\"",
            );
        }
        if d.timeout.get().is_zero() {
            push(
                out,
                dev(i).key("timeout"),
                "must be longer than 0, e.g. \"500ms\"",
            );
        } else if !d.poll_interval.get().is_zero() && d.timeout >= d.poll_interval {
            push(
                out,
                dev(i).key("timeout"),
                format!(
                    "must be shorter than poll_interval ({}), or a slow answer delays the next poll",
                    d.poll_interval
                ),
            );
        }
        if !d.poll_interval.get().is_zero() && d.pause_between_requests >= d.poll_interval {
            push(
                out,
                dev(i).key("pause_between_requests"),
                format!("must be shorter than poll_interval ({})", d.poll_interval),
            );
        }
    }
}

pub(super) fn controllers(cfg: &Config, out: &mut Vec<Problem>) {
    for (i, d) in cfg.devices.iter().enumerate() {
        if let Err(m) = Controller::parse(&d.controller) {
            push(out, dev(i).key("controller"), m);
        }
    }
}

/// Devices on one serial line share its settings: the line has one baud rate.
pub(super) fn serial_buses(cfg: &Config, out: &mut Vec<Problem>) {
    let mut first_on_bus: HashMap<Controller, usize> = HashMap::new();
    for (i, d) in cfg.devices.iter().enumerate() {
        let Ok(c) = Controller::parse(&d.controller) else {
            continue;
        };
        if !c.is_serial() {
            continue;
        }
        let Some(&f) = first_on_bus.get(&c) else {
            first_on_bus.insert(c, i);
            continue;
        };
        let Some(first) = cfg.devices.get(f) else {
            continue;
        };
        let diffs = [
            ("baud_rate", first.baud_rate != d.baud_rate),
            ("data_bits", first.data_bits != d.data_bits),
            ("parity", first.parity != d.parity),
            ("stop_bits", first.stop_bits != d.stop_bits),
        ];
        for (key, differs) in diffs {
            if differs {
                push(
                    out,
                    dev(i).key(key),
                    format!(
                        "differs from devices[{f}] on the same serial line {c}; one line has one {key}"
                    ),
                );
            }
        }
    }
}

pub(super) fn registers(cfg: &Config, out: &mut Vec<Problem>) {
    for (i, d) in cfg.devices.iter().enumerate() {
        for (j, r) in d.registers.iter().enumerate() {
            let bits = matches!(r.register, RegisterKind::Coil | RegisterKind::Discrete);
            if bits && r.data_type != DataType::Bool {
                push(
                    out,
                    reg(i, j).key("data_type"),
                    "coil and discrete registers hold single bits: expected BOOL",
                );
            }
            let words = if bits {
                1
            } else {
                u32::from(r.data_type.words())
            };
            let end = u32::from(r.address) + words - 1;
            if end > u32::from(u16::MAX) {
                push(
                    out,
                    reg(i, j).key("address"),
                    format!(
                        "the value spans addresses {}..={end}, past the last address 65535",
                        r.address
                    ),
                );
            }
            if !bits && r.data_type.words() > d.max_word_registers_per_request {
                push(
                    out,
                    reg(i, j).key("data_type"),
                    format!(
                        "needs {} words but the device's max_word_registers_per_request is {}",
                        r.data_type.words(),
                        d.max_word_registers_per_request
                    ),
                );
            }
            if !r.scale.is_finite() || r.scale == 0.0 {
                push(
                    out,
                    reg(i, j).key("scale"),
                    "must be a finite, non-zero number",
                );
            }
            if !r.offset.is_finite() {
                push(out, reg(i, j).key("offset"), "must be a finite number");
            }
            if let Some(m) = r.valid_range.and_then(band_problem) {
                push(out, reg(i, j).key("valid_range"), m);
            }
        }
    }
}

/// The addresses one register occupies, and where it is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Span {
    /// First address.
    start: u32,
    /// One past the last address.
    end: u32,
    device: usize,
    register: usize,
}

/// One register table of one slave: where overlaps matter.
type Table = (Controller, u8, RegisterKind);

/// Registers of one table of one slave must not share addresses (by the words their type
/// occupies): the second would decode half of the first.
pub(super) fn overlaps(cfg: &Config, out: &mut Vec<Problem>) {
    let mut tables: Vec<(Table, Vec<Span>)> = Vec::new();
    for (i, d) in cfg.devices.iter().enumerate() {
        let Ok(c) = Controller::parse(&d.controller) else {
            continue;
        };
        for (j, r) in d.registers.iter().enumerate() {
            let bits = matches!(r.register, RegisterKind::Coil | RegisterKind::Discrete);
            let words = if bits {
                1
            } else {
                u32::from(r.data_type.words())
            };
            let start = u32::from(r.address);
            let span = Span {
                start,
                end: start + words,
                device: i,
                register: j,
            };
            let table = (c.clone(), d.slave_id, r.register);
            match tables.iter_mut().find(|(t, _)| *t == table) {
                Some((_, spans)) => spans.push(span),
                None => tables.push((table, vec![span])),
            }
        }
    }
    for ((c, slave, kind), mut spans) in tables {
        spans.sort();
        let kind = format!("{kind:?}").to_lowercase();
        // The register reaching furthest so far: anything starting before its end overlaps it.
        let mut reach: Option<Span> = None;
        for r in spans {
            if let Some(prev) = reach {
                if r.start < prev.end {
                    let name = cfg
                        .devices
                        .get(prev.device)
                        .and_then(|d| d.registers.get(prev.register))
                        .map_or("", |x| x.name.as_str());
                    push(
                        out,
                        reg(r.device, r.register).key("address"),
                        format!(
                            "{kind} addresses {}..={} overlap devices[{}].registers[{}] \"{name}\" \
                             ({}..={}) on the same slave ({c}, slave_id {slave})",
                            r.start,
                            r.end - 1,
                            prev.device,
                            prev.register,
                            prev.start,
                            prev.end - 1
                        ),
                    );
                }
                if r.end <= prev.end {
                    continue;
                }
            }
            reach = Some(r);
        }
    }
}
