//! The Python module `dimred._dimred` (cargo feature `python`, built by maturin): the
//! command line in-process, `run`, and a loaded model applied to NumPy arrays and Arrow
//! data. It holds no mathematics of its own: arrays come in through NumPy's
//! `__array_interface__` (used in place when their layout allows), data frames through
//! the Arrow PyCapsule stream interface, and everything else is the library's
//! (`command`, `run`, `pipeline::apply`). The Python package around it
//! (python/dimred/) picks the path by the input's kind and gives the result that kind.

mod arrays;
mod stream;

use std::time::Duration;

use pyo3::exceptions::PyKeyboardInterrupt;
use pyo3::prelude::*;

use crate::error::Error;
use crate::pipeline::apply::{Applier, Direction};
use crate::{RawPipeline, RunOptions};

/// The CLI's allocator and its tuning, for the library loaded into Python (the binary
/// has its own in main.rs; with this feature the library brings it).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A library error as the Python exception its exit code names (`dimred._errors`),
/// carrying the CLI's one-line message and the code.
fn to_py(py: Python<'_>, e: &Error) -> PyErr {
    let made = py
        .import("dimred._errors")
        .and_then(|m| m.getattr("from_code"))
        .and_then(|f| f.call1((e.exit_code(), e.user_line())));
    match made {
        Ok(exception) => PyErr::from_value(exception),
        Err(failed) => failed,
    }
}

/// Runs the `dimred` command line (`argv[0]` the program) and returns its exit code:
/// the console script `dimred` is this call, so it is the Rust binary's program.
#[pyfunction]
fn main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| crate::command::main(argv))
}

/// `dimred run` in-process: the pipeline (its YAML text, or the path to its file when
/// `from_path`), `--set` overrides and `--memory-limit`. Returns report.json's text and
/// the terminal table. The work runs on its own thread, the GIL released; Ctrl-C (any
/// signal whose Python handler raises) stops it at its next chunk, its temporary files
/// removed, and raises `dimred.Interrupted` (exit code 130).
#[pyfunction]
#[pyo3(signature = (pipeline, from_path, overrides, memory_limit, progress))]
fn run(
    py: Python<'_>,
    pipeline: String,
    from_path: bool,
    overrides: Vec<String>,
    memory_limit: Option<String>,
    progress: bool,
) -> PyResult<(String, String)> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let work = move || -> crate::Result<(String, String)> {
        let raw = if from_path {
            RawPipeline::load(std::path::Path::new(&pipeline))?
        } else {
            RawPipeline::from_yaml(&pipeline, "the pipeline dict")?
        };
        let mut overrides = overrides;
        if let Some(m) = memory_limit {
            overrides.push(format!("memory_limit={m}"));
        }
        let raw = crate::apply_overrides(raw, &overrides)?;
        let outcome = crate::run(
            raw,
            &RunOptions {
                quiet: !progress,
                resume: false,
            },
        )?;
        let report = serde_json::to_string(&outcome.report)
            .map_err(|e| Error::internal(format!("report.json: {e}")))?;
        Ok((report, outcome.table))
    };
    std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .unwrap_or_else(|panic| Err(Error::internal(panic_text(&panic))));
        let _ = tx.send(result);
    });
    loop {
        let got = py.detach(|| rx.recv_timeout(Duration::from_millis(100)));
        match got {
            Ok(result) => return result.map_err(|e| to_py(py, &e)),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                return Err(to_py(py, &Error::internal("the run's thread stopped")));
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        if let Err(signal) = py.check_signals() {
            crate::engine::interrupt();
            let _ = py.detach(|| rx.recv());
            crate::engine::clear_interrupt();
            return Err(if signal.is_instance_of::<PyKeyboardInterrupt>(py) {
                to_py(py, &Error::Interrupted)
            } else {
                signal
            });
        }
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a thread panicked".into());
    format!("dimred stopped: {text}")
}

fn direction(name: &str) -> PyResult<Direction> {
    match name {
        "forward" => Ok(Direction::Forward),
        "inverse" => Ok(Direction::Inverse),
        "error" => Ok(Direction::Error),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown direction {other}"
        ))),
    }
}

/// A fitted model (model.json) loaded once; `dimred.Model` wraps it.
#[pyclass(name = "NativeModel", module = "dimred._dimred", frozen)]
struct NativeModel {
    inner: Applier,
}

#[pymethods]
impl NativeModel {
    #[new]
    fn new(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        match py.detach(|| Applier::open(&path)) {
            Ok(inner) => Ok(NativeModel { inner }),
            Err(e) => Err(to_py(py, &e)),
        }
    }

    #[getter]
    fn feature_names_in(&self) -> Vec<String> {
        self.inner.header.feature_names_in_.clone()
    }

    #[getter]
    fn output_names(&self) -> Vec<String> {
        self.inner.output_names()
    }

    #[getter]
    fn projection_names(&self) -> Vec<String> {
        self.inner.projection_names()
    }

    #[getter]
    fn passthrough(&self) -> Vec<String> {
        self.inner.header.passthrough.clone()
    }

    #[getter]
    fn n_samples_seen(&self) -> u64 {
        self.inner.header.n_samples_seen_
    }

    /// The model's rows: a 2-D array (`__array_interface__`) whose columns are the inputs
    /// of `direction` in the model's order. Returns an object exposing the result the
    /// same way (NumPy wraps it without a copy).
    fn apply_array(
        &self,
        py: Python<'_>,
        array: Bound<'_, PyAny>,
        direction_name: &str,
    ) -> PyResult<arrays::Result2d> {
        let direction = direction(direction_name)?;
        let view = arrays::View::of(&array)?;
        let out = py.detach(|| view.with_f64(|x| self.inner.apply_matrix(x, direction)));
        match out {
            Ok(m) => Ok(arrays::Result2d::new(m, direction == Direction::Error)),
            Err(e) => Err(to_py(py, &e)),
        }
    }

    /// The model's rows from an object with `__arrow_c_stream__` (pyarrow, polars,
    /// pandas): columns found by name, passthrough kept. Returns an object with
    /// `__arrow_c_stream__` holding the result.
    fn apply_arrow(
        &self,
        py: Python<'_>,
        data: Bound<'_, PyAny>,
        direction_name: &str,
        name: &str,
    ) -> PyResult<stream::Batches> {
        let direction = direction(direction_name)?;
        let (schema, batches) = stream::import(&data).map_err(|e| to_py(py, &e))?;
        let out = py.detach(|| self.inner.apply_batches(name, &schema, &batches, direction));
        match out {
            Ok((schema, batches)) => Ok(stream::Batches::new(schema, batches)),
            Err(e) => Err(to_py(py, &e)),
        }
    }
}

#[pymodule]
fn _dimred(m: &Bound<'_, PyModule>) -> PyResult<()> {
    crate::command::keep_freed_pages();
    if let Some(threads) = crate::engine::limits::default_threads() {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(main, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_class::<NativeModel>()?;
    m.add_class::<arrays::Result2d>()?;
    m.add_class::<stream::Batches>()?;
    Ok(())
}
