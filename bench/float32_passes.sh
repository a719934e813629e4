#!/usr/bin/env bash
# The randomized solver's seconds per pass on float32 data, f32 arithmetic (`pca.arithmetic:
# auto`, the default) against f64 (`pca.arithmetic: float64`), same passes (docs/benchmarks.md,
# "float32 arithmetic per pass").
#
#   DIMRED_BIN=target/release/dimred bash bench/float32_passes.sh [ROWS] [COLS] [RUNS]
#
# Generates ROWS × COLS (default 20,000 × 10,000) float32 columns of rank 16 into
# $DATA_DIR (BENCH_DATA overrides it), fits k = 16 with every power iteration (7), fit only,
# the spill file on, RUNS times each way (default 2, alternating), and prints each run's
# passes (seconds), the median and the fastest of each pass over the runs, and the top-16 variances' largest
# relative difference between the two ways. MEMORY_LIMIT (e.g. 1GiB) is passed as
# --memory-limit. The data file is deleted at the end.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

ROWS=${1:-20000}
COLS=${2:-10000}
RUNS=${3:-2}
need_uint ROWS COLS RUNS
build_dimred --quiet
DIR=${BENCH_DATA:-$DATA_DIR}
mkdir -p "$DIR"
DATA="$DIR/float32_${ROWS}x${COLS}.parquet"
trap 'rm -rf "$DATA" "$DIR/f32-pipeline.yaml" "${DATA%.parquet}.eigenvalues.json" "$DIR/f32-out-"*' EXIT

log "generate $ROWS x $COLS float32"
"$BIN" generate --rows "$ROWS" --cols "$COLS" --rank 16 --seed 1 --float32 -q --output "$DATA"
warm "$DATA"

for run in $(seq 1 "$RUNS"); do
  for arithmetic in auto float64; do
    out="$DIR/f32-out-$arithmetic-$run"
    cat >"$DIR/f32-pipeline.yaml" <<EOF
name: float32-passes
input:
  path: $DATA
  features: { regex: "^f[0-9]+$" }
steps:
  - pca: { solver: randomized, n_components: 16, arithmetic: $arithmetic }
output:
  dir: $out
  reduced: false
EOF
    "$BIN" run "$DIR/f32-pipeline.yaml" -q ${MEMORY_LIMIT:+--memory-limit "$MEMORY_LIMIT"} >/dev/null
  done
done

python3 - "$DIR" "$RUNS" <<'EOF'
import json, sys
d, runs = sys.argv[1], int(sys.argv[2])
reports = {}
for run in range(1, runs + 1):
    for a in ("auto", "float64"):
        r = json.load(open(f"{d}/f32-out-{a}-{run}/report.json"))
        reports[(a, run)] = r
        passes = " ".join(f"{p['name']}={p['seconds']:.2f}" for p in r["passes"])
        print(f"run {run} {r['arithmetic']:8s} total {r['seconds_total']:.2f} s: {passes}")
for a in ("auto", "float64"):
    names = [p["name"] for p in reports[(a, 1)]["passes"]]
    # the fastest run of each pass is the least disturbed by other work on the machine
    for what, pick in (("median", lambda t: t[len(t) // 2]), ("fastest", lambda t: t[0])):
        each = []
        for i, n in enumerate(names):
            t = sorted(reports[(a, r)]["passes"][i]["seconds"] for r in range(1, runs + 1))
            each.append(f"{n}={pick(t):.2f}")
        tot = sorted(reports[(a, r)]["seconds_total"] for r in range(1, runs + 1))
        print(f"{what} {reports[(a, 1)]['arithmetic']:8s} total {pick(tot):.2f} s: " + " ".join(each))
    print(f"batch_rows {reports[(a, 1)].get('memory', {}).get('batch_rows')}")
v32 = reports[("auto", 1)]["explained_variance"]
v64 = reports[("float64", 1)]["explained_variance"]
print("top-16 variances, largest relative difference f32 vs f64:",
      max(abs(a - b) / b for a, b in zip(v32, v64)))
EOF
