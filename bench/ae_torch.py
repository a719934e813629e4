#!/usr/bin/env python3
"""PyTorch peer of dimred's `autoencoder` step: the lecture's network, trained in memory.

usage: ae_torch.py FILE.parquet [--epochs 5] [--threads N] [--batch-size 128]
                   [--lr 0.001] [--seed 0] [--loader index|dataloader]

Network: Linear(784,256) Sigmoid Linear(256,128) Sigmoid Linear(128,256) Sigmoid
Linear(256,784) Sigmoid (the input width is the file's column count), MSELoss (mean over
batch and features), Adam(lr, default betas and eps), batch 128, reshuffled every epoch,
float32, torch.set_num_threads(N) with N = dimred's thread count (default: nproc).

The whole file is read with pyarrow into one float32 tensor before the clock starts.
Only the training loop is timed. Batches:
  index       (default) a torch.randperm per epoch, batch = X[perm[i:i+B]] -- the same
              batches DataLoader(shuffle=True) makes, without its per-row collate cost,
              so PyTorch is measured at its best;
  dataloader  DataLoader(TensorDataset(X), batch_size=B, shuffle=True), as written in
              most tutorials (slower: it indexes and stacks row by row).

Prints one JSON line: samples_per_second (= epochs x rows / train seconds),
train_seconds, load_seconds, epochs[].train_loss (the mean over the epoch's batches of
the batch loss, as the lecture prints it) and train_loss_weighted (weighted by batch
rows, i.e. per sample), final_train_loss, eval_loss (MSE over all rows after training,
no grad, not timed) and eval_reconstruction_error (the same as dimred's
autoencoder.reconstruction_error: mean per-row sum of squares = eval_loss x features),
peak_rss_bytes (getrusage), versions and thread counts.
"""

import argparse
import json
import os
import platform
import resource
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parquet")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loader", choices=("index", "dataloader"), default="index")
    a = ap.parse_args(argv)
    if a.epochs < 1 or a.threads < 1 or a.batch_size < 1:
        ap.error("--epochs, --threads and --batch-size must be >= 1")

    import numpy as np
    import pyarrow
    import pyarrow.parquet as pq
    import torch
    from torch import nn

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    t0 = time.perf_counter()
    table = pq.read_table(a.parquet)
    x_np = np.empty((table.num_rows, table.num_columns), dtype=np.float32)
    for j, col in enumerate(table.columns):
        x_np[:, j] = col.to_numpy().astype(np.float32, copy=False)
    del table
    x = torch.from_numpy(x_np)
    load_seconds = time.perf_counter() - t0
    n, d = x.shape

    model = nn.Sequential(
        nn.Linear(d, 256), nn.Sigmoid(),
        nn.Linear(256, 128), nn.Sigmoid(),
        nn.Linear(128, 256), nn.Sigmoid(),
        nn.Linear(256, d), nn.Sigmoid(),
    )
    loss_fn = nn.MSELoss()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)

    if a.loader == "dataloader":
        from torch.utils.data import DataLoader, TensorDataset

        loader = DataLoader(TensorDataset(x), batch_size=a.batch_size, shuffle=True)

        def batches():
            for (xb,) in loader:
                yield xb
    else:

        def batches():
            perm = torch.randperm(n)
            for i in range(0, n, a.batch_size):
                yield x[perm[i : i + a.batch_size]]

    epochs = []
    model.train()
    t0 = time.perf_counter()
    for epoch in range(a.epochs):
        te = time.perf_counter()
        batch_losses, weighted, rows = [], 0.0, 0
        for xb in batches():
            opt.zero_grad()
            loss = loss_fn(model(xb), xb)
            loss.backward()
            opt.step()
            v = loss.item()
            batch_losses.append(v)
            weighted += v * len(xb)
            rows += len(xb)
        epochs.append(
            {
                "epoch": epoch + 1,
                "train_loss": sum(batch_losses) / len(batch_losses),
                "train_loss_weighted": weighted / rows,
                "seconds": time.perf_counter() - te,
            }
        )
    train_seconds = time.perf_counter() - t0

    model.eval()
    with torch.no_grad():
        sq = sum(
            float(((model(x[i : i + 8192]) - x[i : i + 8192]) ** 2).sum())
            for i in range(0, n, 8192)
        )
    eval_loss = sq / (n * d)

    record = {
        "contender": f"PyTorch {torch.__version__} ({a.loader})",
        "n_samples": n,
        "n_features": d,
        "epochs_run": a.epochs,
        "batch_size": a.batch_size,
        "learning_rate": a.lr,
        "loader": a.loader,
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "interop_threads": torch.get_num_interop_threads(),
        "load_seconds": load_seconds,
        "train_seconds": train_seconds,
        "samples_per_second": a.epochs * n / train_seconds,
        "epochs": epochs,
        "final_train_loss": epochs[-1]["train_loss"],
        "eval_loss": eval_loss,
        "eval_reconstruction_error": sq / n,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pyarrow": pyarrow.__version__,
            "parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
        },
    }
    print(json.dumps(record, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    sys.exit(main())
