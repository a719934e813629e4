//! The autoencoder's input layout as a reader's decode hook: `(x − shift) / scale` as
//! f32, row after row, written straight from the decoded Arrow columns (a third of the
//! reading side's CPU time when training). Computed in f64 exactly as from the chunk, so
//! the rows are the same bit for bit.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType};
use arrow_schema::DataType;

use crate::source::RowDecoder;

/// The shift and scale of the steps before the network, and the loss's range.
#[derive(Debug, Clone)]
pub struct RowLayout {
    pub shift: Vec<f64>,
    pub scale: Option<Vec<f64>>,
    /// Values must lie in [0, 1] (binary cross-entropy).
    pub unit: bool,
}

impl RowLayout {
    /// One input value, `(x − shift) / scale`, and whether the network cannot take it (not
    /// finite, or outside [0, 1] when `unit`). The reader's layout and the trainer's own
    /// (from f64 chunks) both compute it here, so their rows agree bit for bit.
    #[inline(always)]
    pub fn value(x: f64, shift: f64, scale: f64, unit: bool) -> (f64, bool) {
        let v = (x - shift) / scale;
        (v, !v.is_finite() || (unit && !(0.0..=1.0).contains(&v)))
    }
}

impl RowDecoder for RowLayout {
    /// The columns laid out as the network's input, row after row, into `rows`; false
    /// (and `rows` unspecified) when a value is null, not finite, or outside [0, 1] where
    /// the layout wants that.
    fn decode(&self, columns: &[&dyn Array], rows: &mut Vec<f32>) -> bool {
        layout_rows(columns, self, rows)
    }
}

fn layout_rows(columns: &[&dyn Array], layout: &RowLayout, rows: &mut Vec<f32>) -> bool {
    /// Rows `i0..i1` of one column into their rows; true when a value is unacceptable.
    #[inline(always)]
    fn put<T: ArrowPrimitiveType>(
        array: &dyn Array,
        (i0, i1): (usize, usize),
        (m, d, unit): (f64, f64, bool),
        out: &mut [f32],
        w: usize,
    ) -> bool
    where
        T::Native: num_traits::AsPrimitive<f64>,
    {
        use num_traits::AsPrimitive;
        let values = &array.as_primitive::<T>().values()[i0..i1];
        let mut bad = false;
        for (o, &v) in out.iter_mut().step_by(w).zip(values) {
            let (v, unacceptable) = RowLayout::value(v.as_(), m, d, unit);
            bad |= unacceptable;
            *o = v as f32;
        }
        bad
    }
    let n = columns.first().map_or(0, |c| c.len());
    let w = columns.len();
    if columns.iter().any(|c| c.null_count() > 0) {
        return false;
    }
    rows.clear();
    rows.resize(n * w, 0.0);
    // Blocks of rows, so the rows being written stay in cache while each column is read.
    const BLOCK: usize = 32;
    let bad = crate::simd::vectorized(
        #[inline(always)]
        || {
            let mut bad = false;
            for i0 in (0..n).step_by(BLOCK) {
                let i1 = (i0 + BLOCK).min(n);
                for (j, array) in columns.iter().enumerate() {
                    let m = layout.shift[j];
                    let d = layout.scale.as_ref().map_or(1.0, |s| s[j]);
                    let out = &mut rows[i0 * w + j..];
                    let at = (i0, i1);
                    let how = (m, d, layout.unit);
                    bad |= match array.data_type() {
                        DataType::Float32 => put::<Float32Type>(*array, at, how, out, w),
                        DataType::Float64 => put::<Float64Type>(*array, at, how, out, w),
                        DataType::Int8 => put::<Int8Type>(*array, at, how, out, w),
                        DataType::Int16 => put::<Int16Type>(*array, at, how, out, w),
                        DataType::Int32 => put::<Int32Type>(*array, at, how, out, w),
                        DataType::Int64 => put::<Int64Type>(*array, at, how, out, w),
                        DataType::UInt8 => put::<UInt8Type>(*array, at, how, out, w),
                        DataType::UInt16 => put::<UInt16Type>(*array, at, how, out, w),
                        DataType::UInt32 => put::<UInt32Type>(*array, at, how, out, w),
                        DataType::UInt64 => put::<UInt64Type>(*array, at, how, out, w),
                        _ => true,
                    };
                }
            }
            bad
        },
    );
    !bad
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Float32Array, Int64Array};

    #[test]
    fn rows_laid_out_by_the_reader_are_the_chunks_rows_and_refuse_what_it_would() {
        let n = 70; // more than one block of rows
        let a: Vec<Option<f32>> = (0..n).map(|i| Some(i as f32 * 0.37 - 3.0)).collect();
        let b: Vec<i64> = (0..n).map(|i| i as i64 * 1000 - 7).collect();
        let layout = RowLayout {
            shift: vec![0.25, -3.0],
            scale: Some(vec![3.0, 7.0]),
            unit: false,
        };
        let mut rows = Vec::new();
        // Column order as the spec asks: b before a.
        let (a_arr, b_arr) = (Float32Array::from(a.clone()), Int64Array::from(b.clone()));
        assert!(layout.decode(&[&b_arr, &a_arr], &mut rows));
        assert_eq!(rows.len(), 2 * n);
        for i in 0..n {
            // Shift and scale are per feature of the layout: b is its first.
            let want_b = ((b[i] as f64 - 0.25) / 3.0) as f32;
            let want_a = ((a[i].unwrap() as f64 + 3.0) / 7.0) as f32;
            assert_eq!(rows[2 * i].to_bits(), want_b.to_bits());
            assert_eq!(rows[2 * i + 1].to_bits(), want_a.to_bits());
        }
        // Left to the usual chunk: a null, a NaN, a value outside [0, 1] for bce.
        let mut with_null = a.clone();
        with_null[5] = None;
        assert!(!layout.decode(&[&Float32Array::from(with_null), &b_arr], &mut rows));
        let mut with_nan = a.clone();
        with_nan[66] = Some(f32::NAN);
        assert!(!layout.decode(&[&Float32Array::from(with_nan), &b_arr], &mut rows));
        let unit = RowLayout {
            shift: vec![0.0, 0.0],
            scale: None,
            unit: true,
        };
        let small: Vec<Option<f32>> = (0..n).map(|i| Some(i as f32 / n as f32)).collect();
        assert!(unit.decode(
            &[
                &Float32Array::from(small.clone()),
                &Int64Array::from(vec![1i64; n])
            ],
            &mut rows
        ));
        assert!(!unit.decode(
            &[&Float32Array::from(small), &Int64Array::from(vec![2i64; n])],
            &mut rows
        ));
    }
}
