#!/usr/bin/env bash
# The job's memory limit for real: makes a 256 MiB memory cgroup (v1 under
# /sys/fs/cgroup/memory, or v2 under a cgroup2 /sys/fs/cgroup with +memory in the root's
# cgroup.subtree_control), runs dimred in it without --memory-limit on data whose default
# 8,192-row chunks need more than 256 MiB (checked by running them outside the cgroup), and
# checks that it succeeds under the limit, chunks derived from the cgroup's limit, with no
# OOM kill, and that `dimred transform` of the same data succeeds in it too; then that a pipeline the cgroup cannot hold (but the machine could) is refused
# with exit 2, one line naming the cgroup's file, instead of being killed (137). Removes the
# cgroup it made. Needs root; where no writable memory cgroup exists it says SKIPPED and
# exits 0.
#
#   tests/cgroup/run.sh [path/to/dimred]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
dimred=$(realpath "${1:-target/release/dimred}")
work=$(mktemp -d /tmp/dimred-cgroup.XXXXXX)
limit=$((256 << 20))
group=
cleanup() {
    [ -n "$group" ] && rmdir "$group" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
say() { echo "[cgroup test] $*"; }
fail() { say "FAILED: $*"; exit 1; }
skip() {
    say "=================================================================="
    say "SKIPPED: $* -- the job-limit test did not run on this machine"
    say "=================================================================="
    exit 0
}

[ "$(id -u)" = 0 ] || skip "not root"
# the cgroup to make, and its version's file names
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
    version=2
    base=/sys/fs/cgroup
    grep -qw memory "$base/cgroup.controllers" 2>/dev/null || skip "cgroup v2 without the memory controller"
    if ! grep -qw memory "$base/cgroup.subtree_control"; then
        echo +memory >"$base/cgroup.subtree_control" 2>/dev/null \
            || skip "cannot enable +memory in $base/cgroup.subtree_control (processes in the root cgroup of a namespace?)"
    fi
    limit_file=memory.max usage_file=memory.peak
elif [ -w /sys/fs/cgroup/memory/memory.limit_in_bytes ] || [ -d /sys/fs/cgroup/memory ]; then
    version=1
    base=/sys/fs/cgroup/memory
    limit_file=memory.limit_in_bytes usage_file=memory.max_usage_in_bytes
else
    skip "no memory cgroup mounted at /sys/fs/cgroup"
fi
group=$base/dimred-test-$$
mkdir "$group" 2>/dev/null || { group=; skip "cannot create a cgroup under $base"; }
echo "$limit" >"$group/$limit_file" 2>/dev/null || skip "cannot set $group/$limit_file"
[ "$version" = 1 ] && [ -e "$group/memory.memsw.limit_in_bytes" ] \
    && { echo "$limit" >"$group/memory.memsw.limit_in_bytes" 2>/dev/null || true; }
say "cgroup v$version: $group, $limit_file = $(cat "$group/$limit_file")"

# runs dimred inside the cgroup: a shell moves itself in, then becomes dimred
in_cgroup() { sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$group" "$dimred" "$@"; }
oom_kills() {
    if [ "$version" = 2 ]; then
        awk '$1 == "oom_kill" { print $2 }' "$group/memory.events"
    else
        awk '$1 == "oom_kill" { print $2 }' "$group/memory.oom_control"
    fi
}
field() { # FILE KEY.KEY...: a number from a JSON file
    python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))
for k in sys.argv[2:]: v=v[k]
print(v)' "$@"
}

# 100,000 × 512 float64 (410 MB) in row groups of 4,096 rows
"$dimred" generate --rows 100000 --cols 512 --rank 8 --seed 7 --row-group-rows 4096 -q \
    --output "$work/data.parquet"
cat >"$work/pipeline.yaml" <<YAML
name: cgroup-limit
input:
  path: $work/data.parquet
steps:
  - scale: { method: standard }
  - pca: { n_components: 8 }
output:
  dir: $work/out
YAML
unset SLURM_MEM_PER_NODE SLURM_MEM_PER_CPU SLURM_CPUS_PER_TASK

say "outside the cgroup: the default 8,192-row chunks (a limit far above them)"
"$dimred" run "$work/pipeline.yaml" -q --memory-limit 64GiB --set input.batch_rows=8192 \
    --set "output.dir=$work/outside" >/dev/null
outside=$(field "$work/outside/report.json" peak_rss_bytes)
say "peak RSS $((outside >> 20)) MiB with 8,192-row chunks"
[ "$outside" -gt "$limit" ] || fail "the default chunks peak at $((outside >> 20)) MiB: not over 256 MiB, the test proves nothing"

say "inside the cgroup, without --memory-limit"
in_cgroup validate "$work/pipeline.yaml" | tee "$work/validate.txt"
grep -q "^memory: limit 256 MiB from cgroup ($group/$limit_file)" "$work/validate.txt" \
    || fail "validate does not say the cgroup's limit"
rc=0
in_cgroup run "$work/pipeline.yaml" -q >/dev/null || rc=$?
[ "$rc" = 0 ] || fail "the run exited $rc inside the cgroup (137: OOM-killed)"
report=$work/out/report.json
[ "$(field "$report" memory limit_source)" = cgroup ] || fail "report.json's memory.limit_source is not cgroup"
[ "$(field "$report" memory limit_bytes)" = "$limit" ] || fail "report.json's memory.limit_bytes is not 256 MiB"
rows=$(field "$report" memory batch_rows)
peak=$(field "$report" peak_rss_bytes)
[ "$(field "$report" n_samples)" = 100000 ] || fail "the run did not read every row"
usage=$(cat "$group/$usage_file" 2>/dev/null || echo 0) # memory.peak: Linux 5.19 on
say "batch_rows $rows, peak RSS $((peak >> 20)) MiB, the cgroup's $usage_file $((usage >> 20)) MiB (page cache included), oom_kill $(oom_kills)"
[ "$rows" -lt 8192 ] || fail "batch_rows $rows: not derived from the cgroup's limit"
[ "$peak" -le "$limit" ] || fail "peak RSS $((peak >> 20)) MiB over the cgroup's 256 MiB"
[ "$(oom_kills)" = 0 ] || fail "the cgroup OOM-killed a process"

say "transform inside the cgroup: chunks sized for it too"
rc=0
in_cgroup transform --model "$work/out/model.json" --input "$work/data.parquet" \
    --output "$work/transformed.parquet" -q || rc=$?
[ "$rc" = 0 ] || fail "the transform exited $rc inside the cgroup (137: OOM-killed)"
[ "$(oom_kills)" = 0 ] || fail "the cgroup OOM-killed the transform"
"$dimred" scan "$work/transformed.parquet" --json -q >"$work/scan.json"
[ "$(field "$work/scan.json" rows)" = 100000 ] || fail "the transform did not write every row"

say "a pipeline the machine could hold but the cgroup cannot: refused, not killed"
# 6,000 features: the exact solver's co-moment and eigendecomposition need about a GiB
"$dimred" generate --rows 200 --cols 6000 --rank 4 --seed 1 -q --output "$work/wide.parquet"
cat >"$work/wide.yaml" <<YAML
name: cgroup-wide
input:
  path: $work/wide.parquet
steps:
  - pca: { solver: exact, n_components: 4 }
output:
  dir: $work/wide-out
YAML
"$dimred" validate "$work/wide.yaml" >/dev/null || fail "the wide pipeline is refused outside the cgroup too"
rc=0
in_cgroup run "$work/wide.yaml" -q 2>"$work/err.txt" || rc=$?
[ "$rc" = 2 ] || fail "the wide pipeline exited $rc inside the cgroup, not 2: $(cat "$work/err.txt")"
[ "$(wc -l <"$work/err.txt")" = 1 ] || fail "more than one line: $(cat "$work/err.txt")"
grep -q "the job's memory limit of 256 MiB (the cgroup's limit, $group/$limit_file" "$work/err.txt" \
    || fail "the message does not name the cgroup's limit: $(cat "$work/err.txt")"
[ ! -e "$work/wide-out/model.json" ] || fail "a refused run wrote a model"
[ "$(oom_kills)" = 0 ] || fail "the cgroup OOM-killed a process"
say "refused (exit 2): $(cat "$work/err.txt")"
say "ok"
