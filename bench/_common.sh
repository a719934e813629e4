# Shared helpers for the benchmark scripts (bench/*.sh); not a benchmark itself. Each script
# sources it first:
#   source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
# Sourcing sets ROOT (the repo root), BENCH (bench/) and DATA_DIR (bench/data/), and cds to
# ROOT, so relative paths in the scripts and in DIMRED_BIN are relative to the repo root.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
DATA_DIR="$BENCH/data"
cd "$ROOT"

log() { printf '\n== %s\n' "$*"; }

warm() {  # warm FILE: every contender starts with the file in the page cache
  cat "$1" >/dev/null
}

need_uint() {  # need_uint VAR...: exit 2 unless each named variable is a non-negative integer
  local v
  for v in "$@"; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "$v must be a non-negative integer, got '${!v}'" >&2; exit 2; }
  done
}

need_time() {
  [[ -x /usr/bin/time ]] || { echo "/usr/bin/time not found (apt-get install time)" >&2; exit 1; }
}

# build_dimred [--quiet]: BIN = $DIMRED_BIN if set, else `cargo build --release` and
# target/release/dimred; as an absolute path. --quiet: no log lines, `cargo build --quiet`.
build_dimred() {
  local quiet=0
  [[ ${1:-} != --quiet ]] || quiet=1
  if [[ -n "${DIMRED_BIN:-}" ]]; then
    (( quiet )) || log "using DIMRED_BIN=$DIMRED_BIN (skipping cargo build)"
    BIN="$DIMRED_BIN"
  elif (( quiet )); then
    cargo build --release --quiet
    BIN="$ROOT/target/release/dimred"
  else
    log "cargo build --release"
    cargo build --release
    BIN="$ROOT/target/release/dimred"
  fi
  [[ -x "$BIN" ]] || { echo "dimred binary not found or not executable: $BIN" >&2; exit 1; }
  BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
}

# generate_once OUT ARG...: `$BIN generate ARG... --output OUT` unless OUT exists and is not
# empty; a failed run removes OUT and exits 1.
generate_once() {
  local out="$1"; shift
  [[ ! -s "$out" ]] || return 0
  if ! "$BIN" generate "$@" --output "$out"; then
    rm -f "$out"; echo "dimred generate failed" >&2; exit 1
  fi
}

# make_venv [--note TEXT] VENV CHECK PKG...: PY = VENV/bin/python. Unless it exists and runs the
# Python code CHECK (the imports the script needs), create VENV and pip install PKG... into it.
make_venv() {
  local note=""
  if [[ ${1:-} == --note ]]; then note=" $2"; shift 2; fi
  local venv="$1" check="$2"; shift 2
  PY="$venv/bin/python"
  if [[ -x "$PY" ]] && "$PY" -c "$check" 2>/dev/null; then return 0; fi
  log "creating venv $venv and installing $*$note"
  [[ -x "$PY" ]] || python3 -m venv "$venv"
  local t0=$SECONDS
  "$PY" -m pip install --quiet --progress-bar off "$@"
  echo "pip install took $((SECONDS - t0)) s; venv size $(du -sh "$venv" | cut -f1)"
  "$PY" -c "$check" || { echo "the packages do not import in $venv" >&2; exit 1; }
}

sklearn_venv() {  # bench/.venv: the scikit-learn peers' venv (run.sh, kernel_pca.sh)
  make_venv "$BENCH/.venv" 'import numpy, pyarrow, sklearn, threadpoolctl' \
    numpy pyarrow scikit-learn threadpoolctl
}

machine() {  # NPROC, CPU_MODEL, MEM_GIB (GiB, one decimal) and TODAY (UTC date)
  NPROC="$(nproc)"
  CPU_MODEL="$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n1)"
  [[ -n "$CPU_MODEL" ]] || CPU_MODEL="$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -n1)"
  MEM_GIB="$(awk '/^MemTotal:/ {printf "%.1f", $2/1048576}' /proc/meminfo)"
  TODAY="$(date -u +%F)"
}

log_machine() {  # log_machine [SUFFIX]: machine, then its log line (the table scripts)
  machine
  log "machine: $TODAY, nproc=$NPROC, CPU: $CPU_MODEL, memory: $MEM_GIB GiB${1:-}"
}

machine_line() {  # machine, then its one line (the scripts that print their results)
  machine
  echo "machine: $NPROC cores, $CPU_MODEL; $TODAY"
}

# py_env THREADS: PYENV, the `env ...` prefix for the Python peers. It drops OPENBLAS_CORETYPE /
# OPENBLAS_L2_SIZE (meant for old OpenBLAS builds; they slow a current numpy's bundled
# OpenBLAS) and pins the BLAS/OpenMP pools to THREADS.
py_env() {
  PYENV=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE
         OPENBLAS_NUM_THREADS="$1" OMP_NUM_THREADS="$1" MKL_NUM_THREADS="$1")
}

# ---------------------------------------------------------------- timed contenders
# run_timed NAME CMD...: runs CMD with stdout, stderr, exit code and the `/usr/bin/time -f
# "$TIME_FMT"` line in $RES/NAME.{out,err,rc,time}; a failure sets FAILED=1 and shows the
# end of NAME.err. With TIME_BUSY=1 it also writes $RES/NAME.busy: "JIFFIES HZ", the busy CPU
# time of the whole machine during the run. With WAIT_IDLE=S > 0 it first waits up to S
# seconds for the machine to be idle.
FAILED=0
TIME_FMT='%e %M'
TIME_WHAT='wall s, max RSS KiB'
TIME_BUSY=0
WAIT_IDLE=0
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

run_timed() {
  local name="$1"; shift
  local rc=0 b0=0 b1=0
  wait_idle
  echo "-- $name: $*"
  if (( TIME_BUSY )); then b0="$(cpu_busy)"; fi
  /usr/bin/time -f "$TIME_FMT" -o "$RES/$name.time" "$@" >"$RES/$name.out" 2>"$RES/$name.err" || rc=$?
  if (( TIME_BUSY )); then
    b1="$(cpu_busy)"
    # Minus the contender's own user+sys seconds this is what other processes took.
    echo "$(( b1 - b0 )) $HZ" >"$RES/$name.busy"
  fi
  echo "$rc" >"$RES/$name.rc"
  if [[ $rc != 0 ]]; then
    FAILED=1
    echo "   FAILED (exit $rc); last lines of $RES/$name.err:" >&2
    tail -n 5 "$RES/$name.err" >&2 || true
  else
    echo "   $TIME_WHAT: $(tail -n1 "$RES/$name.time")"
  fi
}

# report_and_exit SCRIPT DIR [TITLE]: exports the machine (see machine), PY_VERSIONS and dimred's
# version as BENCH_* (the caller exports its own BENCH_* first), runs `$PY bench/SCRIPT DIR`,
# which writes DIR/table.md, and exits with its status, or 1 if a contender failed. TITLE: the
# log line before it (default "results").
report_and_exit() {
  local script="$1" dir="$2" rc=0 version git_rev
  version="$("$BIN" --version 2>/dev/null | head -n1 || true)"
  git_rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
  export BENCH_DATE="$TODAY" BENCH_NPROC="$NPROC" BENCH_CPU="$CPU_MODEL" BENCH_MEM_GIB="$MEM_GIB" \
    BENCH_PY_VERSIONS="$PY_VERSIONS" BENCH_DIMRED="${version:-dimred} (git $git_rev)"
  log "${3:-results}"
  "$PY" "$BENCH/$script" "$dir" || rc=$?
  echo
  echo "table written to $dir/table.md"
  if [[ $FAILED != 0 && $rc == 0 ]]; then rc=1; fi
  exit "$rc"
}
