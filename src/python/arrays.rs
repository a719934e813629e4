//! NumPy arrays in and out through `__array_interface__` (NumPy's own protocol, in the
//! stable ABI where the buffer protocol is not before Python 3.11): a float64 array of
//! any strides is read in place, a float32 one converted; a result is handed to NumPy as
//! the matrix it is (column-major), which `numpy.asarray` wraps without a copy.

use faer::{Mat, MatRef};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// A 2-D array's memory as its `__array_interface__` describes it. The caller keeps the
/// array alive (and borrowed) while a view is used.
pub(super) struct View {
    ptr: usize,
    rows: usize,
    cols: usize,
    /// In elements.
    row_stride: isize,
    col_stride: isize,
    float32: bool,
}

impl View {
    pub(super) fn of(array: &Bound<'_, PyAny>) -> PyResult<View> {
        let interface = array.getattr("__array_interface__")?;
        let interface = interface.cast::<PyDict>()?;
        let get = |key: &str| -> PyResult<Bound<'_, PyAny>> {
            interface
                .get_item(key)?
                .ok_or_else(|| PyTypeError::new_err(format!("__array_interface__ lacks {key}")))
        };
        let shape: Vec<usize> = get("shape")?.extract()?;
        let [rows, cols] = shape[..] else {
            return Err(PyValueError::new_err(format!(
                "expected a 2-D array (rows × features), got {} dimension(s)",
                shape.len()
            )));
        };
        let typestr: String = get("typestr")?.extract()?;
        let (float32, size) = match typestr.as_str() {
            "<f8" | "=f8" => (false, 8),
            "<f4" | "=f4" => (true, 4),
            other => {
                return Err(PyTypeError::new_err(format!(
                    "expected an array of float64 or float32, got dtype '{other}'"
                )));
            }
        };
        let data = get("data")?;
        let data = data.cast::<PyTuple>()?;
        let ptr: usize = data.get_item(0)?.extract()?;
        let strides = get("strides")?;
        let (row_stride, col_stride) = if strides.is_none() {
            (cols as isize, 1)
        } else {
            let s: Vec<isize> = strides.extract()?;
            if s.len() != 2 || s.iter().any(|b| b % size != 0) {
                return Err(PyValueError::new_err(
                    "array strides are not whole elements",
                ));
            }
            (s[0] / size, s[1] / size)
        };
        Ok(View {
            ptr,
            rows,
            cols,
            row_stride,
            col_stride,
            float32,
        })
    }

    /// `f` on the array as a float64 matrix: in place for float64, converted otherwise.
    pub(super) fn with_f64<T>(&self, f: impl FnOnce(MatRef<'_, f64>) -> T) -> T {
        if self.rows == 0 || self.cols == 0 {
            return f(Mat::<f64>::zeros(self.rows, self.cols).as_ref());
        }
        if self.float32 {
            // SAFETY: the interface describes this memory, and the caller holds the array.
            let x = unsafe {
                MatRef::from_raw_parts(
                    self.ptr as *const f32,
                    self.rows,
                    self.cols,
                    self.row_stride,
                    self.col_stride,
                )
            };
            return f(crate::pipeline::apply::column_major(x).as_ref());
        }
        // SAFETY: as above.
        let x = unsafe {
            MatRef::from_raw_parts(
                self.ptr as *const f64,
                self.rows,
                self.cols,
                self.row_stride,
                self.col_stride,
            )
        };
        f(x)
    }
}

/// A result matrix NumPy wraps in place (`numpy.asarray`): `flat` makes it 1-D (one
/// column, the per-row reconstruction errors).
#[pyclass(module = "dimred._dimred", frozen)]
pub(super) struct Result2d {
    values: Mat<f64>,
    flat: bool,
}

impl Result2d {
    pub(super) fn new(values: Mat<f64>, flat: bool) -> Result2d {
        Result2d { values, flat }
    }
}

#[pymethods]
impl Result2d {
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = &self.values;
        let d = PyDict::new(py);
        let (n, k) = (m.nrows(), m.ncols());
        // faer's pointer is never null, also for an empty matrix
        let ptr = m.as_ptr() as usize;
        let col = m.col_stride() * 8;
        if self.flat {
            d.set_item("shape", (n,))?;
            d.set_item("strides", (8,))?;
        } else {
            d.set_item("shape", (n, k))?;
            d.set_item("strides", (8, col))?;
        }
        d.set_item("typestr", "<f8")?;
        d.set_item("data", (ptr, false))?;
        d.set_item("version", 3)?;
        Ok(d)
    }
}
