//! Infer: runs the exported ONNX models through tract, with chocoline's own ONNX-ML tree ops,
//! and turns feature vectors into [`crate::domain::Prediction`]s.

pub mod config;
