#!/usr/bin/env python3
"""bench/scaling.sh's table and picture from its CSV: wall time and peak RSS against rows and
against features, one line per contender, log-log axes, as a plain SVG (no plotting library).

usage: scaling_plot.py SCALING.csv OUT_DIR "MACHINE LINE"
"""

import csv
import math
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def load(path):
    with open(path) as f:
        return [r for r in csv.DictReader(f) if r["seconds"]]


def series(rows, sweep, field):
    """{contender: [(x, y)]} for one sweep (x = rows or cols)."""
    axis = "rows" if sweep == "rows" else "cols"
    out = {}
    for r in rows:
        if r["sweep"] != sweep or not r[field]:
            continue
        out.setdefault(r["contender"], []).append((int(r[axis]), float(r[field])))
    return {k: sorted(v) for k, v in out.items()}


def panel(x0, y0, w, h, data, title, xlabel, ylabel, colors):
    points = [p for v in data.values() for p in v if p[1] > 0]
    if not points:
        return []
    lx = [math.log10(p[0]) for p in points]
    ly = [math.log10(p[1]) for p in points]
    xmin, xmax = math.floor(min(lx) * 2) / 2, math.ceil(max(lx) * 2) / 2
    ymin, ymax = math.floor(min(ly)), math.ceil(max(ly))
    if ymax == ymin:
        ymax += 1
    sx = lambda v: x0 + 60 + (math.log10(v) - xmin) / (xmax - xmin or 1) * (w - 80)
    sy = lambda v: y0 + h - 40 - (math.log10(v) - ymin) / (ymax - ymin) * (h - 70)
    out = [f'<text x="{x0 + w / 2}" y="{y0 + 16}" text-anchor="middle" font-weight="bold">{title}</text>']
    out.append(f'<rect x="{x0 + 60}" y="{y0 + 30}" width="{w - 80}" height="{h - 70}" fill="none" stroke="#999"/>')
    for e in range(ymin, ymax + 1):
        y = sy(10**e)
        out.append(f'<line x1="{x0 + 60}" x2="{x0 + w - 20}" y1="{y}" y2="{y}" stroke="#eee"/>')
        out.append(f'<text x="{x0 + 55}" y="{y + 4}" text-anchor="end" font-size="11">{10**e:g}</text>')
    xs = sorted({p[0] for p in points})
    for v in xs:
        out.append(f'<text x="{sx(v)}" y="{y0 + h - 24}" text-anchor="middle" font-size="11">{v:,}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h - 6}" text-anchor="middle" font-size="12">{xlabel}</text>')
    out.append(f'<text x="{x0 + 14}" y="{y0 + h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 {x0 + 14} {y0 + h / 2})">{ylabel}</text>')
    for name, pts in data.items():
        pts = [p for p in pts if p[1] > 0]
        color = colors[name]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
        dash = ' stroke-dasharray="5,4"' if "floor" in name else ""
        out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
    return out


def main():
    path, out_dir, machine = sys.argv[1], sys.argv[2], sys.argv[3]
    rows = load(path)
    names = list(dict.fromkeys(r["contender"] for r in rows))
    colors = {n: COLORS[i % len(COLORS)] for i, n in enumerate(names)}
    w, h = 480, 320
    body = []
    body += panel(0, 30, w, h, series(rows, "rows", "seconds"), "wall time against rows (256 features)", "rows", "seconds", colors)
    body += panel(w, 30, w, h, series(rows, "rows", "peak_mb"), "peak RSS against rows (256 features)", "rows", "MB", colors)
    body += panel(0, 30 + h, w, h, series(rows, "features", "seconds"), "wall time against features", "features", "seconds", colors)
    body += panel(w, 30 + h, w, h, series(rows, "features", "peak_mb"), "peak RSS against features", "features", "MB", colors)
    legend_y = 30 + 2 * h + 10
    for i, n in enumerate(names):
        x, y = 20 + (i % 3) * 310, legend_y + (i // 3) * 18
        dash = ' stroke-dasharray="5,4"' if "floor" in n else ""
        body.append(f'<line x1="{x}" x2="{x + 24}" y1="{y}" y2="{y}" stroke="{colors[n]}" stroke-width="2"{dash}/>')
        body.append(f'<text x="{x + 30}" y="{y + 4}" font-size="12">{n}</text>')
    height = legend_y + 18 * ((len(names) + 2) // 3) + 10
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * w}" height="{height}" font-family="sans-serif">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="18" font-size="12">dimred bench/scaling.sh, {machine} (the product floor\'s memory: the data as float64)</text>']
    svg += body + ["</svg>"]
    with open(f"{out_dir}/scaling.svg", "w") as f:
        f.write("\n".join(svg) + "\n")
    lines = ["| sweep | rows | features | contender | wall s | peak RSS MB |", "|---|---:|---:|---|---:|---:|"]
    with open(path) as f:
        for r in csv.DictReader(f):
            lines.append(f"| {r['sweep']} | {int(r['rows']):,} | {int(r['cols']):,} | {r['contender']} | {r['seconds'] or 'failed'} | {r['peak_mb']} |")
    with open(f"{out_dir}/table.md", "w") as f:
        f.write(f"Measured {machine}.\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
