//! Output files. Everything is written under a temporary name in the output folder and
//! renamed at the end, so a failed or killed run never leaves a partial file under a
//! final name.

pub mod lock;
pub mod parquet;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under a temporary name; `commit` renames it into place, and
/// dropping it uncommitted removes the temporary file.
pub struct AtomicPath {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl AtomicPath {
    pub fn new(target: &Path) -> AtomicPath {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let tmp = target.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        AtomicPath {
            tmp,
            target: target.to_path_buf(),
            committed: false,
        }
    }

    pub fn tmp(&self) -> &Path {
        &self.tmp
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    pub fn commit(mut self) -> Result<()> {
        std::fs::rename(&self.tmp, &self.target)
            .map_err(|e| Error::io("move into place", &self.target, e))?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for AtomicPath {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a whole small file (JSON, HTML) atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> Result<()> {
    let file = AtomicPath::new(target);
    std::fs::write(file.tmp(), bytes).map_err(|e| Error::io("write", target, e))?;
    file.commit()
}

/// Creates the output folder and proves it is writable before any data is read, so a
/// long fit never ends in "permission denied".
pub fn prepare_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create output folder", dir, e))?;
    let probe = dir.join(format!(".dimred-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| Error::io("write to output folder", dir, e))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}
