#!/usr/bin/env python3
"""Render bench/results into a Markdown table and check numerical agreement.

usage: report.py RESULTS_DIR   (metadata comes from BENCH_* env vars set by run.sh)

Reads NAME.time ('%e %M' from /usr/bin/time, last line), NAME.rc, the Python
peers' JSON line (NAME.out) and dimred's OUT_DIR/report.json. Writes
RESULTS_DIR/table.md and prints it. Exit 1 if the accuracy check fails or
cannot be made.
"""

import json
import os
import sys

TOL = 1e-6
NTOP = 16


def env(name, default=""):
    return os.environ.get("BENCH_" + name, default)


def read_time_fields(res, name):
    """(fields of NAME.time's last line, rc from NAME.rc) or None if the contender was not run.

    Shared with ae_report.py, whose .time lines carry user and sys seconds too."""
    tpath = os.path.join(res, name + ".time")
    if not os.path.exists(tpath):
        return None
    rc = 0
    rcpath = os.path.join(res, name + ".rc")
    if os.path.exists(rcpath):
        rc = int(open(rcpath).read().strip() or 0)
    lines = [l for l in open(tpath).read().splitlines() if l.strip()]
    return (lines[-1].split() if lines else []), rc


def read_time(res, name):
    """(wall_s, peak_rss_kib, rc) or None if the contender was not run."""
    t = read_time_fields(res, name)
    if t is None:
        return None
    fields, rc = t
    try:
        wall, rss = fields
        return float(wall), int(rss), rc
    except ValueError:
        return None, None, rc if rc else -1


def last_json_line(path):
    try:
        lines = [l for l in open(path).read().splitlines() if l.strip().startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def read_report(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def max_rel_diff(a, b, n=NTOP):
    a, b = list(a)[:n], list(b)[:n]
    if not a or len(a) != len(b):
        return None
    return max(abs(x - y) / abs(y) if y != 0 else abs(x - y) for x, y in zip(a, b))


def fmt_int(x):
    return f"{x:,.0f}"


def fmt(x, spec):
    """`x` in `spec`, or n/a when a contender gave no number."""
    return format(x, spec) if isinstance(x, (int, float)) else "n/a"


def write_table(res, lines):
    """RESULTS_DIR/table.md from the lines, printed too; shared by the three report scripts."""
    text = "\n".join(lines) + "\n"
    with open(os.path.join(res, "table.md"), "w") as f:
        f.write(text)
    print(text)


def main():
    res = sys.argv[1]
    rows, cols, k = int(env("ROWS")), int(env("COLS")), int(env("K", "16"))
    rows4 = rows * 4

    contenders = [
        # (result name, label, rows processed)
        ("scan", "`dimred scan` (read-only floor)", rows),
        ("dimred_fit", f"`dimred run` exact PCA k={k}, fit only (`output.reduced: false`)", rows),
        ("dimred_exact", f"`dimred run` exact PCA k={k}, fit + write reduced.parquet", rows),
        ("sk_incremental", f"sklearn IncrementalPCA k={k}, batch 65536 (streaming)", rows),
        ("sk_pca", f"sklearn PCA covariance_eigh k={k} (in-memory)", rows),
        ("dimred_incremental", f"`dimred run` incremental k={k}, batch 65536, fit only", rows),
        ("dimred_randomized", f"`dimred run` randomized k={k}, fit only", rows),
        ("sk_randomized", f"sklearn PCA randomized k={k} (in-memory)", rows),
        ("dimred_exact_4x", f"`dimred run` exact PCA k={k}, 4x rows", rows4),
    ]
    timed = {name: read_time(res, name) for name, _, _ in contenders}
    # sklearn's peers only fit, so the like-for-like base is dimred's fit-only run.
    base = timed.get("dimred_fit") or timed.get("dimred_exact")
    base_wall = base[0] if base and base[2] == 0 and base[0] else None

    out = []
    size_mb = ""
    try:
        size_mb = f", {os.path.getsize(env('DATA')) / 1e6:,.0f} MB on disk"
    except OSError:
        pass
    out.append(f"# dimred benchmark, {env('DATE')}")
    out.append("")
    out.append(f"- date: {env('DATE')}; nproc: {env('NPROC')}; CPU: {env('CPU')}; memory: {env('MEM_GIB')} GiB; threads: {env('THREADS')}")
    out.append(
        f"- data: {fmt_int(rows)} rows x {cols} float64 columns (rank {env('RANK')} + noise, "
        f"seed {env('SEED')}){size_mb}; k = {k}; dimred batch_rows = {env('BATCH_ROWS')}"
    )
    out.append(f"- dimred: {env('DIMRED')}")
    out.append(f"- Python peers: {env('PY_VERSIONS')}")
    out.append(f"- BLAS seen by threadpoolctl (Python peers): {env('BLAS')}")
    out.append("")
    out.append("| contender | wall s | peak RSS MB | rows/s | vs dimred |")
    out.append("| --- | ---: | ---: | ---: | ---: |")
    for name, label, n in contenders:
        t = timed[name]
        if t is None:
            continue
        wall, rss, rc = t
        if rc != 0 or wall is None:
            out.append(f"| {label} | failed (exit {rc}) | | | |")
            continue
        rps = fmt_int(n / wall) if wall > 0 else "n/a"
        vs = f"{wall / base_wall:.2f}x" if base_wall else "n/a"
        out.append(f"| {label} | {wall:.2f} | {rss / 1024:,.0f} | {rps} | {vs} |")
    out.append("")
    out.append(
        "wall s and peak RSS come from `/usr/bin/time -f '%e %M'` around the whole process "
        "(start-up, imports, read and fit). rows/s = rows / wall s. "
        "vs dimred = wall s / wall s of the fit-only `dimred run` (the peers only fit; below 1 is faster than dimred, above 1 slower)."
    )

    # ---- in-process detail
    notes = []
    rep = read_report(os.path.join(res, "dimred_exact", "report.json"))
    if rep:
        passes = rep.get("passes") or []
        p = ", ".join(
            f"{q.get('name')} {q.get('seconds', float('nan')):.2f} s"
            + (f" ({fmt_int(q['rows_per_second'])} rows/s)" if q.get("rows_per_second") else "")
            for q in passes
        )
        rss = rep.get("peak_rss_bytes")
        notes.append(
            f"- dimred report.json: n_samples {rep.get('n_samples')}; passes: {p or 'n/a'}"
            + (f"; peak_rss_bytes {rss / 2**20:,.0f} MiB" if isinstance(rss, (int, float)) else "")
        )
        if rep.get("n_samples") not in (None, rows):
            notes.append(f"- WARNING: dimred n_samples {rep.get('n_samples')} != {rows}")
    rep4 = read_report(os.path.join(res, "dimred_exact_4x", "report.json"))
    full = timed.get("dimred_exact")  # the 4x run is a full run: compare like with like
    if rep4 and timed.get("dimred_exact_4x") and full:
        w4, r4, _ = timed["dimred_exact_4x"]
        if r4 and full[1]:
            notes.append(
                f"- memory flatness (full runs): 4x rows peak RSS / 1x rows peak RSS = {r4 / full[1]:.2f} "
                f"(flat is ~1.0); wall ratio {w4 / full[0]:.2f} (linear is ~4.0)"
            )
    peers = {}
    for name in ("sk_incremental", "sk_pca", "sk_randomized"):
        j = last_json_line(os.path.join(res, name + ".out"))
        if j:
            peers[name] = j
            notes.append(
                f"- {j.get('contender')}: in-process read+fit {j['seconds']:.2f} s "
                f"(read {j.get('read_seconds', float('nan')):.2f} s, fit {j.get('fit_seconds', float('nan')):.2f} s), "
                f"n_samples {j.get('n_samples')}"
            )

    # ---- accuracy check: dimred vs covariance_eigh
    ok = False
    ev_d = rep.get("explained_variance") if rep else None
    ev_s = peers.get("sk_pca", {}).get("explained_variance")
    if ev_d and ev_s:
        n = min(NTOP, k, len(ev_s))
        if len(ev_d) < n:
            check = f"FAIL: dimred reported {len(ev_d)} explained variances, expected {n}"
        else:
            d = max_rel_diff(ev_d, ev_s, n)
            ok = d is not None and d <= TOL
            check = (
                f"{'PASS' if ok else 'FAIL'}: top-{n} explained variance, dimred vs sklearn "
                f"covariance_eigh: max relative difference {d:.3e} (tolerance {TOL:g})"
            )
    else:
        missing = [w for w, v in (("dimred report.json", ev_d), ("sk_pca output", ev_s)) if not v]
        check = "FAIL: cannot compare, missing " + " and ".join(missing)
    notes.append(f"- accuracy check: {check}")
    ev_i = peers.get("sk_incremental", {}).get("explained_variance")
    if ev_i and ev_s:
        d = max_rel_diff(ev_i, ev_s, min(NTOP, k))
        if d is not None:
            notes.append(
                f"- for reference, IncrementalPCA vs covariance_eigh: max relative difference {d:.3e}"
            )
    # the other solvers: incremental against the peer with the same batches, randomized
    # against the exact answer
    for mine, theirs, what in (
        ("dimred_incremental", "sk_incremental", "dimred incremental vs sklearn IncrementalPCA (same batches)"),
        ("dimred_randomized", "sk_pca", "dimred randomized vs sklearn covariance_eigh"),
        ("sk_randomized", "sk_pca", "sklearn randomized vs covariance_eigh"),
    ):
        if mine.startswith("sk_"):
            ev_m = peers.get(mine, {}).get("explained_variance")
        else:
            r = read_report(os.path.join(res, mine, "report.json"))
            ev_m = r.get("explained_variance") if r else None
        ev_t = peers.get(theirs, {}).get("explained_variance")
        if ev_m and ev_t:
            d = max_rel_diff(ev_m, ev_t, min(NTOP, k))
            if d is not None:
                notes.append(f"- {what}: max relative difference {d:.3e}")


    out.append("")
    out.extend(notes)
    write_table(res, out)
    print(check)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
