//! Infer: runs the exported ONNX models through tract, with chocoline's own ONNX-ML tree ops,
//! and turns feature vectors into [`crate::domain::Prediction`]s.
//!
//! | file | job |
//! |---|---|
//! | [`ops`] | ONNX-ML ops for tract (tree ensembles, LabelEncoder, Scaler) |
//! | [`model`] | one ONNX file: load, optimise, run |
//! | [`onnx`] | the ONNX loader: protobuf messages, tensors, graph → tract (no tract-onnx) |
//! | [`manifest`] | `manifest.json` and its checks |
//! | [`golden`] | running a model on its `golden.csv` |
//! | [`installed`] | reading signed bundles installed beside the shipped models (`current` links) |
//! | [`config`] | `[models]` and its `[models.<name>]` tables (read by `config_de.rs`) |
//! | [`registry`] | the served models and their shadow candidates: checksum, golden check, lock-free swap, hot reload |
//! | [`service`] | `predict` / `predict_batch` / `shadow`: feature vectors → predictions |
//! | [`stage`] | the pipeline task |

pub mod config;
mod config_de;
pub mod error;
pub mod golden;
pub mod installed;
pub mod manifest;
pub mod model;
pub mod onnx;
pub mod ops;
pub mod registry;
pub mod service;
pub mod stage;
#[cfg(test)]
pub(crate) mod testing;

pub use error::InferError;
pub use model::Model;
pub use registry::{Registry, RegistryEvent};
pub use service::Service;
