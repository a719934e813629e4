//! CSV (and gzipped CSV) chunk reader on the `csv` crate: the header gives the schema,
//! feature cells are parsed straight into the column-major chunk matrix, and every
//! failure names the file, row and column.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::builder::{Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};

use super::{ColumnInfo, ColumnKind, Dataset, MissingMode, ReadSpec, ReadState, finish_chunk};
use crate::chunk::Chunk;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// Counts bytes pulled from the file (compressed bytes for .gz), for progress in bytes.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type CsvReader = csv::Reader<Box<dyn Read + Send>>;

fn open(path: &Path) -> Result<(CsvReader, Arc<AtomicU64>)> {
    let file: Box<dyn Read + Send> = if crate::cloud::is_remote(path) {
        crate::cloud::read_stream(path)?
    } else {
        Box::new(File::open(path).map_err(|e| Error::io("open input", path, e))?)
    };
    let count = Arc::new(AtomicU64::new(0));
    let counted = Counting {
        inner: file,
        count: count.clone(),
    };
    let is_gz = path
        .to_str()
        .is_some_and(|s| s.to_ascii_lowercase().ends_with(".gz"));
    let reader: Box<dyn Read + Send> = if is_gz {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            1 << 16,
            counted,
        )))
    } else {
        Box::new(counted)
    };
    let csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .buffer_capacity(1 << 20)
        .from_reader(reader);
    Ok((csv, count))
}

fn csv_error(e: csv::Error) -> Error {
    let row = e.position().map(|p| p.record());
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8 text".to_string(),
        csv::ErrorKind::Io(io) => format!("read failed: {io}"),
        _ => e.to_string(),
    };
    let err = Error::data(message);
    match row {
        Some(r) if r > 0 => err.at_row(r),
        _ => err,
    }
}

pub(super) fn header(path: &Path) -> Result<Vec<ColumnInfo>> {
    let (mut reader, _) = open(path)?;
    let headers = reader
        .headers()
        .map_err(|e| csv_error(e).in_file(path))?
        .clone();
    if headers.is_empty() || (headers.len() == 1 && headers[0].is_empty()) {
        return Err(Error::data("the file is empty (no header row)").in_file(path));
    }
    Ok(headers
        .iter()
        .map(|name| ColumnInfo {
            name: name.trim_start_matches('\u{feff}').trim().to_string(),
            kind: ColumnKind::Unknown,
            float32: false,
        })
        .collect())
}

/// What `columns` hold in the file's first `rows` data rows: numbers (missing cells
/// aside) or text. Row steps need the types of the columns they name before reading.
pub(super) fn peek_kinds(path: &Path, columns: &[usize], rows: usize) -> Result<Vec<ColumnKind>> {
    let (mut reader, _) = open(path)?;
    let mut numeric = vec![true; columns.len()];
    let mut record = csv::ByteRecord::new();
    for _ in 0..rows {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e).in_file(path)),
        }
        for (k, &c) in columns.iter().enumerate() {
            let text = record
                .get(c)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            if parse_number(text.trim()).is_none() {
                numeric[k] = false;
            }
        }
    }
    Ok(numeric
        .into_iter()
        .map(|n| {
            if n {
                ColumnKind::Numeric
            } else {
                ColumnKind::Other("text".into())
            }
        })
        .collect())
}

/// Cells read as missing rather than as text (also for a label column's values).
pub(crate) fn is_missing(text: &str) -> bool {
    matches!(
        text,
        "" | "NA" | "NaN" | "nan" | "NAN" | "null" | "NULL" | "N/A"
    )
}

fn parse_number(text: &str) -> Option<f64> {
    if is_missing(text) {
        return Some(f64::NAN);
    }
    text.parse::<f64>().ok()
}

pub(super) fn read(
    dataset: &Dataset,
    path: &Path,
    spec: &ReadSpec,
    progress: &Progress,
    state: &mut ReadState,
    emit: &mut dyn FnMut(Chunk) -> bool,
) -> Result<bool> {
    let (mut reader, bytes) = open(path)?;
    // derived columns are not in the file: the stages compute them
    let width = dataset.file_width();
    let p = spec.features.len();
    // Text kept beside the features: the passthrough columns, and with stages the other
    // columns their expressions name.
    let texts = text_columns(spec, width);
    let batch = spec.batch_rows;
    let lenient = matches!(spec.missing, MissingMode::Lenient);
    let mut record = csv::ByteRecord::new();
    let mut file_row: u64 = 0; // data rows read from this file
    // skip the header: `headers()` consumes it
    reader.byte_headers().map_err(csv_error)?;
    loop {
        // Grown on demand, so a huge batch_rows on a small file costs nothing.
        let mut features = state.take_mat(batch.min(4096), p);
        let mut pass_text: Vec<Vec<Option<String>>> =
            vec![Vec::with_capacity(batch.min(4096)); texts.len()];
        let mut non_numeric = vec![0u64; if lenient { p } else { 0 }];
        let mut n = 0usize;
        let row0 = file_row + 1;
        while n < batch {
            match reader.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return Err(csv_error(e)),
            }
            file_row += 1;
            if record.len() != width {
                if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
                    file_row -= 1; // a blank line
                    continue;
                }
                return Err(Error::data(format!(
                    "ragged row: {} fields, the header has {width}",
                    record.len()
                ))
                .at_row(file_row));
            }
            if n == features.nrows() {
                let grown = (2 * n).min(batch);
                features.resize_with(grown, p, |_, _| 0.0);
            }
            for (j, &c) in spec.features.iter().enumerate() {
                if c >= width {
                    continue;
                }
                let text = std::str::from_utf8(&record[c]).unwrap_or("\u{FFFD}").trim();
                let value = match parse_number(text) {
                    Some(v) => v,
                    None if lenient => {
                        non_numeric[j] += 1;
                        f64::NAN
                    }
                    None => {
                        return Err(Error::data(format!("'{text}' is not a number"))
                            .at_row(file_row)
                            .at_column(&dataset.columns[c].name));
                    }
                };
                features[(n, j)] = value;
            }
            for (k, &c) in texts.iter().enumerate() {
                let text = String::from_utf8_lossy(&record[c]).trim().to_string();
                pass_text[k].push(if text.is_empty() { None } else { Some(text) });
            }
            n += 1;
        }
        if n == 0 {
            break;
        }
        let features = if n < features.nrows() {
            features.subrows(0, n).to_owned()
        } else {
            features
        };
        let passthrough = if texts.is_empty() {
            None
        } else {
            Some(passthrough_batch(
                dataset, spec, &texts, state, pass_text, row0,
            )?)
        };
        progress.advance(n as u64, state.bytes_done + bytes.load(Ordering::Relaxed));
        let (features, passthrough, staged) = if spec.stages.is_empty() {
            (features, passthrough, None)
        } else {
            super::stage::run_on_chunk(dataset, spec, features, passthrough)?
        };
        let chunk = finish_chunk(
            dataset,
            spec,
            (state.rows, row0),
            features,
            passthrough,
            non_numeric,
            staged,
        )?;
        state.rows += n as u64;
        if !emit(chunk) {
            return Ok(false);
        }
        if n < batch {
            break;
        }
    }
    state.bytes_done += bytes.load(Ordering::Relaxed);
    Ok(true)
}

/// The columns read as text: the passthrough columns stored in the file, then with
/// stages the other file columns they read (features are read as numbers).
fn text_columns(spec: &ReadSpec, width: usize) -> Vec<usize> {
    let mut columns: Vec<usize> = spec
        .passthrough
        .iter()
        .copied()
        .filter(|&c| c < width)
        .collect();
    if !spec.stages.is_empty() {
        for &c in &spec.reads {
            if c < width && !spec.features.contains(&c) && !columns.contains(&c) {
                columns.push(c);
            }
        }
    }
    columns
}

/// The types of the text columns (passthrough columns, and columns only a row step
/// reads), fixed once for the whole dataset from the first file's first `TYPE_ROWS` data
/// rows, whatever `batch_rows` is: int64 if every present value is an integer (for a
/// passthrough column), else float64 if every one is a number, else text. A type
/// declared in `input.columns` wins.
fn fixed_schema(dataset: &Dataset, spec: &ReadSpec, columns: &[usize]) -> Result<Schema> {
    let first = &dataset.files[0];
    let (mut reader, _) = open(first)?;
    let mut record = csv::ByteRecord::new();
    let mut seen: Vec<Vec<String>> = vec![Vec::new(); columns.len()];
    for _ in 0..TYPE_ROWS {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(e).in_file(first)),
        }
        for (k, &c) in columns.iter().enumerate() {
            let text = record
                .get(c)
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let text = text.trim();
            if !is_missing(text) {
                seen[k].push(text.to_string());
            }
        }
    }
    let fields = columns
        .iter()
        .zip(&seen)
        .map(|(&c, values)| {
            let name = &dataset.columns[c].name;
            // A column only a stage reads is a number or text: whole numbers in its
            // first rows must not fix it as integers.
            let integers = spec.passthrough.contains(&c);
            let ty = match dataset.declared(name) {
                Some(declared) => declared.arrow_type(),
                None if integers && values.iter().all(|v| v.parse::<i64>().is_ok()) => {
                    DataType::Int64
                }
                None if values.iter().all(|v| v.parse::<f64>().is_ok()) => DataType::Float64,
                None => DataType::Utf8,
            };
            Field::new(name.clone(), ty, true)
        })
        .collect::<Vec<Field>>();
    Ok(Schema::new(fields))
}

/// Data rows of the first file that fix a CSV column's type (`fixed_schema`), as many
/// as `dataset.peek_kinds` reads for the row steps' types.
pub(super) const TYPE_ROWS: usize = super::PEEK_ROWS;

/// Builds the arrow columns of the passthrough values, in the types `fixed_schema`
/// fixed, so the output schema is the same for every chunk and every `batch_rows`.
fn passthrough_batch(
    dataset: &Dataset,
    spec: &ReadSpec,
    columns: &[usize],
    state: &mut ReadState,
    text: Vec<Vec<Option<String>>>,
    row0: u64,
) -> Result<RecordBatch> {
    let schema = match &state.passthrough_schema {
        Some(s) => s.clone(),
        None => {
            let s = Arc::new(fixed_schema(dataset, spec, columns)?);
            state.passthrough_schema = Some(s.clone());
            s
        }
    };
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(text.len());
    for ((field, values), &c) in schema.fields().iter().zip(text).zip(columns) {
        let needs = if spec.passthrough.contains(&c) {
            "input.passthrough".to_string()
        } else {
            spec.stages
                .iter()
                .find_map(|s| s.reader_of(field.name()))
                .unwrap_or_else(|| "a row step".into())
        };
        let how = if dataset.declared(field.name()).is_some() {
            "as input.columns declares".to_string()
        } else {
            format!(
                "as the first {TYPE_ROWS} rows of {} fixed it; declare the type in input.columns",
                dataset.files[0].display()
            )
        };
        let bad = |i: usize, v: &str| {
            let ty = match field.data_type() {
                DataType::Int64 => "a whole number",
                _ => "a number",
            };
            Error::data(format!(
                "'{v}' is not {ty}, which {needs} reads this column as ({how})"
            ))
            .at_row(row0 + i as u64)
            .at_column(field.name())
        };
        let array: ArrayRef = match field.data_type() {
            DataType::Int64 => {
                let mut b = Int64Builder::with_capacity(values.len());
                for (i, v) in values.iter().enumerate() {
                    match v {
                        None => b.append_null(),
                        Some(v) if is_missing(v) => b.append_null(),
                        Some(v) => b.append_value(v.parse().map_err(|_| bad(i, v))?),
                    }
                }
                Arc::new(b.finish())
            }
            DataType::Float64 => {
                let mut b = Float64Builder::with_capacity(values.len());
                for (i, v) in values.iter().enumerate() {
                    match v {
                        None => b.append_null(),
                        Some(v) if is_missing(v) => b.append_null(),
                        Some(v) => b.append_value(v.parse().map_err(|_| bad(i, v))?),
                    }
                }
                Arc::new(b.finish())
            }
            _ => {
                let mut b = StringBuilder::new();
                for v in &values {
                    b.append_option(v.as_deref());
                }
                Arc::new(b.finish())
            }
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema, arrays)
        .map_err(|e| Error::data(format!("cannot assemble passthrough columns: {e}")))
}
