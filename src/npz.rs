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

/// The `.npz` bytes of named arrays, in the order given (`name.npy` entries).
pub fn write(arrays: &[(String, Array)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, array) in arrays {
        let data = array.npy();
        let file = format!("{name}.npy");
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        let offset = out.len() as u32;
        // local file header: version 2.0, no flags, stored, 1980-01-01 00:00
        let common = |buf: &mut Vec<u8>| {
            for v in [20u16, 0, 0, 0, 0x21] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
            buf.extend_from_slice(&crc.sum().to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(data.len() as u32).to_le_bytes());
            buf.extend_from_slice(&(file.len() as u16).to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(file.as_bytes());
        out.extend_from_slice(&data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        common(&mut central);
        // comment length, disk, internal and external attributes, offset
        for v in [0u16, 0, 0] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&0u32.to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(file.as_bytes());
    }
    let start = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    let count = arrays.len() as u16;
    for v in [0u16, 0, count, count] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_padded_to_64_bytes_and_names_the_shape() {
        let a = Array::matrix(2, 3, |i, j| (i * 3 + j) as f64).npy();
        let len = u16::from_le_bytes([a[8], a[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        let header = std::str::from_utf8(&a[10..10 + len]).unwrap();
        assert!(header.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }"));
        assert!(header.ends_with('\n'));
        assert_eq!(a.len(), 10 + len + 6 * 8);
        assert_eq!(a[10 + len + 8..10 + len + 16], 1.0f64.to_le_bytes());
    }

    #[test]
    fn strings_are_fixed_width_utf32() {
        let a = Array::strings(vec!["ab".into(), "é".into()]).npy();
        let len = u16::from_le_bytes([a[8], a[9]]) as usize;
        assert!(
            std::str::from_utf8(&a[10..10 + len])
                .unwrap()
                .contains("'<U2'")
        );
        let data = &a[10 + len..];
        assert_eq!(data.len(), 2 * 2 * 4);
        assert_eq!(
            u32::from_le_bytes(data[8..12].try_into().unwrap()),
            'é' as u32
        );
        assert_eq!(u32::from_le_bytes(data[12..16].try_into().unwrap()), 0);
    }

    #[test]
    fn zip_directory_points_at_each_entry() {
        let arrays = vec![
            ("mean_".to_string(), Array::vector(vec![1.0, 2.0])),
            ("whiten".to_string(), Array::flag(true)),
        ];
        let zip = write(&arrays);
        let end = zip.len() - 22;
        assert_eq!(zip[end..end + 4], 0x0605_4b50u32.to_le_bytes());
        let entries = u16::from_le_bytes([zip[end + 10], zip[end + 11]]);
        assert_eq!(entries, 2);
        let cd = u32::from_le_bytes(zip[end + 16..end + 20].try_into().unwrap()) as usize;
        assert_eq!(zip[cd..cd + 4], 0x0201_4b50u32.to_le_bytes());
        // the second entry's local header is where the directory says
        let name_len = u16::from_le_bytes([zip[cd + 28], zip[cd + 29]]) as usize;
        let second = cd + 46 + name_len;
        let offset = u32::from_le_bytes(zip[second + 42..second + 46].try_into().unwrap());
        assert_eq!(
            zip[offset as usize..offset as usize + 4],
            0x0403_4b50u32.to_le_bytes()
        );
        assert_eq!(
            &zip[offset as usize + 30..offset as usize + 40],
            b"whiten.npy"
        );
    }
}
