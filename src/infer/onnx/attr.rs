//! Typed reads of node attributes for the op builders: `get_attr::<i64>("axis")`,
//! `get_attr_opt_vec::<i64>("axes")`, `get_attr::<DatumType>("to")`.
//!
//! The same calls as tract-onnx's helpers, for the few types the builders use. An
//! attribute is found by name; its declared `type` must be the one asked for (an `axis`
//! written as a float is an error naming the node, not a silent zero).

use tract_hir::internal::*;

use super::pb::{AttributeProto, NodeProto, attribute_type};
use super::tensor::datum_type;

/// A type an attribute can be read as.
pub trait AttrType: Sized {
    /// Read `attr` (already found by name) as `Self`.
    fn read(node: &NodeProto, attr: &AttributeProto) -> TractResult<Self>;
}

/// A type an attribute list can be read as.
pub trait AttrListType: Sized {
    /// Read `attr` (already found by name) as a list of `Self`.
    fn read_list(node: &NodeProto, attr: &AttributeProto) -> TractResult<Vec<Self>>;
}

fn expect_type(node: &NodeProto, attr: &AttributeProto, want: i32) -> TractResult<()> {
    if attr.r#type == want {
        Ok(())
    } else {
        bail!(
            "node {} ({}): attribute '{}' has type {}, expected {want}",
            node.name,
            node.op_type,
            attr.name,
            attr.r#type
        )
    }
}

impl AttrType for i64 {
    fn read(node: &NodeProto, attr: &AttributeProto) -> TractResult<Self> {
        expect_type(node, attr, attribute_type::INT)?;
        Ok(attr.i)
    }
}

impl AttrType for f32 {
    fn read(node: &NodeProto, attr: &AttributeProto) -> TractResult<Self> {
        expect_type(node, attr, attribute_type::FLOAT)?;
        Ok(attr.f)
    }
}

impl AttrType for String {
    fn read(node: &NodeProto, attr: &AttributeProto) -> TractResult<Self> {
        expect_type(node, attr, attribute_type::STRING)?;
        String::from_utf8(attr.s.clone()).map_err(|_| {
            format_err!(
                "node {} ({}): attribute '{}' is not UTF-8",
                node.name,
                node.op_type,
                attr.name
            )
        })
    }
}

/// An ONNX element-type number (`Cast`'s `to`).
impl AttrType for DatumType {
    fn read(node: &NodeProto, attr: &AttributeProto) -> TractResult<Self> {
        let code = i64::read(node, attr)?;
        let code = i32::try_from(code).map_err(|_| format_err!("element type {code}"))?;
        datum_type(code)
    }
}

impl AttrListType for i64 {
    fn read_list(node: &NodeProto, attr: &AttributeProto) -> TractResult<Vec<Self>> {
        expect_type(node, attr, attribute_type::INTS)?;
        Ok(attr.ints.clone())
    }
}

impl AttrListType for f32 {
    fn read_list(node: &NodeProto, attr: &AttributeProto) -> TractResult<Vec<Self>> {
        expect_type(node, attr, attribute_type::FLOATS)?;
        Ok(attr.floats.clone())
    }
}

impl NodeProto {
    fn find_attr(&self, name: &str) -> Option<&AttributeProto> {
        self.attribute.iter().find(|a| a.name == name)
    }

    /// The attribute `name` as `T`, `None` when the node does not set it.
    pub fn get_attr_opt<T: AttrType>(&self, name: &str) -> TractResult<Option<T>> {
        self.find_attr(name).map(|a| T::read(self, a)).transpose()
    }

    /// The attribute `name` as `T`, which the node must set.
    pub fn get_attr<T: AttrType>(&self, name: &str) -> TractResult<T> {
        self.get_attr_opt(name)?.ok_or_else(|| {
            format_err!(
                "node {} ({}): missing attribute '{name}'",
                self.name,
                self.op_type
            )
        })
    }

    /// The list attribute `name` as `Vec<T>`, `None` when the node does not set it.
    pub fn get_attr_opt_vec<T: AttrListType>(&self, name: &str) -> TractResult<Option<Vec<T>>> {
        self.find_attr(name)
            .map(|a| T::read_list(self, a))
            .transpose()
    }
}
