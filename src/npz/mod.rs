//! `.npz` files (a zip of `.npy` arrays, uncompressed, as `numpy.savez` writes them), so a
//! fitted model's arrays load with `np.load` and no JSON parsing. Small enough to write by
//! hand: NPY format 1.0 and the zip's stored (method 0) entries, CRC-32 from flate2.

/// An array's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    /// Fixed-width unicode (`<U`), as numpy stores an array of str.
    Str(Vec<String>),
}

/// One named array: shape (empty for a scalar) and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub values: Values,
}

impl Array {
    pub fn vector(values: Vec<f64>) -> Array {
        Array {
            shape: vec![values.len()],
            values: Values::F64(values),
        }
    }

    pub fn scalar(value: f64) -> Array {
        Array {
            shape: Vec::new(),
            values: Values::F64(vec![value]),
        }
    }

    pub fn int(value: i64) -> Array {
        Array {
            shape: Vec::new(),
            values: Values::I64(vec![value]),
        }
    }

    pub fn flag(value: bool) -> Array {
        Array {
            shape: Vec::new(),
            values: Values::Bool(vec![value]),
        }
    }

    pub fn strings(values: Vec<String>) -> Array {
        Array {
            shape: vec![values.len()],
            values: Values::Str(values),
        }
    }

    /// Any shape, row-major values.
    pub fn tensor(shape: Vec<usize>, values: Vec<f64>) -> Array {
        debug_assert_eq!(shape.iter().product::<usize>(), values.len());
        Array {
            shape,
            values: Values::F64(values),
        }
    }

    /// rows × cols, the (i, j) value `f(i, j)`.
    pub fn matrix(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Array {
        Array {
            shape: vec![rows, cols],
            values: Values::F64(
                (0..rows)
                    .flat_map(|i| (0..cols).map(move |j| (i, j)))
                    .map(|(i, j)| f(i, j))
                    .collect(),
            ),
        }
    }

    /// The array as a `.npy` file.
    fn npy(&self) -> Vec<u8> {
        let (descr, data): (String, Vec<u8>) = match &self.values {
            Values::F64(v) => (
                "<f8".into(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            Values::I64(v) => (
                "<i8".into(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            Values::Bool(v) => ("|b1".into(), v.iter().map(|&b| u8::from(b)).collect()),
            Values::Str(v) => {
                let width = v
                    .iter()
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(1);
                let data = v
                    .iter()
                    .flat_map(|s| {
                        let mut chars: Vec<u32> = s.chars().map(u32::from).collect();
                        chars.resize(width, 0);
                        chars.into_iter().flat_map(u32::to_le_bytes)
                    })
                    .collect();
                (format!("<U{width}"), data)
            }
        };
        let shape = match self.shape.as_slice() {
            [] => "()".to_string(),
            [n] => format!("({n},)"),
            dims => format!(
                "({})",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        // magic (6) + version (2) + length (2) + header + '\n', a multiple of 64 bytes
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + data.len());
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&data);
        out
    }
}

mod read;
mod zip;

pub use read::read;
pub use zip::write;

#[cfg(test)]
mod tests;
