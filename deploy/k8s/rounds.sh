#!/usr/bin/env bash
# A sharded fit in rounds on Kubernetes (pca solver: randomized, whose every pass starts
# from the basis the pass before made): applies fit-job.yaml (one Indexed Job: a pod per
# shard) and merge-job.yaml once per round, each after the one before completed, until
# the merge writes the model instead of the next round's file; then transform-job.yaml.
#
#   deploy/k8s/rounds.sh [kubectl options, such as --namespace N]
#
# Each Job is deleted once it completed, so the next round applies it afresh. The merge
# says in its log whether it wrote a round (`wrote /data/out/rounds/round-R.npz`) or the
# model. A Job that fails stops the driver with its name (exit 1); the pods' logs say why.
# The first round fits the round under way, so the driver run again after a failure
# continues from the last round written; delete /data/out/rounds to start afresh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
opts=("$@")

# until JOB is complete (0) or failed (1)
wait_job() {
    while true; do
        local state
        state=$(kubectl "${opts[@]}" get job "$1" \
            -o 'jsonpath={.status.conditions[?(@.status=="True")].type}')
        case " $state " in
            *" Complete "*) return 0 ;;
            *" Failed "*) echo "job/$1 failed: kubectl logs job/$1" >&2; return 1 ;;
        esac
        sleep 5
    done
}

run_job() { # MANIFEST NAME: applied, waited for; its log printed, the Job deleted
    kubectl "${opts[@]}" delete job "$2" --ignore-not-found --wait=true >/dev/null
    kubectl "${opts[@]}" apply -f "$here/$1" >/dev/null
    wait_job "$2"
    log=$(kubectl "${opts[@]}" logs "job/$2" 2>/dev/null || true)
    kubectl "${opts[@]}" delete job "$2" --wait=true >/dev/null
}

for round in $(seq 0 100); do
    run_job fit-job.yaml dimred-fit
    run_job merge-job.yaml dimred-merge
    case $log in
        *"/rounds/round-"*) echo "round $round merged: $log" ;;
        *) echo "round $round merged: the model is written"; break ;;
    esac
done
run_job transform-job.yaml dimred-transform
echo "transform done"
