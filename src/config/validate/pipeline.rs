//! Checks of the pipeline settings: `[[products]]`, `[agent]`, `[features]`, `[models]`, `[drift]`, `[alerts]`.

use super::*;

pub(super) fn products(cfg: &Config, out: &mut Vec<Problem>) {
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

pub(super) fn agent(cfg: &Config, out: &mut Vec<Problem>) {
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

pub(super) fn features(cfg: &Config, out: &mut Vec<Problem>) {
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
    for (i, s) in cfg.features.lot_signals.iter().enumerate() {
        if missing(cfg.features.register_of(s)) {
            push(out, f.key("lot_signals").index(i), msg());
        }
    }
    for (k, target) in &cfg.features.signal_map {
        if missing(target) {
            push(out, f.key("signal_map").key(k), msg());
        }
    }
}

/// The data-quality settings of `[features]` (stuck and spike detection, window sizes).
pub(super) fn feature_quality(cfg: &Config, out: &mut Vec<Problem>) {
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

pub(super) fn models(cfg: &Config, out: &mut Vec<Problem>) {
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

pub(super) fn dir_must_exist(dir: &Path, path: KeyPath, out: &mut Vec<Problem>) {
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

pub(super) fn drift(cfg: &Config, out: &mut Vec<Problem>) {
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
    for (key, v) in [
        ("page_hinkley_delta", d.page_hinkley_delta),
        ("page_hinkley_feature_delta", d.page_hinkley_feature_delta),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            push(out, p.key(key), "must be a number ≥ 0");
        }
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

pub(super) fn alerts(cfg: &Config, out: &mut Vec<Problem>) {
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
pub(super) fn alert_settings(cfg: &Config, out: &mut Vec<Problem>) {
    let a = &cfg.alerts;
    let p = KeyPath::root().key("alerts");
    if a.share_window == 0 {
        push(out, p.key("share_window"), "must be at least 1");
    }
    for (key, v) in [
        ("temp_band_tolerance_c", a.temp_band_tolerance_c),
        ("moisture_tolerance_pct", a.moisture_tolerance_pct),
        ("humidity_margin_rh", a.humidity_margin_rh),
        ("temp_rise_z", a.temp_rise_z),
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
