//! The loader on real and broken files: what builds, and what is refused with which words.

use std::path::{Path, PathBuf};

use prost::Message;
use tract_hir::internal::*;

use super::pb::{GraphProto, ModelProto, NodeProto, TensorProto, attribute_type, data_type};
use crate::infer::Model;
use crate::infer::ops::onnx;

fn anomaly_bytes() -> Vec<u8> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    std::fs::read(root.join("models/anomaly/model.onnx")).unwrap()
}

fn anomaly() -> ModelProto {
    onnx().proto_model_for_bytes(&anomaly_bytes()).unwrap()
}

/// The error `Model::load_bytes` gives for `bytes` (empty when it loads).
fn load_error(bytes: &[u8]) -> String {
    Model::load_bytes(bytes, Path::new("broken.onnx"), None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

fn build_error(proto: &ModelProto) -> String {
    onnx()
        .model_for_proto_model(proto)
        .err()
        .map(|e| format!("{e:?}"))
        .unwrap_or_default()
}

fn graph(proto: &mut ModelProto) -> &mut GraphProto {
    proto.graph.as_mut().unwrap()
}

#[test]
fn a_committed_model_builds_and_round_trips() {
    let proto = anomaly();
    let model = onnx().model_for_proto_model(&proto).unwrap();
    assert_eq!(model.inputs.len(), 1);
    let g = proto.graph.as_ref().unwrap();
    assert_eq!(model.outputs.len(), g.output.len());
    // One tract node per graph input, initializer and node.
    assert_eq!(
        model.nodes().len(),
        g.input.len() + g.initializer.len() + g.node.len()
    );
    let again = ModelProto::decode(&*proto.encode_to_vec()).unwrap();
    assert_eq!(again, proto);
    assert_eq!(load_error(&anomaly_bytes()), "");
}

#[test]
fn truncated_and_garbage_files_are_refused() {
    let bytes = anomaly_bytes();
    for cut in [1, bytes.len() / 3, bytes.len() - 1] {
        let err = load_error(&bytes[..cut]);
        assert!(
            err.contains("not a loadable ONNX model"),
            "cut {cut}: {err}"
        );
    }
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = load_error(&garbage);
    assert!(err.contains("not a loadable ONNX model"), "{err}");
    // Valid protobuf, no graph.
    let err = load_error(&ModelProto::default().encode_to_vec());
    assert!(err.contains("no graph"), "{err}");
}

#[test]
fn an_unregistered_op_is_refused_by_name() {
    let mut proto = anomaly();
    graph(&mut proto).node[0].op_type = "Elu".into();
    let err = build_error(&proto);
    assert!(err.contains("uses operator Elu"), "{err}");
    assert!(err.contains("does not include"), "{err}");
}

#[test]
fn an_initializer_whose_dims_do_not_match_its_data_is_refused() {
    let mut proto = anomaly();
    let init = graph(&mut proto)
        .initializer
        .iter_mut()
        .find(|t| t.dims.iter().product::<i64>() > 1)
        .unwrap();
    init.dims = vec![init.dims.iter().product::<i64>() + 1];
    let name = init.name.clone();
    let err = build_error(&proto);
    assert!(err.contains(&format!("tensor `{name}`")), "{err}");
    assert!(err.contains("values for a tensor of shape"), "{err}");
    // The same through the agent's load path, from bytes.
    let err = load_error(&proto.encode_to_vec());
    assert!(err.contains("values for a tensor of shape"), "{err}");
}

#[test]
fn a_value_nothing_produces_is_refused() {
    let mut proto = anomaly();
    graph(&mut proto).node[0].input[0] = "nowhere".into();
    let err = build_error(&proto);
    assert!(err.contains("reads `nowhere`"), "{err}");
    let mut proto = anomaly();
    graph(&mut proto).output[0].name = "nothing".into();
    let err = build_error(&proto);
    assert!(
        err.contains("graph output `nothing` is not produced"),
        "{err}"
    );
}

#[test]
fn subgraphs_are_refused() {
    let mut proto = anomaly();
    let body = GraphProto {
        name: "body".into(),
        ..Default::default()
    };
    graph(&mut proto).node[0]
        .attribute
        .push(super::pb::AttributeProto {
            name: "then_branch".into(),
            r#type: attribute_type::GRAPH,
            g: Some(Box::new(body)),
            ..Default::default()
        });
    let err = build_error(&proto);
    assert!(err.contains("subgraphs are not supported"), "{err}");
}

#[test]
fn a_graph_input_without_a_type_is_refused() {
    let mut proto = anomaly();
    graph(&mut proto).input[0].r#type = None;
    let err = build_error(&proto);
    assert!(err.contains("has no tensor type"), "{err}");
}

/// A hand-built graph: an optional (empty) input name is skipped, an input with a default
/// initializer becomes a constant, and the result computes what it says.
#[test]
fn a_small_graph_runs() {
    use super::pb::tensor_shape_proto::{Dimension, dimension};
    use super::pb::type_proto::{self, Tensor as TensorType};
    use super::pb::{OperatorSetIdProto, TensorShapeProto, TypeProto, ValueInfoProto};
    let input = |name: &str| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(TensorType {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![Dimension {
                        value: Some(dimension::Value::DimValue(2)),
                        ..Default::default()
                    }],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let proto = ModelProto {
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 12,
        }],
        graph: Some(GraphProto {
            node: vec![NodeProto {
                input: vec!["x".into(), "k".into()],
                output: vec!["y".into()],
                op_type: "Div".into(),
                ..Default::default()
            }],
            initializer: vec![TensorProto {
                name: "k".into(),
                data_type: data_type::FLOAT,
                dims: vec![2],
                raw_data: [2.0f32.to_le_bytes(), 4.0f32.to_le_bytes()].concat(),
                ..Default::default()
            }],
            input: vec![input("x"), input("k")],
            output: vec![ValueInfoProto {
                name: "y".into(),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let model = onnx().model_for_proto_model(&proto).unwrap();
    assert_eq!(model.inputs.len(), 1, "k has an initializer: a constant");
    let plan = SimplePlan::new(model.into_optimized().unwrap()).unwrap();
    let out = plan
        .run(tvec!(tensor1(&[3.0f32, 1.0]).into_tvalue()))
        .unwrap();
    assert_eq!(*out[0], tensor1(&[1.5f32, 0.25]));
}

#[test]
fn attributes_are_read_by_their_declared_type() {
    let mut node = NodeProto {
        name: "n".into(),
        op_type: "Concat".into(),
        ..Default::default()
    };
    node.attribute.push(super::pb::AttributeProto {
        name: "axis".into(),
        r#type: attribute_type::FLOAT,
        f: 1.0,
        ..Default::default()
    });
    let err = format!("{:?}", node.get_attr::<i64>("axis").err());
    assert!(
        err.contains("attribute 'axis' has type 1, expected 2"),
        "{err}"
    );
    assert_eq!(node.get_attr_opt::<i64>("other").unwrap(), None);
    let err = format!("{:?}", node.get_attr::<i64>("other").err());
    assert!(err.contains("missing attribute 'other'"), "{err}");
    node.attribute[0].r#type = attribute_type::INT;
    node.attribute[0].i = -1;
    assert_eq!(node.get_attr::<i64>("axis").unwrap(), -1);
}

/// Cross-check with stock tract-onnx (a dev-dependency): on every committed model and ONNX
/// fixture, both loaders build the same graph (node ids and names, edges, labels, inputs and
/// outputs), so tract's optimiser sees the same model. Stock tract gets an empty register:
/// each node becomes a placeholder op, which is enough to compare the structure.
#[test]
fn builds_the_graph_stock_tract_onnx_builds() {
    use tract_onnx::prelude::Framework;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("tests/fixtures/onnx"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    for model in ["quality", "yield", "bloom", "anomaly"] {
        files.push(root.join("models").join(model).join("model.onnx"));
    }
    assert!(files.len() >= 62, "found only {} ONNX files", files.len());
    let stock = tract_onnx::Onnx::default();
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let ours = onnx()
            .model_for_proto_model(&onnx().proto_model_for_bytes(&bytes).unwrap())
            .unwrap();
        let theirs = stock.model_for_read(&mut &*bytes).unwrap();
        let name = f.display();
        assert_eq!(ours.nodes().len(), theirs.nodes().len(), "{name}");
        for (a, b) in ours.nodes().iter().zip(theirs.nodes()) {
            assert_eq!((a.id, &a.name), (b.id, &b.name), "{name}");
            assert_eq!(a.inputs, b.inputs, "{name}: {}", a.name);
            assert_eq!(a.outputs.len(), b.outputs.len(), "{name}: {}", a.name);
            for ix in 0..a.outputs.len() {
                let o = OutletId::new(a.id, ix);
                assert_eq!(ours.outlet_label(o), theirs.outlet_label(o), "{name}");
            }
        }
        assert_eq!(ours.inputs, theirs.inputs, "{name}");
        assert_eq!(ours.outputs, theirs.outputs, "{name}");
        for i in 0..ours.inputs.len() {
            assert_eq!(
                format!("{:?}", ours.input_fact(i).unwrap()),
                format!("{:?}", theirs.input_fact(i).unwrap()),
                "{name}"
            );
        }
    }
}
