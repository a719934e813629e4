//! The command line, run in-process: parse the arguments, call the library, map errors to
//! exit codes — nothing else. The binary's `main` calls it, and so does the Python
//! package's `dimred` command, so both are one program with one set of flags and codes.

use std::error::Error as _;
use std::ffi::OsString;

use clap::Parser;

use crate::cli::{self, Cli, Command};
use crate::{Error, RawPipeline, Result};

/// mimalloc v3's `mi_option_purge_delay` (its `mi_option_t` enum in mimalloc.h;
/// libmimalloc-sys has no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Pages freed by one chunk are wanted again by the next. mimalloc purges (decommits)
/// free pages after 10 ms by default, so every chunk faulted them back in and the
/// kernel zeroed them: half the CPU time of reading a 784-column Parquet file went to
/// clearing pages. Keeping them (as MIMALLOC_PURGE_DELAY=-1 does) reads it 2.5× faster;
/// peak memory is unchanged, since the pages are reused rather than added to. Called
/// first by the binary and by the Python module.
pub fn keep_freed_pages() {
    if unsafe { libmimalloc_sys::mi_version() } >= 300 {
        // SAFETY: sets a global option; the value is one mimalloc documents.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

/// Runs the command line `args` (the program's name first) and returns its exit code.
/// On SIGINT or SIGTERM the process ends with 130 or 143 after removing the run's
/// temporary files (`sink::remove_on_interrupt`), as a shell's command does.
pub fn main<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    // A Slurm task or a container gets the cores it was given, not the node's.
    if let Some(threads) = crate::engine::limits::default_threads() {
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build_global();
    }
    crate::sink::remove_on_interrupt();
    // A panic is a bug: recorded, not printed with a backtrace, and reported as one line
    // (exit 70), whichever thread it happened on.
    std::panic::set_hook(Box::new(|info| {
        crate::error::record_panic(info.to_string())
    }));
    let result = std::panic::catch_unwind(|| dispatch(cli.command))
        .unwrap_or_else(|_| Err(Error::internal("dimred stopped")));
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {}", e.user_line());
            e.exit_code()
        }
    }
}

/// A command line clap refuses, as one line (clap's own text is a block with a usage
/// section), exit 2; `--help` and `--version` print as clap prints them.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        // clap's own output, stdout for help and version; its exit code (0)
        let _ = e.print();
        return e.exit_code();
    }
    let context = |kind: ContextKind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.clone()),
        Some(ContextValue::Strings(v)) => Some(v.join(", ")),
        _ => None,
    };
    let arg = context(ContextKind::InvalidArg);
    let value = context(ContextKind::InvalidValue);
    let line = match (e.kind(), arg, value) {
        (ErrorKind::InvalidValue | ErrorKind::ValueValidation, Some(arg), Some(value)) => {
            let option = arg.split_whitespace().next().unwrap_or(&arg).to_string();
            let why = match context(ContextKind::ValidValue) {
                Some(valid) => format!("expected one of {valid}"),
                None => e
                    .source()
                    .map_or_else(|| "not a valid value".into(), |s| s.to_string()),
            };
            format!("{option} {value}: {why}")
        }
        (ErrorKind::MissingRequiredArgument, Some(args), _) => {
            format!("missing {args}")
        }
        _ => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("not a valid command line");
            let mut line = first.trim_start_matches("error: ").to_string();
            if let Some(suggested) = context(ContextKind::SuggestedArg)
                .or_else(|| context(ContextKind::SuggestedSubcommand))
            {
                line.push_str(&format!(" (did you mean '{suggested}'?)"));
            }
            line
        }
    };
    eprintln!(
        "error: {}; see dimred --help",
        crate::error::one_line(&line)
    );
    2
}

/// Prints to stdout; a closed pipe (`dimred scan f | head`) ends the output quietly
/// instead of panicking.
fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// The pipeline file with its `--set` overrides, then `--memory-limit` over them.
fn load(
    path: &std::path::Path,
    overrides: &[String],
    memory_limit: &Option<String>,
) -> Result<RawPipeline> {
    let raw = crate::apply_overrides(RawPipeline::load(path)?, overrides)?;
    match memory_limit {
        // applied as an override, named as the user wrote it
        Some(m) => {
            crate::apply_overrides(raw, &[format!("memory_limit={m}")]).map_err(|e| match e {
                Error::Config(text) => Error::Config(text.replace(
                    &format!("--set memory_limit={m}"),
                    &format!("--memory-limit {m}"),
                )),
                other => other,
            })
        }
        None => Ok(raw),
    }
}

/// The process environment, for `--shard auto`.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Run(args) => {
            let raw = load(&args.pipeline, &args.overrides, &args.memory_limit)?;
            if let Some(text) = &args.shard {
                if args.resume {
                    return Err(Error::config(
                        "--resume applies to an autoencoder's training, which does not shard",
                    ));
                }
                let shard = crate::pipeline::shard::parse_shard(text, &env)?;
                let path = crate::run_shard(
                    raw,
                    shard,
                    &crate::RunOptions {
                        quiet: args.quiet,
                        resume: false,
                    },
                )?;
                emit(&format!("wrote {path} (shard {shard})\n"));
                return Ok(());
            }
            let outcome = crate::run(
                raw,
                &crate::RunOptions {
                    quiet: args.quiet,
                    resume: args.resume,
                },
            )?;
            emit(&outcome.table);
            if !args.quiet {
                eprintln!("[dimred] wrote {}", outcome.report.outputs.join(", "));
            }
            Ok(())
        }
        Command::Merge(args) => {
            let raw = load(&args.pipeline, &args.overrides, &None)?;
            let outcome = match crate::merge(
                raw,
                args.with.as_deref(),
                &crate::RunOptions {
                    quiet: args.quiet,
                    resume: false,
                },
            )? {
                crate::MergeOutcome::Fitted(outcome) => *outcome,
                crate::MergeOutcome::Round(path, number) => {
                    emit(&format!(
                        "wrote {path}: round {number} of the fit; run the shards again, then merge\n"
                    ));
                    return Ok(());
                }
            };
            emit(&outcome.table);
            if !args.quiet {
                eprintln!("[dimred] wrote {}", outcome.report.outputs.join(", "));
            }
            Ok(())
        }
        Command::Validate(args) => {
            let raw = load(&args.pipeline, &args.overrides, &args.memory_limit)?;
            let plan = crate::Plan::resolve(raw)?;
            let rows = plan
                .dataset
                .total_rows
                .map(|r| format!("{r} rows"))
                .unwrap_or_else(|| format!("{} bytes", plan.dataset.total_bytes));
            emit(&format!(
                "ok: {} — {} file(s) ({}, {rows}), {} features, {} passthrough, output to {}\n",
                plan.raw.name,
                plan.dataset.files.len(),
                plan.dataset.format.name(),
                plan.features.len(),
                plan.passthrough.len(),
                plan.output_shown()
            ));
            emit(&plan.rows.describe());
            if let Some(m) = &plan.memory {
                let from = match m.limit_source.as_str() {
                    "memory_limit" => String::new(),
                    _ => format!(" from {} ({})", m.limit_source, m.limit_detail),
                };
                emit(&format!(
                    "memory: limit {} MiB{from}, batch_rows {}, estimated peak {} MiB (process {} + reader {} + steps {} + {} chunks of {} MiB)\n",
                    m.limit_bytes >> 20,
                    m.batch_rows,
                    m.estimate_bytes.div_ceil(1 << 20),
                    m.process_bytes.div_ceil(1 << 20),
                    m.reader_bytes.div_ceil(1 << 20),
                    m.state_bytes.div_ceil(1 << 20),
                    m.chunks,
                    m.chunk_bytes.div_ceil(1 << 20),
                ));
            }
            Ok(())
        }
        Command::Transform(args) => {
            let shard = match &args.shard {
                Some(text) => Some(crate::pipeline::shard::parse_shard(text, &env)?),
                None => None,
            };
            let options = crate::TransformOptions {
                inverse: args.inverse,
                reconstruction_error: args.reconstruction_error,
                score: args.score,
                quiet: args.quiet,
                shard,
                dtype: args.dtype.map(|d| match d {
                    cli::Dtype::Float32 => crate::config::OnnxDtype::Float32,
                    cli::Dtype::Float64 => crate::config::OnnxDtype::Float64,
                }),
            };
            let (stats, written) =
                crate::transform(&args.model, &args.input, &args.output, options)?;
            if !args.quiet {
                eprintln!(
                    "[dimred] transformed {} rows ({} skipped) into {}",
                    stats.rows_kept,
                    stats.rows_read - stats.rows_kept,
                    written.display()
                );
            }
            Ok(())
        }
        Command::Export(args) => {
            let options = crate::OnnxOptions {
                dtype: match args.dtype {
                    cli::Dtype::Float32 => crate::onnx::DType::Float32,
                    cli::Dtype::Float64 => crate::onnx::DType::Float64,
                },
                opset: args.opset,
                reconstruction_error: args.reconstruction_error,
            };
            crate::export(
                &args.model,
                args.onnx.as_deref(),
                args.npz.as_deref(),
                &options,
            )?;
            let written: Vec<String> = [args.onnx, args.npz]
                .into_iter()
                .flatten()
                .map(|p| p.display().to_string())
                .collect();
            emit(&format!("wrote {}\n", written.join(", ")));
            Ok(())
        }
        Command::Report(args) => {
            let html = crate::report::collect::rerender(&args.dir)?;
            emit(&format!("wrote {}\n", html.display()));
            Ok(())
        }
        Command::Scan(args) => {
            if args.batch_rows == 0 {
                return Err(Error::config("--batch-rows must be at least 1"));
            }
            let report = crate::scan::scan(&args.path, args.batch_rows, args.quiet)?;
            if args.json {
                let json = serde_json::to_string_pretty(&report).expect("scan report serialises");
                emit(&format!("{json}\n"));
            } else {
                emit(&crate::scan::render(&report));
            }
            Ok(())
        }
        Command::Generate(args) => match args.resolve()? {
            cli::GenerateJob::Spectrum(opts) => {
                let truth = crate::generate::generate(&opts, args.quiet)?;
                emit(&format!(
                    "wrote {} ({} rows × {} columns, rank {}) and {}\n",
                    args.output.display(),
                    truth.rows,
                    truth.cols,
                    truth.rank,
                    crate::generate::truth_path(&args.output).display()
                ));
                Ok(())
            }
            cli::GenerateJob::Sequences(opts) => {
                crate::generate::generate_sequences(&opts, args.quiet)?;
                emit(&format!(
                    "wrote {} ({} windows of {} steps x {} features; label 0-{}: the frequency band)\n",
                    args.output.display(),
                    opts.rows,
                    opts.size.steps,
                    opts.size.features,
                    crate::generate::CLASSES - 1
                ));
                Ok(())
            }
            cli::GenerateJob::Images(opts) => {
                crate::generate::generate_images(&opts, args.quiet)?;
                emit(&format!(
                    "wrote {} ({} images of {}x{} pixels; label 0-{}: {})\n",
                    args.output.display(),
                    opts.rows,
                    opts.size.height,
                    opts.size.width,
                    crate::generate::SHAPES.len() - 1,
                    crate::generate::SHAPES.join(", ")
                ));
                Ok(())
            }
        },
    }
}
