//! Rows already in memory as Arrow batches (a data frame handed over by Python) read
//! as a dataset: the same column lookup, row stages, numeric decoding and missing-value
//! policy as a Parquet file's batches, so a model applied to a data frame gives what
//! `dimred transform` gives on the same rows in a file.

use arrow_array::RecordBatch;
use arrow_schema::Schema;

use super::parquet::{Positions, decode_batch};
use super::{Dataset, Format, ReadSpec, ReadState, columns_of};
use crate::chunk::Chunk;
use crate::error::Result;

impl Dataset {
    /// A dataset of the columns `schema` names, held by the caller rather than in files;
    /// `name` stands for the input in messages.
    pub fn in_memory(name: &str, schema: &Schema) -> Dataset {
        let columns = columns_of(schema);
        Dataset {
            path: name.to_string(),
            files: Vec::new(),
            file_sizes: Vec::new(),
            format: Format::Parquet,
            columns,
            total_rows: None,
            total_bytes: 0,
            column_chunk_bytes: Vec::new(),
            column_page_bytes: Vec::new(),
            metadata_bytes: 0,
            offset_index: false,
            footers: Vec::new(),
            footers_bytes: 0,
            derived: 0,
            declared: Vec::new(),
        }
    }

    /// One batch of an in-memory dataset as a chunk, as a Parquet reader decodes its
    /// batches: `first_row` is the 0-based index of its first row in the whole input
    /// (messages name rows 1-based).
    pub fn decode_memory(
        &self,
        spec: &ReadSpec,
        batch: &RecordBatch,
        first_row: u64,
    ) -> Result<Chunk> {
        let at = Positions::of(&batch.schema(), self, spec)?;
        let mut state = ReadState::default();
        decode_batch(self, spec, &mut state, &at, batch, first_row, first_row)
    }
}
