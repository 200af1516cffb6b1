//! The registry and its metric handles.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Label pairs, kept sorted so that the same set always names the same series.
type Labels = Vec<(String, String)>;

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Add one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Add `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (stored as f64 bits).
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    /// Set the value.
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// A histogram with fixed upper bounds (cumulative buckets, as Prometheus expects).
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramInner>);

#[derive(Debug)]
struct HistogramInner {
    bounds: Vec<f64>,
    /// One count per bound plus the `+Inf` bucket; not cumulative (summed at render time).
    buckets: Vec<AtomicU64>,
    /// Sum of observations, f64 bits, updated with a CAS loop.
    sum: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        let mut bounds: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram(Arc::new(HistogramInner {
            bounds,
            buckets,
            sum: AtomicU64::new(0f64.to_bits()),
            count: AtomicU64::new(0),
        }))
    }

    /// Record one observation.
    pub fn observe(&self, v: f64) {
        let inner = &self.0;
        let idx = inner.bounds.partition_point(|b| *b < v);
        if let Some(bucket) = inner.buckets.get(idx) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        inner.count.fetch_add(1, Ordering::Relaxed);
        let mut old = inner.sum.load(Ordering::Relaxed);
        loop {
            let new = (f64::from_bits(old) + v).to_bits();
            match inner
                .sum
                .compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(cur) => old = cur,
            }
        }
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.0.count.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

#[derive(Debug)]
struct Family {
    help: String,
    kind: &'static str,
    series: BTreeMap<Labels, Series>,
}

/// All metrics of one agent. Cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<BTreeMap<String, Family>>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The counter `name{labels}`, created on first use.
    pub fn counter(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Counter {
        match self.series(name, help, "counter", labels, || {
            Series::Counter(Counter::default())
        }) {
            Series::Counter(c) => c,
            // A name registered with another kind: hand out a detached handle rather than
            // panic; `kind_conflict` is covered by a test.
            _ => Counter::default(),
        }
    }

    /// The gauge `name{labels}`, created on first use.
    pub fn gauge(&self, name: &str, help: &str, labels: &[(&str, &str)]) -> Gauge {
        match self.series(name, help, "gauge", labels, || {
            Series::Gauge(Gauge::default())
        }) {
            Series::Gauge(g) => g,
            _ => Gauge::default(),
        }
    }

    /// The histogram `name{labels}` with the given bucket bounds, created on first use (the
    /// bounds of the first registration win).
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        bounds: &[f64],
    ) -> Histogram {
        match self.series(name, help, "histogram", labels, || {
            Series::Histogram(Histogram::new(bounds))
        }) {
            Series::Histogram(h) => h,
            _ => Histogram::new(bounds),
        }
    }

    fn series(
        &self,
        name: &str,
        help: &str,
        kind: &'static str,
        labels: &[(&str, &str)],
        make: impl FnOnce() -> Series,
    ) -> Series {
        let mut labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        labels.sort();
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let family = families.entry(name.to_string()).or_insert_with(|| Family {
            help: help.to_string(),
            kind,
            series: BTreeMap::new(),
        });
        if family.kind != kind {
            return make();
        }
        family.series.entry(labels).or_insert_with(make).clone()
    }

    /// The value of counter or gauge `name{labels}`, if that series exists (never creates it).
    pub fn read(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        labels.sort();
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        match families.get(name)?.series.get(&labels)? {
            Series::Counter(c) => Some(c.get() as f64),
            Series::Gauge(g) => Some(g.get()),
            Series::Histogram(_) => None,
        }
    }

    /// Render every metric in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for (name, family) in families.iter() {
            let _ = writeln!(out, "# HELP {name} {}", escape_help(&family.help));
            let _ = writeln!(out, "# TYPE {name} {}", family.kind);
            for (labels, series) in &family.series {
                render_series(&mut out, name, labels, series);
            }
        }
        out
    }
}

fn render_series(out: &mut String, name: &str, labels: &Labels, series: &Series) {
    match series {
        Series::Counter(c) => {
            let _ = writeln!(out, "{name}{} {}", fmt_labels(labels, None), c.get());
        }
        Series::Gauge(g) => {
            let _ = writeln!(
                out,
                "{name}{} {}",
                fmt_labels(labels, None),
                fmt_f64(g.get())
            );
        }
        Series::Histogram(h) => {
            let inner = &h.0;
            let mut cumulative = 0u64;
            for (i, bucket) in inner.buckets.iter().enumerate() {
                cumulative += bucket.load(Ordering::Relaxed);
                let le = inner
                    .bounds
                    .get(i)
                    .map_or_else(|| "+Inf".to_string(), |b| fmt_f64(*b));
                let _ = writeln!(
                    out,
                    "{name}_bucket{} {cumulative}",
                    fmt_labels(labels, Some(&le))
                );
            }
            let sum = f64::from_bits(inner.sum.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "{name}_sum{} {}",
                fmt_labels(labels, None),
                fmt_f64(sum)
            );
            let _ = writeln!(
                out,
                "{name}_count{} {}",
                fmt_labels(labels, None),
                inner.count.load(Ordering::Relaxed)
            );
        }
    }
}

fn fmt_labels(labels: &Labels, le: Option<&str>) -> String {
    if labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_render_with_sorted_labels() {
        let r = Registry::new();
        let c = r.counter(
            "chocoline_polls_total",
            "Polls.",
            &[("device", "conche"), ("a", "x")],
        );
        c.inc();
        c.add(2);
        r.gauge("chocoline_outbox_depth", "Depth.", &[]).set(4.5);
        let text = r.render();
        assert!(
            text.contains("# TYPE chocoline_polls_total counter"),
            "{text}"
        );
        assert!(
            text.contains("chocoline_polls_total{a=\"x\",device=\"conche\"} 3"),
            "{text}"
        );
        assert!(text.contains("chocoline_outbox_depth 4.5"), "{text}");
    }

    #[test]
    fn same_name_and_labels_share_one_series() {
        let r = Registry::new();
        r.counter("n", "h", &[("k", "v")]).inc();
        r.counter("n", "h", &[("k", "v")]).inc();
        assert_eq!(r.counter("n", "h", &[("k", "v")]).get(), 2);
    }

    #[test]
    fn read_finds_existing_series_only_and_creates_nothing() {
        let r = Registry::new();
        r.counter("n", "h", &[("k", "v"), ("a", "b")]).add(3);
        r.gauge("g", "h", &[]).set(0.25);
        assert_eq!(r.read("n", &[("a", "b"), ("k", "v")]), Some(3.0));
        assert_eq!(r.read("g", &[]), Some(0.25));
        assert_eq!(r.read("n", &[("k", "other")]), None);
        assert_eq!(r.read("missing", &[]), None);
        assert!(!r.render().contains("missing") && !r.render().contains("other"));
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let r = Registry::new();
        let h = r.histogram("lat", "Latency.", &[], &[0.001, 0.01, 0.1]);
        for v in [0.0005, 0.005, 0.005, 0.05, 5.0] {
            h.observe(v);
        }
        let text = r.render();
        assert!(text.contains("lat_bucket{le=\"0.001\"} 1"), "{text}");
        assert!(text.contains("lat_bucket{le=\"0.01\"} 3"), "{text}");
        assert!(text.contains("lat_bucket{le=\"0.1\"} 4"), "{text}");
        assert!(text.contains("lat_bucket{le=\"+Inf\"} 5"), "{text}");
        assert!(text.contains("lat_count 5"), "{text}");
        assert!(text.contains("lat_sum 5.0605"), "{text}");
    }

    #[test]
    fn kind_conflict_does_not_panic_or_corrupt() {
        let r = Registry::new();
        r.counter("x", "h", &[]).inc();
        r.gauge("x", "h", &[]).set(9.0);
        assert!(r.render().contains("x 1"));
    }

    #[test]
    fn label_values_are_escaped() {
        let r = Registry::new();
        r.counter("n", "h", &[("d", "a\"b\\c")]).inc();
        assert!(r.render().contains(r#"n{d="a\"b\\c"} 1"#));
    }
}
