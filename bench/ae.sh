#!/usr/bin/env bash
# Autoencoder benchmark: dimred's `autoencoder` step (streaming from Parquet) against
# PyTorch (in memory), the lecture's 784-256-128-256-784 network. Run from the repo root:
#   bash bench/ae.sh [--rows N] [--epochs E] [--threads T] [--quick] [--no-scale4] [--dataloader]
# See bench/README.md ("Autoencoder benchmark") for what it measures.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

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
need_uint ROWS EPOCHS THREADS SEED WAIT_IDLE
(( ROWS >= 1 && EPOCHS >= 1 && THREADS >= 1 )) || { echo "--rows, --epochs and --threads must be >= 1" >&2; exit 2; }

RES="$BENCH/results/ae"
PIPELINE="$BENCH/ae_pipeline.yaml"
TORCH_SPEC="${TORCH_SPEC:-torch>=2,<3}"
SMALL_BUFFER=16384

need_time

# ---------------------------------------------------------------- build
build_dimred

# ---------------------------------------------------------------- python venv with torch
# PyPI's Linux torch wheel is the CUDA build: it will not import without its nvidia-*
# wheels (`pip install --no-deps torch` fails on libcudart), so pip installs them too
# (about 3 GB of downloads, 6 GB on disk). It runs on CPU; no GPU or driver is needed.
make_venv --note "(about 3 GB from PyPI)" "$BENCH/.venv-torch" \
  'import numpy, pyarrow, sklearn, torch; assert (torch.ones(3) @ torch.ones(3)).item() == 3' \
  numpy pyarrow scikit-learn "$TORCH_SPEC"
PY_VERSIONS="$("$PY" -c 'import sys, numpy, pyarrow, torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CPU; {torch.__config__.parallel_info().splitlines()[-1].strip()}), "
      f"numpy {numpy.__version__}, pyarrow {pyarrow.__version__}")')"
log "python: $PY_VERSIONS"

# ---------------------------------------------------------------- machine
log_machine "; threads both sides: $THREADS"

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
# run_timed (in _common.sh): NAME.{time,out,err,rc} and, for the report's warning about other
# processes, NAME.busy (the machine's busy CPU time during the run); user and sys seconds
# too; WAIT_IDLE (--wait-idle) is honoured before each contender.
TIME_FMT='%e %M %U %S'
TIME_WHAT='wall s, max RSS KiB, user s, sys s'
TIME_BUSY=1
dimred() {  # dimred NAME DATA SHUFFLE_BUFFER
  warm "$2"
  run_timed "$1" env RAYON_NUM_THREADS="$THREADS" "$BIN" run "$PIPELINE" --quiet \
    --set input.path="$2" --set output.dir="$RES/$1" \
    --set steps.0.autoencoder.epochs="$EPOCHS" --set steps.0.autoencoder.shuffle_buffer="$3"
}
# PyTorch: the same threads (intra-op pool via --threads, and the OpenMP/MKL pools);
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE dropped, as for run.sh's peers.
py_env "$THREADS"

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
export BENCH_ROWS="$ROWS" BENCH_EPOCHS="$EPOCHS" BENCH_THREADS="$THREADS" BENCH_SEED="$SEED" \
  BENCH_SMALL_BUFFER="$SMALL_BUFFER" BENCH_DATA="$DATA" BENCH_DATA4="$DATA4"
report_and_exit ae_report.py "$RES"
