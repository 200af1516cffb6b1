//! Typed errors of the infer stage.

use std::path::PathBuf;

/// Everything that can go wrong loading, verifying or running a model.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum InferError {
    /// No model of that name is configured / loaded.
    #[error("model {0:?} not found")]
    ModelNotFound(String),
    /// The feature vector does not fit the model.
    #[error("model {model:?}: invalid features: {reason}")]
    InvalidFeatures {
        /// Model name.
        model: String,
        /// What is wrong (count, names, NaN…).
        reason: String,
    },
    /// tract failed while running the model, or an output was missing / malformed.
    #[error("model {model:?}: prediction failed: {reason}")]
    Prediction {
        /// Model name (or file).
        model: String,
        /// Cause.
        reason: String,
    },
    /// The ONNX file could not be read, parsed, typed or optimised.
    #[error("{path}: cannot load ONNX model: {reason}")]
    Load {
        /// File.
        path: PathBuf,
        /// Cause (tract's error chain).
        reason: String,
    },
    /// The manifest is missing, malformed or not supported.
    #[error("{path}: invalid manifest: {reason}")]
    Manifest {
        /// manifest.json path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// model.onnx does not have the sha256 the manifest promises.
    #[error("{path}: sha256 {actual} does not match the manifest's {expected}")]
    Checksum {
        /// File.
        path: PathBuf,
        /// From the manifest.
        expected: String,
        /// Of the file.
        actual: String,
    },
    /// The model does not reproduce its golden rows.
    #[error("model {model:?}: golden check failed: {reason}")]
    GoldenMismatch {
        /// Model name.
        model: String,
        /// Worst column and difference, or the row that broke.
        reason: String,
    },
    /// A file could not be read.
    #[error("{path}: {reason}")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        reason: String,
    },
}

impl InferError {
    /// Short machine-readable kind, for events and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            InferError::ModelNotFound(_) => "model_not_found",
            InferError::InvalidFeatures { .. } => "invalid_features",
            InferError::Prediction { .. } => "prediction",
            InferError::Load { .. } => "load",
            InferError::Manifest { .. } => "manifest",
            InferError::Checksum { .. } => "checksum",
            InferError::GoldenMismatch { .. } => "golden_mismatch",
            InferError::Io { .. } => "io",
        }
    }
}

/// Render a tract error with its whole cause chain on one line.
pub fn chain(e: &tract_hir::prelude::TractError) -> String {
    let mut s = String::new();
    for (i, cause) in e.chain().enumerate() {
        if i > 0 {
            s.push_str(": ");
        }
        s.push_str(&cause.to_string());
    }
    s
}
