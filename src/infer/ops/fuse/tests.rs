//! The fusion pass on the exports in `tests/fixtures/onnx`: what folds (and still computes
//! what the unfused graph did), what is refused, what is left alone.

use super::*;
use std::path::Path;

fn fixture(name: &str) -> ModelProto {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name);
    let bytes = std::fs::read(path).unwrap();
    super::super::onnx()
        .proto_model_for_read(&mut &*bytes)
        .unwrap()
}

fn run(proto: &ModelProto, rows: &[f32], width: usize) -> Vec<Vec<f32>> {
    let onnx = super::super::onnx();
    let mut m = onnx.model_for_proto_model(proto).unwrap();
    let n = rows.len() / width;
    m.set_input_fact(0, f32::fact([n, width]).into()).unwrap();
    let plan = SimplePlan::new(m.into_typed().unwrap().into_optimized().unwrap()).unwrap();
    let input = Tensor::from_shape(&[n, width], rows).unwrap();
    plan.run(tvec!(input.into_tvalue()))
        .unwrap()
        .iter()
        .map(|v| {
            let v = v.cast_to::<f32>().unwrap();
            v.try_as_plain_ram()
                .unwrap()
                .as_slice::<f32>()
                .unwrap()
                .to_vec()
        })
        .collect()
}

fn rows(width: usize) -> Vec<f32> {
    (0..200 * width)
        .map(|i| ((i * 7919 % 1000) as f32 / 250.0) - 2.0)
        .collect()
}

/// The stock IsolationForest exports (bare and behind a scaler) fold into one regressor and
/// give the unfused graph's labels and scores.
#[test]
fn folds_isolation_forest_exports() {
    for name in ["iforest.onnx", "iforest_scaled.onnx"] {
        let original = fixture(name);
        let mut fused = original.clone();
        let onnx = super::super::onnx();
        let report = fuse_tree_sums(&onnx, &mut fused).unwrap().unwrap();
        assert_eq!(report.trees, 5, "{name}");
        let g = fused.graph.as_ref().unwrap();
        let regs = g
            .node
            .iter()
            .filter(|n| n.op_type == "TreeEnsembleRegressor")
            .count();
        assert_eq!(regs, 1, "{name}");
        assert!(g.node.len() < 20, "{name}: {} nodes left", g.node.len());
        let width = match g.input[0].r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(type_proto::Value::TensorType(t)) => {
                match t.shape.as_ref().unwrap().dim[1].value {
                    Some(dimension::Value::DimValue(w)) => w as usize,
                    _ => panic!("width"),
                }
            }
            None => panic!("type"),
        };
        let x = rows(width);
        let (a, b) = (run(&original, &x, width), run(&fused, &x, width));
        assert_eq!(a.len(), b.len());
        for (oa, ob) in a.iter().zip(&b) {
            for (va, vb) in oa.iter().zip(ob) {
                assert!((va - vb).abs() <= 1e-6, "{name}: {va} vs {vb}");
            }
        }
    }
}

/// A folded value that is also a graph output refuses the fusion and leaves the graph as
/// it was.
#[test]
fn refuses_when_a_tree_output_escapes() {
    let mut proto = fixture("iforest.onnx");
    let g = proto.graph.as_mut().unwrap();
    let reg_out = g
        .node
        .iter()
        .find(|n| n.op_type == "TreeEnsembleRegressor")
        .unwrap()
        .output[0]
        .clone();
    g.output.push(ValueInfoProto {
        name: reg_out,
        ..Default::default()
    });
    let before = proto.clone();
    let onnx = super::super::onnx();
    let err = fuse_tree_sums(&onnx, &mut proto).unwrap_err();
    assert!(err.contains("graph output"), "{err}");
    assert_eq!(proto, before);
}

/// A graph without the pattern is not touched.
#[test]
fn ignores_other_graphs() {
    let mut proto = fixture("gb_reg_1t.onnx");
    let before = proto.clone();
    assert_eq!(fuse_tree_sums(&super::super::onnx(), &mut proto), Ok(None));
    assert_eq!(proto, before);
}
