#!/usr/bin/env python3
"""The randomized solver's accuracy per pass: against scikit-learn, and block Krylov
against subspace iteration (docs/benchmarks.md, "Randomized PCA: accuracy per pass").

    python bench/randomized_passes.py [--bin target/release/dimred] [--part digits|passes]
                                      [--seeds 6,30] [--rows 20000] [--cols 1000]

digits: PCA(10) on the digits' raw pixels (sample-data/digits.parquet), for each
  power_iterations q in 1, 2, 3, 4, 6: the median over the seeds of the mean relative error
  of the top 10 variances against the exact ones, dimred (`solver: randomized`, seed s)
  beside scikit-learn (`PCA(10, svd_solver='randomized', iterated_power=q,
  random_state=s)`). Both make 2q + 2 products with the data.
passes: on `dimred generate` data, the fewest power iterations at which the top-16
  variances are within 1e-3 (relative) of the exact solver's, `method: power` and
  `method: krylov`: a slowly decaying spectrum (--decay 0.98, rank 200) and the wide
  benchmark's spectrum (rank 16, decay 0.8, float32) at --rows x --cols.

Needs numpy, pyarrow and scikit-learn (bench/.venv, or /work/onnx-venv). Prints JSON lines
and a Markdown table per part.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pyarrow.parquet as pq

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ITERS = [1, 2, 3, 4, 6]


def run(bin_, pipeline, out, sets):
    cmd = [bin_, "run", pipeline, "-q", "--set", "output.reduced=false", "--set", f"output.dir={out}"]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)


def digits(bin_, seeds, tmp):
    from sklearn.decomposition import PCA

    table = pq.read_table(os.path.join(ROOT, "sample-data", "digits.parquet"))
    x = np.column_stack([table[c].to_numpy().astype(np.float64) for c in table.column_names if c.startswith("pixel_")])
    exact = PCA(None, svd_solver="full").fit(x).explained_variance_[:10]

    def err(v):
        return float(np.mean(np.abs(np.asarray(v[:10]) - exact) / exact))

    rows = []
    for q in ITERS:
        row = {"iterated_power": q}
        for n in seeds:
            ours = [
                err(run(bin_, "pipelines/digits_pca.yaml", os.path.join(tmp, f"d{q}_{s}"), [
                    "steps.1.pca.solver=randomized",
                    "steps.1.pca.n_components=10",
                    f"steps.1.pca.power_iterations={q}",
                    f"steps.1.pca.seed={s}",
                ])["explained_variance"])
                for s in range(n)
            ]
            theirs = [
                err(PCA(10, svd_solver="randomized", iterated_power=q, random_state=s).fit(x).explained_variance_)
                for s in range(n)
            ]
            row[f"dimred_{n}"] = float(np.median(ours))
            row[f"sklearn_{n}"] = float(np.median(theirs))
        print(json.dumps(row), flush=True)
        rows.append(row)
    head = "| power_iterations | " + " | ".join(f"dimred ({n} seeds) | scikit-learn ({n} seeds) | ratio" for n in seeds) + " |"
    print(head)
    print("|" + " ---: |" * (1 + 3 * len(seeds)))
    for r in rows:
        cells = []
        for n in seeds:
            a, b = r[f"dimred_{n}"], r[f"sklearn_{n}"]
            cells += [f"{a:.2e}", f"{b:.2e}", f"{a / b:.2f}"]
        print(f"| {r['iterated_power']} | " + " | ".join(cells) + " |")


def passes(bin_, rows, cols, tmp):
    cases = [
        ("decay 0.98, rank 200", ["--rank", "200", "--decay", "0.98", "--seed", "5"]),
        ("wide spectrum (rank 16, decay 0.8), float32", ["--rank", "16", "--seed", "42", "--float32"]),
    ]
    out = []
    for name, args in cases:
        data = os.path.join(tmp, f"g{len(out)}.parquet")
        subprocess.run([bin_, "generate", "--rows", str(rows), "--cols", str(cols), *args, "-q", "--output", data], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        base = [f"input.path={data}", "steps.0.pca.n_components=16"]
        exact = run(bin_, "pipelines/generated_pca.yaml", os.path.join(tmp, "exact"), base + ["steps.0.pca.solver=exact"])["explained_variance"]
        exact = np.asarray(exact)
        row = {"data": name, "rows": rows, "cols": cols}
        for method in ["power", "krylov"]:
            errors = []
            for q in range(0, 31):
                rep = run(bin_, "pipelines/generated_pca.yaml", os.path.join(tmp, f"{method}{q}"), base + [
                    "steps.0.pca.solver=randomized",
                    f"steps.0.pca.method={method}",
                    f"steps.0.pca.power_iterations={q}",
                ])
                worst = float(np.max(np.abs(np.asarray(rep["explained_variance"]) - exact) / exact))
                errors.append(worst)
                if worst <= 1e-3:
                    break
            reached = len(errors) - 1 if errors[-1] <= 1e-3 else None
            row[method] = {"power_iterations": reached, "passes": None if reached is None else reached + 1, "errors": errors}
        print(json.dumps(row), flush=True)
        out.append(row)
    print("| data | power: passes (power_iterations + 1) | krylov: passes |")
    print("| --- | ---: | ---: |")
    for r in out:
        print(f"| {r['data']}, {r['rows']:,} × {r['cols']:,} | {r['power']['passes']} | {r['krylov']['passes']} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "dimred"))
    ap.add_argument("--part", choices=["digits", "passes", "all"], default="all")
    ap.add_argument("--seeds", default="6,30")
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--cols", type=int, default=1000)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if a.part in ("digits", "all"):
            digits(a.bin, [int(s) for s in a.seeds.split(",")], tmp)
        if a.part in ("passes", "all"):
            passes(a.bin, a.rows, a.cols, tmp)


if __name__ == "__main__":
    sys.exit(main())
