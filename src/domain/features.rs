//! What the features stage emits: named, ordered feature vectors, and why a value is not fit
//! for a model.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{BatchContext, TimestampMs};

/// Whether a feature vector describes a rolling window of samples or a whole closed batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureLevel {
    /// Rolling window over recent samples (feeds `bloom` and `anomaly` every poll).
    Sample,
    /// Aggregates of a closed batch (feeds `quality` and `yield` on batch change).
    Batch,
}

/// Why a value or a vector is not fit for a model. Carried as evidence in data-quality events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonCode {
    /// NaN or infinite value.
    NotFinite,
    /// Outside the register's `valid_range`.
    OutOfRange,
    /// No change beyond noise for N samples.
    Stuck,
    /// Jump larger than k·MAD from the recent median.
    Spike,
    /// No fresh reading within two poll intervals.
    Stale,
    /// The read failed.
    CommError,
    /// A feature the model needs could not be computed (e.g. empty window).
    Missing,
}

/// A named, ordered set of feature values computed by the feature spec of one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureVector {
    /// The model this vector was built for (`quality`, `yield`, `bloom`, `anomaly`…).
    pub model: Arc<str>,
    /// `feature_spec_version` of the spec that produced it.
    pub spec_version: u32,
    /// Sample-window or batch level.
    pub level: FeatureLevel,
    /// Feature names, in the model's input order.
    pub names: Arc<[String]>,
    /// Values, same order as `names`.
    pub values: Vec<f64>,
    /// Time of the newest sample that went into the vector.
    pub ts: TimestampMs,
    /// Batch and product at that time.
    pub batch: BatchContext,
    /// Problems found in the inputs, per signal name (empty when all inputs were good).
    pub flags: BTreeMap<String, Vec<ReasonCode>>,
}
