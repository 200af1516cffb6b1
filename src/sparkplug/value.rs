//! Process values as Sparkplug metric values, and back.
//!
//! The schema stores every integer in an unsigned field: Int8/16/32 and UInt8/16/32 in
//! `int_value` (uint32), Int64 and UInt64 in `long_value` (uint64). How a negative Int8 or
//! Int16 goes in is not settled by the 3.0.0 specification: Tahu's Python library and
//! pysparkplug mask it to its width (Int8 −5 → 0xFB), Tahu's Java library sign-extends it to
//! 32 bits (0xFFFF_FFFB), and pysparkplug refuses the latter. So this module **writes**
//! width-masked values and **reads** by truncating to the width, which accepts both. UInt32
//! belongs in `int_value`, but older Tahu and Ignition versions sent it in `long_value`: both
//! are read.

use super::proto::{DataType, metric::Value};

/// A metric's value as the edge node holds it: a number (every numeric type and Boolean,
/// NaN for none) or text (String, Text, UUID).
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// An engineering value, a count, or 0/1 for a Boolean.
    Number(f64),
    /// A label, a version.
    Text(String),
}

impl Val {
    /// Equal, with NaN (no value) equal to NaN: whether a metric changed.
    pub fn same(&self, other: &Val) -> bool {
        match (self, other) {
            (Val::Number(a), Val::Number(b)) => a == b || (a.is_nan() && b.is_nan()),
            (Val::Text(a), Val::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl From<f64> for Val {
    fn from(v: f64) -> Self {
        Val::Number(v)
    }
}

impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(v.to_owned())
    }
}

/// The metric value of `v` as datatype `dt`: numbers as [`encode`] does, text only as String,
/// Text or UUID; None when it does not fit.
pub fn encode_val(dt: DataType, v: &Val) -> Option<Value> {
    match (v, dt) {
        (Val::Number(n), _) => encode(dt, *n),
        (Val::Text(t), DataType::String | DataType::Text | DataType::Uuid) => {
            Some(Value::StringValue(t.clone()))
        }
        (Val::Text(_), _) => None,
    }
}

/// The metric value of `v` (an engineering value) as datatype `dt`; None when `v` does not
/// fit (not finite, fractional for an integer type, out of range) or `dt` is not numeric.
pub fn encode(dt: DataType, v: f64) -> Option<Value> {
    let int = |lo: f64, hi: f64| v.is_finite() && v.fract() == 0.0 && v >= lo && v <= hi;
    Some(match dt {
        DataType::Int8 if int(-128.0, 127.0) => Value::IntValue(u32::from(v as i8 as u8)),
        DataType::Int16 if int(-32768.0, 32767.0) => Value::IntValue(u32::from(v as i16 as u16)),
        DataType::Int32 if int(-2_147_483_648.0, 2_147_483_647.0) => {
            Value::IntValue(v as i32 as u32)
        }
        DataType::UInt8 if int(0.0, 255.0) => Value::IntValue(v as u32),
        DataType::UInt16 if int(0.0, 65535.0) => Value::IntValue(v as u32),
        DataType::UInt32 if int(0.0, 4_294_967_295.0) => Value::IntValue(v as u32),
        // −2^63, and the largest f64 below 2^63 and 2^64: every integral f64 in between
        // converts exactly.
        DataType::Int64 if int(-9_223_372_036_854_775_808.0, 9_223_372_036_854_774_784.0) => {
            Value::LongValue(v as i64 as u64)
        }
        // DateTime: uint64 milliseconds since the epoch.
        DataType::UInt64 | DataType::DateTime if int(0.0, 18_446_744_073_709_549_568.0) => {
            Value::LongValue(v as u64)
        }
        // A finite value beyond f32's range would become ±inf: refused; infinities stay.
        DataType::Float if v.is_infinite() || v.abs() <= f64::from(f32::MAX) => {
            Value::FloatValue(v as f32)
        }
        DataType::Double if !v.is_nan() => Value::DoubleValue(v),
        DataType::Boolean if !v.is_nan() => Value::BooleanValue(v != 0.0),
        _ => return None,
    })
}

/// The number a metric value of datatype `dt` stands for; None for a value of another kind.
pub fn decode(dt: DataType, value: &Value) -> Option<f64> {
    Some(match (dt, value) {
        (DataType::Int8, Value::IntValue(x)) => f64::from(*x as u8 as i8),
        (DataType::Int16, Value::IntValue(x)) => f64::from(*x as u16 as i16),
        (DataType::Int32, Value::IntValue(x)) => f64::from(*x as i32),
        (DataType::UInt8, Value::IntValue(x)) => f64::from(*x as u8),
        (DataType::UInt16, Value::IntValue(x)) => f64::from(*x as u16),
        (DataType::UInt32, Value::IntValue(x)) => f64::from(*x),
        (DataType::UInt32, Value::LongValue(x)) => f64::from(*x as u32),
        (DataType::Int64, Value::LongValue(x)) => *x as i64 as f64,
        (DataType::UInt64 | DataType::DateTime, Value::LongValue(x)) => *x as f64,
        (DataType::Float, Value::FloatValue(x)) => f64::from(*x),
        (DataType::Double, Value::DoubleValue(x)) => *x,
        (DataType::Boolean, Value::BooleanValue(b)) => f64::from(u8::from(*b)),
        _ => return None,
    })
}

/// The datatype of a wire number, for the numbers this agent reads and writes.
pub fn datatype(number: u32) -> Option<DataType> {
    use DataType::*;
    [
        Int8, Int16, Int32, Int64, UInt8, UInt16, UInt32, UInt64, Float, Double, Boolean, String,
        DateTime,
    ]
    .into_iter()
    .find(|d| d.number() == number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_goes_only_into_text_types_and_nan_is_the_same_as_nan() {
        let t = Val::from("fat_bloom");
        assert_eq!(
            encode_val(DataType::String, &t),
            Some(Value::StringValue("fat_bloom".into()))
        );
        assert_eq!(encode_val(DataType::Double, &t), None);
        assert_eq!(encode_val(DataType::String, &Val::Number(1.0)), None);
        assert!(Val::Number(f64::NAN).same(&Val::Number(f64::NAN)));
        assert!(!Val::Number(f64::NAN).same(&Val::Number(0.0)));
        assert!(!Val::from("1").same(&Val::Number(1.0)));
        assert!(t.same(&Val::from("fat_bloom")));
    }

    #[test]
    fn signed_small_ints_are_width_masked_on_the_way_out() {
        assert_eq!(encode(DataType::Int8, -5.0), Some(Value::IntValue(0xFB)));
        assert_eq!(encode(DataType::Int16, -2.0), Some(Value::IntValue(0xFFFE)));
        assert_eq!(
            encode(DataType::Int32, -1.0),
            Some(Value::IntValue(u32::MAX))
        );
        assert_eq!(
            encode(DataType::Int64, -1.0),
            Some(Value::LongValue(u64::MAX))
        );
    }

    #[test]
    fn both_signed_forms_are_read() {
        for wire in [0xFB, 0xFFFF_FFFB] {
            assert_eq!(decode(DataType::Int8, &Value::IntValue(wire)), Some(-5.0));
        }
        for wire in [0xFFFE, 0xFFFF_FFFE] {
            assert_eq!(decode(DataType::Int16, &Value::IntValue(wire)), Some(-2.0));
        }
        assert_eq!(decode(DataType::UInt32, &Value::LongValue(7)), Some(7.0));
    }

    #[test]
    fn every_numeric_type_round_trips_its_edges() {
        let cases: &[(DataType, &[f64])] = &[
            (DataType::Int8, &[-128.0, -1.0, 0.0, 127.0]),
            (DataType::Int16, &[-32768.0, 32767.0]),
            (DataType::Int32, &[-2_147_483_648.0, 2_147_483_647.0]),
            (
                DataType::Int64,
                &[
                    -9_223_372_036_854_775_808.0,
                    9_223_372_036_854_774_784.0,
                    1.7e12,
                ],
            ),
            (DataType::UInt8, &[0.0, 255.0]),
            (DataType::UInt16, &[65535.0]),
            (DataType::UInt32, &[4_294_967_295.0]),
            (DataType::UInt64, &[18_446_744_073_709_549_568.0, 0.0]),
            (DataType::DateTime, &[1_700_000_000_000.0]),
            (DataType::Float, &[31.5, -0.25]),
            (DataType::Double, &[45.123_456_789, f64::INFINITY]),
            (DataType::Boolean, &[0.0, 1.0]),
        ];
        for (dt, values) in cases {
            for v in *values {
                let wire = encode(*dt, *v).unwrap_or_else(|| panic!("{dt:?} {v}"));
                assert_eq!(decode(*dt, &wire), Some(*v), "{dt:?} {v}");
            }
        }
    }

    #[test]
    fn what_does_not_fit_is_refused_not_wrapped() {
        assert_eq!(encode(DataType::Int8, 128.0), None);
        assert_eq!(
            encode(DataType::Int64, 9_223_372_036_854_775_808.0),
            None,
            "2^63"
        );
        assert_eq!(
            encode(DataType::UInt64, 18_446_744_073_709_551_616.0),
            None,
            "2^64"
        );
        assert_eq!(encode(DataType::DateTime, -1.0), None, "before the epoch");
        assert_eq!(encode(DataType::Float, 1e39), None, "beyond f32");
        assert_eq!(
            encode(DataType::Float, f64::INFINITY),
            Some(Value::FloatValue(f32::INFINITY))
        );
        assert_eq!(encode(DataType::UInt16, -1.0), None);
        assert_eq!(encode(DataType::Int32, 1.5), None);
        assert_eq!(encode(DataType::Int32, f64::NAN), None);
        assert_eq!(encode(DataType::Double, f64::NAN), None);
        assert_eq!(encode(DataType::String, 1.0), None);
        assert_eq!(decode(DataType::Int8, &Value::DoubleValue(1.0)), None);
    }

    #[test]
    fn datatype_numbers_are_the_schemas() {
        assert_eq!(datatype(1), Some(DataType::Int8));
        assert_eq!(datatype(10), Some(DataType::Double));
        assert_eq!(datatype(11), Some(DataType::Boolean));
        assert_eq!(datatype(13), Some(DataType::DateTime));
        assert_eq!(datatype(16), None, "DataSet is not a process value");
    }
}
