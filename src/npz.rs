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
    zip(
        arrays.iter().map(|(name, array)| Member::npy(name, array)),
        &mut out,
        ZIP32_LIMIT,
    );
    out
}

/// The first size or offset a classic zip header cannot hold (0xFFFFFFFF itself means "see
/// the ZIP64 field"). An array of 4 GiB (a kernel PCA's `X_fit_` of many landmarks over
/// many features) or a file past it gets ZIP64 fields, which numpy's zipfile reads; below
/// it the file is the classic zip every reader knows.
const ZIP32_LIMIT: u64 = 0xFFFF_FFFF;

/// One stored entry: its name, size and CRC-32, and the bytes written after its header
/// (the tests give fewer bytes than `size` to lay out a file of many gigabytes).
struct Member {
    name: String,
    size: u64,
    crc: u32,
    data: Vec<u8>,
}

impl Member {
    fn npy(name: &str, array: &Array) -> Member {
        let data = array.npy();
        let mut crc = flate2::Crc::new();
        crc.update(&data);
        Member {
            name: format!("{name}.npy"),
            size: data.len() as u64,
            crc: crc.sum(),
            data,
        }
    }
}

/// A zip of stored members into `out` (PKWARE's APPNOTE 6.3: local headers and data, the
/// central directory, the end records). A size or offset of at least `limit` is written
/// as 0xFFFFFFFF with its value in the entry's ZIP64 extra field (4.5.3), and the
/// directory then ends with the ZIP64 end record and its locator (4.3.14, 4.3.15) before
/// the classic end record. Offsets count `size` bytes per member whatever `data` holds.
fn zip(members: impl Iterator<Item = Member>, out: &mut Vec<u8>, limit: u64) {
    let put16 = |buf: &mut Vec<u8>, v: u16| buf.extend_from_slice(&v.to_le_bytes());
    let put32 = |buf: &mut Vec<u8>, v: u32| buf.extend_from_slice(&v.to_le_bytes());
    let put64 = |buf: &mut Vec<u8>, v: u64| buf.extend_from_slice(&v.to_le_bytes());
    let clip = |v: u64| if v >= limit { u32::MAX } else { v as u32 };
    let mut at = 0u64; // the file offset, counting each member's whole `size`
    let mut central = Vec::new();
    let mut count = 0u64;
    for m in members {
        let offset = at;
        let big = m.size >= limit;
        // local file header: version 2.0 (4.5 with ZIP64), no flags, stored, 1980-01-01
        let version: u16 = if big || offset >= limit { 45 } else { 20 };
        let common = |buf: &mut Vec<u8>, extra: u16| {
            for v in [version, 0, 0, 0, 0x21] {
                put16(buf, v);
            }
            put32(buf, m.crc);
            put32(buf, clip(m.size));
            put32(buf, clip(m.size));
            put16(buf, m.name.len() as u16);
            put16(buf, extra);
        };
        let start = out.len();
        put32(out, 0x0403_4b50);
        common(out, if big { 20 } else { 0 });
        out.extend_from_slice(m.name.as_bytes());
        if big {
            // the local header's ZIP64 field holds both sizes
            put16(out, 0x0001);
            put16(out, 16);
            put64(out, m.size);
            put64(out, m.size);
        }
        at += (out.len() - start) as u64 + m.size;
        out.extend_from_slice(&m.data);

        // the central header's ZIP64 field holds only the values that overflow, in order
        let mut extra = Vec::new();
        if big {
            put64(&mut extra, m.size);
            put64(&mut extra, m.size);
        }
        if offset >= limit {
            put64(&mut extra, offset);
        }
        put32(&mut central, 0x0201_4b50);
        put16(&mut central, version);
        let extra_len = if extra.is_empty() { 0 } else { 4 + extra.len() };
        common(&mut central, extra_len as u16);
        // comment length, disk, internal and external attributes, offset
        for v in [0u16, 0, 0] {
            put16(&mut central, v);
        }
        put32(&mut central, 0);
        put32(&mut central, clip(offset));
        central.extend_from_slice(m.name.as_bytes());
        if !extra.is_empty() {
            put16(&mut central, 0x0001);
            put16(&mut central, extra.len() as u16);
            central.extend_from_slice(&extra);
        }
        count += 1;
    }
    let directory = at;
    let size = central.len() as u64;
    out.extend_from_slice(&central);
    let zip64 = directory >= limit || size >= limit || count >= 0xFFFF.min(limit);
    if zip64 {
        let record = directory + size;
        put32(out, 0x0606_4b50);
        put64(out, 44); // the record's size after this field
        put16(out, 45);
        put16(out, 45);
        put32(out, 0);
        put32(out, 0);
        put64(out, count);
        put64(out, count);
        put64(out, size);
        put64(out, directory);
        put32(out, 0x0706_4b50);
        put32(out, 0);
        put64(out, record);
        put32(out, 1);
    }
    // the classic end record, with the markers where a value did not fit
    let entries = if count >= 0xFFFF.min(limit) {
        u16::MAX
    } else {
        count as u16
    };
    put32(out, 0x0605_4b50);
    for v in [0u16, 0, entries, entries] {
        put16(out, v);
    }
    put32(out, clip(size));
    put32(out, clip(directory));
    put16(out, 0);
}

/// The arrays of `.npz` bytes, in file order: stored (uncompressed) `name.npy` entries of
/// the dtypes `Array` holds, as `write` and `numpy.savez` make them. Used for saved fit
/// states, so every damage is an error, never a panic: the entries' CRC-32 is checked.
/// ZIP64 sizes (an entry over 4 GiB) are read from the local header's extra field.
pub fn read(bytes: &[u8]) -> std::result::Result<Vec<(String, Array)>, String> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let u16_at = |i: usize| -> std::result::Result<usize, String> {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| "the archive ends inside an entry's header".to_string())
    };
    let u32_at = |i: usize| -> std::result::Result<u32, String> {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| "the archive ends inside an entry's header".to_string())
    };
    while bytes.get(at..at + 4) == Some(&0x0403_4b50u32.to_le_bytes()) {
        let method = u16_at(at + 8)?;
        let crc = u32_at(at + 14)?;
        let mut size = u32_at(at + 22)? as u64;
        let name_len = u16_at(at + 26)?;
        let extra_len = u16_at(at + 28)?;
        let name_at = at + 30;
        let name = bytes
            .get(name_at..name_at + name_len)
            .and_then(|n| std::str::from_utf8(n).ok())
            .ok_or_else(|| "an entry's name is cut off or not UTF-8".to_string())?
            .to_string();
        let extra_at = name_at + name_len;
        if size == u64::from(u32::MAX) {
            let extra = bytes
                .get(extra_at..extra_at + extra_len)
                .ok_or_else(|| format!("{name}: its extra field is cut off"))?;
            size = zip64_size(extra).ok_or_else(|| format!("{name}: no ZIP64 size"))?;
        }
        if method != 0 {
            return Err(format!("{name}: compressed entries are not read"));
        }
        let data_at = extra_at + extra_len;
        let data = usize::try_from(size)
            .ok()
            .and_then(|size| bytes.get(data_at..data_at.checked_add(size)?))
            .ok_or_else(|| format!("{name}: the archive ends inside it (truncated)"))?;
        let mut check = flate2::Crc::new();
        check.update(data);
        if check.sum() != crc {
            return Err(format!("{name}: its CRC-32 does not match (damaged)"));
        }
        let stem = name.strip_suffix(".npy").unwrap_or(&name).to_string();
        out.push((stem, parse_npy(data).map_err(|e| format!("{name}: {e}"))?));
        at = data_at + data.len();
    }
    if out.is_empty() {
        return Err("not an .npz archive".into());
    }
    Ok(out)
}

/// The uncompressed size in a ZIP64 extended information extra field (id 1).
fn zip64_size(mut extra: &[u8]) -> Option<u64> {
    while extra.len() >= 4 {
        let id = u16::from_le_bytes([extra[0], extra[1]]);
        let len = u16::from_le_bytes([extra[2], extra[3]]) as usize;
        let body = extra.get(4..4 + len)?;
        if id == 1 {
            return Some(u64::from_le_bytes(body.get(..8)?.try_into().ok()?));
        }
        extra = &extra[4 + len..];
    }
    None
}

/// One `.npy` file (format 1.0 to 3.0, C order) of a dtype `Array` holds.
fn parse_npy(data: &[u8]) -> std::result::Result<Array, String> {
    if data.get(..6) != Some(b"\x93NUMPY") || data.len() < 10 {
        return Err("not an .npy array".into());
    }
    let (len, start) = match data[6] {
        1 => (u16::from_le_bytes([data[8], data[9]]) as usize, 10),
        _ => (
            data.get(8..12)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or("its header is cut off")?,
            12,
        ),
    };
    let header = data
        .get(start..start + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or("its header is cut off")?;
    let quoted = |key: &str| -> Option<&str> {
        let rest = &header[header.find(&format!("'{key}': '"))? + key.len() + 5..];
        Some(&rest[..rest.find('\'')?])
    };
    let descr = quoted("descr").ok_or("its header names no dtype")?;
    if header.contains("'fortran_order': True") {
        return Err("Fortran order is not read".into());
    }
    let shape_text = header
        .find("'shape': (")
        .map(|i| &header[i + 10..])
        .and_then(|rest| rest.find(')').map(|j| &rest[..j]))
        .ok_or("its header names no shape")?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<usize>().map_err(|_| "its shape is not numbers"))
        .collect::<std::result::Result<Vec<usize>, _>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or("its shape overflows")?;
    let body = &data[start + len..];
    let sized = |width: usize| -> std::result::Result<&[u8], String> {
        count
            .checked_mul(width)
            .filter(|&n| n == body.len())
            .map(|_| body)
            .ok_or_else(|| format!("{} bytes of data for shape {shape:?}", body.len()))
    };
    let values = match descr {
        "<f8" => Values::F64(
            sized(8)?
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        ),
        "<i8" => Values::I64(
            sized(8)?
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        ),
        "|b1" => Values::Bool(sized(1)?.iter().map(|&b| b != 0).collect()),
        d if d.starts_with("<U") => {
            let width: usize = d[2..].parse().map_err(|_| "a bad string width")?;
            let words: Vec<u32> = sized(4 * width)?
                .chunks_exact(4)
                .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
                .collect();
            Values::Str(
                words
                    .chunks(width.max(1))
                    .map(|w| {
                        w.iter()
                            .take_while(|&&c| c != 0)
                            .map(|&c| char::from_u32(c).ok_or("a string is not unicode"))
                            .collect::<std::result::Result<String, _>>()
                    })
                    .collect::<std::result::Result<Vec<String>, _>>()?,
            )
        }
        other => return Err(format!("dtype {other} is not read")),
    };
    Ok(Array { shape, values })
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

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// A 5 GiB member (its bytes left out: offsets count them all the same) and a small one
    /// after it: the headers must carry the sizes and the second member's offset in ZIP64
    /// fields, and the directory must end with the ZIP64 records (APPNOTE 4.3.14–4.5.3).
    #[test]
    fn a_member_over_4_gib_gets_zip64_sizes_offsets_and_end_records() {
        let big = 5u64 << 30;
        let members = vec![
            Member {
                name: "X_fit_.npy".into(),
                size: big,
                crc: 0x1234_5678,
                data: vec![7; 16],
            },
            Member {
                name: "mean_.npy".into(),
                size: 10,
                crc: 1,
                data: vec![1; 10],
            },
        ];
        let mut zip_bytes = Vec::new();
        zip(members.into_iter(), &mut zip_bytes, ZIP32_LIMIT);
        let b = &zip_bytes;
        // the first local header: version 4.5, both sizes in its ZIP64 field
        assert_eq!(u32_at(b, 0), 0x0403_4b50);
        assert_eq!(u16_at(b, 4), 45);
        assert_eq!((u32_at(b, 18), u32_at(b, 22)), (u32::MAX, u32::MAX));
        let (name_len, extra_len) = (u16_at(b, 26) as usize, u16_at(b, 28) as usize);
        assert_eq!(extra_len, 20);
        let extra = 30 + name_len;
        assert_eq!((u16_at(b, extra), u16_at(b, extra + 2)), (1, 16));
        assert_eq!((u64_at(b, extra + 4), u64_at(b, extra + 12)), (big, big));
        // the second member starts 5 GiB after the first's data starts (16 bytes given)
        let data = extra + extra_len;
        let second_real = data + 16;
        let second_virtual = (data as u64) + big;
        assert_eq!(u32_at(b, second_real), 0x0403_4b50);
        // past 4 GiB: version 4.5, but its sizes fit, so its local header has no ZIP64 field
        assert_eq!(u16_at(b, second_real + 4), 45);
        assert_eq!(u32_at(b, second_real + 18), 10);
        assert_eq!(u16_at(b, second_real + 28), 0);
        let shift = big - 16; // virtual offset − real offset after the first member
        // the classic end record points to the ZIP64 one through the locator
        let end = b.len() - 22;
        assert_eq!(u32_at(b, end), 0x0605_4b50);
        assert_eq!(u32_at(b, end + 16), u32::MAX, "directory offset overflows");
        let locator = end - 20;
        assert_eq!(u32_at(b, locator), 0x0706_4b50);
        assert_eq!(u32_at(b, locator + 16), 1, "one disk");
        let record = (u64_at(b, locator + 8) - shift) as usize;
        assert_eq!(record, locator - 56);
        assert_eq!(u32_at(b, record), 0x0606_4b50);
        assert_eq!(u64_at(b, record + 4), 44);
        assert_eq!((u64_at(b, record + 24), u64_at(b, record + 32)), (2, 2));
        let directory = (u64_at(b, record + 48) - shift) as usize;
        assert_eq!(u64_at(b, record + 40), (record - directory) as u64);
        // the first central header: sizes in ZIP64, its offset (0) classic
        assert_eq!(u32_at(b, directory), 0x0201_4b50);
        assert_eq!(
            (u32_at(b, directory + 20), u32_at(b, directory + 24)),
            (u32::MAX, u32::MAX)
        );
        assert_eq!(u32_at(b, directory + 42), 0);
        let (n1, e1) = (
            u16_at(b, directory + 28) as usize,
            u16_at(b, directory + 30) as usize,
        );
        assert_eq!(e1, 20);
        let x1 = directory + 46 + n1;
        assert_eq!((u16_at(b, x1), u16_at(b, x1 + 2)), (1, 16));
        assert_eq!((u64_at(b, x1 + 4), u64_at(b, x1 + 12)), (big, big));
        // the second: sizes classic, its offset past 4 GiB in ZIP64
        let second = x1 + e1;
        assert_eq!(u32_at(b, second), 0x0201_4b50);
        assert_eq!((u32_at(b, second + 20), u32_at(b, second + 24)), (10, 10));
        assert_eq!(u32_at(b, second + 42), u32::MAX);
        let x2 = second + 46 + u16_at(b, second + 28) as usize;
        assert_eq!((u16_at(b, x2), u16_at(b, x2 + 2)), (1, 8));
        assert_eq!(u64_at(b, x2 + 4), second_virtual);
    }

    /// tests/onnx/zip64.npz: small arrays written with every ZIP64 field (`limit` 0), which
    /// tests/onnx/check.py loads with numpy (run by .ci/run). `DIMRED_BLESS=1` rewrites it.
    #[test]
    fn the_zip64_fixture_is_what_the_writer_writes() {
        let arrays = [
            ("mean_", Array::vector(vec![1.5, -2.0, 3.25])),
            (
                "components_",
                Array::matrix(2, 3, |i, j| (i * 3 + j) as f64),
            ),
            (
                "feature_names_in_",
                Array::strings(vec!["a".into(), "bé".into()]),
            ),
        ];
        let mut bytes = Vec::new();
        zip(arrays.iter().map(|(n, a)| Member::npy(n, a)), &mut bytes, 0);
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/zip64.npz");
        if std::env::var_os("DIMRED_BLESS").is_some() {
            std::fs::write(&path, &bytes).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            bytes,
            "DIMRED_BLESS=1 rewrites it"
        );
        // and without ZIP64 the same arrays make the classic file
        let classic: Vec<(String, Array)> = arrays
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect();
        let classic = write(&classic);
        assert!(classic.len() < bytes.len());
        let zip64_end = 0x0606_4b50u32.to_le_bytes();
        assert!(!classic.windows(4).any(|w| w == zip64_end));
        assert!(bytes.windows(4).any(|w| w == zip64_end));
    }

    #[test]
    fn read_gives_back_what_write_wrote_bit_for_bit() {
        let arrays = vec![
            (
                "m".to_string(),
                Array::matrix(3, 2, |i, j| (i as f64 - 1.5) / (j as f64 + 3.0)),
            ),
            (
                "odd".to_string(),
                Array::vector(vec![f64::NAN, -0.0, f64::MIN_POSITIVE / 3.0, f64::INFINITY]),
            ),
            ("n".to_string(), Array::int(-7)),
            ("flag".to_string(), Array::flag(true)),
            (
                "names".to_string(),
                Array::strings(vec!["ab".into(), "é{}'".into(), String::new()]),
            ),
            ("scalar".to_string(), Array::scalar(0.1)),
        ];
        let back = read(&write(&arrays)).unwrap();
        assert_eq!(back.len(), arrays.len());
        for ((name, a), (name2, b)) in arrays.iter().zip(&back) {
            assert_eq!(name, name2);
            assert_eq!(a.shape, b.shape, "{name}");
            match (&a.values, &b.values) {
                (Values::F64(x), Values::F64(y)) => {
                    let bits = |v: &Vec<f64>| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(x), bits(y), "{name}");
                }
                (x, y) => assert_eq!(x, y, "{name}"),
            }
        }
    }

    #[test]
    fn read_takes_an_entry_size_from_its_zip64_extra_field() {
        // the local header of an entry over 4 GiB, as ZIP64 writes it: sizes 0xFFFFFFFF,
        // the real ones in extra field 1 (uncompressed, then compressed)
        let zip = write(&[("big".to_string(), Array::vector(vec![0.5, -2.0]))]);
        let name_len = u16::from_le_bytes([zip[26], zip[27]]) as usize;
        let size = u32::from_le_bytes(zip[22..26].try_into().unwrap()) as u64;
        let mut z64 = zip[..30].to_vec();
        z64[18..26].copy_from_slice(&[0xff; 8]);
        z64[28..30].copy_from_slice(&20u16.to_le_bytes());
        z64.extend_from_slice(&zip[30..30 + name_len]);
        z64.extend_from_slice(&1u16.to_le_bytes());
        z64.extend_from_slice(&16u16.to_le_bytes());
        z64.extend_from_slice(&size.to_le_bytes());
        z64.extend_from_slice(&size.to_le_bytes());
        z64.extend_from_slice(&zip[30 + name_len..]);
        let back = read(&z64).unwrap();
        assert_eq!(back[0].0, "big");
        assert_eq!(back[0].1.values, Values::F64(vec![0.5, -2.0]));
    }

    #[test]
    fn read_refuses_damaged_and_truncated_archives() {
        let zip = write(&[("a".to_string(), Array::vector(vec![1.0, 2.0, 3.0]))]);
        let mut flipped = zip.clone();
        let last_value = 30 + "a.npy".len() + 128 + 16;
        flipped[last_value] ^= 1;
        assert!(read(&flipped).unwrap_err().contains("CRC"));
        assert!(
            read(&zip[..zip.len() / 2])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            read(b"{\"format\": 1}")
                .unwrap_err()
                .contains("not an .npz")
        );
        assert!(read(&[]).is_err());
    }
}
