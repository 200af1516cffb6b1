//! Reading ONNX-ML attributes, including the `<name>_as_tensor` double forms.
//!
//! The readers work on the raw protobuf attributes so that every error names the node and the
//! attribute ("TreeEnsembleRegressor 'tree_3': nodes_truenodeids has 12 entries, expected 13")
//! and so that the `_as_tensor` variants (a `TensorProto` of doubles, used by skl2onnx for
//! double-precision exports) are read alongside the plain lists.

use crate::infer::onnx::pb::{AttributeProto, NodeProto, TensorProto};

/// A node being parsed: names it in every error.
pub struct Attrs<'a> {
    node: &'a NodeProto,
}

/// A list of reals and whether the file stored them as doubles.
pub struct Reals {
    /// The values, widened to f64 (exact for both forms).
    pub values: Vec<f64>,
    /// True when read from the `_as_tensor` double form.
    pub double: bool,
}

impl<'a> Attrs<'a> {
    /// Wrap a node.
    pub fn new(node: &'a NodeProto) -> Self {
        Attrs { node }
    }

    /// An error naming the node.
    pub fn err(&self, msg: impl std::fmt::Display) -> String {
        format!("{} '{}': {msg}", self.node.op_type, self.node.name)
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// Optional string attribute.
    pub fn string(&self, name: &str) -> Result<Option<String>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => String::from_utf8(a.s.clone())
                .map(Some)
                .map_err(|_| self.err(format!("{name} is not UTF-8"))),
        }
    }

    /// Optional integer attribute.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }

    /// Integer list; missing = `None`.
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.ints_ref(name).map(<[i64]>::to_vec)
    }

    /// Integer list, borrowed from the node (no copy: ensembles hold ~10⁵ of them).
    pub fn ints_ref(&self, name: &str) -> Option<&'a [i64]> {
        self.get(name).map(|a| a.ints.as_slice())
    }

    /// Borrowed integer list that must exist with `n` entries.
    pub fn ints_ref_n(&self, name: &str, n: usize) -> Result<&'a [i64], String> {
        let v = self
            .ints_ref(name)
            .ok_or_else(|| self.err(format!("missing attribute {name}")))?;
        self.check_len(name, v.len(), n)?;
        Ok(v)
    }

    /// String list as raw bytes, borrowed (callers that only match known words skip the
    /// per-entry `String`).
    pub fn bytes_ref(&self, name: &str) -> Option<&'a [Vec<u8>]> {
        self.get(name).map(|a| a.strings.as_slice())
    }

    /// Integer list that must exist with `n` entries.
    pub fn ints_n(&self, name: &str, n: usize) -> Result<Vec<i64>, String> {
        self.ints_ref_n(name, n).map(<[i64]>::to_vec)
    }

    /// String list; missing = `None`.
    pub fn strings(&self, name: &str) -> Result<Option<Vec<String>>, String> {
        match self.get(name) {
            None => Ok(None),
            Some(a) => a
                .strings
                .iter()
                .map(|s| {
                    String::from_utf8(s.clone())
                        .map_err(|_| self.err(format!("{name} holds non UTF-8 text")))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
        }
    }

    /// A real list given either as `name` (floats) or `name_as_tensor` (doubles).
    pub fn reals(&self, name: &str) -> Result<Option<Reals>, String> {
        let tensor_name = format!("{name}_as_tensor");
        match (self.get(name), self.get(&tensor_name)) {
            (Some(_), Some(_)) => Err(self.err(format!("both {name} and {tensor_name} are set"))),
            (Some(a), None) => Ok(Some(Reals {
                values: a.floats.iter().map(|f| f64::from(*f)).collect(),
                double: false,
            })),
            (None, Some(a)) => {
                let t =
                    a.t.as_ref()
                        .ok_or_else(|| self.err(format!("{tensor_name} holds no tensor")))?;
                Ok(Some(Reals {
                    values: self.tensor_reals(&tensor_name, t)?,
                    double: true,
                }))
            }
            (None, None) => Ok(None),
        }
    }

    /// A real list that must exist with `n` entries.
    pub fn reals_n(&self, name: &str, n: usize) -> Result<Reals, String> {
        let r = self
            .reals(name)?
            .ok_or_else(|| self.err(format!("missing attribute {name}")))?;
        self.check_len(name, r.values.len(), n)?;
        Ok(r)
    }

    /// Check a list length.
    pub fn check_len(&self, name: &str, got: usize, want: usize) -> Result<(), String> {
        if got == want {
            Ok(())
        } else {
            Err(self.err(format!("{name} has {got} entries, expected {want}")))
        }
    }

    fn tensor_reals(&self, name: &str, t: &TensorProto) -> Result<Vec<f64>, String> {
        const FLOAT: i32 = 1;
        const DOUBLE: i32 = 11;
        match t.data_type {
            DOUBLE if !t.double_data.is_empty() => Ok(t.double_data.clone()),
            DOUBLE => {
                if !t.raw_data.len().is_multiple_of(8) {
                    return Err(self.err(format!("{name}: raw double data is truncated")));
                }
                Ok(t.raw_data
                    .chunks_exact(8)
                    .map(|c| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(c);
                        f64::from_le_bytes(b)
                    })
                    .collect())
            }
            FLOAT if !t.float_data.is_empty() => {
                Ok(t.float_data.iter().map(|f| f64::from(*f)).collect())
            }
            FLOAT => {
                if !t.raw_data.len().is_multiple_of(4) {
                    return Err(self.err(format!("{name}: raw float data is truncated")));
                }
                Ok(t.raw_data
                    .chunks_exact(4)
                    .map(|c| {
                        let mut b = [0u8; 4];
                        b.copy_from_slice(c);
                        f64::from(f32::from_le_bytes(b))
                    })
                    .collect())
            }
            other => Err(self.err(format!("{name}: tensor type {other} is not float/double"))),
        }
    }
}
