#!/usr/bin/env bash
# How wall time and peak memory grow with rows and with features, dimred against the
# scikit-learn peers in the same run, with the floors: decoding alone (`dimred scan`) and the
# product alone (numpy's XᵀX of an in-memory array of the same shape).
#
#   bash bench/scaling.sh [--base-rows N] [--feature-rows N]
#
# Rows: BASE × 1, 2, 5, 10 rows of 256 float64 columns; features: 64, 256, 1,024, 4,096 and
# 10,000 float64 columns of FEATURE_ROWS rows. k = 16, dimred's `auto` solver (exact up to 4,096
# features, randomized above), `batch_rows` 8192 (1257 at 10,000 features). Writes
# bench/results/scaling/scaling.csv, table.md and scaling.svg.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

BASE_ROWS=100000 FEATURE_ROWS=20000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --base-rows) BASE_ROWS="$2"; shift 2 ;;
    --feature-rows) FEATURE_ROWS="$2"; shift 2 ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
need_uint BASE_ROWS FEATURE_ROWS
need_time
build_dimred
sklearn_venv
OUT="$BENCH/results/scaling"
mkdir -p "$OUT" "$DATA_DIR"
CSV="$OUT/scaling.csv"
echo "sweep,rows,cols,contender,seconds,peak_mb" >"$CSV"

timed() {  # timed SWEEP ROWS COLS CONTENDER CMD...: one row of the CSV
  local sweep=$1 rows=$2 cols=$3 name=$4; shift 4
  local t="$OUT/time.txt"
  if /usr/bin/time -f '%e %M' -o "$t" "$@" >"$OUT/last.out" 2>"$OUT/last.err"; then
    read -r secs kb <"$t"
    echo "$sweep,$rows,$cols,$name,$secs,$((kb / 1024))" >>"$CSV"
    printf '  %-28s %8s s %7s MB\n' "$name" "$secs" "$((kb / 1024))"
  else
    echo "  $name failed: $(tail -n 2 "$OUT/last.err" | tr '\n' ' ')"
    echo "$sweep,$rows,$cols,$name,,"  >>"$CSV"
  fi
}

point() {  # point SWEEP ROWS COLS: every contender on one generated file
  local sweep=$1 rows=$2 cols=$3
  local file="$DATA_DIR/scaling_${rows}x${cols}.parquet" batch=8192
  (( cols <= 4096 )) || batch=1257
  log "$sweep: $rows × $cols"
  generate_once "$file" --rows "$rows" --cols "$cols" --rank 16 --seed 42 -q
  cat >"$OUT/pipeline.yaml" <<YAML
name: scaling
input: { path: $file, batch_rows: $batch }
steps:
  - pca: { n_components: 16 }
output: { dir: $OUT/dimred, reduced: false }
YAML
  warm "$file"
  timed "$sweep" "$rows" "$cols" "dimred scan (decode floor)" "$BIN" scan "$file" -q --json --batch-rows "$batch"
  timed "$sweep" "$rows" "$cols" "dimred run (auto solver; fit)" "$BIN" run "$OUT/pipeline.yaml" -q
  # the product alone, timed inside the process (filling the array is not part of it); its
  # memory column is the data as float64, the size an in-memory peer starts from
  local product
  product=$("$PY" "$BENCH/product_floor.py" "$rows" "$cols" | cut -d' ' -f1)
  echo "$sweep,$rows,$cols,numpy XᵀX (product floor),$product,$((rows * cols * 8 / 1048576))" >>"$CSV"
  printf '  %-28s %8s s %7s MB (the data as float64)\n' "product floor" "$product" "$((rows * cols * 8 / 1048576))"
  timed "$sweep" "$rows" "$cols" "sklearn PCA covariance_eigh" "$PY" "$BENCH/sk_pca.py" "$file"
  if [[ $sweep == rows ]]; then
    timed "$sweep" "$rows" "$cols" "sklearn IncrementalPCA" "$PY" "$BENCH/sk_incremental.py" "$file"
  fi
}

log_machine
for f in 1 2 5 10; do point rows $((BASE_ROWS * f)) 256; done
for p in 64 256 1024 4096 10000; do point features "$FEATURE_ROWS" "$p"; done
"$PY" "$BENCH/scaling_plot.py" "$CSV" "$OUT" "$TODAY, $NPROC × $CPU_MODEL, $MEM_GIB GiB"
echo "wrote $OUT/table.md and $OUT/scaling.svg"
