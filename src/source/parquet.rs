//! Parquet chunk reader on the `parquet` crate's arrow reader: only the needed columns are
//! decoded (projection), `batch_rows` rows at a time; numeric arrow arrays are copied
//! into the chunk matrix as f64, nulls become NaN for the missing-value policy.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
    UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch, RecordBatchReader};
use arrow_schema::{DataType, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{ColumnInfo, ColumnKind, Dataset, ReadSpec, ReadState, finish_chunk};
use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::progress::Progress;

fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let file = File::open(path).map_err(|e| Error::io("open input", path, e))?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(Error::data("the file is empty").in_file(path));
    }
    ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| Error::data(format!("not a readable Parquet file: {e}")).in_file(path))
}

pub fn is_numeric(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Float64
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

pub(super) fn schema(path: &Path) -> Result<(Vec<ColumnInfo>, u64)> {
    let b = builder(path)?;
    let rows = b.metadata().file_metadata().num_rows().max(0) as u64;
    let cols = b
        .schema()
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            kind: if is_numeric(f.data_type()) {
                ColumnKind::Numeric
            } else {
                ColumnKind::Other(f.data_type().to_string())
            },
        })
        .collect();
    Ok((cols, rows))
}

pub(super) fn read(
    dataset: &Dataset,
    path: &Path,
    spec: &ReadSpec,
    progress: &Progress,
    state: &mut ReadState,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let b = builder(path)?;
    let mut wanted: Vec<usize> = spec
        .features
        .iter()
        .chain(&spec.passthrough)
        .copied()
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mask = ProjectionMask::roots(b.parquet_schema(), wanted.iter().copied());
    let reader = b
        .with_projection(mask)
        .with_batch_size(spec.batch_rows)
        .build()
        .map_err(|e| Error::data(format!("not a readable Parquet file: {e}")))?;
    // Where each wanted column sits in the reader's batches, looked up once per file: by
    // name per batch it was p² string comparisons per chunk (most of the time at 10,000
    // columns).
    let batch_schema = reader.schema();
    let index: HashMap<&str, usize> = batch_schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name().as_str(), i))
        .collect();
    let position = |c: usize| -> Result<usize> {
        let name = &dataset.columns[c].name;
        index
            .get(name.as_str())
            .copied()
            .ok_or_else(|| Error::data("column is missing from this file").at_column(name))
    };
    let feature_at: Vec<usize> = spec
        .features
        .iter()
        .map(|&c| position(c))
        .collect::<Result<_>>()?;
    let passthrough_at: Vec<usize> = spec
        .passthrough
        .iter()
        .map(|&c| position(c))
        .collect::<Result<_>>()?;
    let mut file_row: u64 = 0;
    for batch in reader {
        let batch = batch
            .map_err(|e| Error::data(format!("corrupt Parquet data: {e}")).at_row(file_row + 1))?;
        let n = batch.num_rows();
        let p = spec.features.len();
        let mut features = state.take_mat(n, p);
        for (j, (&c, &at)) in spec.features.iter().zip(&feature_at).enumerate() {
            let name = &dataset.columns[c].name;
            copy_numeric(
                batch.column(at).as_ref(),
                features
                    .col_mut(j)
                    .try_as_col_major_mut()
                    .expect("owned column is contiguous")
                    .as_slice_mut(),
            )
            .map_err(|e| e.at_column(name))?;
        }
        let passthrough = if spec.passthrough.is_empty() {
            None
        } else {
            let schema = batch.schema();
            let fields: Vec<_> = passthrough_at
                .iter()
                .map(|&at| schema.field(at).clone())
                .collect();
            let arrays: Vec<_> = passthrough_at
                .iter()
                .map(|&at| batch.column(at).clone())
                .collect();
            let schema = match &state.passthrough_schema {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(Schema::new(fields));
                    state.passthrough_schema = Some(s.clone());
                    s
                }
            };
            Some(
                RecordBatch::try_new(schema, arrays)
                    .map_err(|e| Error::data(format!("passthrough columns: {e}")))?,
            )
        };
        progress.advance(n as u64, 0);
        let chunk = finish_chunk(
            dataset,
            spec,
            state.rows,
            file_row + 1,
            features,
            passthrough,
            Vec::new(),
        )?;
        state.rows += n as u64;
        file_row += n as u64;
        if !emit(chunk) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Copies a numeric arrow array into `out` as f64, nulls as NaN.
fn copy_numeric(array: &dyn Array, out: &mut [f64]) -> Result<()> {
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
        other => {
            return Err(Error::data(format!(
                "column of type {other} is not numeric"
            )));
        }
    }
    Ok(())
}
