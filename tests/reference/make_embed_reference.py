"""Reference numbers for src/embed (trustworthiness, Isomap, classical MDS), from
scikit-learn, written to tests/reference/embed_reference.json.

Run from the repository root:
    python3 -m venv /tmp/embedvenv
    /tmp/embedvenv/bin/pip install numpy scikit-learn
    /tmp/embedvenv/bin/python tests/reference/make_embed_reference.py

Data: sample-data/digits.csv (64 pixel columns; the label is dropped), parsed with Python
float(), which rounds as Rust's str::parse::<f64> does.

Why some sets are "dequantised": digits' pixels are integers, so many pairs of rows are at
exactly the same distance. Trustworthiness ranks neighbours and Isomap picks the k nearest;
on exact ties scikit-learn's order comes from numpy's unstable argsort/argpartition, which
nothing else can reproduce. Adding to pixel (i, j) the number
    u(i, j) = (splitmix64(64 * i + j) >> 11) / 2**53      (uniform in [0, 1))
removes the ties (the script checks that no two distances from one row are closer than
1e-9 relative), and dimred's tests rebuild the same values bit for bit with
crate::rng::splitmix64. Classical MDS has no ties to break, so it uses the raw pixels.

Sign convention: in each output column the entry with the largest absolute value is
positive (the script flips a column that breaks it).
"""

import json
import platform

import numpy as np
import scipy
from scipy.sparse import csr_matrix
import sklearn
from sklearn.decomposition import PCA
from scipy.sparse.csgraph import connected_components
from sklearn.manifold import Isomap, trustworthiness
from sklearn.manifold._t_sne import _joint_probabilities_nn, _kl_divergence_bh
from sklearn.neighbors import NearestNeighbors, kneighbors_graph

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def splitmix64(x):
    z = (x + GAMMA) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def load_digits_csv(path="sample-data/digits.csv"):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [[float(v) for v in line.strip().split(",")] for line in f if line.strip()]
    assert header[-1] == "label" and len(header) == 65
    return np.array(rows, dtype=np.float64)[:, :64]


def dequantised(x):
    n, d = x.shape
    u = np.array(
        [[(splitmix64(d * i + j) >> 11) / float(1 << 53) for j in range(d)] for i in range(n)]
    )
    return x + u


def check_no_near_ties(x, what):
    """Sorted distances from each row must differ by more than 1e-9 relative."""
    sq = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(sq, np.inf)
    s = np.sort(sq, axis=1)[:, :-1]
    gap = np.min(np.diff(s, axis=1) / s[:, 1:])
    assert gap > 1e-9, f"{what}: near-tie, relative gap {gap}"
    return float(gap)


def sign_normalised(y):
    y = np.array(y, dtype=np.float64)
    flipped = []
    for c in range(y.shape[1]):
        i = int(np.argmax(np.abs(y[:, c])))
        if y[i, c] < 0:
            y[:, c] = -y[:, c]
            flipped.append(c)
    return y, flipped


def rows(a):
    return [[float(v) for v in r] for r in a]


def main():
    digits = load_digits_csv()
    assert digits.shape == (1797, 64)

    # trustworthiness of a fixed pair: 200 dequantised rows and their first two PCA scores
    x_tw = dequantised(digits[:200])
    gap_tw = check_no_near_ties(x_tw, "trustworthiness X")
    y_tw = PCA(n_components=2, svd_solver="full").fit_transform(x_tw)
    check_no_near_ties(y_tw, "trustworthiness Y")
    tw = {str(k): float(trustworthiness(x_tw, y_tw, n_neighbors=k)) for k in (5, 10)}

    # Isomap on 500 dequantised rows. On the first 300 the 10-neighbour graph falls in two
    # pieces, which scikit-learn joins with extra edges (with a warning) and dimred refuses;
    # that count is kept for the error test.
    x_iso = dequantised(digits[:500])
    gap_iso = check_no_near_ties(x_iso, "isomap X")
    graph = kneighbors_graph(x_iso, 10, mode="distance")
    assert connected_components(graph)[0] == 1
    iso = Isomap(n_neighbors=10, n_components=2)
    y_iso, flipped_iso = sign_normalised(iso.fit_transform(x_iso))
    pieces_300 = int(
        connected_components(kneighbors_graph(x_iso[:300], 10, mode="distance"))[0]
    )

    # classical MDS = the first two PCA scores of 300 raw rows
    y_mds, flipped_mds = sign_normalised(
        PCA(n_components=2, svd_solver="full").fit_transform(digits[:300])
    )

    # t-SNE's pieces, from scikit-learn's private functions as TSNE._fit calls them:
    # P on 100 dequantised rows (perplexity 10, so 31 neighbours), and the Barnes-Hut
    # gradient and KL divergence (angle 0.5, no exaggeration) at fixed float32 positions
    x_p = dequantised(digits[:100])
    check_no_near_ties(x_p, "t-SNE X")
    perplexity = 10.0
    k = min(len(x_p) - 1, int(3.0 * perplexity + 1))
    distances = NearestNeighbors(n_neighbors=k).fit(x_p).kneighbors_graph(mode="distance")
    distances.data **= 2
    P = _joint_probabilities_nn(distances, perplexity, 0).tocsr()
    P.sort_indices()
    rng = np.random.RandomState(0)
    y_p = (rng.standard_normal((100, 2)) * 3.0).astype(np.float32)
    kl, grad = _kl_divergence_bh(
        y_p.ravel().copy(), P.copy(), 1, 100, 2, angle=0.5, compute_error=True, num_threads=1
    )
    # the repulsion alone (an empty P) on 500 positions in three clumps, with one
    # point repeated exactly (a duplicate leaf)
    centres = np.array([[0.0, 0.0], [20.0, 5.0], [-8.0, 30.0]])
    y_r = (centres[rng.randint(0, 3, 500)] + rng.standard_normal((500, 2)) * 4.0).astype(
        np.float32
    )
    y_r[17] = y_r[3]
    empty = csr_matrix((500, 500), dtype=np.float32)
    _, grad_r = _kl_divergence_bh(
        y_r.ravel().copy(), empty, 1, 500, 2, angle=0.5, compute_error=False, num_threads=1
    )

    out = {
        "generator": {
            "script": "tests/reference/make_embed_reference.py",
            "python": platform.python_version(),
            "numpy": np.__version__,
            "sklearn": sklearn.__version__,
            "scipy": scipy.__version__,
        },
        "data": "sample-data/digits.csv, 64 pixel columns; 'dequantised' adds "
        "(splitmix64(64*i + j) >> 11) / 2**53 to pixel (i, j)",
        "trustworthiness": {
            "rows": 200,
            "dequantised": True,
            "min_relative_distance_gap": gap_tw,
            "sklearn_call": "trustworthiness(X, Y, n_neighbors=k), "
            "Y = PCA(n_components=2, svd_solver='full').fit_transform(X)",
            "y": rows(y_tw),
            "value": tw,
        },
        "isomap": {
            "rows": 500,
            "dequantised": True,
            "n_neighbors": 10,
            "min_relative_distance_gap": gap_iso,
            "sklearn_call": "Isomap(n_neighbors=10, n_components=2).fit_transform(X)",
            "sign_flipped_by_script": flipped_iso,
            "embedding": rows(y_iso),
        },
        "isomap_disconnected": {
            "rows": 300,
            "dequantised": True,
            "n_neighbors": 10,
            "scipy_call": "connected_components(kneighbors_graph(X, 10, mode='distance'))",
            "n_connected_components": pieces_300,
        },
        "tsne_affinities": {
            "rows": 100,
            "dequantised": True,
            "perplexity": perplexity,
            "sklearn_call": "_joint_probabilities_nn(NearestNeighbors(n_neighbors=31)"
            ".fit(X).kneighbors_graph(mode='distance') ** 2, 10.0, 0)",
            "indptr": [int(v) for v in P.indptr],
            "indices": [int(v) for v in P.indices],
            "data": [float(v) for v in P.data],
        },
        "tsne_gradient": {
            "sklearn_call": "_kl_divergence_bh(Y.ravel(), P, 1, 100, 2, angle=0.5) with "
            "tsne_affinities' P; scikit-learn computes in float32",
            "y": rows(y_p),
            "kl_divergence": float(kl),
            "gradient": rows(np.asarray(grad).reshape(100, 2)),
        },
        "tsne_repulsion": {
            "sklearn_call": "_kl_divergence_bh(Y.ravel(), empty 500 x 500 P, 1, 500, 2, "
            "angle=0.5): -4 * repulsion / Z; rows 3 and 17 are equal",
            "y": rows(y_r),
            "gradient": rows(np.asarray(grad_r).reshape(500, 2)),
        },
        "mds": {
            "rows": 300,
            "dequantised": False,
            "sklearn_call": "PCA(n_components=2, svd_solver='full').fit_transform(X)",
            "sign_flipped_by_script": flipped_mds,
            "embedding": rows(y_mds),
        },
    }
    with open("tests/reference/embed_reference.json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("trustworthiness", tw, "gaps", gap_tw, gap_iso)
    print("isomap pieces at 300 rows", pieces_300)
    print("isomap flipped", flipped_iso, "mds flipped", flipped_mds)


if __name__ == "__main__":
    main()
