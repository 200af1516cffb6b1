//! Semantic validation of a merged configuration: every check runs and every problem is
//! reported, not just the first. Each check is a small function over the whole [`Config`]
//! with its own test; paths are already resolved against the configuration file's directory.

use std::collections::HashMap;
use std::path::Path;

use super::controller::Controller;
use super::keypath::KeyPath;
use super::structure::Problem;
use super::{Config, DataType, RegisterKind, RuleConfig};

/// A check adds the problems it finds.
type Check = fn(&Config, &mut Vec<Problem>);

const CHECKS: [Check; 19] = [
    devices_present,
    names,
    device_settings,
    device_timing,
    controllers,
    serial_buses,
    registers,
    overlaps,
    products,
    agent,
    features,
    feature_quality,
    models,
    drift,
    alerts,
    alert_settings,
    store,
    mqtt,
    log,
];

/// Runs every check; an empty result means the configuration is valid.
pub(crate) fn validate(cfg: &Config) -> Vec<Problem> {
    let mut out = Vec::new();
    for check in CHECKS {
        check(cfg, &mut out);
    }
    out
}

fn push(out: &mut Vec<Problem>, path: KeyPath, message: impl Into<String>) {
    out.push(Problem::new(path, message));
}

fn dev(i: usize) -> KeyPath {
    KeyPath::root().key("devices").index(i)
}

fn reg(i: usize, j: usize) -> KeyPath {
    dev(i).key("registers").index(j)
}

fn product(i: usize) -> KeyPath {
    KeyPath::root().key("products").index(i)
}

/// Names that end up in metrics, logs and MQTT topics.
fn name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    (!ok).then(|| "must be non-empty and use only letters, digits, _, - and .".to_string())
}

fn band_problem(b: [f64; 2]) -> Option<String> {
    if !(b[0].is_finite() && b[1].is_finite()) {
        Some("both bounds must be finite numbers".into())
    } else if b[0] >= b[1] {
        Some(format!("min ({}) must be below max ({})", b[0], b[1]))
    } else {
        None
    }
}

/// Remembers where a name was first seen; returns that place when it was seen before.
fn first_seen<K: std::hash::Hash + Eq, V: Copy>(seen: &mut HashMap<K, V>, k: K, v: V) -> Option<V> {
    match seen.entry(k) {
        std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(v);
            None
        }
    }
}

fn register_names(cfg: &Config) -> Vec<&str> {
    cfg.devices
        .iter()
        .flat_map(|d| d.registers.iter().map(|r| r.name.as_str()))
        .collect()
}

/// Lists names for "expected one of", capped so that the message stays on one screen line.
fn one_of(names: &[&str]) -> String {
    const MAX: usize = 15;
    let mut s = names
        .iter()
        .take(MAX)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > MAX {
        s.push_str(&format!(", … ({} in all)", names.len()));
    }
    s
}

fn devices_present(cfg: &Config, out: &mut Vec<Problem>) {
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

fn names(cfg: &Config, out: &mut Vec<Problem>) {
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

fn device_settings(cfg: &Config, out: &mut Vec<Problem>) {
    for (i, d) in cfg.devices.iter().enumerate() {
        if d.slave_id > 247 {
            push(out, dev(i).key("slave_id"), "expected 0..=247");
        }
        if !(5..=8).contains(&d.data_bits) {
            push(out, dev(i).key("data_bits"), "expected 5, 6, 7 or 8");
        }
        if !(1..=2).contains(&d.stop_bits) {
            push(out, dev(i).key("stop_bits"), "expected 1 or 2");
        }
        if !(1..=125).contains(&d.max_word_registers_per_request) {
            push(
                out,
                dev(i).key("max_word_registers_per_request"),
                "expected 1..=125 (the Modbus limit for one read)",
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

fn device_timing(cfg: &Config, out: &mut Vec<Problem>) {
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

fn controllers(cfg: &Config, out: &mut Vec<Problem>) {
    for (i, d) in cfg.devices.iter().enumerate() {
        if let Err(m) = Controller::parse(&d.controller) {
            push(out, dev(i).key("controller"), m);
        }
    }
}

/// Devices on one serial line share its settings: the line has one baud rate.
fn serial_buses(cfg: &Config, out: &mut Vec<Problem>) {
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

fn registers(cfg: &Config, out: &mut Vec<Problem>) {
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
fn overlaps(cfg: &Config, out: &mut Vec<Problem>) {
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

fn products(cfg: &Config, out: &mut Vec<Problem>) {
    let mut codes: HashMap<&str, usize> = HashMap::new();
    let mut ids: HashMap<u32, usize> = HashMap::new();
    for (i, p) in cfg.products.iter().enumerate() {
        if let Some(m) = name_problem(&p.code) {
            push(out, product(i).key("code"), m);
        } else if let Some(f) = first_seen(&mut codes, p.code.as_str(), i) {
            push(
                out,
                product(i).key("code"),
                format!("duplicate product code (also products[{f}])"),
            );
        }
        if let Some(f) = first_seen(&mut ids, p.recipe_id, i) {
            push(
                out,
                product(i).key("recipe_id"),
                format!(
                    "duplicate recipe_id (also products[{f}]); the PLC's recipe number must pick one product"
                ),
            );
        }
        if let Some(m) = p.working_temp.and_then(band_problem) {
            push(out, product(i).key("working_temp"), m);
        }
        if let Some(m) = band_problem(p.moisture_pct) {
            push(out, product(i).key("moisture_pct"), m);
        }
        if let Some(m) = band_problem(p.ph) {
            push(out, product(i).key("ph"), m);
        }
        if !(p.particle_size_max_um.is_finite() && p.particle_size_max_um > 0.0) {
            push(
                out,
                product(i).key("particle_size_max_um"),
                "must be a positive number of µm",
            );
        }
        if let Some(c) = p
            .cocoa_pct
            .filter(|c| !(c.is_finite() && *c > 0.0 && *c <= 100.0))
        {
            push(
                out,
                product(i).key("cocoa_pct"),
                format!("{c} is not a percentage: expected (0, 100]"),
            );
        }
    }
}

fn agent(cfg: &Config, out: &mut Vec<Problem>) {
    let a = KeyPath::root().key("agent");
    for (key, v) in [("site", &cfg.agent.site), ("line", &cfg.agent.line)] {
        if let Some(m) = name_problem(v) {
            push(out, a.key(key), m);
        }
    }
    if let Some(p) = &cfg.agent.product
        && !cfg.products.iter().any(|x| &x.code == p)
    {
        let codes: Vec<&str> = cfg.products.iter().map(|x| x.code.as_str()).collect();
        let m = if codes.is_empty() {
            "no [[products]] are configured".to_string()
        } else {
            format!(
                "no product with this code; expected one of {}",
                one_of(&codes)
            )
        };
        push(out, a.key("product"), m);
    }
}

fn features(cfg: &Config, out: &mut Vec<Problem>) {
    let names = register_names(cfg);
    if names.is_empty() {
        return; // "at least one device" already says it.
    }
    let f = KeyPath::root().key("features");
    let missing = |s: &str| !names.contains(&s);
    let msg = || {
        format!(
            "no register with this name; expected one of {}",
            one_of(&names)
        )
    };
    if missing(&cfg.features.batch_id_signal) {
        push(out, f.key("batch_id_signal"), msg());
    }
    if missing(&cfg.features.product_signal) {
        push(out, f.key("product_signal"), msg());
    }
    for (k, target) in &cfg.features.signal_map {
        if missing(target) {
            push(out, f.key("signal_map").key(k), msg());
        }
    }
}

/// The data-quality settings of `[features]` (stuck and spike detection, window sizes).
fn feature_quality(cfg: &Config, out: &mut Vec<Problem>) {
    let f = &cfg.features;
    let p = KeyPath::root().key("features");
    // static_signals are not checked against the registers: the default list names every
    // static canonical signal, and one a plant lacks exempts nothing, harmlessly.
    if !(f.stuck_tolerance.is_finite() && f.stuck_tolerance >= 0.0) {
        push(out, p.key("stuck_tolerance"), "must be a number ≥ 0");
    }
    if !(f.spike_k.is_finite() && f.spike_k > 0.0) {
        push(out, p.key("spike_k"), "must be a positive number");
    }
    if !(f.spike_min_rel.is_finite() && f.spike_min_rel >= 0.0) {
        push(out, p.key("spike_min_rel"), "must be a number ≥ 0");
    }
    if f.spike_window < 3 {
        push(
            out,
            p.key("spike_window"),
            "must be at least 3: a median and its spread need several readings",
        );
    }
    if f.max_window_samples == 0 {
        push(out, p.key("max_window_samples"), "must be at least 1");
    }
}

fn models(cfg: &Config, out: &mut Vec<Problem>) {
    let m = KeyPath::root().key("models");
    dir_must_exist(&cfg.models.dir, m.key("dir"), out);
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, name) in cfg.models.enabled.iter().enumerate() {
        if let Some(msg) = name_problem(name) {
            push(out, m.key("enabled").index(i), msg);
        } else if let Some(f) = first_seen(&mut seen, name.as_str(), i) {
            push(
                out,
                m.key("enabled").index(i),
                format!("listed twice (also enabled[{f}])"),
            );
        }
    }
}

fn dir_must_exist(dir: &Path, path: KeyPath, out: &mut Vec<Problem>) {
    if dir.as_os_str().is_empty() {
        push(out, path, "must not be empty");
    } else if !dir.is_dir() {
        let m = if dir.exists() {
            format!("{} is not a directory", dir.display())
        } else {
            format!("directory {} does not exist", dir.display())
        };
        push(out, path, m);
    }
}

fn drift(cfg: &Config, out: &mut Vec<Problem>) {
    let d = &cfg.drift;
    let p = KeyPath::root().key("drift");
    if d.window.get().is_zero() {
        push(out, p.key("window"), "must be longer than 0, e.g. \"1h\"");
    }
    if d.window_samples == Some(0) {
        push(out, p.key("window_samples"), "must be at least 1");
    }
    if d.min_window_samples == 0 {
        push(out, p.key("min_window_samples"), "must be at least 1");
    }
    for (key, v) in [
        ("psi_threshold", d.psi_threshold),
        ("js_threshold", d.js_threshold),
        ("w1_threshold", d.w1_threshold),
    ] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v > 0.0)) {
            push(out, p.key(key), format!("{v} is not a positive number"));
        }
    }
    if !(d.page_hinkley_delta.is_finite() && d.page_hinkley_delta >= 0.0) {
        push(out, p.key("page_hinkley_delta"), "must be a number ≥ 0");
    }
    if !(d.page_hinkley_lambda.is_finite() && d.page_hinkley_lambda > 0.0) {
        push(
            out,
            p.key("page_hinkley_lambda"),
            "must be a positive number",
        );
    }
}

/// Which way a rule's value goes bad, and what range its thresholds live in.
#[derive(Clone, Copy)]
enum Worse {
    Higher,
    Lower,
}

#[derive(Clone, Copy)]
enum Scale {
    /// A probability or share in [0, 1].
    Share,
    /// Any positive number (µm).
    Positive,
    /// A percentage in (0, 100].
    Percent,
}

fn rules(cfg: &Config) -> [(&'static str, &RuleConfig, Worse, Scale); 9] {
    let a = &cfg.alerts;
    [
        (
            "fat_bloom_risk",
            &a.fat_bloom_risk,
            Worse::Higher,
            Scale::Share,
        ),
        (
            "sugar_bloom_risk",
            &a.sugar_bloom_risk,
            Worse::Higher,
            Scale::Share,
        ),
        ("gritty", &a.gritty, Worse::Higher, Scale::Positive),
        (
            "out_of_range_batch",
            &a.out_of_range_batch,
            Worse::Higher,
            Scale::Share,
        ),
        ("anomaly", &a.anomaly, Worse::Higher, Scale::Share),
        ("drift", &a.drift, Worse::Higher, Scale::Share),
        (
            "low_confidence",
            &a.low_confidence,
            Worse::Lower,
            Scale::Share,
        ),
        ("data_quality", &a.data_quality, Worse::Higher, Scale::Share),
        ("yield_low", &a.yield_low, Worse::Lower, Scale::Percent),
    ]
}

fn alerts(cfg: &Config, out: &mut Vec<Problem>) {
    for (name, r, worse, scale) in rules(cfg) {
        let p = KeyPath::root().key("alerts").key(name);
        for (key, v) in [("raise", r.raise), ("clear", r.clear)] {
            let ok = v.is_finite()
                && match scale {
                    Scale::Share => (0.0..=1.0).contains(&v),
                    Scale::Positive => v > 0.0,
                    Scale::Percent => v > 0.0 && v <= 100.0,
                };
            if !ok {
                let range = match scale {
                    Scale::Share => "a probability or share in [0, 1]",
                    Scale::Positive => "a positive number",
                    Scale::Percent => "a percentage in (0, 100]",
                };
                push(
                    out,
                    p.key(key),
                    format!("{v} is out of range: expected {range}"),
                );
            }
        }
        match worse {
            Worse::Higher if r.clear > r.raise => push(
                out,
                p.key("clear"),
                format!(
                    "must not be above raise ({}): higher is worse for {name}, so the alert clears when the value falls back to clear",
                    r.raise
                ),
            ),
            Worse::Lower if r.clear < r.raise => push(
                out,
                p.key("clear"),
                format!(
                    "must not be below raise ({}): lower is worse for {name}, so the alert clears when the value climbs back to clear",
                    r.raise
                ),
            ),
            _ => {}
        }
        if r.consecutive == 0 {
            push(out, p.key("consecutive"), "must be at least 1");
        }
    }
}

/// The settings of `[alerts]` beside the rules.
fn alert_settings(cfg: &Config, out: &mut Vec<Problem>) {
    let a = &cfg.alerts;
    let p = KeyPath::root().key("alerts");
    if a.share_window == 0 {
        push(out, p.key("share_window"), "must be at least 1");
    }
    for (key, v) in [
        ("temp_band_tolerance_c", a.temp_band_tolerance_c),
        ("moisture_tolerance_pct", a.moisture_tolerance_pct),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            push(out, p.key(key), "must be a number ≥ 0");
        }
    }
    if a.yield_low.enabled && !cfg.models.enabled.contains(&a.yield_model) {
        push(
            out,
            p.key("yield_model"),
            format!(
                "not in models.enabled ({}): enable it, or set alerts.yield_low.enabled = false",
                cfg.models.enabled.join(", ")
            ),
        );
    }
}

fn store(cfg: &Config, out: &mut Vec<Problem>) {
    let s = &cfg.store;
    let p = KeyPath::root().key("store");
    if s.data_dir.as_os_str().is_empty() {
        push(out, p.key("data_dir"), "must not be empty");
    } else if s.data_dir.exists() && !s.data_dir.is_dir() {
        push(
            out,
            p.key("data_dir"),
            format!("{} exists but is not a directory", s.data_dir.display()),
        );
    }
    if s.max_bytes.get() < 1024 * 1024 {
        push(out, p.key("max_bytes"), "must be at least 1MiB");
    }
    if s.cache_capacity.get() == 0 {
        push(
            out,
            p.key("cache_capacity"),
            "must be positive, e.g. \"8MiB\"",
        );
    }
    for (key, n) in [
        ("prediction_history_max", s.prediction_history_max),
        ("drift_history_max", s.drift_history_max),
    ] {
        if !(1..=10_000_000).contains(&n) {
            push(out, p.key(key), "expected 1..=10000000");
        }
    }
    if s.snapshot_interval.get().is_zero() {
        push(
            out,
            p.key("snapshot_interval"),
            "must be longer than 0, e.g. \"1s\"",
        );
    }
    if s.prediction_retention.get().is_zero() {
        push(
            out,
            p.key("prediction_retention"),
            "must be longer than 0, e.g. \"7d\"",
        );
    }
}

fn mqtt(cfg: &Config, out: &mut Vec<Problem>) {
    let m = &cfg.mqtt;
    let p = KeyPath::root().key("mqtt");
    let tls = mqtt_url(&m.url, &p, out);
    if m.client_id.is_empty() {
        push(out, p.key("client_id"), "must not be empty");
    }
    let t = &m.topic_prefix;
    if t.is_empty()
        || t.starts_with('/')
        || t.ends_with('/')
        || t.contains(['+', '#'])
        || t.contains("//")
    {
        push(
            out,
            p.key("topic_prefix"),
            "expected topic levels such as \"plant1/line3\": not empty, no leading, trailing or double /, no + or #",
        );
    }
    if m.username.as_deref() == Some("") {
        push(
            out,
            p.key("username"),
            "must not be empty; leave it out for no authentication",
        );
    }
    if m.password_file.is_some() && m.username.is_none() {
        push(
            out,
            p.key("password_file"),
            "needs username: MQTT sends a password only with a user name",
        );
    }
    let files = [
        ("password_file", &m.password_file, true),
        ("ca_file", &m.ca_file, false),
        ("client_cert_file", &m.client_cert_file, false),
        ("client_key_file", &m.client_key_file, true),
    ];
    for (key, file, private) in files {
        if let Some(f) = file {
            file_must_exist(f, private, p.key(key), out);
        }
    }
    if m.client_cert_file.is_some() != m.client_key_file.is_some() {
        let key = if m.client_cert_file.is_some() {
            "client_key_file"
        } else {
            "client_cert_file"
        };
        push(
            out,
            p.key(key),
            "client_cert_file and client_key_file go together: set both or neither",
        );
    }
    if tls == Some(true) && m.ca_file.is_none() {
        push(
            out,
            p.key("ca_file"),
            "required with mqtts://: the PEM CA bundle that signed the broker's certificate",
        );
    }
    if tls == Some(false) {
        for (key, set) in [
            ("ca_file", m.ca_file.is_some()),
            ("client_cert_file", m.client_cert_file.is_some()),
        ] {
            if set {
                push(out, p.key(key), "TLS settings need a mqtts:// url");
            }
        }
    }
    let ka = m.keep_alive.get();
    if !(ka.is_zero() || (ka.as_secs() >= 1 && ka.subsec_nanos() == 0)) {
        push(
            out,
            p.key("keep_alive"),
            "expected whole seconds (at least \"1s\"), or \"0s\" to disable",
        );
    }
    if m.inflight == 0 {
        push(out, p.key("inflight"), "expected 1..=65535");
    }
    if m.reconnect_min.get().is_zero() {
        push(
            out,
            p.key("reconnect_min"),
            "must be longer than 0, e.g. \"500ms\"",
        );
    }
    if m.reconnect_max < m.reconnect_min {
        push(
            out,
            p.key("reconnect_max"),
            format!(
                "must not be shorter than reconnect_min ({})",
                m.reconnect_min
            ),
        );
    }
    let topics = [
        ("alerts", m.topics.alerts.qos),
        ("predictions", m.topics.predictions.qos),
        ("drift", m.topics.drift.qos),
        ("data_quality", m.topics.data_quality.qos),
    ];
    for (key, qos) in topics {
        if qos > 1 {
            push(
                out,
                p.key("topics").key(key).key("qos"),
                "expected 0 (at most once) or 1 (at least once)",
            );
        }
    }
}

/// Checks the broker URL; returns whether it asks for TLS (None when it is invalid).
fn mqtt_url(s: &str, p: &KeyPath, out: &mut Vec<Problem>) -> Option<bool> {
    const EXPECTED: &str = "expected mqtt://host[:port] or mqtts://host[:port]";
    let url = match url::Url::parse(s) {
        Ok(u) => u,
        Err(e) => {
            push(out, p.key("url"), format!("not a URL ({e}); {EXPECTED}"));
            return None;
        }
    };
    if !url.username().is_empty() || url.password().is_some() {
        // Never echo the value: it holds a credential.
        out.push(Problem {
            path: p.key("url"),
            message: "must not contain credentials; use username and password_file".into(),
            show_value: false,
        });
        return None;
    }
    let tls = match url.scheme() {
        "mqtt" => false,
        "mqtts" => true,
        other => {
            push(
                out,
                p.key("url"),
                format!("unsupported scheme \"{other}\"; {EXPECTED}"),
            );
            return None;
        }
    };
    if url.host_str().is_none_or(str::is_empty) {
        push(out, p.key("url"), format!("no host; {EXPECTED}"));
        return None;
    }
    if !(url.path().is_empty() || url.path() == "/")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        push(
            out,
            p.key("url"),
            format!("only host and port are allowed; {EXPECTED}"),
        );
        return None;
    }
    Some(tls)
}

fn file_must_exist(f: &Path, private: bool, path: KeyPath, out: &mut Vec<Problem>) {
    if !f.is_file() {
        push(out, path, format!("file {} does not exist", f.display()));
        return;
    }
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(f) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o004 != 0 {
                push(
                    out,
                    path,
                    format!(
                        "{} is readable by everyone (mode {mode:o}); chmod 600 it",
                        f.display()
                    ),
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = private;
}

fn log(cfg: &Config, out: &mut Vec<Problem>) {
    if let Some(e) = crate::logging::filter_problem(&cfg.log.level) {
        push(out, KeyPath::root().key("log").key("level"), e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::valid;
    use crate::config::{Duration, Parity, RegisterConfig};

    /// Runs one check and returns "key: message" lines.
    fn run(check: Check, cfg: &Config) -> Vec<String> {
        let mut out = Vec::new();
        check(cfg, &mut out);
        out.iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()
    }

    fn assert_one(got: &[String], key: &str, needle: &str) {
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with(&format!("{key}: ")), "{got:?}");
        assert!(got[0].contains(needle), "{got:?}");
    }

    #[test]
    fn the_valid_fixture_passes_every_check() {
        assert!(validate(&valid()).is_empty(), "{:?}", validate(&valid()));
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let mut c = valid();
        c.devices[0].slave_id = 250;
        c.drift.min_window_samples = 0;
        c.mqtt.inflight = 0;
        assert_eq!(validate(&c).len(), 3);
    }

    #[test]
    fn devices_and_registers_are_required() {
        let mut c = valid();
        c.devices[0].registers.clear();
        assert_one(
            &run(devices_present, &c),
            "devices[0].registers",
            "at least one",
        );
        c.devices.clear();
        assert_one(&run(devices_present, &c), "devices", "at least one");
    }

    #[test]
    fn names_unique_and_clean() {
        let mut c = valid();
        let d = c.devices[0].clone();
        c.devices.push(d);
        c.devices[1].registers.truncate(1);
        let got = run(names, &c);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("devices[1].name: duplicate device name (also devices[0])"));
        assert!(got[1].starts_with("devices[1].registers[0].name: duplicate register name"));
        let mut c = valid();
        c.devices[0].name = "a b".into();
        assert_one(&run(names, &c), "devices[0].name", "letters, digits");
    }

    #[test]
    fn device_number_ranges() {
        let mut c = valid();
        c.devices[0].slave_id = 248;
        c.devices[0].data_bits = 9;
        c.devices[0].stop_bits = 3;
        c.devices[0].max_word_registers_per_request = 126;
        c.devices[0].baud_rate = 0;
        let got = run(device_settings, &c);
        assert_eq!(got.len(), 5, "{got:?}");
        c.devices[0] = valid().devices[0].clone();
        c.devices[0].max_word_registers_per_request = 0;
        assert_one(
            &run(device_settings, &c),
            "devices[0].max_word_registers_per_request",
            "1..=125",
        );
    }

    #[test]
    fn timeout_shorter_than_poll_interval() {
        let mut c = valid();
        c.devices[0].timeout = Duration::from_secs(1);
        c.devices[0].poll_interval = Duration::from_secs(1);
        assert_one(
            &run(device_timing, &c),
            "devices[0].timeout",
            "shorter than poll_interval",
        );
        c.devices[0].timeout = Duration::from_millis(0);
        assert_one(
            &run(device_timing, &c),
            "devices[0].timeout",
            "longer than 0",
        );
        let mut c = valid();
        c.devices[0].poll_interval = Duration::from_millis(0);
        assert_one(
            &run(device_timing, &c),
            "devices[0].poll_interval",
            "longer than 0",
        );
    }

    #[test]
    fn controller_urls() {
        let mut c = valid();
        c.devices[0].controller = "modbus://plc".into();
        assert_one(
            &run(controllers, &c),
            "devices[0].controller",
            "unsupported scheme",
        );
    }

    #[test]
    fn serial_line_settings_agree() {
        let mut c = valid();
        c.devices[0].controller = "file:///dev/ttyUSB0".into();
        let mut d = c.devices[0].clone();
        d.name = "other".into();
        d.slave_id = 2;
        d.parity = Parity::None;
        d.registers.clear();
        c.devices.push(d);
        assert_one(
            &run(serial_buses, &c),
            "devices[1].parity",
            "same serial line",
        );
    }

    fn register(name: &str, address: u16, data_type: DataType) -> RegisterConfig {
        let mut r = valid().devices[0].registers[0].clone();
        r.name = name.into();
        r.address = address;
        r.data_type = data_type;
        r
    }

    #[test]
    fn register_rules() {
        let mut c = valid();
        c.devices[0].registers[0].register = RegisterKind::Coil;
        c.devices[0].registers[0].data_type = DataType::Uint16;
        assert_one(
            &run(registers, &c),
            "devices[0].registers[0].data_type",
            "BOOL",
        );
        let mut c = valid();
        c.devices[0].registers = vec![register("x", 65535, DataType::Float32)];
        assert_one(
            &run(registers, &c),
            "devices[0].registers[0].address",
            "65535",
        );
        let mut c = valid();
        c.devices[0].max_word_registers_per_request = 2;
        c.devices[0].registers = vec![register("x", 0, DataType::Float64)];
        assert_one(
            &run(registers, &c),
            "devices[0].registers[0].data_type",
            "needs 4 words",
        );
        let mut c = valid();
        c.devices[0].registers[0].scale = 0.0;
        assert_one(
            &run(registers, &c),
            "devices[0].registers[0].scale",
            "non-zero",
        );
        let mut c = valid();
        c.devices[0].registers[0].valid_range = Some([5.0, 5.0]);
        assert_one(
            &run(registers, &c),
            "devices[0].registers[0].valid_range",
            "below max",
        );
    }

    #[test]
    fn overlapping_registers_on_one_slave() {
        let mut c = valid();
        c.devices[0].registers = vec![
            register("a", 10, DataType::Float32), // 10..=11
            register("b", 11, DataType::Uint16),  // overlaps a
            register("c", 12, DataType::Uint16),  // free
        ];
        assert_one(
            &run(overlaps, &c),
            "devices[0].registers[1].address",
            "overlap devices[0].registers[0] \"a\"",
        );
        // Another table or another slave is no overlap.
        c.devices[0].registers[1].register = RegisterKind::Input;
        assert!(run(overlaps, &c).is_empty());
        // Same slave through a second device entry (same controller, default port) is.
        let mut c = valid();
        c.devices[0].controller = "tcp://h".into();
        c.devices[0].registers = vec![register("a", 10, DataType::Float64)];
        let mut d = c.devices[0].clone();
        d.name = "twin".into();
        d.controller = "tcp://h:502".into();
        d.registers = vec![register("b", 13, DataType::Uint16)];
        c.devices.push(d);
        assert_one(
            &run(overlaps, &c),
            "devices[1].registers[0].address",
            "same slave",
        );
    }

    #[test]
    fn product_rules() {
        let mut c = valid();
        let mut p = c.products[0].clone();
        p.ph = [6.0, 5.0];
        p.cocoa_pct = Some(120.0);
        c.products.push(p);
        let got = run(products, &c);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got[0].starts_with("products[1].code: duplicate"));
        assert!(got[1].starts_with("products[1].recipe_id: duplicate"));
        assert!(got[2].starts_with("products[1].ph: min (6) must be below max (5)"));
        assert!(got[3].starts_with("products[1].cocoa_pct"));
    }

    #[test]
    fn agent_product_must_exist() {
        let mut c = valid();
        c.agent.product = Some("caramel".into());
        assert_one(&run(agent, &c), "agent.product", "expected one of dark");
    }

    #[test]
    fn feature_signals_refer_to_registers() {
        let mut c = valid();
        c.features.batch_id_signal = "lot".into();
        c.features
            .signal_map
            .insert("temperature".into(), "tempering_temp".into());
        let got = run(features, &c);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("features.batch_id_signal: no register"));
        assert!(got[1].starts_with("features.signal_map.temperature: no register"));
    }

    #[test]
    fn feature_quality_settings() {
        assert!(run(feature_quality, &valid()).is_empty());
        let mut c = valid();
        c.features.spike_k = 0.0;
        c.features.spike_window = 1;
        c.features.stuck_tolerance = -1.0;
        c.features.max_window_samples = 0;
        assert_eq!(run(feature_quality, &c).len(), 4);
    }

    #[test]
    fn alert_settings_and_yield_model() {
        let mut c = valid();
        c.alerts.yield_model = "yield2".into();
        assert_one(
            &run(alert_settings, &c),
            "alerts.yield_model",
            "not in models.enabled",
        );
        c.alerts.yield_low.enabled = false;
        assert!(run(alert_settings, &c).is_empty());
        let mut c = valid();
        c.alerts.share_window = 0;
        c.alerts.temp_band_tolerance_c = f64::NAN;
        assert_eq!(run(alert_settings, &c).len(), 2);
    }

    #[test]
    fn models_dir_must_exist() {
        let mut c = valid();
        c.models.dir = "/nonexistent/chocoline/models".into();
        assert_one(&run(models, &c), "models.dir", "does not exist");
        let mut c = valid();
        c.models.enabled.push("quality".into());
        assert_one(
            &run(models, &c),
            "models.enabled[4]",
            "listed twice (also enabled[0])",
        );
    }

    #[test]
    fn drift_thresholds() {
        let mut c = valid();
        c.drift.psi_threshold = Some(-0.1);
        c.drift.page_hinkley_lambda = 0.0;
        c.drift.window = Duration::from_millis(0);
        let got = run(drift, &c);
        assert_eq!(got.len(), 3, "{got:?}");
    }

    #[test]
    fn alert_thresholds_ordered_by_direction() {
        let mut c = valid();
        c.alerts.gritty.clear = 35.0; // above raise 30: higher is worse
        assert_one(
            &run(alerts, &c),
            "alerts.gritty.clear",
            "must not be above raise",
        );
        let mut c = valid();
        c.alerts.yield_low.clear = 70.0; // below raise 75: lower is worse
        assert_one(
            &run(alerts, &c),
            "alerts.yield_low.clear",
            "must not be below raise",
        );
        let mut c = valid();
        c.alerts.fat_bloom_risk.raise = 1.5;
        assert_one(&run(alerts, &c), "alerts.fat_bloom_risk.raise", "[0, 1]");
        let mut c = valid();
        c.alerts.anomaly.consecutive = 0;
        assert_one(&run(alerts, &c), "alerts.anomaly.consecutive", "at least 1");
    }

    #[test]
    fn store_limits() {
        let mut c = valid();
        c.store.max_bytes = crate::config::ByteSize(10);
        assert_one(&run(store, &c), "store.max_bytes", "1MiB");
        let mut c = valid();
        c.store.drift_history_max = 0;
        c.store.snapshot_interval = Duration::from_millis(0);
        assert_eq!(run(store, &c).len(), 2);
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut c = valid();
        c.store.data_dir = f.path().to_path_buf();
        assert_one(&run(store, &c), "store.data_dir", "not a directory");
    }

    #[test]
    fn mqtt_url_scheme_and_host() {
        for (url, needle) in [
            ("http://broker:1883", "unsupported scheme"),
            ("mqtt://", "no host"),
            ("broker:1883", "unsupported scheme"),
            ("mqtt://u:secret@broker", "credentials"),
            ("mqtt://broker/x", "only host and port"),
        ] {
            let mut c = valid();
            c.mqtt.url = url.into();
            assert_one(&run(mqtt, &c), "mqtt.url", needle);
        }
        let mut c = valid();
        c.mqtt.url = "mqtt://u:secret@broker".into();
        let mut out = Vec::new();
        mqtt(&c, &mut out);
        assert!(!out[0].show_value, "a URL with a password is never shown");
    }

    #[test]
    fn mqtt_tls_files_and_limits() {
        let mut c = valid();
        c.mqtt.url = "mqtts://broker:8883".into();
        assert_one(&run(mqtt, &c), "mqtt.ca_file", "required with mqtts://");
        c.mqtt.ca_file = Some("/nonexistent/ca.pem".into());
        assert_one(&run(mqtt, &c), "mqtt.ca_file", "does not exist");
        let mut c = valid();
        c.mqtt.password_file = Some("/nonexistent/pw".into());
        let got = run(mqtt, &c);
        assert!(got.iter().any(|g| g.contains("needs username")), "{got:?}");
        let mut c = valid();
        c.mqtt.topics.alerts.qos = 2;
        c.mqtt.keep_alive = Duration::from_millis(500);
        c.mqtt.reconnect_max = Duration::from_millis(100);
        assert_eq!(run(mqtt, &c).len(), 3);
        let mut c = valid();
        c.mqtt.topic_prefix = "plant/#".into();
        assert_one(&run(mqtt, &c), "mqtt.topic_prefix", "no + or #");
    }

    #[cfg(unix)]
    #[test]
    fn mqtt_password_file_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut c = valid();
        c.mqtt.username = Some("line3".into());
        c.mqtt.password_file = Some(f.path().to_path_buf());
        assert_one(&run(mqtt, &c), "mqtt.password_file", "readable by everyone");
        std::fs::set_permissions(f.path(), std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(run(mqtt, &c).is_empty());
    }

    #[test]
    fn log_level_is_a_filter() {
        let mut c = valid();
        c.log.level = "verbose!!".into();
        assert_one(&run(log, &c), "log.level", "expected error, warn, info");
        c.log.level = "info,chocoline::acquire=debug".into();
        assert!(run(log, &c).is_empty());
    }
}
