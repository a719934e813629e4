//! The job's own limits, for a run given no `memory_limit` and no thread count. A Slurm
//! job or a Kubernetes pod is confined by its cgroup, not by the host: the host's
//! `MemAvailable` can be many times what the job may use, and a run sized by it is
//! OOM-killed (exit 137) instead of refused with a clear message. So the default memory
//! limit is the smallest of the cgroup's limit (v2 `memory.max`, v1
//! `memory.limit_in_bytes`, over the process's cgroup and every cgroup above it, since any
//! of them confines it), Slurm's `SLURM_MEM_PER_NODE` or `SLURM_MEM_PER_CPU` ×
//! `SLURM_CPUS_PER_TASK`, and `MemAvailable`; the thread count follows the cgroup's CPU
//! quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`) when neither
//! `RAYON_NUM_THREADS` nor `SLURM_CPUS_PER_TASK` says it.
//!
//! The readers take the file system's root, so the tests read fixture trees of both cgroup
//! versions. A file that exists but cannot be parsed is ignored with a note: a limit dimred
//! cannot read must not stop a run that could succeed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the memory limit of a run comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct JobMemory {
    pub bytes: u64,
    /// `cgroup`, `slurm` or `mem_available` (report.json's `memory.limit_source`).
    pub source: &'static str,
    /// The file or variable that set it, for the user to check.
    pub detail: String,
}

impl JobMemory {
    /// "the cgroup's limit (/sys/fs/cgroup/…/memory.max)", as a message says it.
    pub fn describe(&self) -> String {
        match self.source {
            "cgroup" => format!("the cgroup's limit, {}", self.detail),
            "slurm" => format!("Slurm's {}", self.detail),
            _ => format!("the machine's available memory, {}", self.detail),
        }
    }
}

/// cgroup v1 writes "no limit" as the largest page-aligned i64 (9223372036854771712);
/// anything this large is no limit.
const UNLIMITED: u64 = 1 << 60;

/// This process's memory limit (None where no source can be read), resolved once; the
/// notes about files that could not be parsed are printed once, to stderr.
pub fn job_memory() -> Option<&'static JobMemory> {
    static RESOLVED: OnceLock<Option<JobMemory>> = OnceLock::new();
    RESOLVED
        .get_or_init(|| {
            let mut notes = Vec::new();
            let env = |name: &str| std::env::var(name).ok();
            let found = resolve_memory(Path::new("/"), &env, &mut notes);
            for note in notes {
                eprintln!("note: {note}");
            }
            found
        })
        .as_ref()
}

/// The smallest of the cgroup's limit, Slurm's and `MemAvailable`, read under `root`.
pub fn resolve_memory(
    root: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<String>,
) -> Option<JobMemory> {
    let mut best: Option<JobMemory> = None;
    let mut offer = |candidate: Option<JobMemory>| {
        if let Some(c) = candidate
            && best.as_ref().is_none_or(|b| c.bytes < b.bytes)
        {
            best = Some(c);
        }
    };
    offer(cgroup_memory(root, notes).map(|(bytes, file)| JobMemory {
        bytes,
        source: "cgroup",
        detail: file.display().to_string(),
    }));
    offer(slurm_memory(env, notes));
    offer(mem_available(root).map(|bytes| JobMemory {
        bytes,
        source: "mem_available",
        detail: "/proc/meminfo MemAvailable".into(),
    }));
    best
}

/// /proc/meminfo's MemAvailable under `root`.
pub fn mem_available(root: &Path) -> Option<u64> {
    let info = std::fs::read_to_string(under(root, "/proc/meminfo")).ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Slurm exports memory in megabytes (MiB): per node, or per CPU for each CPU of the task.
/// 0 per node means the whole node, which is no limit of its own.
fn slurm_memory(
    env: &dyn Fn(&str) -> Option<String>,
    notes: &mut Vec<String>,
) -> Option<JobMemory> {
    let number = |name: &str, notes: &mut Vec<String>| -> Option<u64> {
        let text = env(name)?;
        match text.trim().parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                notes.push(format!(
                    "{name}='{}' is not a number of megabytes; ignored",
                    text.trim()
                ));
                None
            }
        }
    };
    if let Some(mb) = number("SLURM_MEM_PER_NODE", notes) {
        return (mb > 0).then(|| JobMemory {
            bytes: mb << 20,
            source: "slurm",
            detail: format!("SLURM_MEM_PER_NODE={mb}"),
        });
    }
    let per_cpu = number("SLURM_MEM_PER_CPU", notes).filter(|&mb| mb > 0)?;
    let cpus = number("SLURM_CPUS_PER_TASK", notes)
        .filter(|&n| n > 0)
        .unwrap_or(1);
    Some(JobMemory {
        bytes: (per_cpu << 20) * cpus,
        source: "slurm",
        detail: format!("SLURM_MEM_PER_CPU={per_cpu} × SLURM_CPUS_PER_TASK={cpus}"),
    })
}

/// The smallest memory limit of the process's cgroup and those above it, with the file
/// that set it: v2 `memory.max` and v1 `memory.limit_in_bytes` (a hybrid machine has both).
pub fn cgroup_memory(root: &Path, notes: &mut Vec<String>) -> Option<(u64, PathBuf)> {
    let mut best: Option<(u64, PathBuf)> = None;
    for dir in cgroup_dirs(root, "memory") {
        let file = if dir.v2 {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        };
        for level in dir.levels() {
            let path = level.join(file);
            let Some(text) = read(root, &path) else {
                continue;
            };
            let value = match text.as_str() {
                "max" if dir.v2 => continue,
                t => match t.parse::<u64>() {
                    Ok(v) => v,
                    // v1 may write -1 for no limit
                    Err(_) if t == "-1" && !dir.v2 => continue,
                    Err(_) => {
                        notes.push(format!(
                            "{}: '{}' is not a memory limit in bytes; ignored",
                            path.display(),
                            clip(&text)
                        ));
                        continue;
                    }
                },
            };
            if value < UNLIMITED && best.as_ref().is_none_or(|(b, _)| value < *b) {
                best = Some((value, path));
            }
        }
    }
    best
}

/// The CPUs the cgroup's quota allows (quota ÷ period, the smallest over the process's
/// cgroup and those above it), None without a quota.
pub fn cgroup_cpus(root: &Path, notes: &mut Vec<String>) -> Option<f64> {
    let mut best: Option<f64> = None;
    for dir in cgroup_dirs(root, "cpu") {
        for level in dir.levels() {
            let cpus = if dir.v2 {
                let path = level.join("cpu.max");
                let Some(text) = read(root, &path) else {
                    continue;
                };
                let mut parts = text.split_whitespace();
                match (parts.next(), parts.next().map(str::parse::<u64>)) {
                    (Some("max"), _) => continue,
                    (Some(quota), Some(Ok(period))) if period > 0 => match quota.parse::<u64>() {
                        Ok(q) => q as f64 / period as f64,
                        Err(_) => {
                            notes.push(unparsed(&path, &text, "a CPU quota"));
                            continue;
                        }
                    },
                    _ => {
                        notes.push(unparsed(&path, &text, "a CPU quota"));
                        continue;
                    }
                }
            } else {
                let (qpath, ppath) = (
                    level.join("cpu.cfs_quota_us"),
                    level.join("cpu.cfs_period_us"),
                );
                let (Some(q), Some(p)) = (read(root, &qpath), read(root, &ppath)) else {
                    continue;
                };
                match (q.parse::<i64>(), p.parse::<u64>()) {
                    (Ok(q), _) if q < 0 => continue,
                    (Ok(q), Ok(p)) if p > 0 => q as f64 / p as f64,
                    (Err(_), _) => {
                        notes.push(unparsed(&qpath, &q, "a CPU quota"));
                        continue;
                    }
                    _ => {
                        notes.push(unparsed(&ppath, &p, "a CPU period"));
                        continue;
                    }
                }
            };
            if cpus > 0.0 && best.is_none_or(|b| cpus < b) {
                best = Some(cpus);
            }
        }
    }
    best
}

/// The thread count when the environment does not set one: `SLURM_CPUS_PER_TASK` (a Slurm
/// task gets the cores it asked for, not the node's), else the cgroup's CPU quota rounded
/// up, at most the machine's cores. None when `RAYON_NUM_THREADS` is set (rayon reads it)
/// or nothing limits the process.
pub fn default_threads() -> Option<usize> {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return None;
    }
    if let Some(cpus) = std::env::var("SLURM_CPUS_PER_TASK")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
    {
        return Some(cpus);
    }
    let mut notes = Vec::new();
    let quota = cgroup_cpus(Path::new("/"), &mut notes);
    for note in notes {
        eprintln!("note: {note}");
    }
    let cores = std::thread::available_parallelism().map_or(usize::MAX, |n| n.get());
    quota.map(|q| threads_for_quota(q, cores))
}

/// A quota of 1.5 CPUs runs 2 threads: the half CPU is still time to use.
fn threads_for_quota(quota: f64, cores: usize) -> usize {
    (quota.ceil() as usize).clamp(1, cores.max(1))
}

/// One hierarchy the process belongs to, for one controller: the cgroup's folder under
/// the mount point, and the mount point (the walk up stops there).
struct CgroupDir {
    v2: bool,
    mount: PathBuf,
    leaf: PathBuf,
}

impl CgroupDir {
    /// The cgroup's folder, then each one above it up to the mount point.
    fn levels(&self) -> Vec<PathBuf> {
        let mut out = vec![self.leaf.clone()];
        let mut at = self.leaf.as_path();
        while at != self.mount {
            match at.parent() {
                Some(parent) if parent.starts_with(&self.mount) => {
                    out.push(parent.to_path_buf());
                    at = parent;
                }
                _ => break,
            }
        }
        out
    }
}

/// The process's cgroup folders holding `controller`'s files: for v1, the hierarchy whose
/// mount lists the controller; for v2, the unified hierarchy. From /proc/self/cgroup (the
/// path in each hierarchy) and /proc/self/mountinfo (where each hierarchy is mounted, and
/// which of its folders the mount shows: in a container, the mount's root is the
/// container's own cgroup).
fn cgroup_dirs(root: &Path, controller: &str) -> Vec<CgroupDir> {
    let (Some(cgroups), Some(mounts)) = (
        read(root, Path::new("/proc/self/cgroup")),
        read(root, Path::new("/proc/self/mountinfo")),
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let v2 = id == "0" && controllers.is_empty();
        if !v2 && !controllers.split(',').any(|c| c == controller) {
            continue;
        }
        let Some((mount_root, mount_point)) =
            mounts.lines().find_map(|m| mount_of(m, v2, controller))
        else {
            continue;
        };
        let relative = Path::new(path)
            .strip_prefix(&mount_root)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        out.push(CgroupDir {
            v2,
            leaf: mount_point.join(relative),
            mount: mount_point,
        });
    }
    out
}

/// A mountinfo line's (root, mount point) when it mounts the hierarchy sought: fields
/// `id parent dev root mountpoint options [optional...] - fstype source superoptions`.
fn mount_of(line: &str, v2: bool, controller: &str) -> Option<(PathBuf, PathBuf)> {
    let (before, after) = line.split_once(" - ")?;
    let fields: Vec<&str> = before.split(' ').collect();
    let mut tail = after.split(' ');
    let fstype = tail.next()?;
    let superoptions = tail.nth(1).unwrap_or("");
    let wanted = if v2 {
        fstype == "cgroup2"
    } else {
        fstype == "cgroup" && superoptions.split(',').any(|o| o == controller)
    };
    if !wanted || fields.len() < 5 {
        return None;
    }
    Some((
        PathBuf::from(unescape(fields[3])),
        PathBuf::from(unescape(fields[4])),
    ))
}

/// mountinfo writes a space in a path as `\040` (and tab, newline, backslash likewise).
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// An absolute path read under `root` (the real root, or a test's fixture tree), trimmed.
fn read(root: &Path, path: &Path) -> Option<String> {
    std::fs::read_to_string(under(root, path))
        .ok()
        .map(|t| t.trim().to_string())
}

fn under(root: &Path, path: impl AsRef<Path>) -> PathBuf {
    root.join(path.as_ref().strip_prefix("/").unwrap_or(path.as_ref()))
}

fn unparsed(path: &Path, text: &str, what: &str) -> String {
    format!(
        "{}: '{}' is not {what}; ignored",
        path.display(),
        clip(text)
    )
}

/// A file's text shown in a note, at most one short line of it.
fn clip(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    line.chars().take(40).collect()
}

#[cfg(test)]
mod tests;
