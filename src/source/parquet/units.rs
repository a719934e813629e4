//! The row groups a Parquet read visits, in its order: every row group of every file, in
//! file order or shuffled by a seed (training epochs). The reader and `Dataset::read_order`
//! take the order from here, so an epoch replayed from memory visits the rows a read would.

use parquet::arrow::arrow_reader::ArrowReaderMetadata;

use super::{Dataset, footer};
use crate::error::Result;

/// A row group to read, with where its rows sit in the dataset and in its file.
pub(super) struct Unit {
    pub file: usize,
    pub group: usize,
    pub first_row: u64,
    pub file_row: u64,
    pub rows: u64,
}

/// Every row group of every file in file order, with each file's footer.
pub(super) fn units(dataset: &Dataset) -> Result<(Vec<ArrowReaderMetadata>, Vec<Unit>)> {
    let mut metas = Vec::with_capacity(dataset.files.len());
    let mut units = Vec::new();
    let mut row = 0u64;
    for f in 0..dataset.files.len() {
        let arrow_meta = footer(dataset, f)?;
        let mut file_row = 0u64;
        for (g, rg) in arrow_meta.metadata().row_groups().iter().enumerate() {
            let rows = rg.num_rows().max(0) as u64;
            units.push(Unit {
                file: f,
                group: g,
                first_row: row,
                file_row,
                rows,
            });
            row += rows;
            file_row += rows;
        }
        metas.push(arrow_meta);
    }
    Ok((metas, units))
}

/// The units in the order a read shuffled by `seed` visits them (Fisher–Yates).
pub(super) fn shuffle<T>(units: &mut [T], seed: u64) {
    let mut rng = crate::rng::Rng::new(seed);
    for i in (1..units.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        units.swap(i, j);
    }
}

/// The dataset rows of each row group, in the order a read shuffled by `seed` visits them.
pub(in crate::source) fn shuffled_ranges(
    dataset: &Dataset,
    seed: u64,
) -> Result<Vec<std::ops::Range<u64>>> {
    let (_, mut units) = units(dataset)?;
    shuffle(&mut units, seed);
    Ok(units
        .iter()
        .map(|u| u.first_row..u.first_row + u.rows)
        .collect())
}
