//! Parquet chunk reader on the `parquet` crate's arrow reader: only the needed columns are
//! decoded (projection), `batch_rows` rows at a time; numeric arrow arrays are copied
//! into the chunk matrix as f64, nulls become NaN for the missing-value policy.

pub(super) mod units;

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, RecordBatch, RecordBatchReader};
use arrow_schema::Schema;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::schema::types::SchemaDescriptor;

use super::numeric::copy_numeric;
use super::{ColumnInfo, Dataset, ReadSpec, ReadState, columns_of, finish_chunk};
use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::progress::Progress;
use units::Unit;

/// Runs Parquet decoding, turning a panic of the Parquet reader into a data error: damaged
/// pages (a flipped bit) can make it index out of bounds rather than refuse, and a damaged
/// file is bad input, not a bug of ours. The CLI's panic hook keeps the panic quiet.
pub(super) fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::data(
            "corrupt Parquet data: the Parquet reader could not decode this file",
        ))
    })
}

/// File `f`'s footer: kept in the dataset since `Dataset::open` read it for an object
/// storage file (each read is a request; a pass over N files would make N more), read
/// again from a local file (from the page cache, where keeping it would only hold memory).
fn footer(dataset: &Dataset, f: usize) -> Result<ArrowReaderMetadata> {
    match dataset.footers.get(f) {
        Some(Some(kept)) => Ok(kept.clone()),
        _ => load_meta(&dataset.files[f], dataset.file_sizes[f]),
    }
}

/// A file's footer, read and checked: from the file, or from object storage (`size` is
/// its length, known from the listing).
fn load_meta(path: &Path, size: u64) -> Result<ArrowReaderMetadata> {
    guarded(|| unguarded_meta(path, size)).map_err(|e| e.in_file(path))
}

fn unguarded_meta(path: &Path, size: u64) -> Result<ArrowReaderMetadata> {
    if size == 0 {
        return Err(Error::data("the file is empty").in_file(path));
    }
    let meta = if crate::cloud::is_remote(path) {
        crate::cloud::parquet_metadata(path, size)?
    } else {
        let file = File::open(path).map_err(|e| Error::io("open input", path, e))?;
        ArrowReaderMetadata::load(&file, ArrowReaderOptions::default()).map_err(|e| {
            Error::data(format!(
                "not a readable Parquet file: {}",
                crate::error::library_words(&e.to_string())
            ))
            .in_file(path)
        })?
    };
    check_metadata(meta.metadata(), size).map_err(|e| e.in_file(path))?;
    Ok(meta)
}

/// A reader of one file's row groups (all of them, or `groups`), projected to the spec's
/// columns. A remote file's row group is fetched whole, or the pages of `rows` of it, then
/// decoded from memory.
fn row_groups(
    path: &Path,
    size: u64,
    meta: &ArrowReaderMetadata,
    spec: &ReadSpec,
    group: Option<usize>,
    rows: Option<std::ops::Range<usize>>,
) -> Result<ParquetRecordBatchReader> {
    let mask = projection(meta.parquet_schema(), spec);
    if crate::cloud::is_remote(path) {
        let group = group.ok_or_else(|| {
            Error::internal("a remote Parquet file is read one row group at a time")
        })?;
        return crate::cloud::row_group(path, size, meta, mask, group, rows, spec.batch_rows);
    }
    let file = File::open(path).map_err(|e| Error::io("open input", path, e))?;
    let b = ParquetRecordBatchReaderBuilder::new_with_metadata(file, meta.clone())
        .with_projection(mask)
        .with_batch_size(spec.batch_rows);
    let b = match group {
        Some(g) => b.with_row_groups(vec![g]),
        None => b,
    };
    b.build().map_err(|e| {
        Error::data(format!(
            "not a readable Parquet file: {}",
            crate::error::library_words(&e.to_string())
        ))
    })
}

/// The footer's promises checked against the file before anything is read: a damaged
/// footer (a flipped bit) can point column chunks outside the file, which the Parquet
/// reader would trust (and panic on) rather than refuse.
fn check_metadata(meta: &parquet::file::metadata::ParquetMetaData, file_len: u64) -> Result<()> {
    for (g, group) in meta.row_groups().iter().enumerate() {
        if group.num_rows() < 0 {
            return Err(Error::data(format!(
                "corrupt Parquet footer: row group {g} has a negative row count"
            )));
        }
        for column in group.columns() {
            let start = column
                .dictionary_page_offset()
                .filter(|&d| d >= 0)
                .unwrap_or(column.data_page_offset());
            let size = column.compressed_size();
            let inside = start >= 0
                && size >= 0
                && (start as u64)
                    .checked_add(size as u64)
                    .is_some_and(|end| end <= file_len);
            if !inside {
                return Err(Error::data(format!(
                    "corrupt Parquet footer: a chunk of column '{}' in row group {g} lies outside the file",
                    column.column_path()
                )));
            }
        }
    }
    Ok(())
}

/// The projected bytes of a remote row group fetched at once: a larger row group of a file
/// with an offset index is fetched in slices of rows of about this size (each only the
/// pages holding its rows), so memory does not grow with the row group.
pub const SLICE_BYTES: u64 = 16 << 20;

/// The row ranges of `group` to fetch one after another: one slice (`None`, the whole row
/// group) locally, for a file without an offset index, or when the group's projected
/// column chunks are under `SLICE_BYTES`.
fn slices(
    path: &Path,
    meta: &ArrowReaderMetadata,
    spec: &ReadSpec,
    group: usize,
) -> Vec<Option<std::ops::Range<usize>>> {
    let md = meta.metadata();
    let has_index = md
        .row_group(group)
        .columns()
        .iter()
        .all(|c| c.offset_index_offset().is_some());
    // and the page locations loaded (`cloud::parquet_metadata`), or a slice fetches it all
    if !crate::cloud::is_remote(path) || !has_index || md.page_index().is_none() {
        return vec![None];
    }
    let rg = md.row_group(group);
    let rows = rg.num_rows().max(0) as usize;
    let mask = projection(meta.parquet_schema(), spec);
    let bytes: u64 = (0..rg.num_columns())
        .filter(|&c| mask.leaf_included(c))
        .map(|c| rg.column(c).uncompressed_size().max(0) as u64)
        .sum();
    if bytes <= SLICE_BYTES || rows == 0 {
        return vec![None];
    }
    let step = ((rows as u128 * SLICE_BYTES as u128 / bytes as u128) as usize).max(1);
    (0..rows)
        .step_by(step)
        .map(|start| Some(start..(start + step).min(rows)))
        .collect()
}

/// Rows a data page holds at most as the common writers write them by default (pyarrow's
/// `max_rows_per_page`, arrow-rs's `data_page_row_count_limit`, parquet-mr's
/// `page.row.count.limit`), and the bytes they stop a page at.
pub const PAGE_ROWS: u64 = 20_000;
pub const PAGE_BYTES: u64 = 1 << 20;

/// What a file's footer says the reader will hold.
pub(super) struct Footer {
    pub columns: Vec<ColumnInfo>,
    pub rows: u64,
    /// Per column, its largest column chunk over the row groups (uncompressed bytes): what
    /// a remote read fetches whole.
    pub chunk_bytes: Vec<u64>,
    /// Per column, the most a local read holds of one column chunk at a time: its
    /// dictionary (decoded, kept while the chunk is read) and one data page, never more
    /// than the chunk. The local reader reads page by page, so this does not grow with the
    /// row group (measured: 16,384- to 1,000,000-row groups of 256 float64 columns peak the
    /// same, docs/architecture.md#memory).
    pub page_bytes: Vec<u64>,
    /// The footer's size in memory, which the reader holds while it reads the file (165 MiB
    /// for 30 row groups of 10,000 columns).
    pub metadata_bytes: u64,
    /// Whether the file has an offset index (page locations): from object storage its row
    /// groups are then fetched in slices of `SLICE_BYTES` (only loaded for remote files).
    pub offset_index: bool,
    /// The decoded footer, which the dataset keeps for remote files (read once).
    pub footer: ArrowReaderMetadata,
}

pub(super) fn schema(path: &Path, size: u64) -> Result<Footer> {
    let b = load_meta(path, size)?;
    let metadata_bytes = b.metadata().memory_size() as u64;
    let rows = b.metadata().file_metadata().num_rows().max(0) as u64;
    let mut chunk_bytes = vec![0u64; b.schema().fields().len()];
    let mut page_bytes = vec![0u64; b.schema().fields().len()];
    for group in b.metadata().row_groups() {
        // leaf columns; a nested column's leaves count towards its root
        for (leaf, column) in group.columns().iter().enumerate() {
            let root = b.parquet_schema().get_column_root_idx(leaf);
            if let Some(bytes) = chunk_bytes.get_mut(root) {
                *bytes = (*bytes).max(column.uncompressed_size().max(0) as u64);
            }
            if let Some(bytes) = page_bytes.get_mut(root) {
                *bytes = (*bytes).max(held_bytes(column));
            }
        }
    }
    let columns = columns_of(b.schema());
    // (the footer says where each column chunk's page locations are, if anywhere)
    let offset_index = b
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|g| g.columns())
        .all(|c| c.offset_index_offset().is_some());
    Ok(Footer {
        columns,
        rows,
        chunk_bytes,
        page_bytes,
        metadata_bytes,
        offset_index,
        footer: b,
    })
}

/// A column chunk's dictionary (the bytes before its first data page, scaled by the chunk's
/// compression ratio) and a data page of `PAGE_ROWS` values of its average width, at most
/// `PAGE_BYTES`: page sizes are not in the footer (only in the optional offset index), and
/// every common writer cuts pages at these limits by default.
fn held_bytes(column: &parquet::file::metadata::ColumnChunkMetaData) -> u64 {
    let chunk = column.uncompressed_size().max(0) as u64;
    let compressed = column.compressed_size().max(1) as u64;
    let values = column.num_values().max(1) as u64;
    let dictionary = column
        .dictionary_page_offset()
        .filter(|&d| d >= 0 && d < column.data_page_offset())
        .map_or(0, |d| {
            let stored = (column.data_page_offset() - d) as u64;
            (stored as f64 * (chunk as f64 / compressed as f64).max(1.0)) as u64
        });
    let page = (PAGE_ROWS * chunk.div_ceil(values)).min(PAGE_BYTES);
    (dictionary + page).min(chunk)
}

fn projection(schema: &SchemaDescriptor, spec: &ReadSpec) -> ProjectionMask {
    // derived columns are computed by the stages, not read
    let stored = schema.root_schema().get_fields().len();
    let mut wanted: Vec<usize> = spec
        .features
        .iter()
        .chain(&spec.passthrough)
        .chain(&spec.reads)
        .copied()
        .filter(|&c| c < stored)
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    ProjectionMask::roots(schema, wanted.iter().copied())
}

pub(super) fn read(
    dataset: &Dataset,
    file: usize,
    spec: &ReadSpec,
    progress: &Progress,
    state: &mut ReadState,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let (path, size) = (&dataset.files[file], dataset.file_sizes[file]);
    let meta = footer(dataset, file)?;
    let reader = row_groups(path, size, &meta, spec, None, None)?;
    let at = Positions::of(&reader.schema(), dataset, spec)?;
    let mut file_row: u64 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| {
            Error::data(format!(
                "corrupt Parquet data: {}",
                crate::error::library_words(&e.to_string())
            ))
            .at_row(file_row + 1)
        })?;
        let n = batch.num_rows();
        progress.advance(n as u64, 0);
        let chunk = decode_batch(dataset, spec, state, &at, &batch, state.rows, file_row)?;
        state.rows += n as u64;
        file_row += n as u64;
        if !emit(chunk) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Threads decoding row groups for a shuffled read. Training waits on reading when an
/// epoch starts (the shuffle buffer fills before the first step) and whenever the reader
/// falls behind; one thread decoding snappy pages and laying out rows was the whole of
/// that wait.
pub(super) const SHUFFLED_DECODERS: usize = 2;

/// Threads reading an object store's row groups: one fetches while the other decodes.
pub(super) const REMOTE_DECODERS: usize = 2;

/// Reads row groups one by one: every row group of every file once, in an order shuffled
/// by `seed` when given (Fisher–Yates on the list of row groups), else only the shard's
/// range of them (`spec.shard`) in file order. Each row keeps its index in the dataset.
/// Row groups are decoded by `decoders` threads, in turn, and emitted in order, so the
/// chunks are the same for any number of them.
pub(super) fn read_units(
    decoders: usize,
    dataset: &Dataset,
    spec: &ReadSpec,
    seed: Option<u64>,
    progress: &Progress,
    state: &mut ReadState,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<()> {
    let (metas, mut units) = units::units(dataset)?;
    if let Some(seed) = seed {
        units::shuffle(&mut units, seed);
    } else if let Some(shard) = spec.shard {
        let range = shard.range(units.len());
        units = units.drain(range).collect();
    }
    let read_unit = |unit: &Unit, state: &mut ReadState, emit: &mut dyn FnMut(Chunk) -> bool| {
        let path = &dataset.files[unit.file];
        guarded(|| -> Result<bool> {
            let size = dataset.file_sizes[unit.file];
            let meta = &metas[unit.file];
            let (mut first_row, mut file_row) = (unit.first_row, unit.file_row);
            for rows in slices(path, meta, spec, unit.group) {
                let reader = row_groups(path, size, meta, spec, Some(unit.group), rows)?;
                let at = Positions::of(&reader.schema(), dataset, spec)?;
                for batch in reader {
                    let batch = batch.map_err(|e| {
                        Error::data(format!(
                            "corrupt Parquet data: {}",
                            crate::error::library_words(&e.to_string())
                        ))
                        .at_row(file_row + 1)
                    })?;
                    let n = batch.num_rows();
                    progress.advance(n as u64, 0);
                    let chunk =
                        decode_batch(dataset, spec, state, &at, &batch, first_row, file_row)?;
                    first_row += n as u64;
                    file_row += n as u64;
                    if !emit(chunk) {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })
        .map_err(|e| e.in_file(path))
    };
    let decoders = decoders.min(units.len());
    if decoders <= 1 {
        for unit in &units {
            if !read_unit(unit, state, emit)? {
                break;
            }
        }
        return Ok(());
    }
    // Each decoder sends its row groups' chunks, then None at each row group's end; the
    // chunks are taken from decoder k mod n for the k-th row group.
    std::thread::scope(|s| {
        let mut from = Vec::with_capacity(decoders);
        for t in 0..decoders {
            let (tx, rx) = crossbeam_channel::bounded::<Result<Option<Chunk>>>(2);
            from.push(rx);
            let mine: Vec<&Unit> = units.iter().skip(t).step_by(decoders).collect();
            let recycle = state.recycle.clone();
            let read_unit = &read_unit;
            s.spawn(move || {
                let mut state = ReadState::default();
                state.recycle = recycle;
                for unit in mine {
                    let mut send = |chunk| tx.send(Ok(Some(chunk))).is_ok();
                    match read_unit(unit, &mut state, &mut send) {
                        Ok(true) if tx.send(Ok(None)).is_ok() => {}
                        Ok(_) => return,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            });
        }
        for k in 0..units.len() {
            loop {
                match from[k % decoders].recv() {
                    Ok(Ok(Some(chunk))) => {
                        if !emit(chunk) {
                            // Dropping the receivers stops the decoders.
                            return Ok(());
                        }
                    }
                    Ok(Ok(None)) => break,
                    Ok(Err(e)) => return Err(e),
                    Err(_) => return Err(Error::internal("a reading thread stopped")),
                }
            }
        }
        Ok(())
    })
}

/// Where each wanted column sits in the reader's batches, looked up once per reader: by
/// name per batch it was p² string comparisons per chunk (most of the time at 10,000
/// columns).
pub(super) struct Positions {
    features: Vec<usize>,
    passthrough: Vec<usize>,
}

impl Positions {
    pub(super) fn of(
        schema: &arrow_schema::SchemaRef,
        dataset: &Dataset,
        spec: &ReadSpec,
    ) -> Result<Self> {
        let index: HashMap<&str, usize> = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name().as_str(), i))
            .collect();
        // The stages append the derived columns, in order, after the columns read.
        let file_width = dataset.file_width();
        let position = |c: &usize| -> Result<usize> {
            if *c >= file_width {
                return Ok(schema.fields().len() + (*c - file_width));
            }
            let name = &dataset.columns[*c].name;
            index
                .get(name.as_str())
                .copied()
                .ok_or_else(|| Error::data("column is missing from this file").at_column(name))
        };
        Ok(Positions {
            features: spec.features.iter().map(position).collect::<Result<_>>()?,
            passthrough: spec
                .passthrough
                .iter()
                .map(position)
                .collect::<Result<_>>()?,
        })
    }
}

/// One decoded record batch → a chunk: features copied as f64, passthrough columns kept.
pub(super) fn decode_batch(
    dataset: &Dataset,
    spec: &ReadSpec,
    state: &mut ReadState,
    at: &Positions,
    batch: &RecordBatch,
    first_row: u64,
    file_row: u64,
) -> Result<Chunk> {
    let (staged_batch, staged) = match spec.stages.is_empty() {
        true => (None, None),
        false => {
            let (b, kept) = super::stage::run(spec, batch)?;
            (Some(b), kept)
        }
    };
    let batch = staged_batch.as_ref().unwrap_or(batch);
    let n = batch.num_rows();
    if let Some(decoder) = spec.decoder.as_deref()
        && spec.passthrough.is_empty()
        && spec.stages.is_empty()
    {
        let mut rows = state.take_rows();
        let columns: Vec<&dyn Array> = at
            .features
            .iter()
            .map(|&c| batch.column(c).as_ref())
            .collect();
        if decoder.decode(&columns, &mut rows) {
            return Ok(Chunk {
                first_row,
                features: faer::Mat::zeros(n, 0),
                passthrough: None,
                rows_read: n,
                non_numeric: Vec::new(),
                kept: None,
                rows32: Some(rows),
            });
        }
        // A missing or unacceptable value: the usual chunk, which the missing-value
        // policy and the trainer's checks handle and name.
    }
    let p = spec.features.len();
    let mut features = state.take_mat(n, p);
    for (j, (&c, &at)) in spec.features.iter().zip(&at.features).enumerate() {
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
        let fields: Vec<_> = at
            .passthrough
            .iter()
            .map(|&i| schema.field(i).clone())
            .collect();
        let arrays: Vec<_> = at
            .passthrough
            .iter()
            .map(|&i| batch.column(i).clone())
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
    finish_chunk(
        dataset,
        spec,
        (first_row, file_row + 1),
        features,
        passthrough,
        Vec::new(),
        staged,
    )
}

#[cfg(test)]
mod tests;
