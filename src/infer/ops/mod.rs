//! chocoline's own ONNX-ML operators for tract.
//!
//! Stock tract-onnx 0.23.9 cannot load `TreeEnsembleRegressor`, `LabelEncoder` or `Scaler`,
//! and its `TreeEnsembleClassifier` walks the leaf table for every tree and row (≈ 15 ms per
//! row for a 100-tree forest). [`onnx`] returns chocoline's ONNX loader
//! ([`crate::infer::onnx`]) with these ops registered through `OnnxOpRegister::insert`;
//! tract types, optimises and runs the graph around them.
//!
//! Layout: [`forest`] (compact node layout and the tree walk), [`post`] (onnxruntime's
//! output rules), [`attrs`] (attribute parsing), [`tree`] (shared parsing/running),
//! one file per op; [`div`] keeps `Div` an IEEE division (scaler parity); [`fuse`] folds
//! skl2onnx's per-tree IsolationForest chains into one ensemble before tract sees the graph.
//!
//! Thread safety: op data is immutable behind an `Arc`; the only mutable state is a
//! thread-local scratch buffer in [`tree`], so a plan can run on any number of threads.

/// `PartialEq`/`Eq` for an op holding its parsed data in an `Arc`: equal when the data is
/// shared. tract compares ops to merge duplicate nodes; ops parsed from different ONNX nodes
/// stay apart even when their attributes match, which avoids comparing whole forests.
macro_rules! eq_by_shared_data {
    ($op:ty) => {
        impl PartialEq for $op {
            fn eq(&self, other: &Self) -> bool {
                std::sync::Arc::ptr_eq(&self.0, &other.0)
            }
        }
        impl Eq for $op {}
    };
}

/// The `Expansion` items shared by ops that are also their own typed op: the name, and a
/// `wire` that puts the op itself into the typed model.
macro_rules! expansion_wires_itself {
    ($name:literal) => {
        fn name(&self) -> StaticName {
            $name.into()
        }

        fn wire(
            &self,
            prefix: &str,
            model: &mut TypedModel,
            inputs: &[OutletId],
        ) -> TractResult<TVec<OutletId>> {
            model.wire_node(prefix, self.clone(), inputs)
        }
    };
}

pub mod attrs;
pub mod classifier;
pub mod div;
pub mod forest;
pub mod fuse;
pub mod label_encoder;
pub mod post;
pub mod registry;
pub mod regressor;
pub mod scaler;
pub mod tree;

/// The ONNX loader with the ops chocoline supports registered: the standard ops
/// skl2onnx exports use ([`registry`]) and chocoline's ONNX-ML ops. Not tract's full
/// register: see [`registry`] for why and for the list.
pub fn onnx() -> crate::infer::onnx::Onnx {
    let mut onnx = crate::infer::onnx::Onnx::default();
    registry::register_standard(&mut onnx.op_register);
    register(&mut onnx.op_register);
    onnx
}

/// Register (or replace) the ONNX-ML ops in an op register.
pub fn register(reg: &mut crate::infer::onnx::OnnxOpRegister) {
    reg.insert("TreeEnsembleClassifier", classifier::build);
    reg.insert("TreeEnsembleRegressor", regressor::build);
    reg.insert("LabelEncoder", label_encoder::build);
    reg.insert("Scaler", scaler::build);
    // IEEE division (tract would multiply by the reciprocal): see div.rs.
    reg.insert("Div", div::build);
}
