//! Output files. Everything is written under a temporary name in the output folder and
//! renamed at the end, so a failed or killed run never leaves a partial file under a
//! final name.

pub mod lock;
pub mod parquet;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// A file being written under a temporary name; `commit` renames it into place, and
/// dropping it uncommitted removes the temporary file.
pub struct AtomicPath {
    tmp: PathBuf,
    target: PathBuf,
    committed: bool,
}

/// Files this process would leave half-written if it were interrupted: removed by the
/// signal handler (`remove_on_interrupt`) before the process exits.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Marks `path` for removal should the run be interrupted.
pub fn register(path: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.push(path.to_path_buf());
    }
}

/// The file is complete (or gone): an interruption leaves it be.
pub fn unregister(path: &Path) {
    if let Ok(mut live) = LIVE.lock() {
        live.retain(|p| p != path);
    }
}

/// On SIGINT or SIGTERM: removes this run's temporary files, says so in one line and exits
/// with 128 + the signal (130, 143), as a shell does. Installed once by the CLI.
pub fn remove_on_interrupt() {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let paths = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
            for path in &paths {
                let _ = std::fs::remove_file(path);
            }
            let name = if signal == SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            eprintln!("error: interrupted ({name}); this run's temporary files were removed");
            std::process::exit(128 + signal);
        }
    });
}

/// Removes temporary files that runs before this one left in `dir` (killed outright, with
/// no chance to clean up). Called under the output lock, so no live run is writing them.
pub fn remove_stale_temporaries(dir: &Path) {
    let mine = format!(".tmp-{}", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale = name.starts_with('.')
            && name
                .rsplit_once(".tmp-")
                .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            && !name.ends_with(&mine);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl AtomicPath {
    pub fn new(target: &Path) -> AtomicPath {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "output".into());
        let tmp = target.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
        register(&tmp);
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
        unregister(&self.tmp);
        Ok(())
    }
}

impl Drop for AtomicPath {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
            unregister(&self.tmp);
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
