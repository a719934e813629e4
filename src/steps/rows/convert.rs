//! Columns between arrow-rs (what dimred's readers decode) and polars (which keeps its
//! own Arrow implementation), through the Arrow C Data Interface: the buffers are handed
//! over, not copied value by value. Strings are the exception polars makes itself (it
//! keeps them as views), and so are types polars lacks, which are refused by name.

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi, to_ffi};
use arrow_array::{ArrayRef, make_array};
use polars::prelude::{CompatLevel, Series};
use polars_arrow::ffi as pffi;

use crate::error::{Error, Result};

/// An arrow-rs column as a polars series named `name`.
pub fn to_polars(name: &str, array: &ArrayRef) -> Result<Series> {
    let cannot = |e: &dyn std::fmt::Display| {
        Error::data(format!(
            "column '{name}' ({}) cannot be handed to polars: {e}",
            array.data_type()
        ))
    };
    let (ffi_array, ffi_schema) = to_ffi(&array.to_data()).map_err(|e| cannot(&e))?;
    // SAFETY: both crates' structs are the C Data Interface's `ArrowArray` and
    // `ArrowSchema`, `#[repr(C)]` field for field; ownership (the release callback) moves
    // with the value.
    let schema: pffi::ArrowSchema = unsafe { std::mem::transmute(ffi_schema) };
    let array_c: pffi::ArrowArray = unsafe { std::mem::transmute(ffi_array) };
    // SAFETY: the structs were just exported by arrow-rs and are valid.
    let field = unsafe { pffi::import_field_from_c(&schema) }.map_err(|e| cannot(&e))?;
    let imported = unsafe { pffi::import_array_from_c(array_c, field.dtype().clone()) }
        .map_err(|e| cannot(&e))?;
    Series::from_arrow(name.into(), imported).map_err(|e| cannot(&e))
}

/// A polars series as one arrow-rs array (its chunks joined first).
pub fn to_arrow(series: &Series) -> Result<ArrayRef> {
    let cannot = |e: &dyn std::fmt::Display| {
        Error::data(format!(
            "column '{}' ({}) cannot be taken back from polars: {e}",
            series.name(),
            series.dtype()
        ))
    };
    let series = series.rechunk();
    let array = series.to_arrow(0, CompatLevel::oldest());
    // the name stays on this side (a name polars accepts may not be a C string)
    let field = polars_arrow::datatypes::Field::new("value".into(), array.dtype().clone(), true);
    let schema_c = pffi::export_field_to_c(&field);
    let array_c = pffi::export_array_to_c(array);
    // SAFETY: as in `to_polars`, the same C structs the other way.
    let schema: FFI_ArrowSchema = unsafe { std::mem::transmute(schema_c) };
    let array: FFI_ArrowArray = unsafe { std::mem::transmute(array_c) };
    // SAFETY: exported by polars just above.
    let data = unsafe { from_ffi(array, &schema) }.map_err(|e| cannot(&e))?;
    Ok(make_array(data))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::*;
    use arrow_schema::DataType;

    use super::*;

    /// Every column type dimred reads (features: integers and floats of each width;
    /// passthrough and labels: text, booleans), with nulls, round-trips unchanged.
    #[test]
    fn every_column_type_round_trips() {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(-0.0),
                Some(f64::INFINITY),
            ])),
            Arc::new(Float32Array::from(vec![Some(1.5f32), None, Some(3.25)])),
            Arc::new(Int8Array::from(vec![Some(-8i8), None, Some(7)])),
            Arc::new(Int16Array::from(vec![Some(-16i16), None, Some(300)])),
            Arc::new(Int32Array::from(vec![Some(-32i32), None, Some(70_000)])),
            Arc::new(Int64Array::from(vec![Some(i64::MIN), None, Some(i64::MAX)])),
            Arc::new(UInt8Array::from(vec![Some(8u8), None, Some(255)])),
            Arc::new(UInt16Array::from(vec![Some(16u16), None, Some(65_535)])),
            Arc::new(UInt32Array::from(vec![Some(32u32), None, Some(u32::MAX)])),
            Arc::new(UInt64Array::from(vec![Some(64u64), None, Some(u64::MAX)])),
            Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            Arc::new(StringArray::from(vec![
                Some("muon"),
                None,
                Some("électron"),
            ])),
        ];
        for array in arrays {
            let series = to_polars("c", &array).unwrap();
            assert_eq!(series.len(), array.len());
            assert_eq!(
                series.null_count(),
                array.null_count(),
                "{}",
                array.data_type()
            );
            let back = to_arrow(&series).unwrap();
            match array.data_type() {
                // polars keeps strings as views; the values are the same
                DataType::Utf8 => {
                    let back = arrow_array::cast::AsArray::as_string::<i64>(&back);
                    let want = arrow_array::cast::AsArray::as_string::<i32>(&array);
                    assert_eq!(
                        back.iter().collect::<Vec<_>>(),
                        want.iter().collect::<Vec<_>>()
                    );
                }
                _ => {
                    assert_eq!(back.data_type(), array.data_type());
                    assert_eq!(back.to_data(), array.to_data(), "{}", array.data_type());
                }
            }
        }
    }

    #[test]
    fn sliced_arrays_keep_their_window() {
        let array: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 2.0, 3.0, 4.0, 5.0]));
        let sliced = array.slice(1, 3);
        let series = to_polars("x", &sliced).unwrap();
        let values: Vec<f64> = series.f64().unwrap().into_no_null_iter().collect();
        assert_eq!(values, vec![2.0, 3.0, 4.0]);
    }
}
