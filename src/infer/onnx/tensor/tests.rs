//! Tensor decoding: typed fields, raw little-endian bytes, and the malformed cases.

use super::*;

fn proto(dt: i32, dims: &[i64]) -> TensorProto {
    TensorProto {
        name: "t".into(),
        data_type: dt,
        dims: dims.to_vec(),
        ..Default::default()
    }
}

#[test]
fn typed_fields_decode_with_their_shape() {
    let mut t = proto(data_type::FLOAT, &[2, 2]);
    t.float_data = vec![1.0, 2.5, -3.0, 4.0];
    let x = load_tensor(&t).unwrap();
    assert_eq!(x, tensor2(&[[1.0f32, 2.5], [-3.0, 4.0]]));

    let mut t = proto(data_type::INT64, &[3]);
    t.int64_data = vec![7, -1, i64::MAX];
    assert_eq!(load_tensor(&t).unwrap(), tensor1(&[7i64, -1, i64::MAX]));

    let mut t = proto(data_type::DOUBLE, &[]);
    t.double_data = vec![0.1];
    assert_eq!(load_tensor(&t).unwrap(), tensor0(0.1f64));

    let mut t = proto(data_type::BOOL, &[2]);
    t.int32_data = vec![0, 1];
    assert_eq!(load_tensor(&t).unwrap(), tensor1(&[false, true]));

    let mut t = proto(data_type::STRING, &[2]);
    t.string_data = vec![b"ok".to_vec(), b"ng".to_vec()];
    assert_eq!(
        load_tensor(&t).unwrap(),
        tensor1(&["ok".to_string(), "ng".to_string()])
    );

    let mut t = proto(data_type::UINT8, &[2]);
    t.int32_data = vec![0, 255];
    assert_eq!(load_tensor(&t).unwrap(), tensor1(&[0u8, 255]));
}

#[test]
fn raw_data_is_little_endian() {
    let mut t = proto(data_type::FLOAT, &[1, 2]);
    t.raw_data = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
    assert_eq!(load_tensor(&t).unwrap(), tensor2(&[[1.5f32, -2.0]]));

    let mut t = proto(data_type::INT64, &[2]);
    t.raw_data = [3i64.to_le_bytes(), (-4i64).to_le_bytes()].concat();
    assert_eq!(load_tensor(&t).unwrap(), tensor1(&[3i64, -4]));

    let mut t = proto(data_type::DOUBLE, &[1]);
    t.raw_data = 0.1f64.to_le_bytes().to_vec();
    assert_eq!(load_tensor(&t).unwrap(), tensor1(&[0.1f64]));

    let mut t = proto(data_type::INT32, &[1]);
    t.raw_data = (-7i32).to_le_bytes().to_vec();
    assert_eq!(load_tensor(&t).unwrap(), tensor1(&[-7i32]));

    let mut t = proto(data_type::BOOL, &[3]);
    t.raw_data = vec![1, 0, 2];
    assert_eq!(load_tensor(&t).unwrap(), tensor1(&[true, false, true]));
}

fn refused(t: &TensorProto, needle: &str) {
    let err = format!("{:?}", load_tensor(t).err());
    assert!(err.contains(needle), "{err}");
}

#[test]
fn dims_that_do_not_match_the_data_are_refused() {
    let mut t = proto(data_type::FLOAT, &[2, 3]);
    t.float_data = vec![1.0; 5];
    refused(&t, "5 values for a tensor of shape [2, 3]");
    let mut t = proto(data_type::INT64, &[4]);
    t.raw_data = vec![0; 24];
    refused(&t, "3 values for a tensor of shape [4]");
    let mut t = proto(data_type::FLOAT, &[1]);
    t.raw_data = vec![0; 5];
    refused(&t, "not a whole number of 4-byte values");
    let mut t = proto(data_type::FLOAT, &[-1]);
    t.float_data = vec![1.0];
    refused(&t, "negative dimension -1");
    let mut t = proto(data_type::FLOAT, &[i64::MAX, i64::MAX]);
    t.float_data = vec![1.0];
    refused(&t, "overflow");
}

#[test]
fn unsupported_or_malformed_contents_are_refused() {
    refused(&proto(data_type::UNDEFINED, &[]), "element type 0");
    refused(&proto(14, &[1]), "element type 14");
    let mut t = proto(data_type::STRING, &[1]);
    t.string_data = vec![vec![0xff, 0xfe]];
    refused(&t, "not UTF-8");
    let mut t = proto(data_type::STRING, &[1]);
    t.raw_data = b"abc".to_vec();
    refused(&t, "cannot be given as raw_data");
    let mut t = proto(data_type::UINT8, &[1]);
    t.int32_data = vec![256];
    refused(&t, "out of range");
    let mut t = proto(data_type::FLOAT, &[1]);
    t.data_location = Some(DATA_LOCATION_EXTERNAL);
    refused(&t, "outside the ONNX file");
    // The error names the tensor.
    refused(&proto(99, &[]), "tensor `t`");
}

#[test]
fn declared_types_become_facts() {
    use crate::infer::onnx::pb::tensor_shape_proto::dimension::Value;
    use crate::infer::onnx::pb::{TensorShapeProto, tensor_shape_proto::Dimension};
    let dim = |v: Option<Value>| Dimension {
        value: v,
        ..Default::default()
    };
    let t = type_proto::Tensor {
        elem_type: data_type::DOUBLE,
        shape: Some(TensorShapeProto {
            dim: vec![
                dim(Some(Value::DimParam("N".into()))),
                dim(Some(Value::DimValue(6))),
                dim(None),
                dim(Some(Value::DimParam("N+1".into()))),
            ],
        }),
    };
    let symbols = SymbolScope::default();
    let fact = inference_fact(&symbols, &t, true).unwrap();
    assert_eq!(fact.datum_type(), Some(f64::datum_type()));
    let dims: Vec<Option<TDim>> = fact.shape.dims().map(|d| d.concretize()).collect();
    assert_eq!(
        dims,
        vec![
            Some(symbols.sym("N").to_dim()),
            Some(6.to_dim()),
            None,
            None
        ]
    );
    let bad = type_proto::Tensor {
        elem_type: 0,
        shape: None,
    };
    assert!(inference_fact(&symbols, &bad, true).is_err());
}
