#!/usr/bin/env bash
# Recurrent autoencoder benchmark: dimred's `autoencoder` step with LSTM and GRU layers
# (streaming from Parquet) against PyTorch (in memory), on two workloads: the lecture's
# LSTM autoencoder on 28x28 images read as 28 steps of 28 (bench/rnn_ae_lstm.yaml), and a
# GRU 64 -> 16 autoencoder on windows of 200 steps x 4 features (bench/rnn_ae_gru.yaml).
# Run from the repo root:
#   bash bench/rnn_ae.sh [--rows N] [--epochs E] [--threads T] [--quick]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

usage() {
  cat <<'USAGE'
usage: bash bench/rnn_ae.sh [options]
  --rows N         rows in each benchmark file                    (default 60000)
  --epochs E       training epochs, both sides                    (default 3)
  --threads T      compute threads, both sides                    (default nproc)
  --quick          smoke test: 6000 rows, 1 epoch
  --seed S         data seed                                      (default 42)
  -h, --help       this text
env:
  DIMRED_BIN=PATH  use this dimred binary and skip `cargo build --release`
  TORCH_SPEC=SPEC  what pip installs for PyTorch (default 'torch>=2,<3')
USAGE
}

ROWS="" EPOCHS="" QUICK=0 SEED=42 THREADS="$(nproc)" WAIT_IDLE=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    --seed) SEED="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
if [[ $QUICK == 1 ]]; then
  ROWS="${ROWS:-6000}"; EPOCHS="${EPOCHS:-1}"
fi
ROWS="${ROWS:-60000}"; EPOCHS="${EPOCHS:-3}"
need_uint ROWS EPOCHS THREADS SEED
(( ROWS >= 1 && EPOCHS >= 1 && THREADS >= 1 )) || { echo "--rows, --epochs and --threads must be >= 1" >&2; exit 2; }

RES="$BENCH/results/rnn_ae"
TORCH_SPEC="${TORCH_SPEC:-torch>=2,<3}"
need_time
build_dimred
make_venv --note "(about 3 GB from PyPI)" "$BENCH/.venv-torch" \
  'import numpy, pyarrow, torch; assert (torch.ones(3) @ torch.ones(3)).item() == 3' \
  numpy pyarrow "$TORCH_SPEC"
PY_VERSIONS="$("$PY" -c 'import sys, numpy, pyarrow, torch
print(f"python {sys.version.split()[0]}, torch {torch.__version__} (CPU), numpy {numpy.__version__}, pyarrow {pyarrow.__version__}")')"
log "python: $PY_VERSIONS"
log_machine "; threads both sides: $THREADS"

mkdir -p "$DATA_DIR" "$RES"
SUFFIX=""; [[ $SEED == 42 ]] || SUFFIX="_s$SEED"
IMAGES="$DATA_DIR/images_${ROWS}${SUFFIX}.parquet"
WINDOWS="$DATA_DIR/windows_${ROWS}${SUFFIX}.parquet"
generate_once "$IMAGES" --rows "$ROWS" --images 28x28 --seed "$SEED" -q
generate_once "$WINDOWS" --rows "$ROWS" --sequences 200x4 --seed "$SEED" -q

rm -rf "$RES"/dimred_* "$RES"/*.busy "$RES"/*.time "$RES"/*.out "$RES"/*.err "$RES"/*.rc "$RES"/table.md
TIME_FMT='%e %M %U %S'
TIME_WHAT='wall s, max RSS KiB, user s, sys s'
TIME_BUSY=1
py_env "$THREADS"

for model in lstm gru; do
  data="$IMAGES"; [[ $model == gru ]] && data="$WINDOWS"
  log "PyTorch $model (in memory)"
  warm "$data"
  run_timed "torch_$model" "${PYENV[@]}" "$PY" "$BENCH/rnn_ae_torch.py" "$data" --model "$model" \
    --epochs "$EPOCHS" --threads "$THREADS"
  log "dimred $model (streaming from Parquet)"
  warm "$data"
  run_timed "dimred_$model" env RAYON_NUM_THREADS="$THREADS" "$BIN" run "$BENCH/rnn_ae_$model.yaml" \
    --quiet --set input.path="$data" --set output.dir="$RES/dimred_$model" \
    --set steps.0.autoencoder.epochs="$EPOCHS"
done

export BENCH_ROWS="$ROWS" BENCH_EPOCHS="$EPOCHS" BENCH_THREADS="$THREADS" BENCH_SEED="$SEED"
report_and_exit rnn_ae_report.py "$RES"
