//! Progress for long passes, in one place (as hyperfine keeps indicatif in one function):
//! a bar on an interactive stderr, a log line every few seconds when stderr is a file or
//! a cluster log, nothing with `--quiet`.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

const LOG_EVERY: Duration = Duration::from_secs(5);

/// What a pass's length is measured in: rows when the Parquet metadata knows them,
/// otherwise bytes of input (CSV).
#[derive(Debug, Clone, Copy)]
pub enum Total {
    Rows(u64),
    Bytes(u64),
}

pub struct Progress {
    label: String,
    total: Total,
    mode: Mode,
    started: Instant,
    state: Mutex<State>,
}

enum Mode {
    Hidden,
    Bar(ProgressBar),
    Log,
}

#[derive(Default)]
struct State {
    rows: u64,
    bytes: u64,
    last_log: Option<Instant>,
}

impl Progress {
    pub fn new(label: &str, total: Total, quiet: bool) -> Progress {
        let mode = if quiet {
            Mode::Hidden
        } else if std::io::stderr().is_terminal() {
            let len = match total {
                Total::Rows(n) | Total::Bytes(n) => n,
            };
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
            let template = match total {
                Total::Rows(_) => {
                    "{prefix:>10} [{bar:30}] {human_pos}/{human_len} rows  {msg}  ETA {eta}"
                }
                Total::Bytes(_) => {
                    "{prefix:>10} [{bar:30}] {bytes}/{total_bytes}  {msg}  ETA {eta}"
                }
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            Mode::Bar(bar)
        } else {
            Mode::Log
        };
        Progress {
            label: label.to_string(),
            total,
            mode,
            started: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    pub fn hidden() -> Progress {
        Progress::new("", Total::Rows(0), true)
    }

    /// Called by the reader as rows are decoded; `bytes` is the input consumed so far
    /// in the current file set (only meaningful for CSV).
    pub fn advance(&self, rows: u64, bytes_total: u64) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        state.rows += rows;
        state.bytes = bytes_total;
        let rate = state.rows as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match &self.mode {
            Mode::Hidden => {}
            Mode::Bar(bar) => {
                let pos = match self.total {
                    Total::Rows(_) => state.rows,
                    Total::Bytes(_) => state.bytes,
                };
                bar.set_position(pos);
                bar.set_message(format!("{} rows/s", human(rate)));
            }
            Mode::Log => {
                let now = Instant::now();
                let due = state.last_log.is_none_or(|t| now - t >= LOG_EVERY);
                if due && self.started.elapsed() >= LOG_EVERY {
                    state.last_log = Some(now);
                    let percent = match self.total {
                        Total::Rows(n) if n > 0 => {
                            format!(" ({:.0}%)", 100.0 * state.rows as f64 / n as f64)
                        }
                        Total::Bytes(n) if n > 0 => {
                            format!(" ({:.0}%)", 100.0 * state.bytes as f64 / n as f64)
                        }
                        _ => String::new(),
                    };
                    eprintln!(
                        "[dimred] {}: {} rows{}, {} rows/s",
                        self.label,
                        state.rows,
                        percent,
                        human(rate)
                    );
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
        if !matches!(self.mode, Mode::Hidden) {
            let rows = self.state.lock().map(|s| s.rows).unwrap_or(0);
            let secs = self.started.elapsed().as_secs_f64();
            eprintln!(
                "[dimred] {}: {} rows in {:.2} s ({} rows/s)",
                self.label,
                rows,
                secs,
                human(rows as f64 / secs.max(1e-9))
            );
        }
    }
}

fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}
