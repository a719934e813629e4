"""Two model.json files of a PCA fit are the same model: equal rows seen, and components,
explained variance, mean and scale equal to 1e-10 of each array's largest value. Used by the
scheduler and object storage tests (tests/slurm/run.sh, tests/s3/run.sh).

    python3 tests/same_model.py REFERENCE.json OTHER.json ROWS LABEL
"""
import json
import sys

reference, other, rows, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
a, b = json.load(open(reference)), json.load(open(other))


def flat(v):
    return [x for r in v for x in (r if isinstance(r, list) else [r])]


assert a["n_samples_seen_"] == b["n_samples_seen_"] == rows, (a["n_samples_seen_"], b["n_samples_seen_"])
for key in ["components_", "explained_variance_", "mean_", "scale_"]:
    x, y = flat(a[key]), flat(b[key])
    scale = max(abs(v) for v in x)
    worst = max(abs(p - q) for p, q in zip(x, y))
    assert worst <= 1e-10 * scale, (key, worst, scale)
    print(f"[{label}] {key}: max difference {worst:.1e} (scale {scale:.3g})")
