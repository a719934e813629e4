#!/usr/bin/env bash
# The exported PCA model in ONNX Runtime against `dimred transform`, on the PCA benchmark file
# (1,000,000 x 256 float64 Parquet, k = 16). Run from the repo root:
#   bash bench/onnx.sh            (ROWS=100000 COLS=64 bash bench/onnx.sh for a quick look)
# Prints the models' sizes, then rows/s of: dimred transform (read, project, write Parquet),
# ONNX Runtime on the same Parquet read by pyarrow (read, run, write Parquet), and ONNX
# Runtime's own run time alone, for float64 and float32 graphs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${ROWS:-1000000} COLS=${COLS:-256}
if [[ -z ${DIMRED_BIN:-} ]]; then cargo build --release --quiet; fi
BIN=${DIMRED_BIN:-target/release/dimred}
DATA=bench/data/versus_${ROWS}x${COLS}.parquet
OUT=bench/data/out-onnx
mkdir -p bench/data "$OUT"
[[ -f $DATA ]] || "$BIN" generate --rows "$ROWS" --cols "$COLS" --rank 16 --seed 42 --output "$DATA" --quiet
VENV=bench/.venv-onnx
if [[ ! -x $VENV/bin/python ]]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet onnxruntime numpy pyarrow
fi
cat >"$OUT/pipeline.yaml" <<YAML
name: onnx-bench
input: { path: $DATA, features: { regex: "^f[0-9]+\$" }, batch_rows: 65536 }
steps:
  - pca: { solver: exact, n_components: 16 }
output: { dir: $OUT/model, reduced: false }
YAML
"$BIN" run "$OUT/pipeline.yaml" --quiet >/dev/null
for dtype in float64 float32; do
  "$BIN" export --model "$OUT/model/model.json" --onnx "$OUT/$dtype.onnx" --dtype "$dtype" >/dev/null
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(date -u +%F)"
echo "model.json $(stat -c %s "$OUT/model/model.json") B, model.npz $(stat -c %s "$OUT/model/model.npz") B," \
  "float64.onnx $(stat -c %s "$OUT/float64.onnx") B, float32.onnx $(stat -c %s "$OUT/float32.onnx") B"
start=$(date +%s.%N)
"$BIN" transform --model "$OUT/model/model.json" --input "$DATA" --output "$OUT/dimred.parquet" --quiet
end=$(date +%s.%N)
python3 -c "s=$end-$start; print(f'dimred transform: {s:.2f} s, {$ROWS/s:,.0f} rows/s (read, project, write Parquet)')"
for dtype in float64 float32; do
  "$VENV/bin/python" bench/onnx_bench.py "$OUT/$dtype.onnx" "$DATA" "$OUT/ort_$dtype.parquet"
done
