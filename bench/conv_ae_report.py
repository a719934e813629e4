#!/usr/bin/env python3
"""Render bench/results/conv_ae into a Markdown table: dimred's conv autoencoder against PyTorch.

usage: conv_ae_report.py RESULTS_DIR   (metadata comes from BENCH_* env vars set by conv_ae.sh)

Reads NAME.time ('%e %M %U %S' from /usr/bin/time), NAME.rc, PyTorch's JSON line
(torch.out) and dimred's RESULTS_DIR/dimred_conv_ae/report.json. Writes
RESULTS_DIR/table.md and prints it. Exit 1 if PyTorch's side failed; a dimred side that
was not run (BENCH_DIMRED_NOTE says why) is reported, not an error.
"""

import os
import sys

from report import env, fmt, fmt_int, last_json_line, read_time_fields, write_table
from report import read_report as read_json

BUSY_WARN = 0.2  # cores used by other processes during a run


def collect(res, name):
    t = read_time_fields(res, name)
    if t is None:
        return None
    f, rc = t
    try:
        wall, rss = float(f[0]), int(f[1])
    except (IndexError, ValueError):
        wall, rss = None, None
    # Cores other processes kept busy during the run: the machine's busy CPU time (NAME.busy)
    # minus the contender's own user + sys seconds, over the wall time.
    other = None
    try:
        jiffies, hz = open(os.path.join(res, name + ".busy")).read().split()
        own = float(f[2]) + float(f[3])
        other = max(0.0, int(jiffies) / int(hz) - own) / wall if wall else None
    except (OSError, IndexError, ValueError):
        pass
    c = {"wall": wall, "rss_mb": rss / 1024 if rss else None, "rc": rc, "other": other}
    if name == "torch":
        j = last_json_line(os.path.join(res, "torch.out")) or {}
        c.update(
            label=f"PyTorch {j.get('versions', {}).get('torch', '')}, in memory",
            sps=j.get("samples_per_second"),
            sps_warm=j.get("samples_per_second_after_warmup"),
            epochs=j.get("epochs") or [],
            gflops=j.get("gflops"),
            flop=j.get("flop_per_sample"),
            eval_loss=j.get("eval_loss"),
        )
    else:
        ae = (read_json(os.path.join(res, name, "report.json")) or {}).get("autoencoder") or {}
        eps = ae.get("epochs") or []
        c.update(
            label="dimred, streaming",
            sps=ae.get("samples_per_second"),
            sps_warm=None,
            epochs=[dict(e, samples_per_second=(ae.get("train_rows") or 0) / e["seconds"])
                    if e.get("seconds") else e for e in eps],
            gflops=None,
            flop=None,
            eval_loss=None,
        )
    return c


def main():
    res = sys.argv[1]
    rows, epochs = int(env("ROWS", "60000")), int(env("EPOCHS", "3"))
    busy = []
    got = {n: c for n in ("torch", "dimred_conv_ae") if (c := collect(res, n)) is not None}
    out = [f"# dimred convolutional autoencoder benchmark, {env('DATE')}", ""]
    out.append(
        f"- date: {env('DATE')}; nproc: {env('NPROC')}; CPU: {env('CPU')}; memory: "
        f"{env('MEM_GIB')} GiB; threads: {env('THREADS')} on both sides"
    )
    out.append(
        f"- data: {fmt_int(rows)} images 28x28x1 from `dimred generate --images 28x28 --seed "
        f"{env('SEED')}`; conv 16-32-64 (3x3 same, selu, max_pool 2) and conv_transpose "
        f"32-16-1 (3x3 stride 2; sigmoid out), BCE, Adam lr 0.001, batch 128, {epochs} epochs"
    )
    out.append(f"- dimred: {env('DIMRED')}")
    out.append(f"- PyTorch side: {env('PY_VERSIONS')}")
    out.append("")
    out.append("| contender | wall s | samples/s (training) | after warm-up | per epoch | train loss per epoch | peak RSS MB | other load |")
    out.append("| --- | ---: | ---: | ---: | --- | --- | ---: | ---: |")
    for name in ("torch", "dimred_conv_ae"):
        c = got.get(name)
        if c is None:
            continue
        if c["rc"] != 0 or c["wall"] is None:
            out.append(f"| {c['label']} | failed (exit {c['rc']}) | | | | | | |")
            continue
        per = " / ".join(fmt(e.get("samples_per_second"), ",.0f") for e in c["epochs"])
        losses = " / ".join(fmt(e.get("train_loss"), ".5f") for e in c["epochs"])
        out.append(
            f"| {c['label']} | {c['wall']:.2f} | {fmt(c['sps'], ',.0f')} | "
            f"{fmt(c['sps_warm'], ',.0f')} | {per} | {losses} | {fmt(c['rss_mb'], ',.0f')} | "
            f"{fmt(c['other'], '.2f')} |"
        )
        if c["other"] is not None and c["other"] > BUSY_WARN:
            busy.append(c["label"])
    note = env("DIMRED_NOTE")
    if note:
        out.append(f"| dimred, streaming | {note} | | | | | | |")
    out.append("")
    t = got.get("torch")
    if t and t.get("gflops"):
        out.append(
            f"PyTorch: {t['flop'] / 1e6:.1f} MFLOP a sample (3 x 2 x the convolutions' forward "
            f"multiply-adds) at {t['gflops']:.1f} GFLOP/s; BCE of the trained network over all "
            f"rows {fmt(t['eval_loss'], '.5f')}."
        )
    d = got.get("dimred_conv_ae")
    if t and d and t.get("sps") and d.get("sps") and d["rc"] == 0:
        out.append(f"dimred / PyTorch samples/s (training) = {d['sps'] / t['sps']:.2f}x.")
    out.append(
        "wall s and peak RSS: `/usr/bin/time` around the whole process. samples/s (training): "
        "epochs x rows / training seconds (PyTorch: its loop over rows in memory; dimred: "
        "`autoencoder.samples_per_second`). after warm-up: without PyTorch's first 20 batches. "
        "train loss: per-pixel BCE, each batch weighted by its rows. other load: cores kept "
        "busy by other processes during the run, on average; it should be ~0."
    )
    if busy:
        out.append("")
        out.append(
            f"**WARNING: the machine was not idle** (other load > {BUSY_WARN}) during: "
            + "; ".join(busy) + ". Their times are not comparable; run again on an idle machine "
            "(`--wait-idle S`)."
        )
    write_table(res, out)
    return 0 if t and t["rc"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
