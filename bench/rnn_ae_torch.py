#!/usr/bin/env python3
"""PyTorch peer of dimred's recurrent autoencoders (bench/rnn_ae.sh), trained in memory.

usage: rnn_ae_torch.py FILE.parquet --model lstm|gru [--epochs 3] [--threads N]
                       [--batch-size 128] [--lr 0.001] [--seed 0]

lstm: FILE is `dimred generate --images 28x28` (pixel_0..pixel_783), read as 28 steps of 28
  pixels (row-major, as dimred's `shape: [28, 28]`): LSTM(28, 100) every step -> LSTM(100,
  30) last step -> repeated 28 times -> LSTM(30, 100) every step -> Linear(100, 28) on every
  step -> sigmoid; BCE (mean over values).
gru: FILE is `dimred generate --sequences 200x4` (t0_f0..t199_f3): GRU(4, 64) every step ->
  GRU(64, 16) last step -> repeated 200 times -> GRU(16, 64) every step -> Linear(64, 4) on
  every step; MSE.
The feature columns are read with pyarrow into one float32 array before the clock starts.
PyTorch's default initialisation; Adam(lr), batch 128 of a torch.randperm per epoch,
torch.set_num_threads(N). Prints one JSON line: samples_per_second (epochs x rows / train
seconds), epochs[] (train_loss per sample, seconds, samples_per_second), peak_rss_bytes,
versions.
"""

import argparse
import json
import resource
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import torch
from torch import nn


class Recurrent(nn.Module):
    def __init__(self, cell, features, hidden, code, steps, out_act):
        super().__init__()
        self.e1 = cell(features, hidden, batch_first=True)
        self.e2 = cell(hidden, code, batch_first=True)
        self.d1 = cell(code, hidden, batch_first=True)
        self.out = nn.Linear(hidden, features)
        self.steps, self.out_act = steps, out_act

    def forward(self, x):
        h, _ = self.e1(x)
        h, _ = self.e2(h)
        z = h[:, -1]
        h, _ = self.d1(z.unsqueeze(1).expand(-1, self.steps, -1))
        y = self.out(h)
        return torch.sigmoid(y) if self.out_act else y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--model", choices=["lstm", "gru"], required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    table = pq.read_table(a.file)
    prefix = "pixel_" if a.model == "lstm" else "t"
    names = [n for n in table.column_names if n.startswith(prefix)]
    x = np.column_stack([table.column(n).to_numpy() for n in names]).astype(np.float32)
    del table
    if a.model == "lstm":
        steps, features = 28, 28
        model = Recurrent(nn.LSTM, features, 100, 30, steps, True)
        loss_fn = nn.BCELoss()
    else:
        steps, features = 200, 4
        model = Recurrent(nn.GRU, features, 64, 16, steps, False)
        loss_fn = nn.MSELoss()
    data = torch.from_numpy(x).reshape(-1, steps, features)
    n = len(data)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    epochs, train_seconds = [], 0.0
    for epoch in range(a.epochs):
        perm = torch.randperm(n)
        t0, total = time.perf_counter(), 0.0
        for i in range(0, n, a.batch_size):
            xb = data[perm[i:i + a.batch_size]]
            loss = loss_fn(model(xb), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        dt = time.perf_counter() - t0
        train_seconds += dt
        epochs.append({"train_loss": total / n, "seconds": dt, "samples_per_second": n / dt})
        print(f"epoch {epoch + 1}: loss {total / n:.5f} in {dt:.1f} s", file=sys.stderr)
    print(json.dumps({
        "model": a.model,
        "rows": n,
        "samples_per_second": a.epochs * n / train_seconds,
        "epochs": epochs,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "threads": torch.get_num_threads(),
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
    }))


if __name__ == "__main__":
    main()
