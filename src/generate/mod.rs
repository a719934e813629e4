//! `dimred generate`: synthetic data with a known covariance spectrum, for scale tests
//! and benchmarks. Rows are `offset + Σ_j z_j √λ_j u_j + σ ε` with orthonormal u_j (QR of
//! a Gaussian matrix), z, ε standard normal: the population covariance has eigenvalues
//! λ_j + σ² for j ≤ rank and σ² for the rest, written beside the data. Row groups are
//! generated in parallel, each from its own seeded stream, so the file depends only on
//! the options, and written one at a time: memory stays bounded. Values are computed in f64
//! and written as Float64 columns, or rounded to Float32 ones (`float32`), so a Float32 file is
//! exactly its Float64 twin rounded.
//!
//! `--images HxW` draws labelled pictures instead (see [`generate_images`]): one shape per
//! row, made the same way, group by group from seeded streams.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use faer::{Accum, Mat, Par};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::progress::{Progress, Total};
use crate::rng::Rng;
use crate::sink::{AtomicPath, write_atomic};

mod images;
mod sequences;
pub use images::{ImageOptions, ImageSize, MAX_IMAGE_PIXELS, SHAPES, generate_images};
pub use sequences::{CLASSES, SequenceOptions, SequenceSize, generate_sequences};

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub rows: u64,
    pub cols: usize,
    pub rank: usize,
    pub seed: u64,
    pub output: PathBuf,
    /// Standard deviation of the isotropic noise floor.
    pub noise: f64,
    /// Added to every value (tests stability with large means).
    pub offset: f64,
    /// Variance of the leading signal direction; direction j has `top · decay^(j-1)`.
    pub top: f64,
    pub decay: f64,
    /// Rows per row group; each group is drawn from its own seeded stream, so this is part
    /// of what the data depends on. [`default_row_group_rows`] keeps groups to a sane size.
    pub row_group_rows: usize,
    /// Write Float32 columns (the f64 values rounded) instead of Float64.
    pub float32: bool,
}

/// Values (of f64, whatever the column type) per row group that the default aims at: a
/// group is held in memory as f64 while it is made and encoded, once per thread.
const GROUP_VALUES: usize = 1 << 25;

/// The default `row_group_rows`: 16,384 rows, fewer for wide files so that a row group holds
/// at most 32 Mi values (256 MiB as f64, 128 MiB as f32): 3,355 rows at 10,000 columns.
/// Narrow files (up to 2,048 columns) keep 16,384, so their bytes do not change.
pub fn default_row_group_rows(cols: usize) -> usize {
    (GROUP_VALUES / cols.max(1)).clamp(1, 16_384)
}

#[derive(Debug, Clone, Serialize)]
pub struct Truth {
    pub rows: u64,
    pub cols: usize,
    pub rank: usize,
    pub seed: u64,
    pub noise_std: f64,
    pub offset: f64,
    /// Population covariance eigenvalues, decreasing (all `cols` of them).
    pub eigenvalues: Vec<f64>,
}

/// What `generate` writes, from the output's name.
#[derive(Debug, Clone, Copy, PartialEq)]
enum OutputFormat {
    Parquet,
    Csv { gzip: bool },
}

impl OutputFormat {
    fn of(path: &Path) -> Result<OutputFormat> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".parquet") {
            Ok(OutputFormat::Parquet)
        } else if name.ends_with(".csv") {
            Ok(OutputFormat::Csv { gzip: false })
        } else if name.ends_with(".csv.gz") {
            Ok(OutputFormat::Csv { gzip: true })
        } else {
            Err(Error::config(format!(
                "--output {}: generate writes .parquet, .csv or .csv.gz files; name the output with one of them",
                path.display()
            )))
        }
    }
}

/// A failed write, before the output's name is known to the error.
struct WriteError(std::io::Error);

impl WriteError {
    fn in_output(self, path: &Path) -> Error {
        Error::io("write", path, self.0)
    }
}

/// The file being written: Parquet row groups, or CSV lines (values in Rust's shortest
/// round-trip form, so a reader gets the same floats back).
enum Writer {
    Parquet(ArrowWriter<File>),
    Csv(std::io::BufWriter<File>),
    CsvGz(std::io::BufWriter<flate2::write::GzEncoder<File>>),
}

impl Writer {
    fn lines(&mut self, bytes: &[u8]) -> std::result::Result<(), WriteError> {
        match self {
            Writer::Parquet(_) => Ok(()),
            Writer::Csv(w) => w.write_all(bytes).map_err(WriteError),
            Writer::CsvGz(w) => w.write_all(bytes).map_err(WriteError),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> std::result::Result<(), WriteError> {
        if let Writer::Parquet(w) = self {
            return w
                .write(batch)
                .and_then(|()| w.flush())
                .map_err(|e| WriteError(std::io::Error::other(e)));
        }
        let columns: Vec<&dyn arrow_array::Array> =
            batch.columns().iter().map(|c| c.as_ref()).collect();
        let mut text = String::new();
        for i in 0..batch.num_rows() {
            for (j, c) in columns.iter().enumerate() {
                if j > 0 {
                    text.push(',');
                }
                use std::fmt::Write as _;
                let any = c.as_any();
                let _ = if let Some(v) = any.downcast_ref::<Float64Array>() {
                    write!(text, "{}", v.value(i))
                } else if let Some(v) = any.downcast_ref::<Int64Array>() {
                    write!(text, "{}", v.value(i))
                } else {
                    let v = any
                        .downcast_ref::<Float32Array>()
                        .map_or(f32::NAN, |v| v.value(i));
                    write!(text, "{v}")
                };
            }
            text.push('\n');
        }
        self.lines(text.as_bytes())
    }

    fn close(self) -> std::result::Result<(), WriteError> {
        match self {
            Writer::Parquet(w) => w
                .close()
                .map(|_| ())
                .map_err(|e| WriteError(std::io::Error::other(e))),
            Writer::Csv(w) => w
                .into_inner()
                .map(|_| ())
                .map_err(|e| WriteError(e.into_error())),
            Writer::CsvGz(w) => w
                .into_inner()
                .map_err(|e| WriteError(e.into_error()))?
                .finish()
                .map(|_| ())
                .map_err(WriteError),
        }
    }
}

fn normal_mat(rng: &mut Rng, rows: usize, cols: usize) -> Mat<f64> {
    let mut m = Mat::<f64>::zeros(rows, cols);
    for j in 0..cols {
        rng.fill_normal(
            m.col_mut(j)
                .try_as_col_major_mut()
                .expect("owned column is contiguous")
                .as_slice_mut(),
        );
    }
    m
}

/// The seeded stream of row group `g`: each group is drawn on its own, in parallel.
fn group_rng(seed: u64, g: u64) -> Rng {
    Rng::new(seed ^ (g + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// Creates the output (under its temporary name, committed once complete) with `schema`'s
/// columns: a Parquet writer, or a CSV file with its header line written.
fn open_writer(
    output: &Path,
    format: OutputFormat,
    schema: &Arc<Schema>,
    row_group_rows: usize,
) -> Result<(AtomicPath, Writer)> {
    if let Some(parent) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io("create folder", parent, e))?;
    }
    let file = AtomicPath::new(output);
    let out = File::create(file.tmp()).map_err(|e| Error::io("create", output, e))?;
    // Random floats: dictionaries and compression only cost time. Min/max statistics are of
    // no use to a reader of this data and, for thousands of columns, make up most of the
    // footer (one entry per column per row group), which every pass parses.
    let props = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(row_group_rows))
        .build();
    let writer = match format {
        OutputFormat::Parquet => Writer::Parquet(
            ArrowWriter::try_new(out, schema.clone(), Some(props))
                .map_err(|e| Error::io("write", output, std::io::Error::other(e)))?,
        ),
        OutputFormat::Csv { gzip } => {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let header = format!("{}\n", names.join(","));
            let mut w = if gzip {
                Writer::CsvGz(std::io::BufWriter::new(flate2::write::GzEncoder::new(
                    out,
                    flate2::Compression::default(),
                )))
            } else {
                Writer::Csv(std::io::BufWriter::new(out))
            };
            w.lines(header.as_bytes())
                .map_err(|e| e.in_output(output))?;
            w
        }
    };
    Ok((file, writer))
}

/// The rows cut into row groups of `row_group_rows` (the last one shorter).
struct Groups {
    rows: u64,
    row_group_rows: usize,
}

impl Groups {
    /// Rows of group `g`.
    fn len(&self, g: u64) -> usize {
        let start = g * self.row_group_rows as u64;
        (self.rows - start).min(self.row_group_rows as u64) as usize
    }

    /// Makes the groups' columns, one group per core at a time, and writes them in order:
    /// the file depends only on `make_group`, and at most one batch of groups is in memory.
    fn write(
        &self,
        writer: &mut Writer,
        output: &Path,
        schema: &Arc<Schema>,
        progress: &Progress,
        make_group: impl Fn(u64) -> Vec<ArrayRef> + Sync,
    ) -> Result<()> {
        let groups = self.rows.div_ceil(self.row_group_rows as u64);
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let make_group = &make_group;
        let mut g = 0;
        while g < groups {
            let batch: Vec<u64> = (g..(g + threads as u64).min(groups)).collect();
            let groups_made: Vec<Vec<ArrayRef>> = std::thread::scope(|s| {
                let handles: Vec<_> = batch
                    .iter()
                    .map(|&gi| s.spawn(move || make_group(gi)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("generator thread"))
                    .collect()
            });
            for columns in groups_made {
                let rows = columns.first().map_or(0, |c| c.len());
                let batch = RecordBatch::try_new(schema.clone(), columns)
                    .map_err(|e| Error::io("write", output, std::io::Error::other(e)))?;
                writer.write(&batch).map_err(|e| e.in_output(output))?;
                progress.advance(rows as u64, 0);
            }
            g += batch.len() as u64;
        }
        Ok(())
    }
}

pub fn truth_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = [".parquet", ".csv.gz", ".csv"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(&name);
    output.with_file_name(format!("{stem}.eigenvalues.json"))
}

pub fn generate(opts: &GenerateOptions, quiet: bool) -> Result<Truth> {
    let format = OutputFormat::of(&opts.output)?;
    let (p, r) = (opts.cols, opts.rank);
    if p == 0 || opts.rows == 0 {
        return Err(Error::config("--rows and --cols must be at least 1"));
    }
    if r > p {
        return Err(Error::config(format!("--rank {r} is more than --cols {p}")));
    }
    if opts.row_group_rows == 0 {
        return Err(Error::config("--row-group-rows must be at least 1"));
    }
    if !(opts.noise >= 0.0 && opts.top > 0.0 && opts.decay > 0.0 && opts.offset.is_finite()) {
        return Err(Error::config(
            "--noise must be ≥ 0, --top and --decay > 0, --offset finite",
        ));
    }
    let signal: Vec<f64> = (0..r)
        .map(|j| opts.top * opts.decay.powi(j as i32))
        .collect();
    let mut eigenvalues: Vec<f64> = (0..p)
        .map(|j| signal.get(j).copied().unwrap_or(0.0) + opts.noise * opts.noise)
        .collect();
    eigenvalues.sort_by(|a, b| b.total_cmp(a));

    // Basis: R × p matrix B = diag(√λ) Uᵀ, so a row of signal is z B.
    let mut rng = Rng::new(opts.seed);
    let basis = if r > 0 {
        let g = normal_mat(&mut rng, p, r);
        let q = g.qr().compute_thin_Q();
        Mat::from_fn(r, p, |j, c| signal[j].sqrt() * q[(c, j)])
    } else {
        Mat::zeros(0, p)
    };

    let data_type = if opts.float32 {
        DataType::Float32
    } else {
        DataType::Float64
    };
    let fields: Vec<Field> = (0..p)
        .map(|c| Field::new(format!("f{c}"), data_type.clone(), false))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let (file, mut writer) = open_writer(&opts.output, format, &schema, opts.row_group_rows)?;
    let progress = Progress::new("generate", Total::Rows(opts.rows), quiet);
    // A group is made as f64 and turned into arrow columns on its own thread, so the f64
    // matrix is freed before the next group is: at most one f64 group per thread is alive.
    let groups = Groups {
        rows: opts.rows,
        row_group_rows: opts.row_group_rows,
    };
    let make_group = |g: u64| -> Vec<ArrayRef> {
        let n = groups.len(g);
        let mut rng = group_rng(opts.seed, g);
        let mut x = normal_mat(&mut rng, n, p);
        for j in 0..p {
            for v in x.col_mut(j).iter_mut() {
                *v = opts.offset + opts.noise * *v;
            }
        }
        if r > 0 {
            let z = normal_mat(&mut rng, n, r);
            faer::linalg::matmul::matmul(
                x.as_mut(),
                Accum::Add,
                z.as_ref(),
                basis.as_ref(),
                1.0,
                Par::Seq,
            );
        }
        (0..p)
            .map(|j| {
                let col = x
                    .col(j)
                    .try_as_col_major()
                    .expect("owned column is contiguous")
                    .as_slice();
                if opts.float32 {
                    Arc::new(Float32Array::from_iter_values(
                        col.iter().map(|&v| v as f32),
                    )) as ArrayRef
                } else {
                    Arc::new(Float64Array::from(col.to_vec())) as ArrayRef
                }
            })
            .collect()
    };
    groups.write(&mut writer, &opts.output, &schema, &progress, make_group)?;
    writer.close().map_err(|e| e.in_output(&opts.output))?;
    file.commit()?;
    progress.finish();
    let truth = Truth {
        rows: opts.rows,
        cols: p,
        rank: r,
        seed: opts.seed,
        noise_std: opts.noise,
        offset: opts.offset,
        eigenvalues,
    };
    let mut bytes = serde_json::to_vec_pretty(&truth).expect("truth serialises");
    bytes.push(b'\n');
    write_atomic(&truth_path(&opts.output), &bytes)?;
    Ok(truth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_have_unit_moments() {
        let mut rng = Rng::new(1);
        let mut v = vec![0.0; 200_001];
        rng.fill_normal(&mut v);
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.01, "{var}");
    }

    #[test]
    fn default_row_groups_stay_small_for_wide_files() {
        assert_eq!(default_row_group_rows(256), 16_384);
        assert_eq!(default_row_group_rows(2048), 16_384);
        assert_eq!(default_row_group_rows(10_000), 3_355);
        assert_eq!(default_row_group_rows(1 << 30), 1);
    }

    #[test]
    fn truth_file_sits_beside_the_data() {
        assert_eq!(
            truth_path(Path::new("d/x.parquet")),
            PathBuf::from("d/x.eigenvalues.json")
        );
    }
}
