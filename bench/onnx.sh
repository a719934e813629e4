#!/usr/bin/env bash
# The exported PCA model in ONNX Runtime against `dimred transform`, on the PCA benchmark file
# (1,000,000 x 256 float64 Parquet, k = 16). Run from the repo root:
#   bash bench/onnx.sh            (ROWS=100000 COLS=64 bash bench/onnx.sh for a quick look)
# Prints the models' sizes, then rows/s of: dimred transform (read, project, write Parquet),
# ONNX Runtime on the same Parquet read by pyarrow (read, run, write Parquet), and ONNX
# Runtime's own run time alone, for float64 and float32 graphs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
ROWS=${ROWS:-1000000} COLS=${COLS:-256}
build_dimred --quiet
DATA=bench/data/versus_${ROWS}x${COLS}.parquet
OUT=bench/data/out-onnx
mkdir -p bench/data "$OUT"
generate_once "$DATA" --rows "$ROWS" --cols "$COLS" --rank 16 --seed 42 --quiet
make_venv bench/.venv-onnx 'import onnxruntime, numpy, pyarrow' onnxruntime numpy pyarrow
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
machine_line
echo "model.json $(stat -c %s "$OUT/model/model.json") B, model.npz $(stat -c %s "$OUT/model/model.npz") B," \
  "float64.onnx $(stat -c %s "$OUT/float64.onnx") B, float32.onnx $(stat -c %s "$OUT/float32.onnx") B"
start=$(date +%s.%N)
"$BIN" transform --model "$OUT/model/model.json" --input "$DATA" --output "$OUT/dimred.parquet" --quiet
end=$(date +%s.%N)
python3 -c "s=$end-$start; print(f'dimred transform: {s:.2f} s, {$ROWS/s:,.0f} rows/s (read, project, write Parquet)')"
for dtype in float64 float32; do
  "$PY" bench/onnx_bench.py "$OUT/$dtype.onnx" "$DATA" "$OUT/ort_$dtype.parquet"
done
