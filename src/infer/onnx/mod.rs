//! chocoline's own ONNX loader: protobuf → tract `InferenceModel`, on top of `tract-hir`.
//!
//! **Why not tract-onnx.** tract-onnx depends on tract-nnef, which registers a model
//! transform through the `inventory` crate; that registration is always linked and keeps
//! every NNEF and tract-core operator in the binary whether a model uses it or not (issue
//! #23, docs/budget.md). Reading ONNX needs far less: decode the protobuf ([`pb`]), turn
//! tensors and declared types into tract values ([`tensor`]), and add one tract node per
//! ONNX node through a register of op builders ([`graph`]). The builders themselves live in
//! [`super::ops`]; only the ops listed there are registered. tract-onnx stays a
//! dev-dependency, for the benches and tests that compare against stock tract.
//!
//! **The flow.** [`Onnx::proto_model_for_bytes`] decodes a file; [`super::ops::fuse`] may
//! rewrite the decoded graph; [`Onnx::model_for_proto_model`] builds the inference model,
//! which [`super::model`] then types, optimises and plans like any tract model.
//!
//! **What is not supported**, and refused with an error rather than misread: subgraphs
//! (`If`, `Loop`, `Scan`), tensors stored outside the file, element types other than the
//! real, integer, bool and string ones, and any op type missing from the register.

use std::collections::HashMap;

use prost::Message;
use tract_hir::internal::*;

pub mod attr;
pub mod graph;
pub mod pb;
pub mod tensor;

use pb::{ModelProto, NodeProto};

/// What an op builder returns: the tract op, and the names of extra values it reads
/// (subgraph closures in tract-onnx; always empty here).
pub type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// Builds the tract op for one ONNX node.
pub type OpBuilder = fn(&ParsingContext, &NodeProto) -> Built;

/// Op type (`"Add"`, `"TreeEnsembleClassifier"`) → builder. Keyed by op type alone, as in
/// tract-onnx: the default and the ONNX-ML (`ai.onnx.ml`) domains share no op name.
#[derive(Clone, Default)]
pub struct OnnxOpRegister(pub HashMap<String, OpBuilder>);

impl OnnxOpRegister {
    /// Register (or replace) the builder of `op_type`.
    pub fn insert(&mut self, op_type: &'static str, builder: OpBuilder) {
        self.0.insert(op_type.into(), builder);
    }
}

/// What a builder may read besides its node.
#[derive(Debug, Clone)]
pub struct ParsingContext {
    /// The model's operator-set version for the default domain (`""` / `"ai.onnx"`); 0 when
    /// the model does not import it. Some ops changed form between versions (`ReduceSum`'s
    /// axes moved to an input at 13).
    pub onnx_operator_set_version: i64,
}

/// The ONNX framework: an op register, and the two steps of a load.
#[derive(Clone, Default)]
pub struct Onnx {
    /// The ops this framework can build.
    pub op_register: OnnxOpRegister,
}

impl Onnx {
    /// Decode an ONNX file held in memory (copied once: see [`Onnx::proto_model_for_vec`]).
    pub fn proto_model_for_bytes(&self, bytes: &[u8]) -> TractResult<ModelProto> {
        self.proto_model_for_vec(bytes.to_vec())
    }

    /// Decode an ONNX file held in memory, taking ownership of its bytes.
    ///
    /// Decoding from a [`prost::bytes::Bytes`] rather than a `&[u8]` is deliberate (and what
    /// tract-onnx does): prost reads a `bytes` field (`AttributeProto.s` / `strings`,
    /// `TensorProto.raw_data` / `string_data`) by taking a `Bytes` of it from the buffer and
    /// copying that into the field's `Vec<u8>`. From a `Bytes` buffer the first step is a
    /// reference-counted slice; from a `&[u8]` it is a second allocation and copy of every
    /// value. A tree ensemble's `nodes_modes` has one string per tree node (41,550 in the
    /// anchor_rf benchmark model): the `&[u8]` decode was ~9 % slower.
    pub fn proto_model_for_vec(&self, bytes: Vec<u8>) -> TractResult<ModelProto> {
        ModelProto::decode(prost::bytes::Bytes::from(bytes))
            .map_err(|e| format_err!("not an ONNX protobuf: {e}"))
    }

    /// Decode an ONNX file from a reader.
    pub fn proto_model_for_read(&self, r: &mut dyn std::io::Read) -> TractResult<ModelProto> {
        let mut bytes = vec![];
        r.read_to_end(&mut bytes)?;
        self.proto_model_for_vec(bytes)
    }

    /// Decode an ONNX file.
    pub fn proto_model_for_path(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> TractResult<ModelProto> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        self.proto_model_for_vec(bytes)
    }

    /// Build the inference model of a decoded file (see [`graph`]).
    pub fn model_for_proto_model(&self, proto: &ModelProto) -> TractResult<InferenceModel> {
        graph::build(self, proto)
    }

    /// Decode and build (tests, tools).
    pub fn model_for_path(&self, path: impl AsRef<std::path::Path>) -> TractResult<InferenceModel> {
        self.model_for_proto_model(&self.proto_model_for_path(path)?)
    }
}

#[cfg(test)]
mod tests;
