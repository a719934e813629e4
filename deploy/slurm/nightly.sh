#!/usr/bin/env bash
# The scheduled update on Slurm: fit today's partition only, in SHARDS shards, and merge it
# into yesterday's model state (a day without a model yesterday starts afresh).
#
#   deploy/slurm/nightly.sh PIPELINE.yaml SHARDS INPUT_ROOT MODEL_ROOT [sbatch options...]
#
# reads INPUT_ROOT/YYYY-MM-DD (today, UTC) and writes MODEL_ROOT/YYYY-MM-DD, merging
# MODEL_ROOT/(yesterday)/state/fit.json first. Run it from scrontab (nightly.scrontab).
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PIPELINE.yaml SHARDS INPUT_ROOT MODEL_ROOT [sbatch options...]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
pipeline=$1 shards=$2 inputs=$3 models=$4
shift 4
case $shards in '' | *[!0-9]* | 0) echo "SHARDS must be a positive whole number" >&2; exit 2 ;; esac
export DIMRED=${DIMRED:-dimred}
today=$(date -u +%F)
yesterday=$(date -u -d "@$(( $(date +%s) - 86400 ))" +%F)
with=""
if [ -s "$models/$yesterday/state/fit.json" ]; then with="$models/$yesterday"; fi
fit=$(sbatch --parsable --export=ALL --array="0-$((shards - 1))" "$@" \
    "$here/fit.sbatch" "$pipeline" "$inputs/$today" "$models/$today")
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$fit" --kill-on-invalid-dep=yes \
    "$@" "$here/merge.sbatch" "$pipeline" "$inputs/$today" "$models/$today" "$with")
echo "fit $fit merge $merge (with ${with:-no earlier state})"
