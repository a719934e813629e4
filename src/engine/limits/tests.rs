//! The readers on fixture trees: the files a cgroup v1 host (this project's test machine,
//! copied from its /proc), a cgroup v2 host (systemd's layout) and a v2 container with its
//! own cgroup namespace show, each written under a temporary root.

use super::*;

/// Writes `files` (absolute path, contents) under a fresh root.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let at = under(root.path(), path);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::fs::write(at, text).unwrap();
    }
    root
}

const V1_CGROUP: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/job7\n\
2:cpuacct,cpu:/process_api/job7\n0::/\n";
const V1_MOUNTS: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
const MEMINFO: &str =
    "MemTotal:       24684000 kB\nMemFree:  860000 kB\nMemAvailable:   24059904 kB\n";

fn no_env(_: &str) -> Option<String> {
    None
}

#[test]
fn v1_limit_is_the_smallest_on_the_way_up_and_unlimited_is_no_limit() {
    let root = tree(&[
        ("/proc/self/cgroup", V1_CGROUP),
        ("/proc/self/mountinfo", V1_MOUNTS),
        ("/proc/meminfo", MEMINFO),
        // the root's "no limit", the parent's 1 GiB, the job's 256 MiB
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        ),
        (
            "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes",
            "1073741824\n",
        ),
        (
            "/sys/fs/cgroup/memory/process_api/job7/memory.limit_in_bytes",
            "268435456\n",
        ),
        (
            "/sys/fs/cgroup/cpu,cpuacct/process_api/job7/cpu.cfs_quota_us",
            "150000\n",
        ),
        (
            "/sys/fs/cgroup/cpu,cpuacct/process_api/job7/cpu.cfs_period_us",
            "100000\n",
        ),
        ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n"),
        ("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"),
    ]);
    let mut notes = Vec::new();
    let (bytes, file) = cgroup_memory(root.path(), &mut notes).unwrap();
    assert_eq!(bytes, 256 << 20);
    assert_eq!(
        file,
        Path::new("/sys/fs/cgroup/memory/process_api/job7/memory.limit_in_bytes")
    );
    assert_eq!(cgroup_cpus(root.path(), &mut notes), Some(1.5));
    assert!(notes.is_empty(), "{notes:?}");
    let job = resolve_memory(root.path(), &no_env, &mut notes).unwrap();
    assert_eq!((job.bytes, job.source), (256 << 20, "cgroup"));

    // a parent tighter than the job's own cgroup confines it too
    std::fs::write(
        under(
            root.path(),
            "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes",
        ),
        "134217728",
    )
    .unwrap();
    let (bytes, file) = cgroup_memory(root.path(), &mut notes).unwrap();
    assert_eq!(bytes, 128 << 20);
    assert!(file.ends_with("process_api/memory.limit_in_bytes"));
}

#[test]
fn v1_without_any_limit_leaves_the_machine_s_available_memory() {
    let root = tree(&[
        ("/proc/self/cgroup", V1_CGROUP),
        ("/proc/self/mountinfo", V1_MOUNTS),
        ("/proc/meminfo", MEMINFO),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "9223372036854771712\n",
        ),
        (
            "/sys/fs/cgroup/memory/process_api/job7/memory.limit_in_bytes",
            "9223372036854771712\n",
        ),
    ]);
    let mut notes = Vec::new();
    assert_eq!(cgroup_memory(root.path(), &mut notes), None);
    assert_eq!(cgroup_cpus(root.path(), &mut notes), None);
    let job = resolve_memory(root.path(), &no_env, &mut notes).unwrap();
    assert_eq!((job.bytes, job.source), (24059904 * 1024, "mem_available"));
}

const V2_HOST_CGROUP: &str = "0::/system.slice/slurmstepd.scope/job_42/step_0/user/task_0\n";
const V2_HOST_MOUNTS: &str = "\
24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
28 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

#[test]
fn v2_limit_and_quota_are_read_on_the_way_up_with_max_as_no_limit() {
    let job = "/sys/fs/cgroup/system.slice/slurmstepd.scope/job_42";
    let task = format!("{job}/step_0/user/task_0");
    let root = tree(&[
        ("/proc/self/cgroup", V2_HOST_CGROUP),
        ("/proc/self/mountinfo", V2_HOST_MOUNTS),
        ("/proc/meminfo", MEMINFO),
        (&format!("{task}/memory.max"), "max\n"),
        (&format!("{task}/cpu.max"), "max 100000\n"),
        (&format!("{job}/memory.max"), "2147483648\n"),
        (&format!("{job}/cpu.max"), "200000 100000\n"),
        ("/sys/fs/cgroup/system.slice/memory.max", "max\n"),
    ]);
    let mut notes = Vec::new();
    let (bytes, file) = cgroup_memory(root.path(), &mut notes).unwrap();
    assert_eq!(bytes, 2 << 30);
    assert_eq!(file, Path::new(job).join("memory.max"));
    assert_eq!(cgroup_cpus(root.path(), &mut notes), Some(2.0));
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn v2_in_a_container_reads_its_own_cgroup_at_the_mount_point() {
    // a pod with its own cgroup namespace: its cgroup is "/" and the mount shows it
    let root = tree(&[
        ("/proc/self/cgroup", "0::/\n"),
        (
            "/proc/self/mountinfo",
            "1160 1150 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw\n",
        ),
        ("/sys/fs/cgroup/memory.max", "536870912\n"),
        ("/sys/fs/cgroup/cpu.max", "50000 100000\n"),
    ]);
    let mut notes = Vec::new();
    assert_eq!(cgroup_memory(root.path(), &mut notes).unwrap().0, 512 << 20);
    assert_eq!(cgroup_cpus(root.path(), &mut notes), Some(0.5));
    assert_eq!(threads_for_quota(0.5, 16), 1);
    assert_eq!(threads_for_quota(2.5, 16), 3);
    assert_eq!(threads_for_quota(64.0, 16), 16);
}

#[test]
fn a_cgroup_file_that_does_not_parse_is_ignored_with_a_note() {
    let root = tree(&[
        ("/proc/self/cgroup", "0::/job\n"),
        (
            "/proc/self/mountinfo",
            "28 24 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
        ),
        ("/proc/meminfo", MEMINFO),
        ("/sys/fs/cgroup/job/memory.max", "lots of memory\n"),
        ("/sys/fs/cgroup/memory.max", "1073741824\n"),
        ("/sys/fs/cgroup/job/cpu.max", "two 100000\n"),
    ]);
    let mut notes = Vec::new();
    // the readable parent's limit still counts
    assert_eq!(cgroup_memory(root.path(), &mut notes).unwrap().0, 1 << 30);
    assert_eq!(cgroup_cpus(root.path(), &mut notes), None);
    assert_eq!(
        notes,
        [
            "/sys/fs/cgroup/job/memory.max: 'lots of memory' is not a memory limit in bytes; ignored",
            "/sys/fs/cgroup/job/cpu.max: 'two 100000' is not a CPU quota; ignored",
        ]
    );
    // and /proc files that are not what they should be give no limit, not a panic
    let broken = tree(&[
        ("/proc/self/cgroup", "garbage\n:::\n0::\n"),
        ("/proc/self/mountinfo", "- -\n1 2 3\n"),
        ("/proc/meminfo", "MemAvailable: many kB\n"),
    ]);
    let mut notes = Vec::new();
    assert_eq!(resolve_memory(broken.path(), &no_env, &mut notes), None);
}

#[test]
fn slurm_memory_is_per_node_or_per_cpu_times_cpus_in_mebibytes() {
    let root = tree(&[("/proc/meminfo", MEMINFO)]);
    let resolve = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut notes = Vec::new();
        let job = resolve_memory(root.path(), &env, &mut notes).unwrap();
        (job.bytes, job.source, job.detail, notes)
    };
    let (bytes, source, detail, _) = resolve(&[("SLURM_MEM_PER_NODE", "3000")]);
    assert_eq!((bytes, source), (3000 << 20, "slurm"));
    assert_eq!(detail, "SLURM_MEM_PER_NODE=3000");
    let (bytes, _, detail, _) =
        resolve(&[("SLURM_MEM_PER_CPU", "1000"), ("SLURM_CPUS_PER_TASK", "4")]);
    assert_eq!(bytes, 4000 << 20);
    assert_eq!(detail, "SLURM_MEM_PER_CPU=1000 × SLURM_CPUS_PER_TASK=4");
    // a limit above the available memory leaves the available memory
    let (bytes, source, _, _) = resolve(&[("SLURM_MEM_PER_NODE", "100000")]);
    assert_eq!((bytes, source), (24059904 * 1024, "mem_available"));
    // 0 is the whole node; a value that is no number is ignored with a note
    let (_, source, _, _) = resolve(&[("SLURM_MEM_PER_NODE", "0")]);
    assert_eq!(source, "mem_available");
    let (_, source, _, notes) = resolve(&[("SLURM_MEM_PER_NODE", "4G")]);
    assert_eq!(source, "mem_available");
    assert_eq!(
        notes,
        ["SLURM_MEM_PER_NODE='4G' is not a number of megabytes; ignored"]
    );
}
