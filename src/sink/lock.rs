//! The output lock: a run or a transform holds an exclusive lock on its output folder for
//! its whole life, so two jobs writing to one folder (a cron job overlapping a manual run)
//! cannot leave a mixed set of files. The lock is an OS file lock on `.dimred.lock` in the
//! folder: the OS drops it when its process dies, however it dies, so a lock left by a
//! dead run is simply taken over. The file names the holder (pid, host, start time) for the
//! message the second job prints.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const LOCK_FILE: &str = ".dimred.lock";

/// Held until dropped; the lock file is removed then.
#[derive(Debug)]
pub struct OutputLock {
    file: File,
    path: PathBuf,
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown host".into())
}

impl OutputLock {
    /// Locks `dir` (which must exist), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<OutputLock> {
        let path = dir.join(LOCK_FILE);
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| Error::io("lock the output folder", dir, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    let who = if holder.is_empty() {
                        "another dimred process"
                    } else {
                        holder
                    };
                    return Err(Error::io(
                        "write to output folder",
                        dir,
                        std::io::Error::new(
                            std::io::ErrorKind::WouldBlock,
                            format!(
                                "it is in use by {who}; wait for it to end or choose another output.dir"
                            ),
                        ),
                    ));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::io("lock the output folder", dir, e));
                }
            }
            // The holder before us may have removed the file between our open and our lock:
            // then we hold a lock on a file no one else will open. Start again.
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            };
            if !same {
                continue;
            }
            let since = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let note = format!(
                "dimred pid {} on host {} (started at unix time {since})\n",
                std::process::id(),
                host()
            );
            file.set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(note.as_bytes()))
                .map_err(|e| Error::io("write the output folder's lock", &path, e))?;
            super::register(&path);
            return Ok(OutputLock { file, path });
        }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still locked, so whoever opens the path next creates a new file.
        let _ = std::fs::remove_file(&self.path);
        super::unregister(&self.path);
        let _ = self.file.unlock();
    }
}
