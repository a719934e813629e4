#!/usr/bin/env bash
# The Python package's Model.transform on a NumPy array of 1,000,000 x 256 float64 rows,
# against `dimred transform` on the same rows in Parquet and scikit-learn's PCA.transform
# with the same mean and components (k = 16). Run from the repo root, with a Python in
# which the package is installed (`pip install .`):
#   PY=target/py-venv/bin/python bash bench/python_transform.sh
#   (ROWS=100000 for a quick look; DIMRED_BIN=target/debug/dimred to skip the release build)
# Prints the machine, then seconds and rows/s of each contender.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
ROWS=${ROWS:-1000000} COLS=${COLS:-256}
need_uint ROWS COLS
PY=${PY:-target/py-venv/bin/python}
"$PY" -c 'import dimred, sklearn, pyarrow' || { echo "$PY lacks dimred, scikit-learn or pyarrow" >&2; exit 1; }
build_dimred --quiet
DATA=bench/data/versus_${ROWS}x${COLS}.parquet
OUT=bench/data/out-python
mkdir -p bench/data "$OUT"
generate_once "$DATA" --rows "$ROWS" --cols "$COLS" --rank 16 --seed 42 --quiet
cat >"$OUT/pipeline.yaml" <<YAML
name: python-bench
input: { path: $DATA, features: { regex: "^f[0-9]+\$" }, batch_rows: 65536 }
steps:
  - pca: { solver: exact, n_components: 16 }
output: { dir: $OUT/model, reduced: false }
YAML
"$BIN" run "$OUT/pipeline.yaml" --quiet >/dev/null
machine_line
warm "$DATA"
start=$(date +%s.%N)
"$BIN" transform --model "$OUT/model/model.json" --input "$DATA" --output "$OUT/dimred.parquet" --quiet
end=$(date +%s.%N)
python3 -c "s=$end-$start; print(f'dimred transform (read Parquet, project, write Parquet): {s:.2f} s, {$ROWS/s:,.0f} rows/s')"
"$PY" bench/python_transform.py "$OUT/model/model.json" "$DATA" "$OUT/dimred.parquet"
