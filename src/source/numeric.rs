//! Numbers out of Arrow arrays: which column types are numeric, their names in plain words,
//! and the copy of a numeric column into an f64 slice that every reader (Parquet batches, CSV
//! chunks after the row stages) shares.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Decimal32Type, Decimal64Type, Decimal128Type, Decimal256Type, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::DataType;

use crate::error::{Error, Result};

/// A column type in plain words, for messages and `scan` (no Rust or Arrow spelling).
pub fn plain_type(ty: &DataType) -> String {
    match ty {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "text".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "binary".into(),
        DataType::Boolean => "boolean".into(),
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::ListView(_) => "list".into(),
        DataType::Struct(_) => "struct".into(),
        DataType::Map(..) => "map".into(),
        DataType::Dictionary(_, values) => format!("dictionary of {}", plain_type(values)),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => format!("decimal({p},{s})"),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(..) => "timestamp".into(),
        DataType::Time32(_) | DataType::Time64(_) => "time of day".into(),
        DataType::Duration(_) | DataType::Interval(_) => "duration".into(),
        DataType::Null => "empty (null)".into(),
        other if is_numeric(other) => "numeric".into(),
        other => other.to_string().to_lowercase(),
    }
}

pub fn is_numeric(ty: &DataType) -> bool {
    if let DataType::Dictionary(_, values) = ty {
        return is_numeric(values);
    }
    matches!(
        ty,
        DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
            | DataType::Float64
            | DataType::Float32
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
    )
}

/// Copies a numeric arrow array into `out` as f64, nulls as NaN.
pub(super) fn copy_numeric(array: &dyn Array, out: &mut [f64]) -> Result<()> {
    fn copy<T: ArrowPrimitiveType>(
        array: &dyn Array,
        out: &mut [f64],
        to_f64: impl Fn(T::Native) -> f64,
    ) {
        let values = array.as_primitive::<T>();
        if values.null_count() == 0 {
            for (o, v) in out.iter_mut().zip(values.values().iter()) {
                *o = to_f64(*v);
            }
        } else {
            for (i, o) in out.iter_mut().enumerate() {
                *o = if values.is_null(i) {
                    f64::NAN
                } else {
                    to_f64(values.value(i))
                };
            }
        }
    }
    match array.data_type() {
        DataType::Float64 => {
            let values = array.as_primitive::<Float64Type>();
            out.copy_from_slice(values.values());
            if values.null_count() > 0 {
                for (i, o) in out.iter_mut().enumerate() {
                    if values.is_null(i) {
                        *o = f64::NAN;
                    }
                }
            }
        }
        DataType::Float32 => copy::<Float32Type>(array, out, |v| v as f64),
        DataType::Int8 => copy::<Int8Type>(array, out, |v| v as f64),
        DataType::Int16 => copy::<Int16Type>(array, out, |v| v as f64),
        DataType::Int32 => copy::<Int32Type>(array, out, |v| v as f64),
        DataType::Int64 => copy::<Int64Type>(array, out, |v| v as f64),
        DataType::UInt8 => copy::<UInt8Type>(array, out, |v| v as f64),
        DataType::UInt16 => copy::<UInt16Type>(array, out, |v| v as f64),
        DataType::UInt32 => copy::<UInt32Type>(array, out, |v| v as f64),
        DataType::UInt64 => copy::<UInt64Type>(array, out, |v| v as f64),
        // Decimals as their value: the unscaled integer over 10^scale.
        DataType::Decimal32(_, s) => {
            let d = 10f64.powi(*s as i32);
            copy::<Decimal32Type>(array, out, |v| v as f64 / d)
        }
        DataType::Decimal64(_, s) => {
            let d = 10f64.powi(*s as i32);
            copy::<Decimal64Type>(array, out, |v| v as f64 / d)
        }
        DataType::Decimal128(_, s) => {
            let d = 10f64.powi(*s as i32);
            copy::<Decimal128Type>(array, out, |v| v as f64 / d)
        }
        DataType::Decimal256(_, s) => {
            let d = 10f64.powi(*s as i32);
            copy::<Decimal256Type>(array, out, |v| {
                v.to_i128()
                    .map_or_else(|| v.to_string().parse().unwrap_or(f64::NAN), |v| v as f64)
                    / d
            })
        }
        // A dictionary-encoded column: its values once, then each row's by its key.
        DataType::Dictionary(..) => {
            let dictionary = array
                .as_any_dictionary_opt()
                .ok_or_else(|| Error::data("a dictionary column could not be read"))?;
            let values = dictionary.values();
            let mut decoded = vec![0.0; values.len()];
            copy_numeric(values.as_ref(), &mut decoded)?;
            let keys = dictionary.normalized_keys();
            for (i, (o, k)) in out.iter_mut().zip(keys).enumerate() {
                *o = if array.is_null(i) {
                    f64::NAN
                } else {
                    decoded.get(k).copied().unwrap_or(f64::NAN)
                };
            }
        }
        other => {
            return Err(Error::data(format!(
                "the column is {}, not numeric",
                plain_type(other)
            )));
        }
    }
    Ok(())
}
