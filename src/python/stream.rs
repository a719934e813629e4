//! Arrow data in and out through the Arrow PyCapsule interface
//! (`__arrow_c_stream__`, an `ArrowArrayStream` in a capsule named
//! "arrow_array_stream"), which pyarrow, polars and pandas speak: the batches cross
//! without a copy, in either direction.

use std::ffi::CStr;
use std::sync::{Arc, Mutex};

use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::{ArrowError, Schema};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use crate::error::{Error, Result};

const STREAM: &CStr = c"arrow_array_stream";

/// Every batch of `data`'s Arrow stream, with its schema.
pub(super) fn import(data: &Bound<'_, PyAny>) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    let not_arrow = |e: PyErr| {
        Error::data(format!(
            "the data cannot be read as Arrow ({e}); pass a NumPy array, a pandas or polars DataFrame, or a pyarrow Table"
        ))
    };
    let capsule = data.call_method0("__arrow_c_stream__").map_err(not_arrow)?;
    let capsule = capsule
        .cast::<PyCapsule>()
        .map_err(|e| not_arrow(e.into()))?;
    let ptr = capsule.pointer_checked(Some(STREAM)).map_err(not_arrow)?;
    // SAFETY: a capsule named "arrow_array_stream" holds an `ArrowArrayStream` (the
    // PyCapsule interface's contract); `from_raw` moves it out, leaving a released
    // stream for the capsule's destructor.
    let reader = unsafe { RecordBatchStreamReader::from_raw(ptr.as_ptr().cast()) }
        .map_err(|e| Error::data(format!("the Arrow stream: {e}")))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, ArrowError>>()
        .map_err(|e| Error::data(format!("the Arrow stream: {e}")))?;
    Ok((schema, batches))
}

/// Result batches that Python takes once through `__arrow_c_stream__`.
#[pyclass(module = "dimred._dimred", frozen)]
pub(super) struct Batches {
    schema: Arc<Schema>,
    batches: Mutex<Option<Vec<RecordBatch>>>,
}

impl Batches {
    pub(super) fn new(schema: Arc<Schema>, batches: Vec<RecordBatch>) -> Batches {
        Batches {
            schema,
            batches: Mutex::new(Some(batches)),
        }
    }
}

#[pymethods]
impl Batches {
    /// The PyCapsule interface's export. `requested_schema` is accepted and ignored (the
    /// columns are float64 and the passthrough columns' own types).
    #[pyo3(signature = (requested_schema = None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batches = self
            .batches
            .lock()
            .ok()
            .and_then(|mut b| b.take())
            .ok_or_else(|| {
                pyo3::exceptions::PyRuntimeError::new_err("the result stream was already read")
            })?;
        let reader: Box<dyn RecordBatchReader + Send> = Box::new(RecordBatchIterator::new(
            batches.into_iter().map(Ok),
            self.schema.clone(),
        ));
        PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(reader), STREAM)
    }
}
