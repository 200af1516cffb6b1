//! The part of `onnx.proto` chocoline reads, as hand-written prost messages.
//!
//! An ONNX file is one protobuf `ModelProto`. Protobuf identifies a field by its number and
//! wire type only, never by its name, so a message declaring a *subset* of the fields still
//! decodes every file: prost skips the fields it does not know (sparse initializers, training
//! info, functions, non-tensor types…). The numbers and scalar types below are therefore
//! copied from `onnx.proto` (IR version 10) and must never change; the Rust names follow
//! tract-onnx's generated code, so code written against either reads the same.
//!
//! Enumerations (`AttributeProto.type`, `TensorProto.data_type`, `DataLocation`) are declared
//! `int32`: protobuf encodes an enum as its varint, so this is the same wire format, and a
//! value newer than this file stays a plain number instead of failing the decode. The
//! constants in [`attribute_type`] and [`data_type`] name the values used here.
//!
//! The messages also round-trip: [`super::super::ops::fuse`] rewrites a decoded graph and
//! tests re-encode modified models. Fields not declared here are dropped on re-encoding
//! (prost keeps no unknown fields), which loses nothing chocoline reads.

/// `AttributeProto.type` values (`AttributeProto.AttributeType` in onnx.proto).
pub mod attribute_type {
    /// One float (`f`).
    pub const FLOAT: i32 = 1;
    /// One integer (`i`).
    pub const INT: i32 = 2;
    /// One byte string (`s`).
    pub const STRING: i32 = 3;
    /// One tensor (`t`).
    pub const TENSOR: i32 = 4;
    /// One subgraph (`g`).
    pub const GRAPH: i32 = 5;
    /// A float list (`floats`).
    pub const FLOATS: i32 = 6;
    /// An integer list (`ints`).
    pub const INTS: i32 = 7;
    /// A byte-string list (`strings`).
    pub const STRINGS: i32 = 8;
    /// A tensor list (`tensors`).
    pub const TENSORS: i32 = 9;
    /// A subgraph list (`graphs`).
    pub const GRAPHS: i32 = 10;
}

/// `TensorProto.data_type` values (`TensorProto.DataType` in onnx.proto).
pub mod data_type {
    /// No type (invalid in a model).
    pub const UNDEFINED: i32 = 0;
    /// `float` (f32).
    pub const FLOAT: i32 = 1;
    /// `uint8`.
    pub const UINT8: i32 = 2;
    /// `int8`.
    pub const INT8: i32 = 3;
    /// `uint16`.
    pub const UINT16: i32 = 4;
    /// `int16`.
    pub const INT16: i32 = 5;
    /// `int32`.
    pub const INT32: i32 = 6;
    /// `int64`.
    pub const INT64: i32 = 7;
    /// UTF-8 `string`.
    pub const STRING: i32 = 8;
    /// `bool`.
    pub const BOOL: i32 = 9;
    /// `float16`.
    pub const FLOAT16: i32 = 10;
    /// `double` (f64).
    pub const DOUBLE: i32 = 11;
    /// `uint32`.
    pub const UINT32: i32 = 12;
    /// `uint64`.
    pub const UINT64: i32 = 13;
}

/// `TensorProto.data_location` value meaning "the bytes are in another file".
pub const DATA_LOCATION_EXTERNAL: i32 = 1;

/// A whole ONNX file: metadata, operator-set versions and the graph.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ModelProto {
    /// ONNX IR version the file was written for.
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    /// Operator-set version per domain.
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    /// Exporter name (`skl2onnx`…).
    #[prost(string, tag = "2")]
    pub producer_name: String,
    /// Exporter version.
    #[prost(string, tag = "3")]
    pub producer_version: String,
    /// Model namespace (reverse DNS), informational.
    #[prost(string, tag = "4")]
    pub domain: String,
    /// Model version, informational.
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    /// Free text.
    #[prost(string, tag = "6")]
    pub doc_string: String,
    /// The graph; a model without one is refused.
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    /// Free key/value metadata.
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// A key/value pair (model metadata, external-data descriptions).
#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringEntryProto {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The operator-set version a model uses for one domain (`""` / `"ai.onnx"` is the default
/// domain, `"ai.onnx.ml"` the ONNX-ML operators).
#[derive(Clone, PartialEq, prost::Message)]
pub struct OperatorSetIdProto {
    /// Operator domain (`""`, `"ai.onnx"`, `"ai.onnx.ml"`).
    #[prost(string, tag = "1")]
    pub domain: String,
    /// Operator-set version in that domain.
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// A graph: nodes in topological order, constant tensors, inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GraphProto {
    /// Nodes, in topological order.
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    /// Graph name.
    #[prost(string, tag = "2")]
    pub name: String,
    /// Constant tensors, by name.
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    /// Free text.
    #[prost(string, tag = "10")]
    pub doc_string: String,
    /// Graph inputs (an input that is also an initializer has a default).
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    /// Graph outputs.
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    /// Declared types of intermediate values.
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// One operator application. Inputs and outputs are value names; an empty name is an
/// optional input or output left out.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeProto {
    /// Names of the values read; empty = optional input left out.
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    /// Names of the values produced; empty = optional output left out.
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    /// Node name (may be empty).
    #[prost(string, tag = "3")]
    pub name: String,
    /// Operator (`"Add"`, `"TreeEnsembleClassifier"`…).
    #[prost(string, tag = "4")]
    pub op_type: String,
    /// Operator domain (`""` or `"ai.onnx.ml"`).
    #[prost(string, tag = "7")]
    pub domain: String,
    /// Attributes.
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    /// Free text.
    #[prost(string, tag = "6")]
    pub doc_string: String,
}

/// A named attribute of a node; `type` says which value field holds it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AttributeProto {
    /// Attribute name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Reference to a function attribute (functions are not supported).
    #[prost(string, tag = "21")]
    pub ref_attr_name: String,
    /// Free text.
    #[prost(string, tag = "13")]
    pub doc_string: String,
    /// An [`attribute_type`] value.
    #[prost(int32, tag = "20")]
    pub r#type: i32,
    /// FLOAT value.
    #[prost(float, tag = "2")]
    pub f: f32,
    /// INT value.
    #[prost(int64, tag = "3")]
    pub i: i64,
    /// STRING value (bytes, UTF-8 by convention).
    #[prost(bytes = "vec", tag = "4")]
    pub s: Vec<u8>,
    /// TENSOR value.
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    /// A subgraph (`If`, `Loop`, `Scan`): decoded so that it can be refused by name.
    #[prost(message, optional, boxed, tag = "6")]
    pub g: Option<Box<GraphProto>>,
    /// FLOATS value.
    #[prost(float, repeated, tag = "7")]
    pub floats: Vec<f32>,
    /// INTS value.
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    /// STRINGS value.
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    /// TENSORS value.
    #[prost(message, repeated, tag = "10")]
    pub tensors: Vec<TensorProto>,
    /// GRAPHS value (subgraphs: refused).
    #[prost(message, repeated, tag = "11")]
    pub graphs: Vec<GraphProto>,
}

/// A constant tensor: either typed fields (`float_data`, `int64_data`…) or little-endian
/// `raw_data`, shaped by `dims`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorProto {
    /// Shape.
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    /// A [`data_type`] value.
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    /// float values.
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    /// int32, and the narrower integer types, bool and float16 bits.
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    /// string values (bytes, UTF-8).
    #[prost(bytes = "vec", repeated, tag = "6")]
    pub string_data: Vec<Vec<u8>>,
    /// int64 values.
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    /// Tensor name (initializers: the value name).
    #[prost(string, tag = "8")]
    pub name: String,
    /// Free text.
    #[prost(string, tag = "12")]
    pub doc_string: String,
    /// All values as little-endian bytes (instead of a typed field).
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    /// double values.
    #[prost(double, repeated, tag = "10")]
    pub double_data: Vec<f64>,
    /// uint32 and uint64.
    #[prost(uint64, repeated, tag = "11")]
    pub uint64_data: Vec<u64>,
    /// [`DATA_LOCATION_EXTERNAL`] when the bytes live in another file.
    #[prost(int32, optional, tag = "14")]
    pub data_location: Option<i32>,
    /// Where external data lives (refused).
    #[prost(message, repeated, tag = "13")]
    pub external_data: Vec<StringStringEntryProto>,
}

/// A named value's declared type (graph inputs, outputs, `value_info`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ValueInfoProto {
    /// Value name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Declared type.
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    /// Free text.
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// A value's type. Only tensors are declared; sequence, map, optional and sparse types decode
/// to `value: None`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TypeProto {
    /// Semantic annotation, informational.
    #[prost(string, tag = "6")]
    pub denotation: String,
    /// The type.
    #[prost(oneof = "type_proto::Value", tags = "1")]
    pub value: Option<type_proto::Value>,
}

/// The nested types of [`TypeProto`].
pub mod type_proto {
    /// A dense tensor type: element type and (optional) shape.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Tensor {
        /// A [`super::data_type`] value.
        #[prost(int32, tag = "1")]
        pub elem_type: i32,
        /// Shape; absent = unknown rank.
        #[prost(message, optional, tag = "2")]
        pub shape: Option<super::TensorShapeProto>,
    }

    /// The kinds of type declared here.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// `tensor_type`.
        #[prost(message, tag = "1")]
        TensorType(Tensor),
    }
}

/// A tensor shape: one entry per axis.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TensorShapeProto {
    /// One entry per axis.
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<tensor_shape_proto::Dimension>,
}

/// The nested types of [`TensorShapeProto`].
pub mod tensor_shape_proto {
    /// One axis: a fixed size, a symbolic name, or unknown (no value).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        /// Semantic annotation, informational.
        #[prost(string, tag = "3")]
        pub denotation: String,
        /// Size; absent = unknown.
        #[prost(oneof = "dimension::Value", tags = "1, 2")]
        pub value: Option<dimension::Value>,
    }

    /// The value of a [`Dimension`].
    pub mod dimension {
        /// Fixed or symbolic.
        #[derive(Clone, PartialEq, prost::Oneof)]
        pub enum Value {
            /// `dim_value`: a fixed size.
            #[prost(int64, tag = "1")]
            DimValue(i64),
            /// `dim_param`: a symbol (`"N"`, `"batch"`…).
            #[prost(string, tag = "2")]
            DimParam(String),
        }
    }
}
