#!/usr/bin/env bash
# The cost of row steps: the exact PCA fit on 1,000,000 x 256 float64 Parquet, plain and with
# a filter keeping about half the rows and two derived columns, side by side in one run.
# Target (issue "row selection and derived features"): filtered+derived <= 1.2 x plain.
#   bash bench/rows.sh [--rows N] [--cols P] [--runs R]
# Prints a Markdown table; the raw times go to bench/results/rows-<date>.txt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

ROWS=1000000 COLS=256 RUNS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --cols) COLS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    -h|--help) sed -n 2,6p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
need_uint ROWS COLS RUNS
need_time
build_dimred
mkdir -p "$DATA_DIR" "$BENCH/results"
DATA="$DATA_DIR/synth_${ROWS}x${COLS}_r16_s42.parquet"
generate_once "$DATA" --rows "$ROWS" --cols "$COLS" --rank 16 --seed 42
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# f0 is symmetric about 0, so `f0 > 0` keeps about half the rows.
cat > "$WORK/plain.yaml" <<EOF
name: rows-plain
input: { path: $DATA, batch_rows: 8192 }
steps:
  - pca: { solver: exact, n_components: 16 }
output: { dir: $WORK/plain, reduced: false }
EOF
cat > "$WORK/rows.yaml" <<EOF
name: rows-filter-derive
input: { path: $DATA, batch_rows: 8192 }
steps:
  - filter: "f0 > 0"
  - derive: { log_f1: "ln(abs(f1) + 1)", ratio: "f2 / (abs(f3) + 1)" }
  - pca: { solver: exact, n_components: 16 }
output: { dir: $WORK/rows, reduced: false }
EOF

# The same steps with a filter every row passes: the stages' own cost on all rows.
sed -e 's/f0 > 0/f0 > -1000000/' -e "s|$WORK/rows|$WORK/all|" -e 's/rows-filter-derive/rows-all/' \
  "$WORK/rows.yaml" > "$WORK/all.yaml"

RESULTS="$BENCH/results/rows-$(date +%Y-%m-%d).txt"
: > "$RESULTS"
run() {  # run NAME: one timed fit, "NAME seconds peak_kb kept" appended to RESULTS
  local name="$1"
  warm "$DATA"
  /usr/bin/time -f "%e %M" -o "$WORK/time" "$BIN" run "$WORK/$name.yaml" --quiet >/dev/null
  local kept
  kept=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['n_samples'])" "$WORK/$name/report.json")
  echo "$name $(cat "$WORK/time") $kept" | tee -a "$RESULTS"
}
log "$RUNS runs each, alternating (dimred $("$BIN" --version))"
for _ in $(seq "$RUNS"); do
  run plain
  run rows
  run all
done

python3 - "$RESULTS" <<'PY'
import sys
from statistics import median
runs = {}
for line in open(sys.argv[1]):
    name, sec, kb, kept = line.split()
    runs.setdefault(name, []).append((float(sec), int(kb), int(kept)))
plain = median(s for s, _, _ in runs["plain"])
print("\n| fit (exact PCA, k = 16) | rows fitted | wall (median) | peak RSS | vs plain |")
print("|---|---:|---:|---:|---:|")
for name, label in [
    ("plain", "plain"),
    ("rows", "filter `f0 > 0` (keeps half) + 2 derived columns"),
    ("all", "filter every row passes + 2 derived columns"),
]:
    r = runs[name]
    wall = median(s for s, _, _ in r)
    peak = max(kb for _, kb, _ in r) / 1024
    print(f"| {label} | {r[0][2]:,} | {wall:.2f} s | {peak:.0f} MB | {wall / plain:.2f}x |")
PY
