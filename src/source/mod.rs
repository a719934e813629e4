//! Chunk readers. A dataset is one file, a folder or a glob of CSV (optionally gzipped)
//! or Parquet files, read in sorted order as one table. `Dataset::open` reads only
//! headers and metadata (what `dimred validate` needs); `Dataset::read` streams the rows
//! as `Chunk`s of at most `batch_rows` rows to a callback, which the runner connects to a
//! bounded channel.

mod csv;
mod files;
pub mod labels;
mod memory;
mod numeric;
mod order;
mod parquet;
mod pool;
mod stage;

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use faer::Mat;

use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::progress::{Progress, Total};
use files::{check_unique, list_files, same_schema};
pub use numeric::plain_type;
pub(crate) use pool::ReadState;
pub use pool::{CHANNEL_CHUNKS, ChunkPool};
use stage::Kept;
pub use stage::RowStage;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
}

impl Format {
    fn of(path: &Path) -> Option<Format> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".csv") || name.ends_with(".csv.gz") {
            Some(Format::Csv)
        } else if name.ends_with(".parquet") || name.ends_with(".pq") {
            Some(Format::Parquet)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnKind {
    /// Integer or floating point: usable as a feature.
    Numeric,
    /// Known not to be numeric (a Parquet string column, say); the text names the type.
    Other(String),
    /// CSV: the type shows only when values are read.
    Unknown,
}

impl std::fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ColumnKind::Numeric => f.write_str("numeric"),
            ColumnKind::Other(ty) => f.write_str(ty),
            ColumnKind::Unknown => f.write_str("not known before reading"),
        }
    }
}

/// A CSV column's type as a user declares it (`input.columns`), instead of the type
/// its first rows suggest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    /// Whole numbers (int64 in reduced.parquet).
    Integer,
    /// Numbers (float64).
    Float,
    /// Text, whatever it looks like.
    Text,
}

impl ColumnType {
    pub fn arrow_type(self) -> arrow_schema::DataType {
        match self {
            ColumnType::Integer => arrow_schema::DataType::Int64,
            ColumnType::Float => arrow_schema::DataType::Float64,
            ColumnType::Text => arrow_schema::DataType::Utf8,
        }
    }

    pub fn kind(self) -> ColumnKind {
        match self {
            ColumnType::Integer | ColumnType::Float => ColumnKind::Numeric,
            ColumnType::Text => ColumnKind::Other("text".into()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    pub kind: ColumnKind,
    /// Stored as 32-bit floats (a Parquet or Arrow `Float32` column): every value is exactly
    /// an f32, so a fit may multiply it in f32 without rounding the data.
    pub float32: bool,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    /// What the user wrote, for messages and reports.
    pub path: String,
    /// Local paths, or `scheme://bucket/key` URLs for object storage.
    pub files: Vec<PathBuf>,
    /// Each file's length in bytes.
    pub file_sizes: Vec<u64>,
    pub format: Format,
    pub columns: Vec<ColumnInfo>,
    /// Known from Parquet metadata; `None` for CSV.
    pub total_rows: Option<u64>,
    pub total_bytes: u64,
    /// Parquet: per column, its largest column chunk in any file (uncompressed bytes);
    /// empty for CSV.
    pub column_chunk_bytes: Vec<u64>,
    /// Parquet: per column, the most the local reader holds of it at once (its dictionary
    /// and a data page, `parquet::Footer::page_bytes`); empty for CSV.
    pub column_page_bytes: Vec<u64>,
    /// The largest file's footer in memory (`metadata_bytes`).
    pub metadata_bytes: u64,
    /// Parquet: every file has an offset index, so object storage reads large row groups
    /// in slices.
    pub offset_index: bool,
    /// Each object storage file's decoded footer, read once when the dataset is opened and
    /// used by every pass (None for local files and CSV).
    pub footers: Vec<Option<::parquet::arrow::arrow_reader::ArrowReaderMetadata>>,
    /// The kept footers' bytes in memory.
    pub footers_bytes: u64,
    /// How many of `columns`, at the end, are derived by row steps rather than stored in
    /// the files (`add_derived`).
    pub derived: usize,
    /// CSV columns whose type the pipeline declares (`input.columns`, `declare`).
    pub declared: Vec<(String, ColumnType)>,
}

/// What to do with a missing (empty, null, NaN) or infinite feature value while reading.
#[derive(Debug, Clone)]
pub enum MissingMode {
    Error,
    SkipRow,
    /// Replace by these per-feature values (the means learnt in an earlier pass).
    Impute(Vec<f64>),
    /// Keep NaN in the chunk (a pass that learns the means to impute).
    Keep,
    /// Keep NaN and count non-numeric text instead of failing (`dimred scan`).
    Lenient,
}

#[derive(Debug, Clone)]
pub struct ReadSpec {
    /// Column indices (into `Dataset::columns`) of the features, in feature order.
    pub features: Vec<usize>,
    pub passthrough: Vec<usize>,
    pub batch_rows: usize,
    pub missing: MissingMode,
    /// Read Parquet row groups (across all files) in an order shuffled by this seed, for
    /// training epochs. Rows keep their dataset indices. CSV is read in order.
    pub shuffle: Option<u64>,
    /// Parquet chunks come laid out by this hook (`Chunk::rows32`) when it accepts the
    /// batch, else as usual.
    pub decoder: Option<std::sync::Arc<dyn RowDecoder>>,
    /// Row stages, in order, on each batch before the features are taken out (filters,
    /// derived columns; see `stage`).
    pub stages: Vec<std::sync::Arc<dyn RowStage>>,
    /// Read only this shard's part of the input (`Shard::range`).
    pub shard: Option<Shard>,
    /// File columns the stages read beside the features and passthrough columns (the
    /// columns their expressions name).
    pub reads: Vec<usize>,
}

/// Shard `index` of `count` (0-based) of a sharded run. Its part of the input is a
/// contiguous range of units in one global order: Parquet row groups across the files
/// in sorted path order, or whole files for CSV. Unit u of U belongs to the shard i with
/// ⌊i·U/N⌋ ≤ u < ⌊(i+1)·U/N⌋, so the shards' parts hold every row exactly once and the
/// shards in index order read the input in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub fn range(self, units: usize) -> std::ops::Range<usize> {
        let at = |i: usize| (i as u128 * units as u128 / self.count as u128) as usize;
        at(self.index)..at(self.index + 1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// A decode hook: lays a record batch's feature columns (given in feature order) out in
/// the consumer's own form, f32 row after row, straight from Arrow, skipping the f64
/// chunk matrix and a second pass over it. It returns false when it cannot (a null, a
/// value the consumer refuses); the batch then comes as the usual chunk, which the
/// missing-value policy and the consumer's own checks handle and name. The autoencoder's
/// input layout is one (`steps::autoencoder::train::layout`).
pub trait RowDecoder: std::fmt::Debug + Send + Sync {
    fn decode(&self, columns: &[&dyn arrow_array::Array], rows: &mut Vec<f32>) -> bool;
}

impl Dataset {
    pub fn open(path: &str) -> Result<Dataset> {
        let (files, file_sizes): (Vec<PathBuf>, Vec<u64>) = list_files(path)?.into_iter().unzip();
        let format = Format::of(&files[0]).expect("list_files keeps known formats only");
        if let Some(other) = files.iter().find(|f| Format::of(f) != Some(format)) {
            return Err(Error::config(format!(
                "input {path} mixes formats: {} is not {}",
                other.display(),
                format.name()
            )));
        }
        let mut total_rows = Some(0u64);
        let mut total_bytes = 0u64;
        let mut columns: Option<Vec<ColumnInfo>> = None;
        let mut column_chunk_bytes: Vec<u64> = Vec::new();
        let mut column_page_bytes: Vec<u64> = Vec::new();
        let mut offset_index = format == Format::Parquet;
        let mut metadata_bytes = 0u64;
        let mut footers = Vec::with_capacity(files.len());
        let mut footers_bytes = 0u64;
        for (file, &size) in files.iter().zip(&file_sizes) {
            total_bytes += size;
            let (cols, rows) = match format {
                Format::Csv => (csv::header(file)?, None),
                Format::Parquet => {
                    let footer = parquet::schema(file, size)?;
                    metadata_bytes = metadata_bytes.max(footer.metadata_bytes);
                    offset_index &= footer.offset_index;
                    let remote = crate::cloud::is_remote(file);
                    footers_bytes += if remote { footer.metadata_bytes } else { 0 };
                    footers.push(remote.then(|| footer.footer.clone()));
                    for (most, bytes) in [
                        (&mut column_chunk_bytes, footer.chunk_bytes),
                        (&mut column_page_bytes, footer.page_bytes),
                    ] {
                        most.resize(bytes.len().max(most.len()), 0);
                        for (most, b) in most.iter_mut().zip(bytes) {
                            *most = (*most).max(b);
                        }
                    }
                    (footer.columns, Some(footer.rows))
                }
            };
            check_unique(&cols, file)?;
            total_rows = match (total_rows, rows) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
            match &columns {
                None => columns = Some(cols),
                Some(first) => same_schema(first, &cols, &files[0], file)?,
            }
        }
        Ok(Dataset {
            path: path.to_string(),
            files,
            file_sizes,
            format,
            columns: columns.expect("at least one file"),
            total_rows,
            total_bytes,
            column_chunk_bytes,
            column_page_bytes,
            metadata_bytes,
            offset_index,
            footers,
            footers_bytes,
            derived: 0,
            declared: Vec::new(),
        })
    }

    /// Declares CSV columns' types (`input.columns`): they are no longer guessed from
    /// the first rows. A name that is no column, or a declaration for Parquet (whose
    /// files carry their types), is a problem pushed.
    pub fn declare(&mut self, types: &[(String, ColumnType)], problems: &mut Vec<String>) {
        if types.is_empty() {
            return;
        }
        if self.format != Format::Csv {
            problems.push(format!(
                "input.columns: {} is {}, whose files carry their columns' types; declare types for CSV input only",
                self.path,
                self.format.name()
            ));
            return;
        }
        for (name, ty) in types {
            match self.column_index(name) {
                Some(c) => {
                    self.columns[c].kind = ty.kind();
                    self.declared.push((name.clone(), *ty));
                }
                None => problems.push(format!(
                    "input.columns: column '{name}' does not exist in {}",
                    self.path
                )),
            }
        }
    }

    /// The type `input.columns` declares for `name`, if any.
    pub fn declared(&self, name: &str) -> Option<ColumnType> {
        self.declared
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| *t)
    }

    /// Appends the columns row steps derive: from then on they are columns like the
    /// files' own (`input.features` selects them), which the reader computes.
    pub fn add_derived(&mut self, columns: Vec<ColumnInfo>) {
        self.derived += columns.len();
        self.columns.extend(columns);
    }

    /// The kinds of `columns` (file columns): as the metadata says, or for CSV, whose
    /// header says nothing of types, from the first file's first rows (numbers or text).
    pub fn peek_kinds(&self, columns: &[usize]) -> Result<Vec<ColumnKind>> {
        let unknown: Vec<usize> = columns
            .iter()
            .copied()
            .filter(|&c| self.columns[c].kind == ColumnKind::Unknown)
            .collect();
        let mut peeked = match (unknown.is_empty(), self.format) {
            (false, Format::Csv) => csv::peek_kinds(&self.files[0], &unknown, PEEK_ROWS)?,
            _ => Vec::new(),
        }
        .into_iter();
        Ok(columns
            .iter()
            .map(|&c| match &self.columns[c].kind {
                ColumnKind::Unknown => peeked.next().unwrap_or(ColumnKind::Unknown),
                known => known.clone(),
            })
            .collect())
    }

    /// Columns stored in the files (the first ones; derived columns follow).
    pub fn file_width(&self) -> usize {
        self.columns.len() - self.derived
    }

    /// Bytes the reader holds beside its chunks when it decodes `columns`: from local
    /// Parquet files a dictionary and a page per column, whatever the row group's size;
    /// from object storage a row group's column chunks, fetched whole, or with an offset
    /// index at most a slice of `SLICE_BYTES` of them; nothing for CSV, which is read line
    /// by line.
    pub fn reader_bytes(&self, columns: &[usize]) -> u64 {
        let sum = |held: &[u64]| columns.iter().filter_map(|&c| held.get(c)).sum::<u64>();
        if !self.is_remote() {
            return sum(&self.column_page_bytes);
        }
        let whole = sum(&self.column_chunk_bytes);
        if self.offset_index {
            // a slice of rows, and a page either side of it per column
            whole.min(parquet::SLICE_BYTES + 2 * sum(&self.column_page_bytes))
        } else {
            whole
        }
    }

    /// The Parquet footers the reader holds in memory (0 for CSV): the largest file's
    /// for each row group in flight, or for object storage every file's, kept from the
    /// start to the end of the run.
    pub fn metadata_bytes(&self) -> u64 {
        if self.is_remote() {
            self.footers_bytes
        } else {
            self.metadata_bytes * self.row_groups_in_flight()
        }
    }

    /// Row groups a read holds at once: from object storage one is fetched while the one
    /// before it is decoded.
    pub fn row_groups_in_flight(&self) -> u64 {
        if self.format == Format::Parquet && self.is_remote() {
            parquet::REMOTE_DECODERS as u64
        } else {
            1
        }
    }

    /// Whether the files are in object storage.
    pub fn is_remote(&self) -> bool {
        self.files
            .first()
            .is_some_and(|f| crate::cloud::is_remote(f))
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    pub fn progress_total(&self) -> Total {
        match self.total_rows {
            Some(rows) => Total::Rows(rows),
            None => Total::Bytes(self.total_bytes),
        }
    }

    /// Streams every row as chunks to `emit`, which returns `false` to stop early (the
    /// consumer has gone away). Errors name the file, row and column.
    /// `recycle` hands back feature matrices the consumer is done with (its sender takes
    /// back the ones this read did not use), so steady-state reading allocates (and the
    /// kernel zeroes) no new chunk memory.
    pub fn read(
        &self,
        spec: &ReadSpec,
        progress: &Progress,
        recycle: Option<ChunkPool>,
        emit: &mut dyn FnMut(Chunk) -> bool,
    ) -> Result<()> {
        let mut state = ReadState::default();
        state.recycle = recycle;
        if let (Some(seed), Format::Parquet) = (spec.shuffle, self.format) {
            let decoders = parquet::SHUFFLED_DECODERS;
            return parquet::read_units(
                decoders,
                self,
                spec,
                Some(seed),
                progress,
                &mut state,
                emit,
            );
        }
        if self.format == Format::Parquet && self.is_remote() {
            // a row group is fetched while the one before it is decoded
            let decoders = parquet::REMOTE_DECODERS;
            return parquet::read_units(decoders, self, spec, None, progress, &mut state, emit);
        }
        if let (Some(_), Format::Parquet) = (spec.shard, self.format) {
            return parquet::read_units(1, self, spec, None, progress, &mut state, emit);
        }
        let files = match spec.shard {
            Some(shard) => shard.range(self.files.len()),
            None => 0..self.files.len(),
        };
        for f in files {
            let file = &self.files[f];
            let go_on = match self.format {
                Format::Csv => csv::read(self, file, spec, progress, &mut state, emit),
                Format::Parquet => {
                    parquet::guarded(|| parquet::read(self, f, spec, progress, &mut state, emit))
                }
            }
            .map_err(|e| e.in_file(file))?;
            if !go_on {
                break;
            }
        }
        Ok(())
    }
}

/// Rows `peek_kinds` reads of a CSV file.
const PEEK_ROWS: usize = 1000;

/// Applies the missing-value policy to a freshly decoded chunk. `first_row` is the index
/// in the dataset of its first row read, `file_row0` that row's 1-based number in its
/// file, for messages.
pub(crate) fn finish_chunk(
    dataset: &Dataset,
    spec: &ReadSpec,
    (first_row, file_row0): (u64, u64),
    mut features: Mat<f64>,
    passthrough: Option<RecordBatch>,
    non_numeric: Vec<u64>,
    staged: Option<Kept>,
) -> Result<Chunk> {
    let rows_read = staged.as_ref().map_or(features.nrows(), |k| k.read);
    // Offset in the read batch of the chunk's row i (rows a stage dropped are skipped).
    let offset = |i: usize| staged.as_ref().map_or(i as u64, |k| k.rows[i] as u64);
    let p = features.ncols();
    match &spec.missing {
        MissingMode::Keep | MissingMode::Lenient => {}
        MissingMode::Error => {
            for j in 0..p {
                let col = features.col(j);
                // A branch-free sweep first (it vectorises); the search only on failure.
                if col.iter().fold(true, |ok, v| ok & v.is_finite()) {
                    continue;
                }
                if let Some(i) = (0..col.nrows()).find(|&i| !col[i].is_finite()) {
                    let v = col[i];
                    let what = if v.is_nan() {
                        "missing value (empty, null or NaN)".to_string()
                    } else {
                        format!("infinite value ({v})")
                    };
                    return Err(Error::data(format!(
                        "{what}; set input.missing to skip_row or impute_mean to accept it"
                    ))
                    .at_row(file_row0 + offset(i))
                    .at_column(&dataset.columns[spec.features[j]].name));
                }
            }
        }
        MissingMode::Impute(values) => {
            for (j, &fill) in values.iter().enumerate().take(p) {
                for v in features.col_mut(j).iter_mut() {
                    if !v.is_finite() {
                        *v = fill;
                    }
                }
            }
        }
        MissingMode::SkipRow => {
            let n = features.nrows();
            let keep: Vec<bool> = (0..n)
                .map(|i| (0..p).all(|j| features[(i, j)].is_finite()))
                .collect();
            let kept = keep.iter().filter(|k| **k).count();
            if kept < n {
                let rows: Vec<usize> = (0..n).filter(|&i| keep[i]).collect();
                features = Mat::from_fn(kept, p, |i, j| features[(rows[i], j)]);
                let passthrough = match passthrough {
                    Some(batch) => {
                        let mask = arrow_array::BooleanArray::from(keep);
                        Some(
                            arrow_select::filter::filter_record_batch(&batch, &mask).map_err(
                                |e| {
                                    Error::data(format!(
                                        "cannot drop rows from passthrough columns: {e}"
                                    ))
                                },
                            )?,
                        )
                    }
                    None => None,
                };
                return Ok(Chunk {
                    first_row,
                    features,
                    passthrough,
                    rows_read,
                    non_numeric,
                    kept: Some(rows.iter().map(|&r| offset(r) as u32).collect()),
                    rows32: None,
                });
            }
        }
    }
    Ok(Chunk {
        first_row,
        features,
        passthrough,
        rows_read,
        non_numeric,
        kept: staged.map(|k| k.rows),
        rows32: None,
    })
}

/// The columns an Arrow schema names, each numeric or of the type it is (a Parquet file's,
/// or a table held in memory).
pub(super) fn columns_of(schema: &arrow_schema::Schema) -> Vec<ColumnInfo> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnInfo {
            name: f.name().clone(),
            kind: if numeric::is_numeric(f.data_type()) {
                ColumnKind::Numeric
            } else {
                ColumnKind::Other(numeric::plain_type(f.data_type()))
            },
            float32: f.data_type() == &arrow_schema::DataType::Float32,
        })
        .collect()
}
