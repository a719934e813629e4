#!/usr/bin/env bash
# A sharded dimred run on Slurm: the fit array, the merge, the transform array, chained.
#
#   deploy/slurm/submit.sh PIPELINE.yaml SHARDS INPUT OUTDIR [sbatch options...]
#
# INPUT and OUTDIR override the pipeline's input.path and output.dir (a shared file system
# path every node sees). Extra arguments go to every sbatch (--partition, --time,
# --cpus-per-task, --mem, ...); dimred uses SLURM_CPUS_PER_TASK threads. DIMRED names the
# binary (default: dimred on PATH). Each job starts only when the one before succeeded;
# --kill-on-invalid-dep=yes cancels the rest of the chain when one fails (without it the
# merge would wait forever behind a failed shard). Prints the three job ids.
#
# A fit in rounds (pca solver: randomized) chains itself: each merge that writes the next
# round's file (OUTDIR/rounds/) submits that round's fit array and merge and moves the
# transform array behind them (merge.sbatch). The first array fits the round under way, so
# a chain submitted again after a failure continues from the last round written; delete
# OUTDIR/rounds to start afresh. Options given to every sbatch must not contain spaces.
set -euo pipefail
if [ $# -lt 4 ]; then
    echo "usage: $0 PIPELINE.yaml SHARDS INPUT OUTDIR [sbatch options...]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
pipeline=$1 shards=$2 input=$3 outdir=$4
shift 4
case $shards in '' | *[!0-9]* | 0) echo "SHARDS must be a positive whole number" >&2; exit 2 ;; esac
export DIMRED=${DIMRED:-dimred}
# for the merges of a fit in rounds, which submit the next round (merge.sbatch)
export DIMRED_DEPLOY=$here DIMRED_ARRAY=$shards DIMRED_SBATCH_ARGS="$*"
last=$((shards - 1))
fit=$(sbatch --parsable --export=ALL --array="0-$last" "$@" \
    "$here/fit.sbatch" "$pipeline" "$input" "$outdir")
merge=$(sbatch --parsable --export=ALL --dependency="afterok:$fit" --kill-on-invalid-dep=yes \
    "$@" "$here/merge.sbatch" "$pipeline" "$input" "$outdir")
transform=$(sbatch --parsable --export=ALL --array="0-$last" \
    --dependency="afterok:$merge" --kill-on-invalid-dep=yes "$@" \
    "$here/transform.sbatch" "$input" "$outdir")
echo "fit $fit merge $merge transform $transform"
