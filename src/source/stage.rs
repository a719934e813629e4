//! Row stages: work on each batch of rows as Arrow holds it, after decoding and before the
//! features are taken out. A filter drops rows; a derived column is appended. Every row
//! keeps its index in the dataset, so errors, validation splits and the report name the
//! row the user sees in the file. Parquet batches go through the stages as read; CSV
//! chunks are put into a batch of their features and passthrough columns first.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, RecordBatchOptions};
use arrow_schema::{DataType, Field, Schema};
use faer::Mat;

use super::{Dataset, ReadSpec};
use crate::error::{Error, Result};

/// One stage. It keeps the columns it is given, in place (it may append new ones).
pub trait RowStage: std::fmt::Debug + Send + Sync {
    /// The batch after the stage, and which of its input rows survive, in order (`None`:
    /// every row).
    fn apply(&self, batch: &RecordBatch) -> Result<(RecordBatch, Option<Vec<u32>>)>;
    /// The step (as its messages name it) that reads `column`, if this stage does.
    fn reader_of(&self, _column: &str) -> Option<String> {
        None
    }
}

/// The rows of a read batch that the stages kept.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    /// Rows read before the stages.
    pub read: usize,
    /// Each kept row's offset in the read batch.
    pub rows: Vec<u32>,
}

/// Runs the spec's stages in order; the kept rows compose.
pub(crate) fn run(spec: &ReadSpec, batch: &RecordBatch) -> Result<(RecordBatch, Option<Kept>)> {
    let read = batch.num_rows();
    let mut batch = batch.clone();
    let mut kept: Option<Vec<u32>> = None;
    for stage in &spec.stages {
        let (next, rows) = stage.apply(&batch)?;
        if next.num_columns() < batch.num_columns() {
            return Err(Error::internal("a row stage dropped a column it was given"));
        }
        if let Some(rows) = rows {
            kept = Some(match kept {
                None => rows,
                Some(before) => rows.iter().map(|&r| before[r as usize]).collect(),
            });
        }
        batch = next;
    }
    Ok((batch, kept.map(|rows| Kept { read, rows })))
}

/// A CSV chunk through the stages: its features stored in the file (as float64 columns
/// named as in the file, missing values as nulls, as Parquet holds them) and its text
/// columns (passthrough, and the other columns the stages read) in one batch; then the
/// features, derived ones included, and the passthrough columns taken out by name.
pub(crate) fn run_on_chunk(
    dataset: &Dataset,
    spec: &ReadSpec,
    features: Mat<f64>,
    texts: Option<RecordBatch>,
) -> Result<(Mat<f64>, Option<RecordBatch>, Option<Kept>)> {
    let width = dataset.file_width();
    let mut fields: Vec<Field> = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (j, &c) in spec.features.iter().enumerate() {
        if c < width {
            fields.push(Field::new(
                dataset.columns[c].name.clone(),
                DataType::Float64,
                true,
            ));
            arrays.push(Arc::new(Float64Array::from_iter(
                features.col(j).iter().map(|&v| (!v.is_nan()).then_some(v)),
            )));
        }
    }
    if let Some(batch) = &texts {
        fields.extend(batch.schema().fields().iter().map(|f| f.as_ref().clone()));
        arrays.extend(batch.columns().iter().cloned());
    }
    let options = RecordBatchOptions::new().with_row_count(Some(features.nrows()));
    let batch = RecordBatch::try_new_with_options(Arc::new(Schema::new(fields)), arrays, &options)
        .map_err(|e| Error::internal(format!("cannot assemble a batch for the row stages: {e}")))?;
    let (staged, kept) = run(spec, &batch)?;
    let column = |c: usize| -> Result<&ArrayRef> {
        let name = &dataset.columns[c].name;
        staged.column_by_name(name).ok_or_else(|| {
            Error::internal(format!("column '{name}' is missing after the row stages"))
        })
    };
    let mut out = Mat::zeros(staged.num_rows(), spec.features.len());
    for (j, &c) in spec.features.iter().enumerate() {
        let slice = out
            .col_mut(j)
            .try_as_col_major_mut()
            .expect("owned column is contiguous")
            .as_slice_mut();
        super::numeric::copy_numeric(column(c)?.as_ref(), slice)
            .map_err(|e| e.at_column(&dataset.columns[c].name))?;
    }
    let passthrough = if spec.passthrough.is_empty() {
        None
    } else {
        let fields: Vec<Field> = spec
            .passthrough
            .iter()
            .map(|&c| {
                Ok(Field::new(
                    dataset.columns[c].name.clone(),
                    column(c)?.data_type().clone(),
                    true,
                ))
            })
            .collect::<Result<_>>()?;
        let arrays: Vec<ArrayRef> = spec
            .passthrough
            .iter()
            .map(|&c| column(c).cloned())
            .collect::<Result<_>>()?;
        Some(
            RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| {
                Error::internal(format!("cannot take the passthrough columns back: {e}"))
            })?,
        )
    };
    Ok((out, passthrough, kept))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use arrow_array::BooleanArray;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Float64Type;

    use super::*;
    use crate::progress::Progress;
    use crate::source::{MissingMode, ReadSpec};

    /// Keeps the rows whose first column is above a threshold.
    #[derive(Debug)]
    struct Above(f64);

    impl RowStage for Above {
        fn apply(&self, batch: &RecordBatch) -> Result<(RecordBatch, Option<Vec<u32>>)> {
            let first = batch.column(0).as_primitive::<Float64Type>();
            let keep: Vec<bool> = first
                .iter()
                .map(|v| v.is_some_and(|v| v > self.0))
                .collect();
            let rows = (0..keep.len() as u32)
                .filter(|&i| keep[i as usize])
                .collect();
            let filtered =
                arrow_select::filter::filter_record_batch(batch, &BooleanArray::from(keep))
                    .map_err(|e| Error::data(e.to_string()))?;
            Ok((filtered, Some(rows)))
        }
    }

    fn read(
        path: &str,
        stages: Vec<Arc<dyn RowStage>>,
        missing: MissingMode,
    ) -> Result<Vec<(u64, Vec<f64>, String)>> {
        let dataset = Dataset::open(path)?;
        let spec = ReadSpec {
            features: vec![0, 1],
            passthrough: vec![2],
            batch_rows: 3,
            missing,
            shuffle: None,
            decoder: None,
            stages,
            shard: None,
            reads: Vec::new(),
        };
        let mut rows = Vec::new();
        let mut err = None;
        dataset
            .read(&spec, &Progress::hidden(), None, &mut |chunk| {
                let labels = chunk.passthrough.as_ref().unwrap().column(0).clone();
                for i in 0..chunk.nrows() {
                    let label = arrow_cast_string(&labels, i);
                    rows.push((
                        chunk.row_index(i),
                        vec![chunk.features[(i, 0)], chunk.features[(i, 1)]],
                        label,
                    ));
                }
                true
            })
            .unwrap_or_else(|e| err = Some(e));
        match err {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    fn arrow_cast_string(array: &ArrayRef, i: usize) -> String {
        match array.data_type() {
            DataType::Utf8 => array.as_string::<i32>().value(i).to_string(),
            DataType::Int64 => array
                .as_primitive::<arrow_array::types::Int64Type>()
                .value(i)
                .to_string(),
            other => format!("{other}"),
        }
    }

    fn csv(dir: &std::path::Path, body: &str) -> PathBuf {
        let path = dir.join("d.csv");
        std::fs::write(&path, format!("a,b,label\n{body}")).unwrap();
        path
    }

    #[test]
    fn a_filter_keeps_each_rows_index_and_its_passthrough() {
        let tmp = tempfile::tempdir().unwrap();
        let path = csv(
            tmp.path(),
            "1,10,x\n5,50,y\n2,20,z\n7,70,w\n3,30,v\n9,90,u\n4,40,t\n",
        );
        let path = path.to_str().unwrap();
        let all = read(path, vec![], MissingMode::Error).unwrap();
        assert_eq!(all.len(), 7);
        let kept = read(path, vec![Arc::new(Above(4.5))], MissingMode::Error).unwrap();
        let expected: Vec<(u64, Vec<f64>, String)> = vec![
            (1, vec![5.0, 50.0], "y".into()),
            (3, vec![7.0, 70.0], "w".into()),
            (5, vec![9.0, 90.0], "u".into()),
        ];
        assert_eq!(kept, expected);
        // Two stages compose: a second filter keeps offsets into the first's output.
        let both = read(
            path,
            vec![Arc::new(Above(4.5)), Arc::new(Above(6.0))],
            MissingMode::Error,
        )
        .unwrap();
        assert_eq!(both.iter().map(|r| r.0).collect::<Vec<_>>(), vec![3, 5]);
    }

    #[test]
    fn an_error_after_a_filter_names_the_row_in_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        // data row 5 (1-based) has an empty b and survives the filter
        let path = csv(tmp.path(), "1,10,x\n5,50,y\n2,20,z\n7,70,w\n8,,v\n");
        let err = read(
            path.to_str().unwrap(),
            vec![Arc::new(Above(4.5))],
            MissingMode::Error,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("row 5") && text.contains("column 'b'"),
            "{text}"
        );
        // skip_row after a filter: the kept rows' indices are still the file's
        let rows = read(
            path.to_str().unwrap(),
            vec![Arc::new(Above(4.5))],
            MissingMode::SkipRow,
        )
        .unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 3]);
    }

    #[test]
    fn a_filter_on_parquet_batches_keeps_each_rows_index() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("d.parquet");
        crate::generate::generate(
            &crate::generate::GenerateOptions {
                rows: 50,
                cols: 3,
                rank: 2,
                seed: 4,
                output: path.clone(),
                noise: 0.1,
                offset: 0.0,
                top: 1.0,
                decay: 0.8,
                row_group_rows: 16,
                float32: false,
            },
            true,
        )
        .unwrap();
        let path = path.to_str().unwrap();
        let all = read(path, vec![], MissingMode::Error).unwrap();
        assert_eq!(all.len(), 50);
        let expected: Vec<_> = all.iter().filter(|r| r.1[0] > 0.2).cloned().collect();
        assert!(!expected.is_empty() && expected.len() < 50);
        assert_eq!(
            read(path, vec![Arc::new(Above(0.2))], MissingMode::Error).unwrap(),
            expected
        );
    }
}
