//! Output files. Everything is written under a temporary name in the output folder and
//! renamed at the end, so a failed or killed run never leaves a partial file under a
//! final name. The files of one command (model, reports, reduced data, state) are written
//! together into a staging folder inside the output folder (`OutputSet`) and published
//! as a whole: the previous set goes, the new set is renamed into place, and `_SUCCESS`,
//! written last, tells a reader the set is complete.

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
                remove_path(path);
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
        if !stale {
            continue;
        }
        let path = entry.path();
        // a staging folder marked as publishing: its run died between removing the
        // previous set and writing `_SUCCESS`, so what holds a final name is a part
        if path.join(PUBLISHING).exists() && !dir.join(SUCCESS).exists() {
            remove_published(dir);
        }
        remove_path(&path);
    }
}

/// Removes a file, or a folder with everything in it.
fn remove_path(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else {
        let _ = std::fs::remove_file(path);
    }
}

/// The marker written last into an output folder: the set beside it is complete.
pub const SUCCESS: &str = "_SUCCESS";

/// The marker a staging folder holds while its files are being published.
const PUBLISHING: &str = ".publishing";

/// Every name a command publishes into an output folder (relative to it). A new set
/// removes all of them first, so two commands' files never stand side by side.
pub const PUBLISHED: [&str; 9] = [
    "reduced.parquet",
    "model.json",
    "model.npz",
    "model.onnx",
    "embedding.parquet",
    "state/fit.json",
    "report_sample.json",
    "report.html",
    "report.json",
];

/// Removes the marker, then every published file, from `dir`.
fn remove_published(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(SUCCESS));
    for name in PUBLISHED {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

/// The outputs of one command, written into a staging folder inside the output folder
/// (`.staging.tmp-PID`, removed if the command fails or is interrupted) and published
/// as a whole by `publish`.
pub struct OutputSet {
    target: PathBuf,
    dir: PathBuf,
}

impl OutputSet {
    /// A fresh staging folder in `target` (the output folder, which exists).
    pub fn new(target: &Path) -> Result<OutputSet> {
        let dir = target.join(format!(".staging.tmp-{}", std::process::id()));
        remove_path(&dir);
        register(&dir);
        std::fs::create_dir(&dir).map_err(|e| Error::io("create staging folder", &dir, e))?;
        Ok(OutputSet {
            target: target.to_path_buf(),
            dir,
        })
    }

    /// Where the command writes its files (the same names as in the output folder).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Makes the staged files final: removes `_SUCCESS` and the previous set, renames
    /// each staged file into place (the report last), then writes `_SUCCESS` listing
    /// them. A kill inside this leaves no `_SUCCESS` and a marked staging folder, and
    /// the next command in the folder removes the part (`remove_stale_temporaries`).
    pub fn publish(self) -> Result<()> {
        let staged: Vec<&str> = PUBLISHED
            .into_iter()
            .filter(|name| self.dir.join(name).is_file())
            .collect();
        let marker = self.dir.join(PUBLISHING);
        std::fs::write(&marker, b"").map_err(|e| Error::io("write", &marker, e))?;
        remove_published(&self.target);
        for name in &staged {
            let (from, to) = (self.dir.join(name), self.target.join(name));
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::io("create output folder", parent, e))?;
            }
            std::fs::rename(&from, &to).map_err(|e| Error::io("move into place", &to, e))?;
        }
        let mut list = staged.join("\n");
        list.push('\n');
        write_atomic(&self.target.join(SUCCESS), list.as_bytes())?;
        Ok(())
    }
}

impl Drop for OutputSet {
    fn drop(&mut self) {
        remove_path(&self.dir);
        unregister(&self.dir);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_set_replaces_the_previous_one_as_a_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for name in ["reduced.parquet", "model.json", "report.json", "keep.txt"] {
            std::fs::write(dir.join(name), "old").unwrap();
        }
        std::fs::write(dir.join(SUCCESS), "old").unwrap();
        let set = OutputSet::new(dir).unwrap();
        std::fs::write(set.dir().join("model.json"), "new").unwrap();
        std::fs::create_dir(set.dir().join("state")).unwrap();
        std::fs::write(set.dir().join("state/fit.json"), "new").unwrap();
        std::fs::write(set.dir().join("report.json"), "new").unwrap();
        // nothing final changes before publishing
        assert_eq!(
            std::fs::read_to_string(dir.join("model.json")).unwrap(),
            "old"
        );
        set.publish().unwrap();
        // the old reduced.parquet goes (it does not belong to the new model); other files stay
        assert_eq!(
            names(dir),
            ["_SUCCESS", "keep.txt", "model.json", "report.json", "state"]
        );
        assert_eq!(
            std::fs::read_to_string(dir.join("model.json")).unwrap(),
            "new"
        );
        assert_eq!(
            std::fs::read_to_string(dir.join(SUCCESS)).unwrap(),
            "model.json\nstate/fit.json\nreport.json\n"
        );
    }

    #[test]
    fn a_dropped_set_leaves_the_previous_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join("model.json"), "old").unwrap();
        std::fs::write(dir.join(SUCCESS), "model.json\n").unwrap();
        let set = OutputSet::new(dir).unwrap();
        std::fs::write(set.dir().join("model.json"), "new").unwrap();
        drop(set);
        assert_eq!(names(dir), ["_SUCCESS", "model.json"]);
        assert_eq!(
            std::fs::read_to_string(dir.join("model.json")).unwrap(),
            "old"
        );
    }

    #[test]
    fn a_publication_killed_halfway_is_removed_by_the_next_command() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // what a run killed after renaming model.json leaves: no _SUCCESS, a marked staging
        let staging = dir.join(".staging.tmp-999999");
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(staging.join(PUBLISHING), "").unwrap();
        std::fs::write(staging.join("report.json"), "new").unwrap();
        std::fs::write(dir.join("model.json"), "new").unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        remove_stale_temporaries(dir);
        assert_eq!(names(dir), ["notes.txt"]);
        // a staging folder that never began publishing leaves the complete set alone
        std::fs::create_dir(&staging).unwrap();
        std::fs::write(dir.join("model.json"), "old").unwrap();
        remove_stale_temporaries(dir);
        assert_eq!(names(dir), ["model.json", "notes.txt"]);
    }
}
