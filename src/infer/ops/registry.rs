//! The standard ONNX operators this build can load, and no others.
//!
//! Stock tract-onnx's `onnx()` registers every operator tract knows (≈ 180: convolutions,
//! recurrent layers, FFT, resize, quantisation…). Each registered builder keeps its op's code
//! in the binary, whether a model uses it or not: the full register cost 4.1 MB of the stripped
//! x86-64 binary (docs/budget.md, "Binary size and resident memory"). chocoline runs
//! scikit-learn models exported by skl2onnx, so [`register_standard`] registers only what
//! those exports contain:
//!
//! - scalers and pipelines: `Sub`, `Div` (our IEEE [`super::div`]), `Add`, `Mul`, `Identity`;
//! - tree ensembles: `TreeEnsembleClassifier` / `TreeEnsembleRegressor` (ours, see
//!   [`super::register`]), `LabelEncoder`, `Scaler`;
//! - IsolationForest's per-tree path-length graph, for the forests [`super::fuse`] does not
//!   fold: `Gather`, `Cast`, `Reshape`, `Equal`, `Greater`, `Less`, `Max`, `Sum`, `Log`,
//!   `Neg`, `Pow`;
//! - the anomaly detector `models/training` builds by hand (opset 12): `Abs`, `ReduceMax`,
//!   `ReduceSum` (it picks its per-product rows with `Gather`, not a one-hot `MatMul`, so
//!   neither `MatMul` nor `Concat` is registered).
//!
//! A model that uses anything else is refused at load with the names of the missing ops
//! ([`unsupported`]), and the model already serving keeps serving. The list is checked in the
//! other direction by the training pipeline (`models/training/onnx_export.py` refuses to
//! write a model with an op outside `models/supported_ops.txt`) and by a test that loads every ONNX file in
//! the repository.
//!
//! The builders wrap tract's own inference ops (`tract_hir::ops`), the ones tract-onnx uses;
//! only the attribute parsing is written here. They are registered in chocoline's own loader
//! ([`crate::infer::onnx`]), which knows no op but these.

use crate::infer::onnx::pb::{ModelProto, NodeProto};
use crate::infer::onnx::{OnnxOpRegister, ParsingContext};
use tract_hir::internal::*;
use tract_hir::ops;
use tract_hir::ops::binary::{BinIntoHir, Nary};
use tract_hir::ops::expandable::expand;
use tract_hir::ops::nn::{Reduce, Reducer};
use tract_hir::tract_core::ops::binary::BinMiniOp;

type Built = TractResult<(Box<dyn InferenceOp>, Vec<String>)>;

/// Register the standard (non ONNX-ML) operators listed in the module docs.
pub fn register_standard(reg: &mut OnnxOpRegister) {
    reg.insert("Identity", |_, _| {
        Ok((Box::<ops::identity::Identity>::default(), vec![]))
    });
    reg.insert("Add", |_, _| Ok((ops::math::Add.into_hir(), vec![])));
    reg.insert("Sub", |_, _| Ok((ops::math::Sub.into_hir(), vec![])));
    reg.insert("Mul", |_, _| Ok((ops::math::Mul.into_hir(), vec![])));
    reg.insert("Pow", |_, _| Ok((ops::math::Pow.into_hir(), vec![])));
    reg.insert("Sum", |_, _| nary(Box::new(ops::math::Add)));
    reg.insert("Max", |_, _| nary(Box::new(ops::math::Max)));
    reg.insert("Abs", |_, _| Ok((ops::math::abs().into_hir(), vec![])));
    reg.insert("Neg", |_, _| Ok((ops::math::neg().into_hir(), vec![])));
    reg.insert("Log", |_, _| Ok((ops::math::ln().into_hir(), vec![])));
    reg.insert("Equal", |_, _| Ok((ops::logic::CompEq.into_hir(), vec![])));
    reg.insert("Greater", |_, _| {
        Ok((ops::logic::CompGT.into_hir(), vec![]))
    });
    reg.insert("Less", |_, _| Ok((ops::logic::CompLT.into_hir(), vec![])));
    reg.insert("Cast", cast);
    reg.insert("Gather", gather);
    reg.insert("Reshape", reshape);
    reg.insert("ReduceSum", |ctx, node| reduce(ctx, node, Reducer::Sum));
    reg.insert("ReduceMax", |ctx, node| reduce(ctx, node, Reducer::Max));
}

/// The op type of every node of `proto`'s graph, in graph order.
pub fn op_types(proto: &ModelProto) -> impl Iterator<Item = &str> {
    proto
        .graph
        .iter()
        .flat_map(|g| g.node.iter())
        .map(|n| n.op_type.as_str())
}

/// The op types of `proto`'s graph that `reg` has no builder for, sorted, each once.
pub fn unsupported(reg: &OnnxOpRegister, proto: &ModelProto) -> Vec<String> {
    let mut missing: Vec<String> = op_types(proto)
        .filter(|op| !reg.0.contains_key(*op))
        .map(str::to_owned)
        .collect();
    missing.sort();
    missing.dedup();
    missing
}

/// Every op type `reg` can build, sorted (for error messages and docs).
pub fn supported(reg: &OnnxOpRegister) -> Vec<&str> {
    let mut ops: Vec<&str> = reg.0.keys().map(String::as_str).collect();
    ops.sort_unstable();
    ops
}

fn nary(op: Box<dyn BinMiniOp>) -> Built {
    Ok((Box::new(Nary(op, false)), vec![]))
}

fn cast(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let to = node.get_attr::<DatumType>("to")?;
    if to == String::datum_type() || to == TDim::datum_type() {
        bail!("Cast to {to:?} is not supported");
    }
    Ok((Box::new(ops::cast::cast(to)), vec![]))
}

fn gather(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    let axis: i64 = node.get_attr_opt("axis")?.unwrap_or(0);
    Ok((expand(ops::array::Gather::new(axis)), vec![]))
}

fn reshape(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    // `allowzero` came with opset 14; absent, it is 0.
    let allowzero = node.get_attr_opt::<i64>("allowzero")?.unwrap_or(0) != 0;
    Ok((expand(ops::array::Reshape::new(allowzero)), vec![]))
}

/// `ReduceSum` / `ReduceMax` with their axes as an attribute. ReduceSum moved the axes to a
/// second input at opset 13, the other reducers at 18; that form (what an exporter emits
/// for those opsets when it names axes) is refused, so nothing is silently summed over the
/// wrong axes. Without axes the ONNX default applies: reduce over every axis.
fn reduce(ctx: &ParsingContext, node: &NodeProto, reducer: Reducer) -> Built {
    let keep_dims = node.get_attr_opt("keepdims")?.unwrap_or(1i64) == 1;
    let axes_moved = (node.op_type == "ReduceSum" && ctx.onnx_operator_set_version >= 13)
        || ctx.onnx_operator_set_version >= 18;
    if axes_moved {
        let noop_on_empty = node.get_attr_opt("noop_with_empty_axes")?.unwrap_or(0i64) == 1;
        if node.input.len() > 1 || noop_on_empty {
            bail!(
                "{} with axes given as an input (opset {}) is not supported; export at opset 12",
                node.op_type,
                ctx.onnx_operator_set_version
            );
        }
        return Ok((expand(Reduce::new(None, keep_dims, reducer)), vec![]));
    }
    let axes = node.get_attr_opt_vec("axes")?;
    Ok((expand(Reduce::new(axes, keep_dims, reducer)), vec![]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    /// `*.onnx` directly in `dir`. Not recursive: other tests create and remove scratch
    /// directories under models/ while this one runs.
    fn onnx_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "onnx") {
                out.push(path);
            }
        }
    }

    #[test]
    fn the_list_the_training_pipeline_checks_is_what_the_agent_registers() {
        let text = std::fs::read_to_string(root().join("models/supported_ops.txt")).unwrap();
        let listed: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let onnx = super::super::onnx();
        assert_eq!(listed, supported(&onnx.op_register));
    }

    /// Every ONNX file in the repository loads and optimises with the narrow register,
    /// before the IsolationForest fold too (the graph a forest the fold does not recognise
    /// runs as), so each registered builder is exercised on a real export.
    #[test]
    fn every_onnx_file_in_the_repository_loads_unfused() {
        let mut files = vec![];
        // (benches/models is generated by the bench and absent from a clean checkout.)
        onnx_files(&root().join("tests/fixtures/onnx"), &mut files);
        for model in ["quality", "yield", "bloom", "anomaly"] {
            files.push(root().join("models").join(model).join("model.onnx"));
        }
        assert!(files.len() >= 62, "found only {} ONNX files", files.len());
        let onnx = super::super::onnx();
        let mut seen = std::collections::BTreeSet::new();
        for f in &files {
            let proto = onnx.proto_model_for_path(f).unwrap();
            assert_eq!(unsupported(&onnx.op_register, &proto), Vec::<String>::new());
            seen.extend(op_types(&proto).map(str::to_owned));
            let typed = onnx.model_for_proto_model(&proto).and_then(|mut m| {
                let fact = m.input_fact(0)?.clone();
                let width = fact.shape.dims().nth(1).and_then(|d| d.concretize());
                let dt = fact.datum_type.concretize().unwrap_or(f32::datum_type());
                let shape = [1.to_dim(), width.unwrap_or(1.to_dim())];
                m.set_input_fact(0, TypedFact::dt_shape(dt, shape).into())?;
                m.into_optimized()
            });
            assert!(typed.is_ok(), "{}: {:?}", f.display(), typed.err());
        }
        // Every standard op registered here is used by at least one file, so none is listed
        // untested (the ONNX-ML ops have their own tests beside them).
        let mut standard = OnnxOpRegister::default();
        register_standard(&mut standard);
        for op in supported(&standard) {
            assert!(
                seen.contains(op),
                "{op} is registered but no ONNX file here uses it"
            );
        }
    }

    #[test]
    fn a_model_with_an_op_outside_the_register_is_refused_by_name() {
        let bytes = std::fs::read(root().join("models/anomaly/model.onnx")).unwrap();
        // NodeProto.op_type is field 4 (tag 0x22); "Abs" → "Elu", same length.
        let needle = b"\x22\x03Abs";
        let mut patched = bytes.clone();
        let mut hits = 0;
        for i in 0..patched.len() - needle.len() {
            if &patched[i..i + needle.len()] == needle {
                patched[i + 2..i + 5].copy_from_slice(b"Elu");
                hits += 1;
            }
        }
        assert_eq!(hits, 2, "the anomaly graph has two Abs nodes");
        let src = Path::new("anomaly/model.onnx");
        let err = crate::infer::Model::load_bytes(&patched, src, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("does not include: Elu (supported: Abs, Add"),
            "{err}"
        );
        assert!(crate::infer::Model::load_bytes(&bytes, src, None).is_ok());
    }

    #[test]
    fn reduce_with_axes_as_an_input_is_refused() {
        let onnx = super::super::onnx();
        let mut proto = onnx
            .proto_model_for_path(root().join("models/anomaly/model.onnx"))
            .unwrap();
        for o in &mut proto.opset_import {
            o.version = 13;
        }
        let graph = proto.graph.as_mut().unwrap();
        for n in &mut graph.node {
            if n.op_type == "ReduceSum" {
                n.attribute.retain(|a| a.name != "axes");
                n.input.push("proc_idx".into());
            }
        }
        let err = onnx
            .model_for_proto_model(&proto)
            .err()
            .map(|e| format!("{e:?}"));
        assert!(
            err.as_deref()
                .unwrap_or("")
                .contains("axes given as an input"),
            "{err:?}"
        );
    }
}
