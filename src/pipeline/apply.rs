//! A saved model applied to rows the caller holds in memory (a NumPy array, a data frame's
//! Arrow batches) instead of files: what the Python module calls. The checks, the missing-
//! value policy, the row steps and the fitted steps are those of `dimred transform`, so
//! the numbers are the same as `dimred transform` writes for the same rows.
//!
//! Rows are cut into blocks applied on rayon's threads; each block keeps its rows' indices,
//! so a message names the row (1-based) as `transform` names a row of a file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use faer::{Mat, MatRef};
use rayon::prelude::*;

use crate::config::MissingPolicy;
use crate::error::{Error, Result};
use crate::model::{Header, Model};
use crate::source::{Dataset, MissingMode, ReadSpec};
use crate::steps::FittedPipeline;
use crate::steps::rows::RowStep;

/// Rows per block: large enough for the matrix products to run at speed, small enough
/// that a block's copies stay in cache-sized pieces and every core gets blocks.
const BLOCK_ROWS: usize = 8192;

/// Which map to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Features → the model's output columns (`dimred transform`).
    Forward,
    /// Reduced columns → features (`dimred transform --inverse`).
    Inverse,
    /// Features → each row's reconstruction error alone (`--reconstruction-error`'s column).
    Error,
}

/// A model loaded once and applied to many inputs.
pub struct Applier {
    pub header: Header,
    fitted: FittedPipeline,
    path: PathBuf,
}

impl Applier {
    /// Loads and checks `path` as `dimred transform` does.
    pub fn open(path: &Path) -> Result<Applier> {
        let model = Model::load(path)?;
        let fitted = model.pipeline(path)?;
        Ok(Applier {
            header: model.header,
            fitted,
            path: path.to_path_buf(),
        })
    }

    /// The forward map's columns: the reduced ones, then a classifier's prediction.
    pub fn output_names(&self) -> Vec<String> {
        self.fitted.output_names(false)
    }

    /// The reduced columns `Direction::Inverse` reads.
    pub fn projection_names(&self) -> Vec<String> {
        self.fitted.projection_names()
    }

    /// The columns `direction` reads.
    pub fn input_names(&self, direction: Direction) -> Vec<String> {
        match direction {
            Direction::Inverse => self.projection_names(),
            _ => self.header.feature_names_in_.clone(),
        }
    }

    /// The columns `direction` writes.
    pub fn result_names(&self, direction: Direction) -> Vec<String> {
        match direction {
            Direction::Forward => self.output_names(),
            Direction::Inverse => self.header.feature_names_in_.clone(),
            Direction::Error => vec!["reconstruction_error".into()],
        }
    }

    /// Whether the model's `filter` or `derive` steps need named columns.
    pub fn has_row_steps(&self) -> bool {
        self.header.row_steps.iter().any(|s| s.row_step().is_some())
    }

    /// The refusals of `dimred transform` for a map the model does not have.
    fn check(&self, direction: Direction) -> Result<()> {
        if direction == Direction::Forward {
            return Ok(());
        }
        match self.fitted.not_invertible() {
            Some(kind) => Err(Error::config(format!(
                "inverse_transform and reconstruction_error need an inverse map, which the model's {kind} step does not have"
            ))),
            None => Ok(()),
        }
    }

    fn missing(&self, direction: Direction) -> MissingMode {
        match self.header.missing {
            _ if direction == Direction::Inverse => MissingMode::Error,
            MissingPolicy::Error => MissingMode::Error,
            MissingPolicy::SkipRow => MissingMode::SkipRow,
            MissingPolicy::ImputeMean => MissingMode::Impute(self.header.mean_.clone()),
        }
    }

    /// One block's rows, their missing values handled, through the map.
    fn apply_block(&self, x: MatRef<'_, f64>, direction: Direction) -> Mat<f64> {
        let mut scratch = Mat::zeros(0, 0);
        let inverter = self.fitted.inverter();
        match (direction, &inverter) {
            (Direction::Forward, _) => self.fitted.forward_with(x, None, &mut scratch),
            (Direction::Inverse, Some(inverse)) => inverse.inverse(x),
            (Direction::Error, Some(inverse)) => {
                let out = self.fitted.forward_with(x, Some(inverse), &mut scratch);
                let last = out.ncols() - 1;
                Mat::from_fn(out.nrows(), 1, |i, _| out[(i, last)])
            }
            // `check` refuses a direction the model has no map for before any block
            (_, None) => Mat::zeros(x.nrows(), 0),
        }
    }

    /// A matrix whose columns are the inputs of `direction` in the model's order (NumPy).
    /// `x` is used in place when every value is finite and its columns are contiguous;
    /// otherwise each block is copied, as a reader copies a batch.
    pub fn apply_matrix(&self, x: MatRef<'_, f64>, direction: Direction) -> Result<Mat<f64>> {
        self.check(direction)?;
        let names = self.input_names(direction);
        if x.ncols() != names.len() {
            let what = match direction {
                Direction::Inverse => "reduced columns the model writes",
                _ => "features the model was fitted on",
            };
            return Err(Error::data(format!(
                "the array has {} columns, the model has {} {what}",
                x.ncols(),
                names.len()
            )));
        }
        if self.has_row_steps() && direction != Direction::Inverse {
            return Err(Error::config(format!(
                "{}: the model's filter and derive steps read columns by name; pass a data frame or an Arrow table rather than an array",
                self.path.display()
            )));
        }
        let fields: Vec<Field> = names
            .iter()
            .map(|n| Field::new(n, DataType::Float64, true))
            .collect();
        let dataset = Dataset::in_memory("the array", &Schema::new(fields));
        let spec = spec(
            (0..names.len()).collect(),
            Vec::new(),
            self.missing(direction),
        );
        let in_place = x.row_stride() == 1;
        let n = x.nrows();
        let blocks: Vec<Mat<f64>> = (0..n.div_ceil(BLOCK_ROWS))
            .into_par_iter()
            .map(|b| {
                let start = b * BLOCK_ROWS;
                let rows = x.subrows(start, BLOCK_ROWS.min(n - start));
                if in_place && all_finite(rows) {
                    return Ok(self.apply_block(rows, direction));
                }
                let owned = column_major(rows);
                if all_finite(owned.as_ref()) {
                    return Ok(self.apply_block(owned.as_ref(), direction));
                }
                let chunk = crate::source::finish_chunk(
                    &dataset,
                    &spec,
                    (start as u64, start as u64 + 1),
                    owned,
                    None,
                    Vec::new(),
                    None,
                )?;
                Ok(self.apply_block(chunk.features.as_ref(), direction))
            })
            .collect::<Result<_>>()?;
        let rows: usize = blocks.iter().map(|b| b.nrows()).sum();
        let width = self.result_names(direction).len();
        let mut out = Mat::zeros(rows, width);
        let mut at = 0;
        for block in blocks {
            out.subrows_mut(at, block.nrows()).copy_from(&block);
            at += block.nrows();
        }
        Ok(out)
    }

    /// Arrow batches (a data frame): the inputs of `direction` found by name, the model's
    /// row steps run, the passthrough columns it keeps copied first, as
    /// `dimred transform` writes them. `name` stands for the input in messages.
    pub fn apply_batches(
        &self,
        name: &str,
        schema: &Schema,
        batches: &[RecordBatch],
        direction: Direction,
    ) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
        self.check(direction)?;
        let mut dataset = Dataset::in_memory(name, schema);
        let row_steps: Vec<(usize, RowStep<'_>)> = self
            .header
            .row_steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.row_step().map(|r| (i, r)))
            .filter(|_| direction != Direction::Inverse)
            .collect();
        let mut problems = Vec::new();
        let rows = crate::steps::rows::plan(&row_steps, &dataset, &mut problems);
        if !problems.is_empty() {
            return Err(Error::config(format!(
                "{}: its row steps do not apply to {name}: {}",
                self.path.display(),
                problems.join("; ")
            )));
        }
        dataset.add_derived(rows.derived.clone());
        let mut features = Vec::new();
        let mut absent = Vec::new();
        for wanted in self.input_names(direction) {
            match dataset.column_index(&wanted) {
                Some(i) => features.push(i),
                None => absent.push(wanted),
            }
        }
        if !absent.is_empty() {
            let what = match direction {
                Direction::Inverse => "reduced column(s) the model writes",
                _ => "feature column(s) the model was fitted on",
            };
            return Err(Error::data(format!(
                "{name} lacks {what}: {}",
                absent.join(", ")
            )));
        }
        let passthrough: Vec<usize> = self
            .header
            .passthrough
            .iter()
            .filter_map(|p| dataset.column_index(p))
            .collect();
        let mut spec = spec(features, passthrough.clone(), self.missing(direction));
        spec.stages = rows.stages.clone();
        spec.reads = rows.reads.clone();
        // every block of every batch, with the index of its first row in the whole input
        let mut pieces = Vec::new();
        let mut first = 0u64;
        for batch in batches {
            let n = batch.num_rows();
            for start in (0..n).step_by(BLOCK_ROWS) {
                let len = BLOCK_ROWS.min(n - start);
                pieces.push((batch.slice(start, len), first + start as u64));
            }
            first += n as u64;
        }
        let names = self.result_names(direction);
        let classes = match direction {
            Direction::Forward => self.fitted.predicted_column(),
            _ => None,
        };
        let out_fields: Vec<Field> = passthrough
            .iter()
            .map(|&i| schema.field(i).clone())
            .chain(names.iter().enumerate().map(|(c, n)| {
                let ty = match &classes {
                    Some((at, labels)) if *at == c => class_type(labels),
                    _ => DataType::Float64,
                };
                Field::new(n, ty, false)
            }))
            .collect();
        let out_schema = Arc::new(Schema::new(out_fields));
        let out = pieces
            .par_iter()
            .map(|(piece, first_row)| {
                let chunk = dataset.decode_memory(&spec, piece, *first_row)?;
                let z = self.apply_block(chunk.features.as_ref(), direction);
                let mut columns: Vec<ArrayRef> = chunk
                    .passthrough
                    .map(|b| b.columns().to_vec())
                    .unwrap_or_default();
                for c in 0..z.ncols() {
                    let values = z.col(c).iter().copied();
                    columns.push(match &classes {
                        Some((at, labels)) if *at == c => class_column(labels, values),
                        _ => Arc::new(Float64Array::from_iter_values(values)),
                    });
                }
                RecordBatch::try_new(out_schema.clone(), columns)
                    .map_err(|e| Error::data(format!("cannot assemble output rows: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((out_schema, out))
    }
}

/// Whether every value is finite; `x`'s columns are contiguous (one sweep each, which
/// vectorises).
fn all_finite(x: MatRef<'_, f64>) -> bool {
    (0..x.ncols()).all(|j| x.col(j).iter().fold(true, |ok, v| ok & v.is_finite()))
}

/// Rows of the caller's array in the chunks' layout (column-major). A row-major array
/// (NumPy's C order) is copied in tiles of `TILE` rows, each read row after row while
/// its columns' pieces stay in cache (column by column, every value read would touch a
/// new cache line), through slices rather than element indexing, which the dev profile
/// leaves uninlined. A float32 array (the Python module's) becomes float64 on the way.
pub fn column_major<T: Copy + Into<f64>>(x: MatRef<'_, T>) -> Mat<f64> {
    const TILE: usize = 64;
    let (n, p) = (x.nrows(), x.ncols());
    let rows: Option<Vec<&[T]>> = (0..n)
        .map(|i| {
            x.transpose()
                .col(i)
                .try_as_col_major()
                .map(|r| r.as_slice())
        })
        .collect();
    let Some(rows) = rows else {
        return Mat::from_fn(n, p, |i, j| x[(i, j)].into());
    };
    let mut out = Mat::zeros(n, p);
    for i0 in (0..n).step_by(TILE) {
        let tile = &rows[i0..(i0 + TILE).min(n)];
        for j in 0..p {
            let col = out
                .col_mut(j)
                .try_as_col_major_mut()
                .expect("an owned matrix's columns are contiguous")
                .as_slice_mut();
            for (d, row) in col[i0..i0 + tile.len()].iter_mut().zip(tile) {
                *d = row[j].into();
            }
        }
    }
    out
}

fn spec(features: Vec<usize>, passthrough: Vec<usize>, missing: MissingMode) -> ReadSpec {
    ReadSpec {
        features,
        passthrough,
        batch_rows: BLOCK_ROWS,
        missing,
        shuffle: None,
        decoder: None,
        stages: Vec::new(),
        shard: None,
        reads: Vec::new(),
    }
}

/// The predicted class's column type, as reduced.parquet has it: integers when every
/// class reads as one (a numeric label), else text.
fn class_type(labels: &[String]) -> DataType {
    match integer_labels(labels) {
        Some(_) => DataType::Int64,
        None => DataType::Utf8,
    }
}

fn integer_labels(labels: &[String]) -> Option<Vec<i64>> {
    labels.iter().map(|l| l.parse().ok()).collect()
}

fn class_column(labels: &[String], index: impl Iterator<Item = f64>) -> ArrayRef {
    let index = index.map(|v| v as usize);
    match integer_labels(labels) {
        Some(ints) => Arc::new(Int64Array::from_iter_values(index.map(|i| ints[i]))),
        None => Arc::new(StringArray::from_iter_values(
            index.map(|i| labels[i].as_str()),
        )),
    }
}
