//! The order in which a read visits the dataset's rows, without reading them: for a
//! consumer that keeps the rows of one read and wants them in another read's order (the
//! autoencoder's epochs replayed from memory).

use std::ops::Range;

use super::{Dataset, Format, ReadSpec, parquet};
use crate::error::Result;

impl Dataset {
    /// The ranges of row indices (`Chunk::row_index`) that `read` with `spec` visits, in
    /// its order; within a range the rows come in ascending index order. Mirrors `read`:
    /// a shuffled Parquet read visits the row groups in its seed's order, every other
    /// read (CSV, Parquet in file order, a shard's part) visits its rows in ascending
    /// order, so one range holds them all.
    pub fn read_order(&self, spec: &ReadSpec) -> Result<Vec<Range<u64>>> {
        match (spec.shuffle, self.format) {
            (Some(seed), Format::Parquet) => parquet::units::shuffled_ranges(self, seed),
            _ => {
                let every_row = 0..u64::MAX;
                Ok(vec![every_row])
            }
        }
    }
}
