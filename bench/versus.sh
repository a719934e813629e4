#!/usr/bin/env bash
# Two dimred builds on the same machine in the same hour: the exact PCA fit on
# ROWS x COLS float64 (the read + GEMM case of bench/run.sh) and the autoencoder benchmark's
# training (bench/ae_pipeline.yaml), runs alternating A, B, A, B, ... so a load change on
# the machine hits both alike. For checking that a change of structure costs no speed.
#   bash bench/versus.sh OLD_BIN NEW_BIN [--rows N] [--cols P] [--runs R] [--ae-rows N]
# Needs a Python with numpy, pyarrow and scikit-learn for the autoencoder data
# (PYTHON=path; bench/ae_data.py makes it). Prints one markdown table.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

OLD="$1" NEW="$2"; shift 2
ROWS=1000000 COLS=256 RUNS=3 AE_ROWS=60000 PYTHON="${PYTHON:-python3}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --rows) ROWS="$2"; shift 2 ;;
    --cols) COLS="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --ae-rows) AE_ROWS="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
DATA=bench/data
mkdir -p "$DATA"
PCA_FILE="$DATA/versus_${ROWS}x${COLS}.parquet"
AE_FILE="$DATA/ae_${AE_ROWS}.parquet"
BIN="$NEW" generate_once "$PCA_FILE" --rows "$ROWS" --cols "$COLS" --rank 16 --seed 42 -q
[[ -s "$AE_FILE" ]] || "$PYTHON" bench/ae_data.py "$AE_ROWS" "$AE_FILE" --seed 42

cat > "$DATA/versus_pca.yaml" <<EOF
name: versus-exact
input:
  path: $PCA_FILE
  batch_rows: 8192
steps:
  - pca: { solver: exact, n_components: 16 }
output:
  dir: $DATA/out-versus-pca
  reduced: false
EOF

# seconds of the named passes in report.json, and peak RSS in MB
passes() {
  "$PYTHON" - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
want = sys.argv[2]
s = sum(p["seconds"] for p in r["passes"] if p["name"].startswith(want))
extra = r.get("autoencoder", {}).get("samples_per_second")
print(f"{s:.3f} {r['peak_rss_bytes'] / 1e6:.0f} {extra or ''}")
PY
}

echo "| case | build | run | fit s | peak RSS MB | samples/s |"
echo "|---|---|--:|--:|--:|--:|"
for i in $(seq 1 "$RUNS"); do
  for who in old new; do
    bin=$OLD; [[ $who == new ]] && bin=$NEW
    "$bin" run "$DATA/versus_pca.yaml" -q >/dev/null
    read -r s rss _ <<<"$(passes "$DATA/out-versus-pca/report.json" fit)"
    echo "| exact fit ${ROWS}x${COLS} | $who | $i | $s | $rss | |"
  done
done
for i in $(seq 1 "$RUNS"); do
  for who in old new; do
    bin=$OLD; [[ $who == new ]] && bin=$NEW
    "$bin" run bench/ae_pipeline.yaml -q --set "input.path=$AE_FILE" --set "output.dir=$DATA/out-versus-ae" >/dev/null
    read -r s rss sps <<<"$(passes "$DATA/out-versus-ae/report.json" epoch)"
    echo "| autoencoder ${AE_ROWS} rows, 5 epochs | $who | $i | $s | $rss | ${sps%.*} |"
  done
done
