#!/usr/bin/env bash
# Streaming kernel PCA (Nyström) against scikit-learn's KernelPCA. Run from the repo root:
#   bash bench/kernel_pca.sh                 (1,000,000 x 64, rbf, 2,000 landmarks, k = 10)
#   ROWS=100000 LANDMARKS=1000 bash bench/kernel_pca.sh
#   SK_ROWS="5000 10000 20000 40000" bash bench/kernel_pca.sh --sklearn-only
# dimred: wall seconds and peak RSS of the whole `run` (fit + reduced.parquet).
# scikit-learn: KernelPCA(kernel="rbf", n_components=10).fit_transform on the first n rows, in
# memory, under a 20 GiB address-space cap; the largest n it survives is the last row it prints.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
ROWS=${ROWS:-1000000} COLS=${COLS:-64} LANDMARKS=${LANDMARKS:-2000} K=${K:-10}
SK_ROWS=${SK_ROWS:-"5000 10000 20000 40000"}
need_time
build_dimred --quiet
DATA=bench/data/kpca_${ROWS}x${COLS}.parquet
OUT=bench/data/out-kpca
mkdir -p bench/data "$OUT"
generate_once "$DATA" --rows "$ROWS" --cols "$COLS" --rank 8 --seed 5 --quiet
machine_line
if [[ ${1:-} != --sklearn-only ]]; then
  cat >"$OUT/pipeline.yaml" <<YAML
name: kpca-bench
input: { path: $DATA, features: { regex: "^f[0-9]+\$" }, batch_rows: 8192 }
steps:
  - scale: { method: standard }
  - kernel_pca: { kernel: rbf, n_components: $K, landmarks: $LANDMARKS, seed: 0 }
output: { dir: $OUT/dimred }
YAML
  /usr/bin/time -f "dimred kernel_pca $ROWS x $COLS, $LANDMARKS landmarks: %e s, %M KB peak" \
    "$BIN" run "$OUT/pipeline.yaml" --quiet >/dev/null
  python3 -c "import json; r=json.load(open('$OUT/dimred/report.json')); print('approximation_error', r['kernel_pca']['approximation_error'], [(p['name'], p['seconds']) for p in r['passes']])"
fi
sklearn_venv
for n in $SK_ROWS; do
  if ! prlimit --as=$((20 * 1024 * 1024 * 1024)) /usr/bin/time -f "sklearn KernelPCA n=$n: %e s, %M KB peak" \
    "$PY" - "$DATA" "$n" "$K" <<'PY'
import sys
import numpy as np, pyarrow.parquet as pq
from sklearn.decomposition import KernelPCA
from sklearn.preprocessing import StandardScaler
data, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = pq.ParquetFile(data).iter_batches(batch_size=n).__next__()
X = StandardScaler().fit_transform(np.column_stack([c.to_numpy() for c in t.columns]))
KernelPCA(n_components=k, kernel="rbf").fit_transform(X)
PY
  then echo "sklearn KernelPCA n=$n: failed"; break; fi
done
