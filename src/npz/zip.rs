//! Writing: the arrays as stored zip members, with ZIP64 fields past 4 GiB.

use super::Array;

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
pub(super) const ZIP32_LIMIT: u64 = 0xFFFF_FFFF;

/// One stored entry: its name, size and CRC-32, and the bytes written after its header
/// (the tests give fewer bytes than `size` to lay out a file of many gigabytes).
pub(super) struct Member {
    pub(super) name: String,
    pub(super) size: u64,
    pub(super) crc: u32,
    pub(super) data: Vec<u8>,
}

impl Member {
    pub(super) fn npy(name: &str, array: &Array) -> Member {
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
pub(super) fn zip(members: impl Iterator<Item = Member>, out: &mut Vec<u8>, limit: u64) {
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
