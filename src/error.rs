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
    /// The caller asked the work to stop (Ctrl-C in the Python module, `engine::interrupt`);
    /// the temporary files were removed as the failed command's are.
    #[error("interrupted (SIGINT); this run's temporary files were removed")]
    Interrupted,
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
    /// an internal error, 130 (128 + SIGINT, as a shell has it) for an interruption.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) => 2,
            Error::Data { .. } => 3,
            Error::Io { .. } => 4,
            Error::Numeric(_) => 5,
            Error::Interrupted => 130,
            Error::Internal(_) => 70,
        }
    }

    /// The message as a user reads it: one line, in plain words, every secret of the
    /// environment masked, wherever in the line it appears.
    pub fn user_line(&self) -> String {
        one_line(&self.to_string())
    }
}

/// `text` as one line of plain words with secrets masked: line breaks become "; ",
/// serde's Rust type names become words (`plain_words`).
pub fn one_line(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    mask_secrets(&plain_words(&joined))
}

/// The environment variables whose values are credentials.
const SECRETS: [&str; 7] = [
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_TOKEN",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_ACCESS_KEY",
    "AZURE_STORAGE_SAS_KEY",
    "GOOGLE_SERVICE_ACCOUNT_KEY",
];

/// Masks the values of the credential variables (`***`), should a message ever echo
/// one: a service's answer, or a user's bucket name that happens to equal a secret.
pub fn mask_secrets(text: &str) -> String {
    let mut out = text.to_string();
    for name in SECRETS {
        if let Ok(value) = std::env::var(name)
            && value.len() >= 4
        {
            out = out.replace(&value, "***");
        }
    }
    out
}

/// A library's error text (Parquet's, Arrow's) without the Rust structures some of them
/// print after their words (`Utf8Error { valid_up_to: 2, … }`, `Some(1)`): the words up to
/// the first such structure, which name the failure well enough for a damaged file.
pub fn library_words(text: &str) -> String {
    use std::sync::LazyLock;
    static STRUCTURE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"\b[A-Za-z_][A-Za-z0-9_]* \{|\b(Some|None|Ok|Err)\(|\[[A-Z][A-Za-z]+ \{")
            .expect("a valid pattern")
    });
    let cut = STRUCTURE.find(text).map_or(text.len(), |m| m.start());
    let words = text[..cut]
        .trim_end_matches([' ', ':', ',', '(', '['])
        .trim()
        .to_string();
    if words.is_empty() {
        "damaged".into()
    } else {
        words
    }
}

/// serde's and the YAML parser's words for types, in plain ones: `expected u64` is
/// "expected a whole number of at least 0", `null` is an empty value, and the advice
/// to `use Option<String>` (meant for a Rust programmer) goes.
pub fn plain_words(text: &str) -> String {
    use std::sync::LazyLock;
    static RULES: LazyLock<Vec<(regex::Regex, &'static str)>> = LazyLock::new(|| {
        [
            (
                r"cannot deserialize null into \w+(; use Option<[^>]*>+)?",
                "the value is empty",
            ),
            (r";? ?use Option<[^>]*>+", ""),
            (r"invalid type: null\b", "an empty value"),
            // only after serde's own words, so a column named `f64` stays itself
            (
                r"\b(expected|invalid|into) (u8|u16|u32|u64|u128|usize)\b",
                "$1 a whole number of at least 0",
            ),
            (
                r"\b(expected|invalid|into) (i8|i16|i32|i64|i128|isize)\b",
                "$1 a whole number",
            ),
            (r"\b(expected|invalid|into) (f32|f64)\b", "$1 a number"),
            (r"\bexpected (a )?borrowed string\b", "expected text"),
        ]
        .into_iter()
        .map(|(pattern, with)| (regex::Regex::new(pattern).expect("a valid pattern"), with))
        .collect()
    });
    let mut out = text.to_string();
    for (pattern, with) in RULES.iter() {
        if pattern.is_match(&out) {
            out = pattern.replace_all(&out, *with).into_owned();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_words_become_plain_ones() {
        assert_eq!(
            plain_words("cannot deserialize null into string; use Option<String>"),
            "the value is empty"
        );
        assert_eq!(
            plain_words("invalid type: string \"x\", expected u64"),
            "invalid type: string \"x\", expected a whole number of at least 0"
        );
        assert_eq!(
            plain_words("expected f64 or i32"),
            "expected a number or i32"
        );
        // a column named like a type is left alone
        assert_eq!(
            plain_words("column 'f64' is empty"),
            "column 'f64' is empty"
        );
    }

    #[test]
    fn a_library_message_loses_its_rust_structures() {
        assert_eq!(
            library_words(
                "Arrow: Unable to get root as message stored in ARROW:schema: Utf8Error { valid_up_to: 2, error_len: Some(1) }"
            ),
            "Arrow: Unable to get root as message stored in ARROW:schema"
        );
        assert_eq!(
            library_words("EOF: file size 3 is less than footer"),
            "EOF: file size 3 is less than footer"
        );
    }

    #[test]
    fn a_message_is_one_line() {
        assert_eq!(one_line("a\n\n  b\nc\n"), "a; b; c");
    }
}
