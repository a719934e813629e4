//! Reading what `write` (or numpy) wrote: stored members, their CRC checked, ZIP64 sizes
//! understood.

use super::{Array, Values};

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
