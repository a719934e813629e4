#!/usr/bin/env python3
"""Render bench/results/wide into a Markdown table (the `--wide` case of run.sh).

usage: report_wide.py WIDE_RESULTS_DIR   (metadata comes from BENCH_* env vars set by run.sh)

Reads NAME.time ('%e %M' from /usr/bin/time), NAME.rc, the scikit-learn JSON lines
(sk_wide_*.out), dimred's dimred_wide/report.json and the generator's truth file
(<data stem>.eigenvalues.json). Accuracy is the max relative error of the top-k
explained variances against the population eigenvalues the data was drawn from; with n
samples the sampling error of each is about sqrt(2/n) (0.45 % at n = 100,000), so that, not
1e-6, is the scale to read it on. Exit 1 if dimred failed or is off by more than 5 %.
"""

import json
import math
import os
import sys

from report import env, last_json_line, max_rel_diff, read_report, read_time, write_table

TOL_TRUTH = 0.05


def truth_path(data):
    stem = data[: -len(".parquet")] if data.endswith(".parquet") else data
    return stem + ".eigenvalues.json"


def main():
    res = sys.argv[1]
    rows, cols, k = int(env("ROWS")), int(env("COLS")), int(env("K", "16"))
    data = env("DATA")
    cap = int(env("SK_CAP", "0"))
    slice_rows = int(env("SLICE_ROWS", "10000"))
    truth = read_report(truth_path(data))
    eig = truth["eigenvalues"][:k] if truth else None
    size = os.path.getsize(data) if os.path.exists(data) else None

    out = []
    out.append(f"# dimred wide benchmark, {env('DATE')}")
    out.append("")
    out.append(
        f"- machine: {env('NPROC')} vCPU ({env('CPU')}), {env('MEM_GIB')} GiB; threads: {env('THREADS')}"
    )
    out.append(
        f"- data: {rows:,} x {cols:,} float32 (rank 16 + noise), "
        + (f"{size / 1e9:.2f} GB of Parquet; " if size else "")
        + f"{rows * cols * 8 / 1e9:.1f} GB as a float64 array; k = {k}"
    )
    out.append(f"- dimred: {env('DIMRED')}, `solver: randomized`, `batch_rows: {env('BATCH_ROWS')}`")
    out.append(f"- python: {env('PY_VERSIONS')}; scikit-learn capped at `prlimit --as={cap}` ({cap / 2**30:.1f} GiB)")
    out.append("")
    out.append("| contender | wall s | peak RSS MB | outcome | top-16 rel. error vs truth |")
    out.append("| --- | ---: | ---: | --- | ---: |")

    dimred_ok = False
    dimred_ev = None
    rows_md = [
        ("generate", f"`dimred generate --float32` (writing the file)", None),
        ("dimred_wide", f"`dimred run` randomized k={k}, fit only, streaming (spill file on, the default)", "dimred"),
        ("dimred_wide_decode", f"`dimred run` randomized k={k}, fit only, `input.spill: false` (every pass decodes)", "dimred"),
        ("dimred_wide_f64", f"`dimred run` randomized k={k}, fit only, `pca.arithmetic: float64` (spill on)", "dimred"),
        ("dimred_wide_tol", f"`dimred run` randomized k={k}, fit only, `pca.tol: 0.001` (power iterations end when settled)", "dimred"),
        ("dimred_wide_limit", f"`dimred run` randomized k={k}, fit only, `--memory-limit 1GiB` (chunk size derived)", "dimred"),
        ("dimred_wide_krylov", f"`dimred run` randomized k={k}, fit only, `--memory-limit 1GiB`, `method: krylov`, `tol: 0.001`", "dimred"),
        ("sk_wide_f64", f"sklearn PCA randomized k={k}, float64, whole file (in-memory)", "sk"),
        ("sk_wide_f32", f"sklearn PCA randomized k={k}, float32, whole file (in-memory)", "sk"),
        ("sk_wide_slice", f"sklearn PCA randomized k={k}, float64, first {slice_rows:,} rows only", "sk"),
    ]
    sk_records = {}
    for name, label, kind in rows_md:
        t = read_time(res, name)
        if t is None:
            continue
        wall, rss, rc = t
        wall_s = f"{wall:.2f}" if wall is not None else "n/a"
        rss_s = f"{rss / 1024:,.0f}" if rss is not None else "n/a"
        outcome, acc = "ok" if rc == 0 else f"failed (exit {rc})", ""
        if kind == "dimred" and rc == 0:
            rep = read_report(os.path.join(res, name, "report.json"))
            if rep:
                ev = rep.get("explained_variance")
                e = max_rel_diff(ev, eig, k) if eig else None
                if e is not None:
                    acc = f"{e:.2e}"
                if name == "dimred_wide":
                    dimred_ev = ev
                    dimred_ok = e is not None and e <= TOL_TRUTH
                outcome = f"ok, {rep.get('n_samples'):,} rows, {len(rep.get('passes') or [])} passes"
        if kind == "sk":
            r = last_json_line(os.path.join(res, name + ".out"))
            sk_records[name] = r
            if r is None:
                outcome = f"no result (exit {rc})"
            elif r.get("error"):
                outcome = f"{r['error'].split(':')[0]} during {r.get('stage')}"
            else:
                outcome = f"ok, {r.get('n_samples'):,} rows"
                e = max_rel_diff(r.get("explained_variance"), eig, k) if eig else None
                if e is not None:
                    acc = f"{e:.2e}"
        out.append(f"| {label} | {wall_s} | {rss_s} | {outcome} | {acc} |")
    out.append("")
    out.append(
        "wall s and peak RSS come from `/usr/bin/time -f '%e %M'` around the whole process; the "
        "file is in the page cache before each contender. Accuracy: max relative difference of "
        f"the top-{k} explained variances from the population eigenvalues in the generator's truth "
        f"file; the sampling error of each is about sqrt(2/n) = {math.sqrt(2 / rows):.2%} at n = {rows:,} "
        f"and {math.sqrt(2 / slice_rows):.2%} at n = {slice_rows:,}."
    )
    out.append("")

    for name in ("dimred_wide", "dimred_wide_decode", "dimred_wide_f64", "dimred_wide_tol",
                 "dimred_wide_limit", "dimred_wide_krylov"):
        rep = read_report(os.path.join(res, name, "report.json"))
        if not rep:
            continue
        passes = ", ".join(
            f"{q.get('name')} {q.get('seconds', float('nan')):.1f} s" for q in rep.get("passes") or []
        )
        rss = rep.get("peak_rss_bytes")
        out.append(
            f"- {name} report.json: passes: {passes}"
            + (f"; peak_rss_bytes {rss / 2**20:,.0f} MiB" if isinstance(rss, (int, float)) else "")
        )
        if name != "dimred_wide" and dimred_ev and rep.get("explained_variance"):
            d = max_rel_diff(rep["explained_variance"], dimred_ev, k)
            out.append(f"  - its top-{k} variances vs the default run's: max rel. diff {d:.2e}")
    r32 = sk_records.get("sk_wide_f32")
    if dimred_ev and r32 and r32.get("explained_variance"):
        d = max_rel_diff(dimred_ev, r32["explained_variance"], k)
        out.append(f"- dimred vs sklearn float32 (same file, same algorithm family): max rel. diff {d:.2e}")
    for name, r in sk_records.items():
        if not r:
            continue
        parts = [f"X would be {r.get('x_bytes', 0) / 1e9:.2f} GB ({r.get('dtype')})"]
        if r.get("read_seconds") is not None:
            parts.append(f"read {r['read_seconds']:.1f} s")
        if r.get("fit_seconds") is not None:
            parts.append(f"fit {r['fit_seconds']:.1f} s")
        if r.get("error"):
            parts.append(
                f"{r['error']} in `{r.get('error_in') or r.get('error_at')}`, after {r.get('seconds', 0):.1f} s"
            )
        out.append(f"- {name}: " + "; ".join(parts))
    out.append(
        f"- arithmetic for sklearn float64 on the whole file: X is {rows:,} x {cols:,} x 8 B = "
        f"{rows * cols * 8 / 1e9:.1f} GB; `PCA(copy=True)` centers a copy (another "
        f"{rows * cols * 8 / 1e9:.1f} GB); the randomized range finder adds n x (k+10) and "
        f"p x (k+10) work arrays ({(rows + cols) * (k + 10) * 8 / 1e6:.0f} MB). Peak is about "
        f"{2 * rows * cols * 8 / 1e9:.0f} GB plus the interpreter and one row group while reading."
    )
    out.append(f"- accuracy check: dimred within {TOL_TRUTH:.0%} of the truth: **{'PASS' if dimred_ok else 'FAIL'}**")

    write_table(res, out)
    return 0 if dimred_ok else 1


if __name__ == "__main__":
    sys.exit(main())
