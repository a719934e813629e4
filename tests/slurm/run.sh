#!/usr/bin/env bash
# The sharded run on a real Slurm: starts munged (when none runs), slurmctld and slurmd for
# this host from a throwaway configuration, submits deploy/slurm/submit.sh (a 3-task fit
# array, the merge, a 3-task transform array) on generated data in two files and on the
# sample data, waits for each chain, checks the merged model equals an unsharded fit (1e-10)
# and the shard outputs hold every row once, runs a randomized fit in rounds through the
# same script (each merge submitting the next round) and compares it to the unsharded fit,
# then submits a chain whose shard fails and checks the rest is cancelled, not left pending.
# Stops the daemons it started. Needs root and slurm-wlm (slurmctld, slurmd, munge).
#
#   tests/slurm/run.sh [path/to/dimred]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
dimred=$(realpath "${1:-target/release/dimred}")
work=$(mktemp -d /tmp/dimred-slurm.XXXXXX)
chmod 755 "$work"
started=()
cleanup() {
    # the daemons by their pid files, then whatever else this script started
    for f in "$work/slurmd.pid" "$work/slurmctld.pid"; do
        [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
    for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${started[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
say() { echo "[slurm test] $*"; }

for tool in slurmctld slurmd sbatch squeue sacct munged scontrol; do
    command -v "$tool" >/dev/null || { say "missing $tool (apt-get install slurm-wlm)"; exit 1; }
done

# munge: the authentication Slurm's daemons and commands share
if ! munge -n >/dev/null 2>&1; then
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile /etc/munge/munge.key 2>/dev/null \
            || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
        chmod 400 /etc/munge/munge.key
    fi
    chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge 2>/dev/null || true
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- munged
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n >/dev/null || { say "munged did not start"; exit 1; }
    started+=("$(pgrep -u munge -x munged | head -1)")
fi

host=$(hostname -s)
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
mkdir -p "$work/ctld" "$work/spool" "$work/logs"
cat > "$work/slurm.conf" <<CONF
ClusterName=dimredtest
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
StateSaveLocation=$work/ctld
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/logs/slurmctld.log
SlurmdLogFile=$work/logs/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf
slurmctld -D -i -f "$SLURM_CONF" >"$work/logs/slurmctld.out" 2>&1 &
started+=($!)
slurmd -D -f "$SLURM_CONF" -N "$host" >"$work/logs/slurmd.out" 2>&1 &
started+=($!)
for _ in $(seq 100); do
    state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
    case $state in idle*|mix*|alloc*) break ;; esac
    sleep 0.2
done
sinfo -h -N -o "%N %t %c" || { say "slurmctld did not answer"; tail "$work"/logs/*; exit 1; }
case $(sinfo -h -N -o %t | head -1) in idle*|mix*|alloc*) ;; *)
    say "the node did not come up"; tail -n 20 "$work"/logs/*; exit 1 ;;
esac

# data and pipeline
mkdir -p "$work/data"
"$dimred" generate --rows 60000 --cols 24 --rank 4 --seed 9 --row-group-rows 5000 -q \
    --output "$work/data/part-0.parquet"
"$dimred" generate --rows 30000 --cols 24 --rank 4 --seed 10 --row-group-rows 5000 -q \
    --output "$work/data/part-1.parquet"
rm -f "$work"/data/*.eigenvalues.json
cat > "$work/pipeline.yaml" <<YAML
name: slurm-sharded
input:
  path: placeholder
steps:
  - scale: { method: standard }
  - pca: { n_components: 4, solver: exact }
output:
  dir: placeholder
YAML
"$dimred" run "$work/pipeline.yaml" -q --set "input.path=$work/data" --set "output.dir=$work/full" >/dev/null

wait_for() { # job ids...: until none is pending or running
    for _ in $(seq 600); do
        [ -z "$(squeue -h -j "$(IFS=,; echo "$*")" 2>/dev/null)" ] && return 0
        sleep 0.5
    done
    say "jobs $* did not finish"; squeue; tail -n 30 "$work"/logs/*; return 1
}

same_model() { # FULL OUT ROWS: the merged model equals the single-machine fit
    python3 "$root/tests/same_model.py" "$1/model.json" "$2/model.json" "$3" "slurm test"
}
shard_rows() { # STEM: rows in STEM-0-of-3 … STEM-2-of-3.parquet
    local rows=0 n
    for i in 0 1 2; do
        n=$("$dimred" scan "$1-$i-of-3.parquet" --json -q | python3 -c "import json,sys; print(json.load(sys.stdin)['rows'])")
        rows=$((rows + n))
    done
    echo "$rows"
}

cd "$work"
say "submitting the chain"
ids=$(DIMRED=$dimred "$root/deploy/slurm/submit.sh" "$work/pipeline.yaml" 3 "$work/data" "$work/out" \
    --cpus-per-task=1)
say "$ids"
read -r _ fit _ merge _ transform <<<"$ids"
wait_for "$fit" "$merge" "$transform"
for f in partials/shard-0-of-3.json partials/shard-1-of-3.json partials/shard-2-of-3.json \
    model.json report.json report.html reduced-0-of-3.parquet reduced-1-of-3.parquet reduced-2-of-3.parquet; do
    [ -s "out/$f" ] || { say "missing out/$f"; ls -R out; cat ./*.log; exit 1; }
done
same_model "$work/full" "$work/out" 90000
[ "$(shard_rows out/reduced)" = 90000 ] || { say "the shard outputs do not hold 90000 rows"; exit 1; }
say "3 fit shards, merge and 3 transform shards: model equal to the unsharded fit, 90000 rows written"

say "the sample data: one CSV file in 3 shards (two of them read nothing)"
"$dimred" run "$root/pipelines/breast_cancer_pca.yaml" -q --set "input.path=$root/sample-data/breast_cancer.csv" \
    --set "output.dir=$work/bc-full" >/dev/null
ids=$(DIMRED=$dimred "$root/deploy/slurm/submit.sh" "$root/pipelines/breast_cancer_pca.yaml" 3 \
    "$root/sample-data/breast_cancer.csv" "$work/bc" --cpus-per-task=1)
read -r _ fit _ merge _ transform <<<"$ids"
wait_for "$fit" "$merge" "$transform"
same_model "$work/bc-full" "$work/bc" 569
[ "$(shard_rows bc/reduced)" = 569 ] || { say "the shard outputs do not hold 569 rows"; exit 1; }
say "breast cancer sharded: model equal to the single run, 569 rows written"

say "a randomized fit in rounds: 3 shards of 600 rows x 2,000 features through submit.sh"
mkdir -p "$work/wide"
"$dimred" generate --rows 600 --cols 2000 --rank 6 --seed 4 --row-group-rows 100 -q \
    --output "$work/wide/w.parquet"
rm -f "$work"/wide/*.eigenvalues.json
cat > "$work/wide.yaml" <<YAML
name: slurm-rounds
input:
  path: placeholder
steps:
  - scale: { method: standard }
  - pca: { n_components: 6, solver: randomized, seed: 5 }
output:
  dir: placeholder
YAML
"$dimred" run "$work/wide.yaml" -q --set "input.path=$work/wide" --set "output.dir=$work/wide-full" >/dev/null
ids=$(DIMRED=$dimred "$root/deploy/slurm/submit.sh" "$work/wide.yaml" 3 "$work/wide" "$work/rounds" \
    --cpus-per-task=1)
say "$ids"
read -r _ fit _ merge _ transform <<<"$ids"
# the transform array waits behind each round's merge in turn: it ends the chain
for _ in $(seq 1200); do
    [ -z "$(squeue -h 2>/dev/null)" ] && break
    sleep 0.5
done
[ -z "$(squeue -h)" ] || { say "the rounds did not finish"; squeue; tail -n 30 "$work"/logs/*; exit 1; }
[ -s rounds/model.json ] || { say "no model after the rounds"; ls -R rounds; tail -n 5 dimred-*.log; exit 1; }
[ ! -e rounds/rounds ] || { say "the finished fit left its round files"; exit 1; }
# the column pass, the sketch and 7 power iterations: 9 merges, of which 8 submitted a round
submitted=$(grep -l "^round: fit" dimred-merge-*.log | wc -l)
[ "$submitted" = 8 ] || { say "$submitted merges submitted a round, not 8"; tail -n 5 dimred-merge-*.log; exit 1; }
same_model "$work/wide-full" "$work/rounds" 600
[ "$(shard_rows rounds/reduced)" = 600 ] || { say "the shard outputs do not hold 600 rows"; exit 1; }
say "ok: 9 rounds of 3 shards, model equal to the single-machine randomized fit, 600 rows written"

say "a chain whose shard fails is cancelled, not left pending"
ids=$(DIMRED=$dimred "$root/deploy/slurm/submit.sh" "$work/pipeline.yaml" 2 "$work/missing-input" "$work/bad" \
    --cpus-per-task=1)
read -r _ fit _ merge _ transform <<<"$ids"
wait_for "$fit" "$merge" "$transform"
[ ! -e bad/model.json ] || { say "a model was written from a failed fit"; exit 1; }
grep -q "missing-input" dimred-fit-"$fit"_0.log || { say "the shard's log lacks its error"; cat dimred-fit-"$fit"_0.log; exit 1; }
say "ok: the failed fit's merge and transform were cancelled"
