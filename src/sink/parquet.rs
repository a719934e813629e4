//! Streaming Parquet writer for reduced rows: passthrough columns first, then the
//! reduced coordinates as float64 (or float32 when asked), appended chunk by chunk (row
//! groups of at most `ROW_GROUP_ROWS`), under a temporary name until `finish`. The file's
//! key-value metadata is given by the caller (where the rows came from).

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use faer::MatRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::AtomicPath;
use crate::error::{Error, Result};

pub const ROW_GROUP_ROWS: usize = 65_536;

pub struct ParquetSink {
    file: AtomicPath,
    names: Vec<String>,
    writer: Option<ArrowWriter<File>>,
    schema: Option<SchemaRef>,
    rows: u64,
    float32: bool,
    metadata: Vec<(String, String)>,
    /// A column of class indices written as the classes they index (a classifier's
    /// prediction): integers when every class is one, else text.
    classes: Option<(usize, Vec<String>)>,
}

impl ParquetSink {
    /// `names` are the reduced columns (pc1…pck).
    pub fn new(target: &Path, names: Vec<String>) -> ParquetSink {
        ParquetSink {
            file: AtomicPath::new(target),
            names,
            writer: None,
            schema: None,
            rows: 0,
            float32: false,
            metadata: Vec::new(),
            classes: None,
        }
    }

    /// Reduced columns as float32 (`output.dtype: float32`): half the bytes, for consumers
    /// that compute in float32 anyway.
    pub fn float32(mut self, yes: bool) -> ParquetSink {
        self.float32 = yes;
        self
    }

    /// The reduced column `classes.0` holds indices into `classes.1`.
    pub fn classes(mut self, classes: Option<(usize, Vec<String>)>) -> ParquetSink {
        self.classes = classes;
        self
    }

    /// The predicted classes as integers when every class reads as one (a numeric label).
    fn integer_classes(&self) -> Option<Vec<i64>> {
        let (_, names) = self.classes.as_ref()?;
        names.iter().map(|c| c.parse::<i64>().ok()).collect()
    }

    /// Key-value pairs for the file's footer (Parquet's `key_value_metadata`).
    pub fn metadata(mut self, pairs: Vec<(String, String)>) -> ParquetSink {
        self.metadata = pairs;
        self
    }

    fn open(&mut self, passthrough: Option<&RecordBatch>) -> Result<()> {
        let mut fields: Vec<Field> = passthrough
            .map(|b| {
                b.schema()
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone())
                    .collect()
            })
            .unwrap_or_default();
        let reduced = if self.float32 {
            DataType::Float32
        } else {
            DataType::Float64
        };
        let class_type = if self.integer_classes().is_some() {
            DataType::Int64
        } else {
            DataType::Utf8
        };
        let class_column = self.classes.as_ref().map(|c| c.0);
        fields.extend(self.names.iter().enumerate().map(|(c, n)| {
            let ty = if Some(c) == class_column {
                class_type.clone()
            } else {
                reduced.clone()
            };
            Field::new(n, ty, false)
        }));
        // in the Arrow schema too: pyarrow shows a table's `schema.metadata` from it
        let schema = Arc::new(
            Schema::new(fields).with_metadata(
                self.metadata
                    .iter()
                    .cloned()
                    .collect::<std::collections::HashMap<_, _>>(),
            ),
        );
        let out = File::create(self.file.tmp())
            .map_err(|e| Error::io("create", self.file.target(), e))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            // Reduced coordinates are distinct floats: a dictionary only costs time.
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_key_value_metadata(Some(
                self.metadata
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone()))
                    .collect(),
            ))
            .build();
        let writer = ArrowWriter::try_new(out, schema.clone(), Some(props))
            .map_err(|e| Error::io("write", self.file.target(), std::io::Error::other(e)))?;
        self.writer = Some(writer);
        self.schema = Some(schema);
        Ok(())
    }

    pub fn write(
        &mut self,
        passthrough: Option<&RecordBatch>,
        reduced: MatRef<'_, f64>,
    ) -> Result<()> {
        if self.writer.is_none() {
            self.open(passthrough)?;
        }
        let mut columns: Vec<ArrayRef> = passthrough
            .map(|b| b.columns().to_vec())
            .unwrap_or_default();
        let integers = self.integer_classes();
        for c in 0..reduced.ncols() {
            let col = reduced.col(c);
            let values = (0..reduced.nrows()).map(|i| col[i]);
            if let Some((at, names)) = &self.classes
                && *at == c
            {
                let index = values.map(|v| v as usize);
                columns.push(match &integers {
                    Some(ints) => Arc::new(Int64Array::from_iter_values(index.map(|i| ints[i]))),
                    None => Arc::new(StringArray::from_iter_values(
                        index.map(|i| names[i].as_str()),
                    )),
                });
                continue;
            }
            columns.push(if self.float32 {
                Arc::new(Float32Array::from_iter_values(values.map(|v| v as f32)))
            } else {
                Arc::new(Float64Array::from_iter_values(values))
            });
        }
        let schema = self.schema.clone().expect("opened above");
        let batch = RecordBatch::try_new(schema, columns)
            .map_err(|e| Error::data(format!("cannot assemble output rows: {e}")))?;
        let target = self.file.target().to_path_buf();
        self.writer
            .as_mut()
            .expect("opened above")
            .write(&batch)
            .map_err(|e| Error::io("write", &target, std::io::Error::other(e)))?;
        self.rows += reduced.nrows() as u64;
        Ok(())
    }

    /// Closes the file and renames it into place. Returns the rows written.
    pub fn finish(mut self) -> Result<u64> {
        if self.writer.is_none() {
            self.open(None)?;
        }
        let target = self.file.target().to_path_buf();
        self.writer
            .take()
            .expect("opened above")
            .close()
            .map_err(|e| Error::io("write", &target, std::io::Error::other(e)))?;
        self.file.commit()?;
        Ok(self.rows)
    }
}
