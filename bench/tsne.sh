#!/usr/bin/env bash
# t-SNE pictures: dimred's report.embedding against scikit-learn's TSNE and openTSNE on the same
# rows (the PCA-20 scores of generated 64-column data; every row pictured). Run from the root:
#   bash bench/tsne.sh            (5,000 and 20,000 rows; SIZES="5000" for one)
# Prints wall seconds of the t-SNE itself (dimred: report.json's embedding.seconds) and the
# trustworthiness at 5 neighbours where it is cheap to compute (≤ 5,000 rows).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
SIZES=${SIZES:-"5000 20000"}
build_dimred --quiet
OUT=bench/data/tsne
mkdir -p "$OUT"
make_venv bench/.venv-tsne 'import numpy, pyarrow, sklearn, openTSNE' numpy pyarrow scikit-learn openTSNE
machine_line
for n in $SIZES; do
  "$BIN" generate --rows "$n" --cols 64 --rank 8 --seed 3 --output "$OUT/g$n.parquet" --quiet >/dev/null
  cat >"$OUT/p$n.yaml" <<YAML
name: tsne-$n
input: { path: $OUT/g$n.parquet, features: { regex: "^f" } }
steps:
  - pca: { n_components: 20 }
output: { dir: $OUT/out$n }
report: { sample_rows: $n, embedding: { method: tsne, sample: $n, seed: 0 } }
YAML
  "$BIN" run "$OUT/p$n.yaml" --quiet >/dev/null
  python3 -c "import json; e=json.load(open('$OUT/out$n/report.json'))['embedding']; print('dimred', $n, round(e['seconds'], 2), 's, trustworthiness', round(e['trustworthiness'], 4))"
  for peer in sklearn opentsne; do
    "$PY" - "$OUT/out$n/reduced.parquet" "$peer" <<'PY'
import sys, time
import numpy as np, pyarrow.parquet as pq
from sklearn.manifold import TSNE, trustworthiness
path, which = sys.argv[1], sys.argv[2]
t = pq.read_table(path)
X = np.column_stack([t.column(c).to_numpy() for c in t.column_names if c.startswith("pc")])
t0 = time.perf_counter()
if which == "sklearn":
    Y = TSNE(n_components=2, perplexity=30, init="pca", random_state=0, n_jobs=2).fit_transform(X)
else:
    from openTSNE import TSNE as OpenTSNE
    Y = np.asarray(OpenTSNE(perplexity=30, n_jobs=2, random_state=0).fit(X))
s = time.perf_counter() - t0
trust = round(trustworthiness(X, Y, n_neighbors=5), 4) if len(X) <= 5000 else "-"
print(which, len(X), round(s, 2), "s, trustworthiness", trust)
PY
  done
done
