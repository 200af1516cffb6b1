//! Offline pipeline for `chocoline replay` and the scenario tests: recorded samples go
//! through the same stage cores as the live agent — features, validate, infer, monitor,
//! alert — in one thread, in data time, without channels (nothing to wait for offline, and
//! it keeps the figure a measure of the stage code).
//!
//! Input: the simulator's `samples.csv` (`ts_ms,batch_id,recipe,<signals>,scenario,fault,
//! bloom_label`, models/DATA_CARD.md). Each row becomes one [`Sample`] of device `replay` holding one
//! reading per signal column; an empty cell is what a dropped device looks like
//! (`sensor-dropout`) and becomes a `comm_error` reading, as the acquire stage would report.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use crate::alert::AlertEngine;
use crate::domain::{FeatureVector, Prediction, Quality, Reading, Record, Sample, TimestampMs};
use crate::features::FeatureEngine;
use crate::monitor::Monitor;
use crate::validate::{Validator, Verdict};

/// Columns of `samples.csv` that are not signals.
const NON_SIGNALS: [&str; 4] = ["ts_ms", "scenario", "fault", "bloom_label"];

/// Errors reading recorded samples.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The CSV is unreadable or malformed.
    #[error("samples CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A required column is missing.
    #[error("samples CSV: no \"{0}\" column in the header")]
    MissingColumn(&'static str),
    /// A cell is not a number.
    #[error("samples CSV line {line}: column \"{column}\": \"{value}\" is not a number")]
    BadNumber {
        /// 1-based line.
        line: u64,
        /// Column name.
        column: String,
        /// Cell text.
        value: String,
    },
}

/// Turns `(name, value)` rows into [`Sample`]s with shared name strings.
#[derive(Debug, Clone)]
pub struct SampleBuilder {
    device: Arc<str>,
    names: Vec<Arc<str>>,
    unit: Arc<str>,
    ranges: HashMap<String, [f64; 2]>,
}

impl SampleBuilder {
    /// For these signal (register) names, with optional `valid_range`s by name.
    pub fn new(names: &[String], ranges: HashMap<String, [f64; 2]>) -> Self {
        SampleBuilder {
            device: Arc::from("replay"),
            names: names.iter().map(|n| Arc::from(n.as_str())).collect(),
            unit: Arc::from(""),
            ranges,
        }
    }

    /// Signal names, in column order.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// One sample; `None` in `values` is a device that did not answer.
    pub fn build(&self, ts: TimestampMs, values: &[Option<f64>]) -> Sample {
        let readings = self
            .names
            .iter()
            .zip(values)
            .map(|(name, v)| {
                let (value, quality) = match v {
                    None => (f64::NAN, Quality::CommError),
                    Some(x) => {
                        let out = self
                            .ranges
                            .get(name.as_ref())
                            .is_some_and(|[lo, hi]| !(*lo..=*hi).contains(x));
                        (
                            *x,
                            if out {
                                Quality::OutOfRange
                            } else {
                                Quality::Good
                            },
                        )
                    }
                };
                Reading {
                    device: self.device.clone(),
                    name: name.clone(),
                    value,
                    unit: self.unit.clone(),
                    raw: Vec::new(),
                    ts,
                    quality,
                }
            })
            .collect();
        Sample {
            device: self.device.clone(),
            ts,
            readings,
            missed_cycles: 0,
        }
    }
}

/// Reads `samples.csv` row by row.
pub struct CsvSamples<R: Read> {
    reader: csv::Reader<R>,
    ts_col: usize,
    signal_cols: Vec<usize>,
    builder: SampleBuilder,
    record: csv::StringRecord,
    header: csv::StringRecord,
    values: Vec<Option<f64>>,
}

impl<R: Read> CsvSamples<R> {
    /// Open a CSV stream; `signal_map` renames canonical columns to register names
    /// (`[features] signal_map`), `ranges` gives `valid_range`s by register name.
    pub fn new(
        input: R,
        signal_map: &std::collections::BTreeMap<String, String>,
        ranges: HashMap<String, [f64; 2]>,
    ) -> Result<Self, ReplayError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(input);
        let header = reader.headers()?.clone();
        let ts_col = header
            .iter()
            .position(|h| h == "ts_ms")
            .ok_or(ReplayError::MissingColumn("ts_ms"))?;
        let mut signal_cols = Vec::new();
        let mut names = Vec::new();
        for (i, h) in header.iter().enumerate() {
            if !NON_SIGNALS.contains(&h) {
                signal_cols.push(i);
                names.push(signal_map.get(h).cloned().unwrap_or_else(|| h.to_string()));
            }
        }
        Ok(CsvSamples {
            reader,
            ts_col,
            values: Vec::with_capacity(signal_cols.len()),
            signal_cols,
            builder: SampleBuilder::new(&names, ranges),
            record: csv::StringRecord::new(),
            header,
        })
    }

    /// The next sample, `Ok(None)` at the end.
    pub fn next_sample(&mut self) -> Result<Option<Sample>, ReplayError> {
        if !self.reader.read_record(&mut self.record)? {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        // Borrowed, not cloned: this runs once per row, and the header only names a bad cell.
        let header = &self.header;
        let bad = |col: usize, value: &str| ReplayError::BadNumber {
            line,
            column: header.get(col).unwrap_or("?").to_string(),
            value: value.to_string(),
        };
        let ts_text = self.record.get(self.ts_col).unwrap_or("");
        let ts: i64 = ts_text
            .trim()
            .parse()
            .map_err(|_| bad(self.ts_col, ts_text))?;
        self.values.clear();
        for &c in &self.signal_cols {
            let cell = self.record.get(c).unwrap_or("").trim();
            if cell.is_empty() {
                self.values.push(None);
            } else {
                self.values
                    .push(Some(cell.parse().map_err(|_| bad(c, cell))?));
            }
        }
        Ok(Some(self.builder.build(TimestampMs(ts), &self.values)))
    }
}

/// What turns a validated feature vector into a prediction (the infer stage's service;
/// `None` when no loaded model serves the vector's model name).
pub trait Predictor {
    /// Predict one vector.
    fn predict(&mut self, v: &FeatureVector) -> Result<Option<Prediction>, String>;

    /// Predict many vectors, results in input order. The default predicts one by one.
    fn predict_batch(&mut self, vs: &[FeatureVector]) -> Vec<Result<Option<Prediction>, String>> {
        vs.iter().map(|v| self.predict(v)).collect()
    }
}

/// The service's answer as the offline pipeline wants it.
fn offline_result(
    r: Result<Prediction, crate::infer::InferError>,
) -> Result<Option<Prediction>, String> {
    match r {
        Ok(p) => Ok(Some(p)),
        // A vector for a model that is not configured: nothing to predict.
        Err(crate::infer::InferError::ModelNotFound(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

impl Predictor for crate::infer::service::Service {
    fn predict(&mut self, v: &FeatureVector) -> Result<Option<Prediction>, String> {
        offline_result(crate::infer::service::Service::predict(self, v))
    }

    fn predict_batch(&mut self, vs: &[FeatureVector]) -> Vec<Result<Option<Prediction>, String>> {
        crate::infer::service::Service::predict_batch(self, vs)
            .into_iter()
            .map(offline_result)
            .collect()
    }
}

/// Assemble the offline pipeline from a validated configuration: the same specs, models,
/// references, rules and products the live agent would use (built by [`super::build`],
/// so replay cannot drift from the agent). Nothing watches the model files offline.
pub fn build(
    cfg: &crate::config::Config,
) -> Result<OfflinePipeline<crate::infer::service::Service>, super::build::BuildError> {
    let super::build::Logic {
        specs,
        monitor,
        alerts,
    } = super::build::logic(cfg)?;
    let service = crate::infer::service::Service::new(super::build::registry(cfg)?);
    let engine = FeatureEngine::new(&cfg.features, super::build::engine_setup(cfg), specs);
    Ok(OfflinePipeline::new(engine, service, monitor, alerts))
}

/// Counters of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayCounts {
    /// Samples read.
    pub samples: u64,
    /// Feature vectors built.
    pub vectors: u64,
    /// Vectors refused by validation.
    pub refused: u64,
    /// Predictions made.
    pub predictions: u64,
    /// Drift windows closed.
    pub drift_windows: u64,
    /// Alert events (raised + cleared).
    pub alerts: u64,
    /// Vectors whose inference failed (counted, not fatal: the next vector may succeed).
    pub infer_errors: u64,
}

/// The offline pipeline: stage cores in a row.
pub struct OfflinePipeline<P: Predictor> {
    /// Features.
    pub features: FeatureEngine,
    /// Validate.
    pub validator: Validator,
    /// Infer.
    pub predictor: P,
    /// Monitor.
    pub monitor: Monitor,
    /// Alert.
    pub alerts: AlertEngine,
    counts: ReplayCounts,
    vectors: Vec<FeatureVector>,
    monitored: Vec<Record>,
}

impl<P: Predictor> OfflinePipeline<P> {
    /// Assemble from the stage cores.
    pub fn new(
        features: FeatureEngine,
        predictor: P,
        monitor: Monitor,
        alerts: AlertEngine,
    ) -> Self {
        OfflinePipeline {
            features,
            validator: Validator::new(),
            predictor,
            monitor,
            alerts,
            counts: ReplayCounts::default(),
            vectors: Vec::new(),
            monitored: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn counts(&self) -> &ReplayCounts {
        &self.counts
    }

    /// Run one sample through every stage; append the records the store would receive
    /// (predictions, drift windows, data-quality events, alerts) to `out`. A chunk of one:
    /// see [`Self::push_chunk`]. A model that fails on a vector does not stop the replay: it
    /// is counted in [`ReplayCounts`] (`infer_errors`), as the live pipeline counts it.
    pub fn push(&mut self, sample: &Sample, out: &mut Vec<Record>) {
        self.push_chunk(std::slice::from_ref(sample), out);
    }

    /// Run several samples, with one model run per model for all of their accepted vectors
    /// (the batch path of the tree ops walks trees outside rows). The records are the same,
    /// in the same order, as predicting each vector on its own in sample order: features and
    /// validation never depend on what monitor and alert do with earlier vectors, so they
    /// can run ahead.
    pub fn push_chunk(&mut self, samples: &[Sample], out: &mut Vec<Record>) {
        let start = out.len();
        // Each vector of the chunk, in order: refused (with its event) or accepted (index
        // into `accepted`).
        let mut order: Vec<Result<usize, crate::domain::DataQualityEvent>> = Vec::new();
        let mut accepted: Vec<FeatureVector> = Vec::new();
        for sample in samples {
            self.counts.samples += 1;
            self.features.push(sample, &mut self.vectors);
            for v in self.vectors.drain(..) {
                self.counts.vectors += 1;
                match self.validator.check(v) {
                    Verdict::Refuse(e) => {
                        self.counts.refused += 1;
                        order.push(Err(e));
                    }
                    Verdict::Accept(v) => {
                        order.push(Ok(accepted.len()));
                        accepted.push(v);
                    }
                }
            }
        }
        let mut results = self.predictor.predict_batch(&accepted).into_iter();
        for item in order {
            match item {
                Err(e) => self.alerts.handle(Record::DataQuality(e), out),
                Ok(i) => match results.next() {
                    Some(Ok(Some(p))) => {
                        self.counts.predictions += 1;
                        self.monitor.handle(p, &mut self.monitored);
                        for r in self.monitored.drain(..) {
                            self.counts.drift_windows += u64::from(matches!(r, Record::Drift(_)));
                            self.alerts.handle(r, out);
                        }
                    }
                    Some(Ok(None)) => {}
                    Some(Err(e)) => {
                        self.counts.infer_errors += 1;
                        let model = accepted.get(i).map_or("?", |v| &*v.model);
                        tracing::debug!(model, error = %e, "inference failed");
                    }
                    None => self.counts.infer_errors += 1,
                },
            }
        }
        self.counts.alerts += out
            .iter()
            .skip(start)
            .filter(|r| matches!(r, Record::Alert(_)))
            .count() as u64;
    }
}

#[cfg(test)]
mod tests;
