//! The one type that flows through the pipeline: a block of rows. Features are a
//! column-major f64 matrix (rows × features), ready for faer; passthrough columns stay
//! arrow arrays, copied to the output untouched.

use arrow_array::RecordBatch;
use faer::{Mat, MatRef};

#[derive(Debug)]
pub struct Chunk {
    /// Index in the whole dataset (0-based, counting skipped rows) of the first row read
    /// into this chunk.
    pub first_row: u64,
    pub features: Mat<f64>,
    /// The passthrough columns for the rows kept in `features`, or `None` when there are none.
    pub passthrough: Option<RecordBatch>,
    /// Rows read from the file for this chunk, including rows dropped for missing values.
    pub rows_read: usize,
    /// Per feature: cells that were not numbers. Only counted when reading leniently
    /// (`dimred scan`); otherwise such a cell is an error.
    pub non_numeric: Vec<u64>,
    /// When rows were dropped for missing values: each kept row's offset from
    /// `first_row`, so every row keeps its index in the dataset.
    pub kept: Option<Vec<u32>>,
    /// The rows already laid out as an autoencoder's input (see `ReadSpec::rows32`), in
    /// place of `features` (then rows × 0).
    pub rows32: Option<Vec<f32>>,
}

impl Chunk {
    pub fn nrows(&self) -> usize {
        self.features.nrows()
    }

    /// Index in the whole dataset (0-based) of the chunk's row `i`.
    pub fn row_index(&self, i: usize) -> u64 {
        self.first_row + self.kept.as_ref().map_or(i as u64, |k| k[i] as u64)
    }

    /// The first `written` passthrough columns (the output pass writes these; columns
    /// read after them serve the report only).
    pub fn passthrough_prefix(&self, written: usize) -> Option<RecordBatch> {
        let batch = self.passthrough.as_ref()?;
        if written == 0 {
            return None;
        }
        if batch.num_columns() == written {
            return Some(batch.clone());
        }
        Some(
            batch
                .project(&(0..written).collect::<Vec<_>>())
                .expect("the output's passthrough columns come first"),
        )
    }

    pub fn rows_skipped(&self) -> usize {
        self.rows_read - self.nrows()
    }
}

/// Feature rows as a later pass hands them to a fit: f64, or f32 as the spill file kept
/// float32 data, when the fit multiplies in f32 (`FitStep::takes_float32`) and a widened
/// copy would only double the bytes a pass moves.
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    F64(MatRef<'a, f64>),
    F32(MatRef<'a, f32>),
}
