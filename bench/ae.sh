#!/usr/bin/env bash
# Autoencoder benchmark: dimred's `autoencoder` step (streaming from Parquet) against
# PyTorch (in memory), the lecture's 784-256-128-256-784 network. Run from the repo root:
#   bash bench/ae.sh [--rows N] [--epochs E] [--threads T] [--quick] [--no-scale4] [--dataloader]
# See bench/README.md ("Autoencoder benchmark") for what it measures.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: bash bench/ae.sh [options]
  --rows N         rows of the benchmark file (784 float32 pixels each)  (default 60000)
  --epochs E       training epochs, both sides                            (default 5)
  --threads T      compute threads, both sides                            (default nproc)
  --quick          smoke test: 6000 rows, 1 epoch (explicit --rows/--epochs still win)
  --no-scale4      skip the memory rows (dimred with shuffle_buffer 16384 on 1x and 4x rows)
  --dataloader     also time PyTorch with torch.utils.data.DataLoader (the tutorial loop)
  --seed S         data seed                                              (default 42)
  --wait-idle S    before each contender wait up to S seconds for the machine to be idle
                   (other processes using < 0.2 cores over 3 s); for shared machines
  -h, --help       this text
env:
  DIMRED_BIN=PATH  use this dimred binary and skip `cargo build --release`
  TORCH_SPEC=SPEC  what pip installs for PyTorch (default 'torch>=2,<3'; from PyPI this
                   is the CUDA build with its nvidia-* wheels, about 3 GB; it runs on CPU)
USAGE
}

ROWS="" EPOCHS="" QUICK=0 SCALE4=1 DATALOADER=0 SEED=42 THREADS="$(nproc)" WAIT_IDLE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --no-scale4) SCALE4=0; shift ;;
    --dataloader) DATALOADER=1; shift ;;
    --seed) SEED="$2"; shift 2 ;;
    --wait-idle) WAIT_IDLE="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ $QUICK == 1 ]]; then
  ROWS="${ROWS:-6000}"; EPOCHS="${EPOCHS:-1}"
fi
ROWS="${ROWS:-60000}"; EPOCHS="${EPOCHS:-5}"
for v in ROWS EPOCHS THREADS SEED WAIT_IDLE; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a non-negative integer, got '${!v}'" >&2; exit 2; }
done
(( ROWS >= 1 && EPOCHS >= 1 && THREADS >= 1 )) || { echo "--rows, --epochs and --threads must be >= 1" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
DATA_DIR="$BENCH/data"
RES="$BENCH/results/ae"
VENV="$BENCH/.venv-torch"
PY="$VENV/bin/python"
PIPELINE="$BENCH/ae_pipeline.yaml"
TORCH_SPEC="${TORCH_SPEC:-torch>=2,<3}"
SMALL_BUFFER=16384
cd "$ROOT"

log() { printf '\n== %s\n' "$*"; }

[[ -x /usr/bin/time ]] || { echo "/usr/bin/time not found (apt-get install time)" >&2; exit 1; }

# ---------------------------------------------------------------- build
if [[ -n "${DIMRED_BIN:-}" ]]; then
  log "using DIMRED_BIN=$DIMRED_BIN (skipping cargo build)"
  BIN="$DIMRED_BIN"
else
  log "cargo build --release"
  cargo build --release
  BIN="$ROOT/target/release/dimred"
fi
[[ -x "$BIN" ]] || { echo "dimred binary not found or not executable: $BIN" >&2; exit 1; }
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# ---------------------------------------------------------------- python venv with torch
# PyPI's Linux torch wheel is the CUDA build: it will not import without its nvidia-*
# wheels (`pip install --no-deps torch` fails on libcudart), so pip installs them too
# (about 3 GB of downloads, 6 GB on disk). It runs on CPU; no GPU or driver is needed.
torch_ok() {
  "$PY" -c 'import numpy, pyarrow, sklearn, torch; assert (torch.ones(3) @ torch.ones(3)).item() == 3' 2>/dev/null
}
if [[ ! -x "$PY" ]] || ! torch_ok; then
  log "creating venv $VENV: numpy pyarrow scikit-learn '$TORCH_SPEC' (about 3 GB from PyPI)"
  [[ -x "$PY" ]] || python3 -m venv "$VENV"
  t0=$SECONDS
  "$PY" -m pip install --quiet --progress-bar off numpy pyarrow scikit-learn "$TORCH_SPEC"
  echo "pip install took $((SECONDS - t0)) s; venv size $(du -sh "$VENV" | cut -f1)"
  torch_ok || { echo "torch does not import in $VENV" >&2; exit 1; }
fi
PY_VERSIONS="$("$PY" -c 'import sys, numpy, pyarrow, torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CPU; {torch.__config__.parallel_info().splitlines()[-1].strip()}), "
      f"numpy {numpy.__version__}, pyarrow {pyarrow.__version__}")')"
log "python: $PY_VERSIONS"

# ---------------------------------------------------------------- machine
NPROC="$(nproc)"
CPU_MODEL="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)"
[[ -n "$CPU_MODEL" ]] || CPU_MODEL="$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)"
MEM_GIB="$(awk '/^MemTotal:/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
TODAY="$(date -u +%F)"
log "machine: $TODAY, nproc=$NPROC, CPU: $CPU_MODEL, memory: $MEM_GIB GiB; threads both sides: $THREADS"

# ---------------------------------------------------------------- data
mkdir -p "$DATA_DIR" "$RES"
gen() {  # gen ROWS OUT
  if [[ -s "$2" ]]; then
    echo "reusing $2"
  else
    "$PY" "$BENCH/ae_data.py" "$1" "$2" --seed "$SEED"
  fi
}
log "data"
ROWS4=$((ROWS * 4))
SUFFIX=""; [[ $SEED == 42 ]] || SUFFIX="_s$SEED"   # seed 42: the name in ae_pipeline.yaml
DATA="$DATA_DIR/ae_${ROWS}${SUFFIX}.parquet"
DATA4="$DATA_DIR/ae_${ROWS4}${SUFFIX}.parquet"
gen "$ROWS" "$DATA"
if [[ $SCALE4 == 1 ]]; then gen "$ROWS4" "$DATA4"; fi

# ---------------------------------------------------------------- runner
# Clear only this script's results, so a failed contender never shows stale numbers.
rm -rf "$RES"/dimred_* "$RES"/*.busy "$RES"/*.time "$RES"/*.out "$RES"/*.err "$RES"/*.rc "$RES"/table.md
FAILED=0
HZ="$(getconf CLK_TCK)"
cpu_busy() {  # jiffies the whole machine spent busy (user nice system irq softirq steal)
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}
wait_idle() {  # up to WAIT_IDLE seconds for < 0.2 busy cores over 3 s (nothing of ours runs now)
  (( WAIT_IDLE > 0 )) || return 0
  local start=$SECONDS b0 b1
  while :; do
    b0="$(cpu_busy)"; sleep 3; b1="$(cpu_busy)"
    (( (b1 - b0) * 10 < 2 * 3 * HZ )) && return 0
    if (( SECONDS - start >= WAIT_IDLE )); then
      echo "   machine still busy after ${WAIT_IDLE} s; running anyway" >&2
      return 0
    fi
  done
}
run_timed() {  # run_timed NAME CMD... ; /usr/bin/time -f '%e %M %U %S' -> NAME.time
  local name="$1"; shift
  local rc=0 b0 b1
  wait_idle
  echo "-- $name: $*"
  b0="$(cpu_busy)"
  /usr/bin/time -f '%e %M %U %S' -o "$RES/$name.time" "$@" >"$RES/$name.out" 2>"$RES/$name.err" || rc=$?
  b1="$(cpu_busy)"
  # The machine's busy CPU seconds during the run; minus the contender's own user+sys
  # seconds this is what other processes took (the report warns when it is not ~0).
  echo "$(( (b1 - b0) )) $HZ" >"$RES/$name.busy"
  echo "$rc" >"$RES/$name.rc"
  if [[ $rc != 0 ]]; then
    FAILED=1
    echo "   FAILED (exit $rc); last lines of $RES/$name.err:" >&2
    tail -n 5 "$RES/$name.err" >&2 || true
  else
    echo "   wall s, max RSS KiB, user s, sys s: $(tail -n1 "$RES/$name.time")"
  fi
}
warm() { cat "$1" >/dev/null; }  # every contender starts with the file in the page cache
dimred() {  # dimred NAME DATA SHUFFLE_BUFFER
  warm "$2"
  run_timed "$1" env RAYON_NUM_THREADS="$THREADS" "$BIN" run "$PIPELINE" --quiet \
    --set input.path="$2" --set output.dir="$RES/$1" \
    --set steps.0.autoencoder.epochs="$EPOCHS" --set steps.0.autoencoder.shuffle_buffer="$3"
}
# PyTorch: the same threads (intra-op pool via --threads, and the OpenMP/MKL pools);
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE dropped as in run.sh.
PYENV=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
       OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS")

# ---------------------------------------------------------------- contenders
log "PyTorch (in memory)"
warm "$DATA"
run_timed torch "${PYENV[@]}" "$PY" "$BENCH/ae_torch.py" "$DATA" --epochs "$EPOCHS" --threads "$THREADS"
if [[ $DATALOADER == 1 ]]; then
  warm "$DATA"
  run_timed torch_dataloader "${PYENV[@]}" "$PY" "$BENCH/ae_torch.py" "$DATA" --epochs "$EPOCHS" \
    --threads "$THREADS" --loader dataloader
fi

log "dimred (streaming from Parquet)"
dimred dimred_ae "$DATA" 65536
if [[ $SCALE4 == 1 ]]; then
  log "memory: dimred with shuffle_buffer $SMALL_BUFFER on 1x and 4x rows"
  dimred dimred_ae_buf16k "$DATA" "$SMALL_BUFFER"
  dimred dimred_ae_4x_buf16k "$DATA4" "$SMALL_BUFFER"
fi

# ---------------------------------------------------------------- table
DIMRED_VERSION="$("$BIN" --version 2>/dev/null | head -n1 || true)"
GIT_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
export BENCH_DATE="$TODAY" BENCH_NPROC="$NPROC" BENCH_CPU="$CPU_MODEL" BENCH_MEM_GIB="$MEM_GIB" \
  BENCH_ROWS="$ROWS" BENCH_EPOCHS="$EPOCHS" BENCH_THREADS="$THREADS" BENCH_SEED="$SEED" \
  BENCH_SMALL_BUFFER="$SMALL_BUFFER" BENCH_DATA="$DATA" BENCH_DATA4="$DATA4" \
  BENCH_PY_VERSIONS="$PY_VERSIONS" BENCH_DIMRED="${DIMRED_VERSION:-dimred} (git $GIT_REV)"
log "results"
rc=0
"$PY" "$BENCH/ae_report.py" "$RES" || rc=$?
echo
echo "table written to $RES/table.md"
if [[ $FAILED != 0 && $rc == 0 ]]; then rc=1; fi
exit "$rc"
