//! Typed errors that say what went wrong and where: the file, row and column of a bad
//! value, the YAML line:column of a bad key. The CLI prints them as one line and maps
//! each kind to its own exit code, so a batch scheduler can tell a broken pipeline file
//! from broken data from a full disk.

use std::fmt;
use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in the input a data error sits. Rows are 1-based data rows (the header of a
/// CSV file is not counted), so they match what a user sees in a spreadsheet or pandas+1.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    pub file: Option<PathBuf>,
    pub row: Option<u64>,
    pub column: Option<String>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(file) = &self.file {
            parts.push(file.display().to_string());
        }
        if let Some(row) = self.row {
            parts.push(format!("row {row}"));
        }
        if let Some(column) = &self.column {
            parts.push(format!("column '{column}'"));
        }
        write!(f, "{}", parts.join(", "))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The pipeline file, a `--set` override or a command-line option is wrong.
    #[error("{0}")]
    Config(String),
    /// The input data cannot be used as asked.
    #[error("{}{message}", position_prefix(.position))]
    Data { position: Position, message: String },
    /// Reading or writing a file failed for a reason outside the data itself.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A numerical routine failed (e.g. an eigensolver did not converge).
    #[error("{0}")]
    Numeric(String),
    /// A bug in dimred, not in the input: a thread panicked or a channel closed early.
    #[error("internal error (please report it): {0}")]
    Internal(String),
}

/// The last panic's message, recorded by the CLI's panic hook instead of printed, so an
/// internal error is still one line and says where it happened.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Records a panic (the CLI's panic hook calls this; nothing is printed).
pub fn record_panic(message: String) {
    if let Ok(mut last) = LAST_PANIC.lock() {
        *last = Some(message);
    }
}

/// The recorded panic, if any, as one line.
pub fn last_panic() -> Option<String> {
    LAST_PANIC
        .lock()
        .ok()?
        .clone()
        .map(|m| m.lines().collect::<Vec<_>>().join(" "))
}

fn position_prefix(position: &Position) -> String {
    let text = position.to_string();
    if text.is_empty() {
        String::new()
    } else {
        format!("{text}: ")
    }
}

impl Error {
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }

    pub fn data(message: impl Into<String>) -> Self {
        Error::Data {
            position: Position::default(),
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        Error::Internal(match last_panic() {
            Some(panic) => format!("{message}: {panic}"),
            None => message,
        })
    }

    pub fn io(action: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// Adds the file to a data error that does not name one yet.
    pub fn in_file(mut self, path: &Path) -> Self {
        if let Error::Data { position, .. } = &mut self
            && position.file.is_none()
        {
            position.file = Some(path.to_path_buf());
        }
        self
    }

    pub fn at_row(mut self, row: u64) -> Self {
        if let Error::Data { position, .. } = &mut self
            && position.row.is_none()
        {
            position.row = Some(row);
        }
        self
    }

    pub fn at_column(mut self, column: &str) -> Self {
        if let Error::Data { position, .. } = &mut self
            && position.column.is_none()
        {
            position.column = Some(column.to_string());
        }
        self
    }

    /// Exit codes: 2 for a pipeline/config/usage error (as clap uses for usage), 3 for
    /// bad data, 4 for I/O, 5 for a numerical failure, 70 (sysexits' EX_SOFTWARE) for
    /// an internal error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => 2,
            Error::Data { .. } => 3,
            Error::Io { .. } => 4,
            Error::Numeric(_) => 5,
            Error::Internal(_) => 70,
        }
    }
}
