#!/usr/bin/env bash
# dimred benchmark harness. Run from the repo root:
#   bash bench/run.sh [--rows N] [--cols P] [--quick] [--scale4]
#   bash bench/run.sh --wide      (only the wide case: 100,000 x 10,000 float32)
# See bench/README.md for what it measures and how to read the table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
  cat <<'USAGE'
usage: bash bench/run.sh [options]
  --rows N         rows in the benchmark file            (default 1000000)
  --cols P         float64 feature columns               (default 256)
  --quick          smoke test: 100000 rows x 64 cols (explicit --rows/--cols still win)
  --scale4         also run dimred on a 4x-rows file (memory-flatness row;
                   ~8 GB of Parquet at the default size)
  --rank R         rank of the synthetic signal          (default 16)
  --seed S         generator seed                        (default 42)
  --batch-rows B   dimred input.batch_rows               (default 8192)
  --wide           run only the wide case instead: dimred randomized on a
                   100000 x 10000 float32 file (4 GB of Parquet) against
                   scikit-learn under an address-space cap (see bench/README.md)
  --wide-rows N    rows of the wide file                 (default 100000)
  --wide-cols P    float32 columns of the wide file      (default 10000)
  --sk-cap BYTES   prlimit --as cap for the scikit-learn wide runs
                   (default 15032385536 = 14 GiB; never raise it on a shared box)
  --slice-rows R   rows of the scikit-learn float64 slice row (default 10000)
  -h, --help       this text
env:
  DIMRED_BIN=PATH  use this dimred binary and skip `cargo build --release`
  BENCH_PY_THREADS=N  BLAS/OpenMP threads for the Python peers (default: nproc,
                   i.e. equal to dimred; change only to study the peers)
USAGE
}

ROWS="" COLS="" QUICK=0 SCALE4=0 RANK=16 SEED=42 K=16 BATCH_ROWS=8192
WIDE=0 WIDE_ROWS=100000 WIDE_COLS=10000 SK_CAP=$((14 * 1024 * 1024 * 1024)) SLICE_ROWS=10000
# Wide chunks: 1257 rows x 10,000 features is a 100 MB f64 chunk (8192 rows would be 655 MB per
# chunk in flight), and 1257 = 3 x 419, the randomized solver's block at 10,000 features, so
# blocks are never copied (the result does not depend on batch_rows either way).
WIDE_BATCH_ROWS=1257
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --cols) COLS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --scale4) SCALE4=1; shift ;;
    --rank) RANK="$2"; shift 2 ;;
    --seed) SEED="$2"; shift 2 ;;
    --batch-rows) BATCH_ROWS="$2"; shift 2 ;;
    --wide) WIDE=1; shift ;;
    --wide-rows) WIDE_ROWS="$2"; shift 2 ;;
    --wide-cols) WIDE_COLS="$2"; shift 2 ;;
    --sk-cap) SK_CAP="$2"; shift 2 ;;
    --slice-rows) SLICE_ROWS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ $QUICK == 1 ]]; then
  ROWS="${ROWS:-100000}"; COLS="${COLS:-64}"
fi
ROWS="${ROWS:-1000000}"; COLS="${COLS:-256}"
need_uint ROWS COLS RANK SEED BATCH_ROWS WIDE_ROWS WIDE_COLS SK_CAP SLICE_ROWS
(( COLS >= K )) || { echo "--cols must be >= k=$K" >&2; exit 2; }
(( WIDE_COLS >= K )) || { echo "--wide-cols must be >= k=$K" >&2; exit 2; }

RES="$BENCH/results"

need_time
if [[ $WIDE == 1 ]]; then
  command -v prlimit >/dev/null || { echo "prlimit not found (util-linux); needed to cap scikit-learn" >&2; exit 1; }
fi

# ---------------------------------------------------------------- build
build_dimred

# ---------------------------------------------------------------- python venv
sklearn_venv
PY_VERSIONS="$("$PY" -c 'import sys, numpy, scipy, pyarrow, sklearn, threadpoolctl
print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, scipy {scipy.__version__}, "
      f"pyarrow {pyarrow.__version__}, scikit-learn {sklearn.__version__}, threadpoolctl {threadpoolctl.__version__}")')"
log "python: $PY_VERSIONS"

# ---------------------------------------------------------------- machine
log_machine

# Equal threads: every contender may use all cores. The Python peers run under PYENV
# (py_env in _common.sh). Set just before the contenders, after the data is generated.
equal_threads() {
  export RAYON_NUM_THREADS="$NPROC"
  PY_THREADS="${BENCH_PY_THREADS:-$NPROC}"
  py_env "$PY_THREADS"
}

# ---------------------------------------------------------------- wide case (--wide)
# 100,000 x 10,000 float32: 4 GB of Parquet, 8 GB as a float64 array. dimred streams it with
# the randomized solver; scikit-learn runs under `prlimit --as` so that it fails with a
# MemoryError instead of pushing a shared machine into the OOM killer.
if [[ $WIDE == 1 ]]; then
  RES="$RES/wide"  # run_timed writes here
  W="$RES"
  mkdir -p "$DATA_DIR" "$W"
  rm -rf "$W"/dimred_wide "$W"/dimred_wide_decode "$W"/dimred_wide_tol "$W"/dimred_wide_limit \
    "$W"/dimred_wide_krylov "$W"/dimred_wide_f64
  rm -f "$W"/*.time "$W"/*.out "$W"/*.err "$W"/*.rc "$W"/*.yaml "$W"/table.md
  log "wide data"
  WDATA="$DATA_DIR/synth_${WIDE_ROWS}x${WIDE_COLS}_r${RANK}_s${SEED}_f32.parquet"
  if [[ -s "$WDATA" ]]; then
    echo "reusing $WDATA"
  else
    echo "generating $WDATA ($WIDE_ROWS x $WIDE_COLS float32, rank $RANK, seed $SEED)"
    run_timed generate "$BIN" generate --rows "$WIDE_ROWS" --cols "$WIDE_COLS" --rank "$RANK" \
      --seed "$SEED" --float32 -q --output "$WDATA"
    if [[ $(cat "$W/generate.rc") != 0 ]]; then rm -f "$WDATA"; echo "dimred generate failed" >&2; exit 1; fi
  fi
  cat >"$W/pipeline_wide.yaml" <<YAML
name: bench-wide
input:
  path: $WDATA
  features: { regex: "^f" }
  batch_rows: $WIDE_BATCH_ROWS
steps:
  - pca: { solver: randomized, n_components: $K }
output:
  dir: $W/dimred_wide
  reduced: false
YAML
  equal_threads
  CAP=(prlimit --as="$SK_CAP" --)
  log "wide: dimred"
  warm "$WDATA"
  run_timed dimred_wide "$BIN" run "$W/pipeline_wide.yaml" --quiet
  # the same fit without the spill file (every pass decodes the Parquet file), and one that
  # stops the power iterations once the 16 variances settle to 1e-3
  warm "$WDATA"
  run_timed dimred_wide_decode "$BIN" run "$W/pipeline_wide.yaml" --quiet \
    --set "output.dir=$W/dimred_wide_decode" --set input.spill=false
  # the same fit with every product in f64 (pca.arithmetic: float64), for the f32 path's gain
  warm "$WDATA"
  run_timed dimred_wide_f64 "$BIN" run "$W/pipeline_wide.yaml" --quiet \
    --set "output.dir=$W/dimred_wide_f64" --set steps.0.pca.arithmetic=float64
  warm "$WDATA"
  run_timed dimred_wide_tol "$BIN" run "$W/pipeline_wide.yaml" --quiet \
    --set "output.dir=$W/dimred_wide_tol" --set steps.0.pca.tol=0.001
  # the issue's configuration: the chunk size derived from --memory-limit 1GiB, with the
  # default power iterations and with block Krylov stopping under tol
  warm "$WDATA"
  grep -v 'batch_rows' "$W/pipeline_wide.yaml" >"$W/pipeline_wide_limit.yaml"
  run_timed dimred_wide_limit "$BIN" run "$W/pipeline_wide_limit.yaml" --quiet --memory-limit 1GiB \
    --set "output.dir=$W/dimred_wide_limit"
  warm "$WDATA"
  run_timed dimred_wide_krylov "$BIN" run "$W/pipeline_wide_limit.yaml" --quiet --memory-limit 1GiB \
    --set "output.dir=$W/dimred_wide_krylov" \
    --set steps.0.pca.method=krylov --set steps.0.pca.tol=0.001
  log "wide: scikit-learn under prlimit --as=$SK_CAP"
  warm "$WDATA"
  run_timed sk_wide_f64 "${CAP[@]}" "${PYENV[@]}" "$PY" "$BENCH/sk_wide.py" "$WDATA" "$K" float64
  warm "$WDATA"
  run_timed sk_wide_f32 "${CAP[@]}" "${PYENV[@]}" "$PY" "$BENCH/sk_wide.py" "$WDATA" "$K" float32
  run_timed sk_wide_slice "${CAP[@]}" "${PYENV[@]}" "$PY" "$BENCH/sk_wide.py" "$WDATA" "$K" float64 "$SLICE_ROWS"
  export BENCH_ROWS="$WIDE_ROWS" BENCH_COLS="$WIDE_COLS" BENCH_K="$K" BENCH_DATA="$WDATA" \
    BENCH_BATCH_ROWS="$WIDE_BATCH_ROWS" BENCH_SK_CAP="$SK_CAP" BENCH_SLICE_ROWS="$SLICE_ROWS" \
    BENCH_THREADS="dimred $RAYON_NUM_THREADS, Python peers $PY_THREADS"
  report_and_exit report_wide.py "$W" "wide: results"
fi

# ---------------------------------------------------------------- data
mkdir -p "$DATA_DIR" "$RES"
gen() {  # gen ROWS OUT
  local rows="$1" out="$2"
  if [[ -s "$out" ]]; then
    echo "reusing $out"
  else
    echo "generating $out ($rows x $COLS, rank $RANK, seed $SEED)"
    generate_once "$out" --rows "$rows" --cols "$COLS" --rank "$RANK" --seed "$SEED"
  fi
}
log "data"
DATA="$DATA_DIR/synth_${ROWS}x${COLS}_r${RANK}_s${SEED}.parquet"
gen "$ROWS" "$DATA"
ROWS4=$((ROWS * 4))
DATA4="$DATA_DIR/synth_${ROWS4}x${COLS}_r${RANK}_s${SEED}.parquet"
if [[ $SCALE4 == 1 ]]; then gen "$ROWS4" "$DATA4"; fi

# ---------------------------------------------------------------- runner
# Clear only what this script writes, so a failed contender never shows stale numbers.
rm -rf "$RES"/dimred_exact "$RES"/dimred_fit "$RES"/dimred_incremental "$RES"/dimred_randomized "$RES"/dimred_exact_4x
rm -f "$RES"/*.time "$RES"/*.out "$RES"/*.err "$RES"/*.rc "$RES"/*.yaml "$RES"/table.md "$RES"/meta.json
# run_timed (in _common.sh) writes NAME.{time,out,err,rc} into $RES.
write_pipeline() {  # write_pipeline YAML DATA OUTDIR
  cat >"$1" <<YAML
name: bench-exact
input:
  path: $2
  features: { regex: "^f" }
  batch_rows: $BATCH_ROWS
steps:
  - pca: { solver: exact, n_components: $K }
output:
  dir: $3
YAML
}

equal_threads

# ---------------------------------------------------------------- contenders
log "dimred"
warm "$DATA"
run_timed scan "$BIN" scan "$DATA"
write_pipeline "$RES/pipeline_exact.yaml" "$DATA" "$RES/dimred_exact"
run_timed dimred_exact "$BIN" run "$RES/pipeline_exact.yaml" --quiet
warm "$DATA"
write_pipeline "$RES/pipeline_fit.yaml" "$DATA" "$RES/dimred_fit"
run_timed dimred_fit "$BIN" run "$RES/pipeline_fit.yaml" --quiet --set output.reduced=false
# the other solvers, fit only: incremental at the peer's batch size, randomized
warm "$DATA"
write_pipeline "$RES/pipeline_incremental.yaml" "$DATA" "$RES/dimred_incremental"
run_timed dimred_incremental "$BIN" run "$RES/pipeline_incremental.yaml" --quiet --set output.reduced=false \
  --set steps.0.pca.solver=incremental --set steps.0.pca.batch_size=65536
warm "$DATA"
write_pipeline "$RES/pipeline_randomized.yaml" "$DATA" "$RES/dimred_randomized"
run_timed dimred_randomized "$BIN" run "$RES/pipeline_randomized.yaml" --quiet --set output.reduced=false \
  --set steps.0.pca.solver=randomized

log "python peers"
for v in OPENBLAS_CORETYPE OPENBLAS_L2_SIZE; do
  if [[ -n "${!v+x}" ]]; then echo "$v=${!v} is set here; unset for the Python peers"; fi
done
BLAS_INFO="$("${PYENV[@]}" "$PY" -c '
import numpy, scipy.linalg, sklearn.decomposition, pyarrow
from threadpoolctl import threadpool_info
seen = []
for i in threadpool_info():
    s = "{} {} {}{} ({} threads)".format(i["internal_api"], i.get("version") or "",
        "kernel " + i["architecture"] + ", " if i.get("architecture") else "",
        i.get("threading_layer") or "", i["num_threads"])
    s = " ".join(s.split())
    if s not in seen: seen.append(s)
print("; ".join(seen))')"
echo "threadpoolctl: $BLAS_INFO"
warm "$DATA"
run_timed sk_incremental "${PYENV[@]}" "$PY" "$BENCH/sk_incremental.py" "$DATA" "$K"
warm "$DATA"
run_timed sk_pca "${PYENV[@]}" "$PY" "$BENCH/sk_pca.py" "$DATA" "$K"
warm "$DATA"
run_timed sk_randomized "${PYENV[@]}" "$PY" "$BENCH/sk_pca.py" --solver randomized "$DATA" "$K"

if [[ $SCALE4 == 1 ]]; then
  log "memory flatness: dimred on 4x rows"
  warm "$DATA4"
  write_pipeline "$RES/pipeline_exact_4x.yaml" "$DATA4" "$RES/dimred_exact_4x"
  run_timed dimred_exact_4x "$BIN" run "$RES/pipeline_exact_4x.yaml" --quiet
fi

# ---------------------------------------------------------------- table + check
export BENCH_ROWS="$ROWS" BENCH_COLS="$COLS" BENCH_RANK="$RANK" BENCH_SEED="$SEED" BENCH_K="$K" \
  BENCH_BATCH_ROWS="$BATCH_ROWS" BENCH_SCALE4="$SCALE4" BENCH_DATA="$DATA" BENCH_DATA4="$DATA4" \
  BENCH_BLAS="$BLAS_INFO" BENCH_THREADS="dimred $RAYON_NUM_THREADS, Python peers $PY_THREADS"
report_and_exit report.py "$RES"
