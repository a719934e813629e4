//! Object storage: `s3://`, `gs://` and `az://` inputs and outputs through the
//! `object_store` crate (the `cloud` cargo feature, on by default). Everything here is
//! blocking on a small I/O runtime of its own, so the readers and writers above stay
//! plain threads. Credentials and endpoints come from each cloud's standard environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …); no message this
//! module makes ever carries a secret (`plain`).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// URL schemes read and written through object storage.
const SCHEMES: [&str; 7] = [
    "s3://", "s3a://", "gs://", "az://", "azure://", "abfs://", "abfss://",
];

/// Whether `text` names object storage rather than a local path.
pub fn is_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    SCHEMES.iter().any(|s| lower.starts_with(s))
}

/// Whether `path` (a `PathBuf` holding a URL, as the dataset's file list does) is remote.
pub fn is_remote(path: &Path) -> bool {
    path.to_str().is_some_and(is_url)
}

/// One object a listing found.
#[derive(Debug, Clone)]
pub struct Listed {
    pub url: PathBuf,
    pub size: u64,
}

#[cfg(not(feature = "cloud"))]
mod imp {
    use super::*;

    fn unsupported(url: &str) -> Error {
        Error::config(format!(
            "{url}: this dimred was built without object storage (cargo feature `cloud`); rebuild with default features, or copy the data to a local path"
        ))
    }

    pub fn list(pattern: &str, _known: fn(&Path) -> bool) -> Result<Vec<Listed>> {
        Err(unsupported(pattern))
    }
    pub fn parquet_metadata(
        url: &Path,
        _size: u64,
    ) -> Result<parquet::arrow::arrow_reader::ArrowReaderMetadata> {
        Err(unsupported(&url.display().to_string()))
    }
    pub fn row_group(
        url: &Path,
        _size: u64,
        _meta: &parquet::arrow::arrow_reader::ArrowReaderMetadata,
        _mask: parquet::arrow::ProjectionMask,
        _group: usize,
        _rows: Option<std::ops::Range<usize>>,
        _batch_rows: usize,
    ) -> Result<parquet::arrow::arrow_reader::ParquetRecordBatchReader> {
        Err(unsupported(&url.display().to_string()))
    }
    pub fn read_stream(url: &Path) -> Result<Box<dyn std::io::Read + Send>> {
        Err(unsupported(&url.display().to_string()))
    }
    pub fn download(url: &str) -> Result<Option<Vec<u8>>> {
        Err(unsupported(url))
    }
    pub fn upload_file(_local: &Path, url: &str) -> Result<()> {
        Err(unsupported(url))
    }
    pub fn delete(url: &str) -> Result<()> {
        Err(unsupported(url))
    }
    pub fn check_writable(url: &str) -> Result<()> {
        Err(unsupported(url))
    }
}

#[cfg(feature = "cloud")]
mod reader;
#[cfg(feature = "cloud")]
mod store;
#[cfg(feature = "cloud")]
pub use reader::*;
#[cfg(feature = "cloud")]
pub use store::*;

#[cfg(not(feature = "cloud"))]
pub use imp::*;

/// A local folder standing in for an object storage output while a command writes it:
/// files are written there (atomically, as into any output folder), uploaded when the
/// command has succeeded, and the folder is removed when this is dropped, whatever the
/// outcome.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
}

impl Staging {
    /// A new, not yet created, folder under the system's temporary folder (`TMPDIR`: on a
    /// cluster, the node's local disk).
    pub fn new(what: &str) -> Staging {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Staging {
            dir: std::env::temp_dir()
                .join(format!("dimred-{what}-{}-{nanos:09}", std::process::id())),
        }
    }

    /// Uploads every file under the folder to `url` (keys relative to it), skipping the
    /// folder's own bookkeeping (names starting with a dot: the lock, temporaries, inputs
    /// fetched for the command). Files named in `last` go after the others, so a reader
    /// that waits for them finds the rest in place.
    pub fn publish(&self, url: &str, last: &[&str]) -> Result<Vec<String>> {
        let mut files: Vec<PathBuf> = files_under(&self.dir)
            .into_iter()
            .filter(|f| {
                !f.components()
                    .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
            })
            .collect();
        files.sort_by_key(|f| last.iter().position(|l| Path::new(l) == f));
        let mut sent = Vec::with_capacity(files.len());
        for relative in files {
            let target = join(url, &relative.to_string_lossy());
            upload_file(&self.dir.join(&relative), &target)?;
            sent.push(target);
        }
        Ok(sent)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `base/relative` for a URL or a local folder alike.
pub fn join(base: &str, relative: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), relative)
}

/// Every regular file under `dir`, as paths relative to it, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(relative) = path.strip_prefix(root) {
                out.push(relative.to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_from_local_paths() {
        assert!(is_url("s3://bucket/data/*.parquet"));
        assert!(is_url("S3://bucket/x.csv"));
        assert!(is_url("gs://b/x"));
        assert!(is_url("az://container/x"));
        assert!(!is_url("data/s3://x"));
        assert!(!is_url("/data/x.parquet"));
        assert!(!is_url("s3:/x"));
        assert_eq!(join("s3://b/out/", "model.json"), "s3://b/out/model.json");
    }
}
