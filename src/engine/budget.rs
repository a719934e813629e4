//! The memory a run needs, from the shape of its data, so that `memory_limit` can size the
//! chunks and refuse what cannot fit before anything is read. The model is measured, not
//! derived: peak RSS = the process itself + the reader's buffers (a Parquet row group's
//! column chunks) + the steps' state + a number of chunk-sized buffers in flight. Those
//! buffers are the chunks in the channel, the one being consumed, the one being decoded
//! and the Arrow batch it is decoded from; the output pass adds the writer's side.
//! Measured on 300,000 × 256 float64 Parquet (16,384-row groups) at batch_rows 1,024 to
//! 65,536: the fit pass holds at most 5.3 chunks, the output pass 10.5.

/// The Parquet reader's memory per byte it holds of a column: locally a column's
/// dictionary and a data page (the reader decompresses a page beside the bytes read and
/// decodes it into arrays; a dictionary is decoded once and kept through the column chunk,
/// and a pass's reader thread does not reuse the one before's), from object storage the
/// row group's column chunks as fetched, decompressed and decoded. Measured: scanning
/// 20,000 × 2,000 float64 in 16,384-row groups (251 MiB of column chunks) from memory peaks
/// at 722 MiB with chunks of 256 rows; 500,000 × 256 float64 written by pyarrow (a 1 MiB
/// dictionary per column) holds 1.9 × its 256 MiB of dictionaries over a fit and an
/// output pass.
pub const READER_FACTOR: f64 = 2.5;
/// The process without data: the binary, thread stacks, allocator arenas.
pub const PROCESS_BYTES: u64 = 96 << 20;
/// Chunk-sized buffers alive at once in a fit pass, with a margin over the 5.3 measured.
pub const FIT_CHUNKS: u64 = 7;
/// The same with the output pass (reader, map and writer threads), over 10.5 measured.
pub const OUTPUT_CHUNKS: u64 = 13;
/// Added on the first pass of a fit that keeps a spill file: its writer's records (the one
/// being laid out, the one queued, the one being written), each up to a chunk.
pub const SPILL_CHUNKS: u64 = 3;
/// Fewer rows per chunk than this spend more time in per-chunk overhead than in work.
pub const MIN_BATCH_ROWS: usize = 64;
/// More rows per chunk than this buy no speed (the products are already cache-blocked).
pub const MAX_BATCH_ROWS: usize = 65_536;

/// What a run's memory goes to, in bytes.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Budget {
    pub limit_bytes: u64,
    /// What set the limit: `memory_limit` (the key or `--memory-limit`), else the job's
    /// own limit (`engine::limits`): `cgroup`, `slurm` or `mem_available`.
    #[serde(default)]
    pub limit_source: String,
    /// The file or variable that set the job's limit (absent for `memory_limit`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub limit_detail: String,
    pub batch_rows: usize,
    pub estimate_bytes: u64,
    pub process_bytes: u64,
    pub reader_bytes: u64,
    pub state_bytes: u64,
    /// Chunk-sized buffers counted (`FIT_CHUNKS` or `OUTPUT_CHUNKS`) × one chunk's bytes.
    pub chunks: u64,
    pub chunk_bytes: u64,
}

/// The demand of a run apart from `batch_rows`.
#[derive(Debug, Clone, Copy)]
pub struct Demand {
    pub reader_bytes: u64,
    pub state_bytes: u64,
    /// Bytes one row takes in a chunk (features and passthrough columns).
    pub row_bytes: u64,
    pub chunks: u64,
}

impl Demand {
    fn fixed(&self) -> u64 {
        PROCESS_BYTES + self.reader_bytes + self.state_bytes
    }

    pub fn estimate(&self, batch_rows: usize) -> u64 {
        // saturating: a `batch_rows` written in the file may be any number
        self.fixed().saturating_add(
            self.chunks
                .saturating_mul(batch_rows as u64)
                .saturating_mul(self.row_bytes),
        )
    }

    pub fn budget(&self, limit: u64, batch_rows: usize, source: &str, detail: &str) -> Budget {
        Budget {
            limit_bytes: limit,
            limit_source: source.to_string(),
            limit_detail: detail.to_string(),
            batch_rows,
            estimate_bytes: self.estimate(batch_rows),
            process_bytes: PROCESS_BYTES,
            reader_bytes: self.reader_bytes,
            state_bytes: self.state_bytes,
            chunks: self.chunks,
            chunk_bytes: (batch_rows as u64).saturating_mul(self.row_bytes),
        }
    }

    /// The most rows per chunk (up to `MAX_BATCH_ROWS`) that keep the estimate under
    /// `limit`, or None when not even `MIN_BATCH_ROWS` do.
    pub fn batch_rows(&self, limit: u64) -> Option<usize> {
        let room = limit.checked_sub(self.fixed())?;
        let rows = room / (self.chunks * self.row_bytes.max(1));
        (rows >= MIN_BATCH_ROWS as u64).then(|| (rows as usize).min(MAX_BATCH_ROWS))
    }

    /// The arithmetic, for an error that says why a limit is too small.
    pub fn explain(&self, batch_rows: usize) -> String {
        format!(
            "process {} + reader {} + steps' state {} + {} chunks × {} rows × {} B = {}",
            human(PROCESS_BYTES as f64),
            human(self.reader_bytes as f64),
            human(self.state_bytes as f64),
            self.chunks,
            batch_rows,
            self.row_bytes,
            human(self.estimate(batch_rows) as f64)
        )
    }
}

/// Bytes as a person reads them: `1.5 GiB`, `340 MiB`.
pub fn human(bytes: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024.0 * MIB {
        format!("{:.2} GiB", bytes / (1024.0 * MIB))
    } else {
        format!("{:.0} MiB", (bytes / MIB).ceil())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_rows_fill_the_room_and_no_more() {
        let d = Demand {
            reader_bytes: 32 << 20,
            state_bytes: 1 << 20,
            row_bytes: 256 * 8,
            chunks: OUTPUT_CHUNKS,
        };
        let limit = 512u64 << 20;
        let rows = d.batch_rows(limit).unwrap();
        assert!(d.estimate(rows) <= limit);
        assert!(d.estimate(rows + 1) > limit);
        assert_eq!(d.batch_rows(100 << 20), None);
        assert_eq!(d.batch_rows(64 << 30), Some(MAX_BATCH_ROWS));
    }
}
