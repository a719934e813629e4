#!/usr/bin/env python3
"""Render bench/results/rnn_ae into a Markdown table: dimred's recurrent autoencoders
against PyTorch's.

usage: rnn_ae_report.py RESULTS_DIR   (metadata from the BENCH_* env vars rnn_ae.sh sets)

Reads NAME.time ('%e %M %U %S' from /usr/bin/time), NAME.rc, PyTorch's JSON lines
(torch_lstm.out, torch_gru.out) and dimred's report.json files. Writes RESULTS_DIR/table.md.
"""

import os
import sys

from report import env, fmt, fmt_int, last_json_line, read_time_fields, write_table
from report import read_report as read_json


def collect(res, name):
    t = read_time_fields(res, name)
    if t is None:
        return None
    f, rc = t
    try:
        wall, rss = float(f[0]), int(f[1])
    except (IndexError, ValueError):
        wall, rss = None, None
    c = {"wall": wall, "rss_mb": rss / 1024 if rss else None, "rc": rc}
    if name.startswith("torch"):
        j = last_json_line(os.path.join(res, name + ".out")) or {}
        c.update(label=f"PyTorch {j.get('versions', {}).get('torch', '')}, in memory",
                 sps=j.get("samples_per_second"), epochs=j.get("epochs") or [])
    else:
        ae = (read_json(os.path.join(res, name, "report.json")) or {}).get("autoencoder") or {}
        c.update(label="dimred, streaming from Parquet", sps=ae.get("samples_per_second"),
                 epochs=ae.get("epochs") or [])
    return c


def main():
    res = sys.argv[1]
    rows, epochs = int(env("ROWS", "60000")), int(env("EPOCHS", "3"))
    out = [f"# dimred recurrent autoencoder benchmark, {env('DATE')}", ""]
    out.append(f"- date: {env('DATE')}; nproc: {env('NPROC')}; CPU: {env('CPU')}; memory: "
               f"{env('MEM_GIB')} GiB; threads: {env('THREADS')} on both sides")
    out.append(f"- data: {fmt_int(rows)} rows each; batch 128, Adam lr 0.001, {epochs} epochs")
    out.append(f"- dimred: {env('DIMRED')}")
    out.append(f"- PyTorch side: {env('PY_VERSIONS')}")
    out.append("")
    out.append("| workload | contender | wall s | samples/s | train loss per epoch | peak RSS MB |")
    out.append("| --- | --- | ---: | ---: | --- | ---: |")
    workloads = {
        "lstm": "28x28 images as 28 steps of 28: LSTM 100 (sequences) -> LSTM 30 -> repeat 28 -> "
                "LSTM 100 (sequences) -> time-distributed dense 28 sigmoid, BCE",
        "gru": "windows of 200 steps x 4: GRU 64 (sequences) -> GRU 16 -> repeat 200 -> GRU 64 "
               "(sequences) -> time-distributed dense 4, MSE",
    }
    ok = True
    for model, what in workloads.items():
        got = {}
        for side in ("torch", "dimred"):
            c = collect(res, f"{side}_{model}")
            if c is None:
                continue
            got[side] = c
            if c["rc"] != 0 or c["wall"] is None:
                out.append(f"| {model} | {c['label']} | failed (exit {c['rc']}) | | | |")
                ok = ok and side != "torch"
                continue
            losses = " / ".join(fmt(e.get("train_loss"), ".5f") for e in c["epochs"])
            out.append(f"| {model} | {c['label']} | {c['wall']:.1f} | {fmt(c['sps'], ',.0f')} | "
                       f"{losses} | {fmt(c['rss_mb'], ',.0f')} |")
        t, d = got.get("torch"), got.get("dimred")
        if t and d and t.get("sps") and d.get("sps"):
            out.append(f"| {model} | dimred / PyTorch samples/s | | {d['sps'] / t['sps']:.2f}x | | |")
        out.append("")
        out.append(f"{model}: {what}.")
        out.append("")
    out.append("samples/s: epochs x rows / training seconds (PyTorch: its loop over rows in memory; "
               "dimred: `autoencoder.samples_per_second`, reading the file each epoch). wall s and "
               "peak RSS: `/usr/bin/time` around the whole process.")
    write_table(res, out)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
