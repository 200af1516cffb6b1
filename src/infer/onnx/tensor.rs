//! ONNX tensors and tensor types → tract: [`load_tensor`] turns a `TensorProto` (an
//! initializer or a tensor attribute) into a [`Tensor`], [`inference_fact`] turns a declared
//! tensor type into an [`InferenceFact`].
//!
//! A `TensorProto` carries its values in one of two ways: a typed repeated field
//! (`float_data`, `int64_data`, `double_data`, `string_data`, and `int32_data` for every
//! integer type of 32 bits or fewer, bool included), or `raw_data`, the values' bytes in
//! little-endian order. skl2onnx writes both kinds. The file is untrusted, so every mismatch
//! (negative dims, a value count that is not the product of the dims, a truncated
//! `raw_data`, text that is not UTF-8) is an error, never a panic; data kept in an external
//! file and element types tract has no use for here (complex, bfloat16, float8…) are refused.

use tract_hir::internal::*;

use super::pb::{DATA_LOCATION_EXTERNAL, TensorProto, data_type, tensor_shape_proto, type_proto};

/// The tract type of an ONNX `data_type` / `elem_type` value.
pub fn datum_type(onnx: i32) -> TractResult<DatumType> {
    Ok(match onnx {
        data_type::FLOAT => f32::datum_type(),
        data_type::DOUBLE => f64::datum_type(),
        data_type::FLOAT16 => f16::datum_type(),
        data_type::INT64 => i64::datum_type(),
        data_type::INT32 => i32::datum_type(),
        data_type::INT16 => i16::datum_type(),
        data_type::INT8 => i8::datum_type(),
        data_type::UINT64 => u64::datum_type(),
        data_type::UINT32 => u32::datum_type(),
        data_type::UINT16 => u16::datum_type(),
        data_type::UINT8 => u8::datum_type(),
        data_type::BOOL => bool::datum_type(),
        data_type::STRING => String::datum_type(),
        other => bail!("ONNX element type {other} is not supported"),
    })
}

/// Build a tensor of `shape` from its values, refusing a count that does not fit.
fn shaped<T: Datum>(shape: &[usize], values: Vec<T>) -> TractResult<Tensor> {
    let want: usize = shape.iter().product();
    if values.len() != want {
        bail!(
            "{} values for a tensor of shape {shape:?} ({want} values)",
            values.len()
        );
    }
    Ok(tract_ndarray::ArrayD::from_shape_vec(shape, values)?.into())
}

/// Decode little-endian `raw` as values of `N` bytes each.
fn from_le<T: Datum, const N: usize>(
    shape: &[usize],
    raw: &[u8],
    read: fn([u8; N]) -> T,
) -> TractResult<Tensor> {
    if !raw.len().is_multiple_of(N) {
        bail!(
            "raw_data holds {} bytes, not a whole number of {N}-byte values",
            raw.len()
        );
    }
    let values = raw
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            read(b)
        })
        .collect();
    shaped(shape, values)
}

/// Narrow `int32_data` to a smaller integer type, refusing values out of its range.
fn narrow<T: Datum + TryFrom<i32>>(shape: &[usize], data: &[i32]) -> TractResult<Tensor> {
    let values = data
        .iter()
        .map(|v| T::try_from(*v).map_err(|_| format_err!("int32_data value {v} out of range")))
        .collect::<TractResult<Vec<T>>>()?;
    shaped(shape, values)
}

fn from_raw(dt: DatumType, shape: &[usize], raw: &[u8]) -> TractResult<Tensor> {
    match dt {
        DatumType::F32 => from_le(shape, raw, f32::from_le_bytes),
        DatumType::F64 => from_le(shape, raw, f64::from_le_bytes),
        DatumType::F16 => from_le(shape, raw, |b| f16::from_bits(u16::from_le_bytes(b))),
        DatumType::I64 => from_le(shape, raw, i64::from_le_bytes),
        DatumType::I32 => from_le(shape, raw, i32::from_le_bytes),
        DatumType::I16 => from_le(shape, raw, i16::from_le_bytes),
        DatumType::I8 => from_le(shape, raw, i8::from_le_bytes),
        DatumType::U64 => from_le(shape, raw, u64::from_le_bytes),
        DatumType::U32 => from_le(shape, raw, u32::from_le_bytes),
        DatumType::U16 => from_le(shape, raw, u16::from_le_bytes),
        DatumType::U8 => from_le(shape, raw, u8::from_le_bytes),
        DatumType::Bool => from_le(shape, raw, |b: [u8; 1]| b[0] != 0),
        other => bail!("{other:?} tensors cannot be given as raw_data"),
    }
}

fn from_typed(dt: DatumType, shape: &[usize], t: &TensorProto) -> TractResult<Tensor> {
    match dt {
        DatumType::F32 => shaped(shape, t.float_data.clone()),
        DatumType::F64 => shaped(shape, t.double_data.clone()),
        DatumType::I64 => shaped(shape, t.int64_data.clone()),
        DatumType::I32 => shaped(shape, t.int32_data.clone()),
        DatumType::I16 => narrow::<i16>(shape, &t.int32_data),
        DatumType::I8 => narrow::<i8>(shape, &t.int32_data),
        DatumType::U16 => narrow::<u16>(shape, &t.int32_data),
        DatumType::U8 => narrow::<u8>(shape, &t.int32_data),
        DatumType::Bool => shaped(shape, t.int32_data.iter().map(|v| *v != 0).collect()),
        DatumType::F16 => shaped(
            shape,
            t.int32_data
                .iter()
                .map(|v| f16::from_bits(*v as u16))
                .collect(),
        ),
        DatumType::U64 => shaped(shape, t.uint64_data.clone()),
        DatumType::U32 => {
            let values = t
                .uint64_data
                .iter()
                .map(|v| u32::try_from(*v).map_err(|_| format_err!("uint32 value {v} too large")))
                .collect::<TractResult<Vec<u32>>>()?;
            shaped(shape, values)
        }
        DatumType::String => {
            let values = t
                .string_data
                .iter()
                .map(|s| String::from_utf8(s.clone()))
                .collect::<Result<Vec<String>, _>>()
                .map_err(|_| format_err!("string_data holds text that is not UTF-8"))?;
            shaped(shape, values)
        }
        other => bail!("{other:?} tensors are not supported"),
    }
}

/// A `TensorProto` as a tract tensor. Errors name the tensor.
pub fn load_tensor(t: &TensorProto) -> TractResult<Tensor> {
    load(t).with_context(|| format!("tensor `{}`", t.name))
}

fn load(t: &TensorProto) -> TractResult<Tensor> {
    let dt = datum_type(t.data_type)?;
    let shape = t
        .dims
        .iter()
        .map(|d| usize::try_from(*d).map_err(|_| format_err!("negative dimension {d}")))
        .collect::<TractResult<Vec<usize>>>()?;
    if shape
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .is_none()
    {
        bail!("dimensions {shape:?} overflow");
    }
    if t.data_location == Some(DATA_LOCATION_EXTERNAL) || !t.external_data.is_empty() {
        bail!("data stored outside the ONNX file is not supported");
    }
    if t.raw_data.is_empty() {
        from_typed(dt, &shape, t)
    } else {
        from_raw(dt, &shape, &t.raw_data)
    }
}

/// A declared tensor type as a fact: its element type, and its shape when declared (a
/// `dim_value` is a fixed size, a `dim_param` a symbol of `symbols`, anything else unknown).
///
/// `symbolic_unknowns` says whether exporter-invented names (`unk__0`…) become symbols too:
/// yes for graph inputs, no for intermediate values (tract-onnx's rule). A `dim_param` that
/// is an expression rather than a name (`N*2`) is left unknown.
pub fn inference_fact(
    symbols: &SymbolScope,
    t: &type_proto::Tensor,
    symbolic_unknowns: bool,
) -> TractResult<InferenceFact> {
    let dt = datum_type(t.elem_type)?;
    let mut fact = InferenceFact::default().with_datum_type(dt);
    if let Some(shape) = &t.shape {
        let dims: TVec<DimFact> = shape
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(tensor_shape_proto::dimension::Value::DimValue(v)) if *v >= 0 => {
                    DimFact::from(v.to_dim())
                }
                Some(tensor_shape_proto::dimension::Value::DimParam(p)) => {
                    let unknown =
                        p == "?" || (p.starts_with("unk__") && !symbolic_unknowns) || !is_name(p);
                    if unknown {
                        DimFact::default()
                    } else {
                        DimFact::from(symbols.sym(p).to_dim())
                    }
                }
                _ => DimFact::default(),
            })
            .collect();
        fact = fact.with_shape(ShapeFactoid::closed(dims));
    }
    Ok(fact)
}

/// A plain identifier: a letter or `_`, then letters, digits or `_`.
fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests;
