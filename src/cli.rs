//! Command-line definitions (clap derive), one struct per subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "dimred",
    version,
    about = "Out-of-core dimensionality reduction of Parquet and CSV: PCA, random projection, kernel PCA, LDA and autoencoders, streamed",
    long_about = "Out-of-core dimensionality reduction of Parquet and CSV: PCA, random projection, kernel PCA, LDA and autoencoders, streamed.\n\n\
        Exit codes: 0 success, 2 pipeline/config/usage error, 3 data error, 4 I/O error, \
        5 numerical failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline: fit, write reduced.parquet, model.json and report.json.
    Run(RunArgs),
    /// Merge the partial fits of `run --shard` into the model and the report.
    Merge(MergeArgs),
    /// Check a pipeline file and its input's headers/metadata without reading data rows.
    Validate(ValidateArgs),
    /// Apply a fitted model to new data, streaming.
    Transform(TransformArgs),
    /// Write a fitted model as ONNX (checked by ONNX Runtime) and/or numpy's .npz.
    Export(ExportArgs),
    /// Re-render DIR/report.html from DIR/report.json and DIR/report_sample.json.
    Report(ReportArgs),
    /// Stream a data file or folder and profile every column.
    Scan(ScanArgs),
    /// Write synthetic data with a known covariance spectrum (for tests and benchmarks).
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The pipeline YAML file.
    pub pipeline: PathBuf,
    /// Override a pipeline key, e.g. --set input.path=shard-07/ (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// The memory the run may use, e.g. 2GiB (as the pipeline's `memory_limit`, which it
    /// overrides): chunks are sized to it, and what cannot fit is refused before reading.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_limit: Option<String>,
    /// No progress bars or log lines (the final table is still printed).
    #[arg(long, short)]
    pub quiet: bool,
    /// Fit only shard I of N of the input (I/N, or auto in a Slurm job array or a
    /// Kubernetes Indexed Job) and save its partial state for `dimred merge`.
    #[arg(long, value_name = "I/N|auto", allow_hyphen_values = true)]
    pub shard: Option<String>,
    /// Continue an autoencoder's training from the checkpoint in the output folder
    /// (written after every epoch); starts from scratch when there is none.
    #[arg(long)]
    pub resume: bool,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The pipeline YAML file the shards ran.
    pub pipeline: PathBuf,
    /// Merge the shards into the fit state saved in this earlier output folder
    /// (DIR/state/fit.json): a scheduled update fits only the new partition.
    #[arg(long = "with", value_name = "DIR")]
    pub with: Option<PathBuf>,
    /// Override a pipeline key, as for `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// No progress bars or log lines (the final table is still printed).
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The pipeline YAML file.
    pub pipeline: PathBuf,
    /// Override a pipeline key, as for `run`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// The memory the run may use, e.g. 2GiB (as the pipeline's `memory_limit`, which it
    /// overrides): chunks are sized to it, and what cannot fit is refused before reading.
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_limit: Option<String>,
}

#[derive(Debug, Args)]
pub struct TransformArgs {
    /// model.json written by `dimred run`.
    #[arg(long)]
    pub model: PathBuf,
    /// Input file, folder or glob (.csv, .csv.gz, .parquet).
    #[arg(long)]
    pub input: String,
    /// Output .parquet file.
    #[arg(long)]
    pub output: PathBuf,
    /// Map reduced rows (pc1…pck) back to feature space instead.
    #[arg(long)]
    pub inverse: bool,
    /// Add a reconstruction_error column (per-row squared error in the scaled space).
    #[arg(long)]
    pub reconstruction_error: bool,
    /// Add a log_likelihood column: each row's log-likelihood under the probabilistic PCA
    /// (scikit-learn's score_samples).
    #[arg(long)]
    pub score: bool,
    /// Transform only shard I of N of the input (I/N or auto), into STEM-I-of-N.parquet
    /// beside --output.
    #[arg(long, value_name = "I/N|auto", allow_hyphen_values = true)]
    pub shard: Option<String>,
    /// Type of the written columns [default: the model's run's output.dtype, float64 unless set].
    #[arg(long, value_enum)]
    pub dtype: Option<Dtype>,
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// model.json written by `dimred run`.
    #[arg(long)]
    pub model: PathBuf,
    /// Write the pipeline as an ONNX graph of standard operators.
    #[arg(long, value_name = "OUT.onnx")]
    pub onnx: Option<PathBuf>,
    /// Write the model's arrays as a numpy .npz (as run's model.npz).
    #[arg(long, value_name = "OUT.npz")]
    pub npz: Option<PathBuf>,
    /// Element type of the graph's input, outputs and constants.
    #[arg(long, value_enum, default_value_t = Dtype::Float64)]
    pub dtype: Dtype,
    /// ONNX opset (13 to 21).
    #[arg(long, default_value_t = 17, value_parser = whole_number)]
    pub opset: i64,
    /// Add a reconstruction_error output (per-row squared error in the scaled space).
    #[arg(long)]
    pub reconstruction_error: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Dtype {
    Float32,
    Float64,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The output folder of a `dimred run` (holding report.json and report_sample.json).
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// A file, folder or glob (.csv, .csv.gz, .parquet).
    pub path: String,
    /// Rows per chunk (memory is about 3 × batch_rows × columns × 8 bytes).
    #[arg(long, default_value_t = 8192)]
    pub batch_rows: usize,
    /// Print the profile as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[arg(long)]
    pub rows: u64,
    /// Float64 columns f0…f{P-1} (required unless --images or --sequences).
    #[arg(long, required_unless_present_any = ["images", "sequences"])]
    pub cols: Option<usize>,
    /// Number of signal directions above the noise floor [default: 16].
    #[arg(long)]
    pub rank: Option<usize>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output file: .parquet, .csv or .csv.gz, as its name says; the true eigenvalues go to
    /// <name>.eigenvalues.json beside it.
    #[arg(long)]
    pub output: PathBuf,
    /// Standard deviation of the isotropic noise floor [default: 0.1].
    #[arg(long)]
    pub noise: Option<f64>,
    /// Constant added to every value (a large mean, e.g. 1e9) [default: 0].
    #[arg(long, allow_negative_numbers = true)]
    pub offset: Option<f64>,
    /// Variance of the leading signal direction [default: 10].
    #[arg(long)]
    pub top: Option<f64>,
    /// Ratio between successive signal variances [default: 0.8].
    #[arg(long)]
    pub decay: Option<f64>,
    /// Draw H×W images of shapes instead of the spectrum (no --cols, --rank, --noise,
    /// --offset, --top, --decay): Float32 columns pixel_0… in [0, 1] and an Int64 label.
    #[arg(long, value_name = "HxW", conflicts_with = "sequences")]
    pub images: Option<String>,
    /// Draw windows of STEPS × FEATURES values instead of the spectrum (no --cols, --rank,
    /// --noise, --offset, --top, --decay): sums of seeded sinusoids with noise as Float32
    /// columns t0_f0… (step by step) and an Int64 label, the window's frequency band.
    #[arg(long, value_name = "STEPSxFEATURES")]
    pub sequences: Option<String>,
    /// Rows per row group (part of what the data depends on) [default: 16384, fewer above
    /// 2048 columns so that a group holds at most 32 Mi values].
    #[arg(long)]
    pub row_group_rows: Option<usize>,
    /// Write Float32 columns (the same values rounded) instead of Float64 (images always are).
    #[arg(long)]
    pub float32: bool,
    #[arg(long, short)]
    pub quiet: bool,
}

/// A whole number, refused in words (Rust's own text is "invalid digit found in string").
fn whole_number(text: &str) -> Result<i64, String> {
    text.trim()
        .parse()
        .map_err(|_| "expected a whole number".to_string())
}

/// What `generate` was asked to write, resolved from its flags.
pub enum GenerateJob {
    Spectrum(dimred::generate::GenerateOptions),
    Images(dimred::generate::ImageOptions),
    Sequences(dimred::generate::SequenceOptions),
}

impl GenerateArgs {
    /// The options of the mode asked for; `--images` refuses the spectrum's flags, in one
    /// line naming those given.
    pub fn resolve(&self) -> dimred::Result<GenerateJob> {
        use dimred::generate::{
            GenerateOptions, ImageOptions, ImageSize, SequenceOptions, SequenceSize,
            default_row_group_rows,
        };
        let mode = match (&self.images, &self.sequences) {
            (Some(_), _) => Some("--images draws shapes"),
            (None, Some(_)) => Some("--sequences draws windows"),
            (None, None) => None,
        };
        if let Some(mode) = mode {
            let given: Vec<&str> = [
                ("--cols", self.cols.is_some()),
                ("--rank", self.rank.is_some()),
                ("--noise", self.noise.is_some()),
                ("--offset", self.offset.is_some()),
                ("--top", self.top.is_some()),
                ("--decay", self.decay.is_some()),
            ]
            .into_iter()
            .filter_map(|(flag, set)| set.then_some(flag))
            .collect();
            if !given.is_empty() {
                return Err(dimred::Error::config(format!(
                    "{mode} and takes no spectrum options: drop {}",
                    given.join(", ")
                )));
            }
        }
        if let Some(text) = &self.sequences {
            let size = SequenceSize::parse(text)?;
            return Ok(GenerateJob::Sequences(SequenceOptions {
                rows: self.rows,
                size,
                seed: self.seed,
                output: self.output.clone(),
                row_group_rows: self
                    .row_group_rows
                    .unwrap_or_else(|| default_row_group_rows(size.steps * size.features + 1)),
            }));
        }
        if let Some(text) = &self.images {
            let size = ImageSize::parse(text)?;
            return Ok(GenerateJob::Images(ImageOptions {
                rows: self.rows,
                size,
                seed: self.seed,
                output: self.output.clone(),
                row_group_rows: self
                    .row_group_rows
                    .unwrap_or_else(|| default_row_group_rows(size.pixels() + 1)),
            }));
        }
        let cols = self.cols.unwrap_or(0);
        Ok(GenerateJob::Spectrum(GenerateOptions {
            rows: self.rows,
            cols,
            rank: self.rank.unwrap_or(16),
            seed: self.seed,
            output: self.output.clone(),
            noise: self.noise.unwrap_or(0.1),
            offset: self.offset.unwrap_or(0.0),
            top: self.top.unwrap_or(10.0),
            decay: self.decay.unwrap_or(0.8),
            row_group_rows: self
                .row_group_rows
                .unwrap_or_else(|| default_row_group_rows(cols)),
            float32: self.float32,
        }))
    }
}
