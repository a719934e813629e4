#!/usr/bin/env python3
"""PyTorch peer of dimred's convolutional autoencoder: the lecture's network, trained in memory.

usage: conv_ae_torch.py FILE.parquet [--epochs 3] [--threads N] [--batch-size 128]
                        [--lr 0.001] [--seed 0] [--shape 28x28] [--warmup-batches 20]
                        [--no-eval]

FILE.parquet: `dimred generate --images 28x28` (Float32 pixel_0..pixel_783, row-major,
and an Int64 label, which is not used). The pixel columns are read with pyarrow into one
float32 array before the clock starts, viewed as (n, 28, 28, 1), channels last as dimred
lays them out, and permuted once to PyTorch's NCHW (n, 1, 28, 28).

Network (bench/conv_ae_pipeline.yaml's, Keras's `same` = PyTorch's padding=1 for the 3x3
stride-1 convolutions):
  Conv2d(1, 16, 3, padding=1) SELU MaxPool2d(2)          28x28x1  -> 14x14x16
  Conv2d(16, 32, 3, padding=1) SELU MaxPool2d(2)         14x14x16 -> 7x7x32
  Conv2d(32, 64, 3, padding=1) SELU MaxPool2d(2)         7x7x32   -> 3x3x64
  ConvTranspose2d(64, 32, 3, stride=2) SELU              3x3x64   -> 7x7x32   (valid)
  ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1) SELU   -> 14x14x16
  ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1) Sigmoid -> 28x28x1
The last two are PyTorch's way to Keras's `same` with stride 2 (output 2 x input): the
same parameters, shapes and arithmetic; PyTorch's window starts one pixel later (output[o]
= full[o + 1], TensorFlow's output[o] = full[o]), which changes no cost. Weights start as
dimred's do for the activation: LeCun normal (std 1/sqrt(fan_in)) before SELU, Glorot
uniform before the sigmoid, biases at zero. BCELoss (mean over batch and pixels),
Adam(lr, default betas and eps), batch 128 of a torch.randperm per epoch, float32,
torch.set_num_threads(N) with N = dimred's thread count (default: nproc).

Prints progress to stderr and one JSON line to stdout: samples_per_second (epochs x rows
/ train seconds), samples_per_second_after_warmup (without the first --warmup-batches
batches of epoch 1, where oneDNN picks and caches its kernels), epochs[] (train_loss:
the mean of the batch losses weighted by batch rows, i.e. per sample, as dimred reports
it; train_loss_batch_mean: the plain mean over batches, as the lecture prints it;
seconds; samples_per_second), eval_loss (BCE over all rows after training, no grad, not
timed; skipped with --no-eval), peak_rss_bytes (getrusage), forward_macs_per_sample
(multiply-adds of the convolutions, from the layers' shapes), gflops (3 x 2 x forward
MACs per sample x samples / train seconds: forward, and a backward of about twice the
forward's work, 2 flops per multiply-add; pooling and activations not counted), versions
and thread counts.
"""

import argparse
import json
import math
import os
import platform
import resource
import sys
import time


def parse_shape(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: give HxW, e.g. 28x28")
    if h < 8 or w < 8:
        raise argparse.ArgumentTypeError(f"{text}: three 2x2 poolings need at least 8x8")
    return h, w


def build(torch, nn):
    def conv(cin, cout):
        return nn.Conv2d(cin, cout, 3, padding=1)

    def up(cin, cout, same):
        if same:
            return nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1)
        return nn.ConvTranspose2d(cin, cout, 3, stride=2)

    model = nn.Sequential(
        conv(1, 16), nn.SELU(), nn.MaxPool2d(2),
        conv(16, 32), nn.SELU(), nn.MaxPool2d(2),
        conv(32, 64), nn.SELU(), nn.MaxPool2d(2),
        up(64, 32, same=False), nn.SELU(),
        up(32, 16, same=True), nn.SELU(),
        up(16, 1, same=True), nn.Sigmoid(),
    )
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        for i, m in enumerate(layers):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            if i < len(layers) - 1:  # before SELU: LeCun normal
                m.weight.normal_(0.0, 1.0 / math.sqrt(fan_in))
            else:  # before the sigmoid: Glorot uniform
                bound = math.sqrt(6.0 / (fan_in + fan_out))
                m.weight.uniform_(-bound, bound)
            m.bias.zero_()
    return model


def forward_macs(torch, nn, model, shape):
    """Multiply-adds per sample of the convolutions, from one forward pass's shapes."""
    macs = []

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        if isinstance(m, nn.ConvTranspose2d):  # every input pixel meets the whole kernel
            macs.append(inp[0][0].numel() * m.out_channels * k)
        else:  # every output pixel does
            macs.append(out[0].numel() * m.in_channels * k)

    handles = [m.register_forward_hook(hook) for m in model
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        out = model(torch.zeros(1, 1, *shape))
    for h in handles:
        h.remove()
    assert tuple(out.shape[2:]) == shape, f"the network maps {shape} to {tuple(out.shape[2:])}"
    return sum(macs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parquet")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shape", type=parse_shape, default=(28, 28))
    ap.add_argument("--warmup-batches", type=int, default=20)
    ap.add_argument("--no-eval", action="store_true")
    a = ap.parse_args(argv)
    if a.epochs < 1 or a.threads < 1 or a.batch_size < 1 or a.warmup_batches < 0:
        ap.error("--epochs, --threads and --batch-size must be >= 1, --warmup-batches >= 0")

    import numpy as np
    import pyarrow
    import pyarrow.parquet as pq
    import torch
    from torch import nn

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    h, w = a.shape

    t0 = time.perf_counter()
    names = [f"pixel_{i}" for i in range(h * w)]
    table = pq.read_table(a.parquet, columns=names)
    x_np = np.empty((table.num_rows, h * w), dtype=np.float32)
    for j, col in enumerate(table.columns):
        x_np[:, j] = col.to_numpy().astype(np.float32, copy=False)
    del table
    # Channels last (n, h, w, 1) as dimred holds a row, then NCHW for PyTorch, contiguous.
    x = torch.from_numpy(x_np).view(-1, h, w, 1).permute(0, 3, 1, 2).contiguous()
    del x_np
    load_seconds = time.perf_counter() - t0
    n = x.shape[0]

    model = build(torch, nn)
    macs = forward_macs(torch, nn, model, (h, w))
    loss_fn = nn.BCELoss()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)

    epochs = []
    warm = None  # (seconds, samples) of the warm-up batches
    model.train()
    t0 = time.perf_counter()
    for epoch in range(a.epochs):
        te = time.perf_counter()
        perm = torch.randperm(n)
        batch_losses, weighted = [], 0.0
        for b, i in enumerate(range(0, n, a.batch_size)):
            xb = x[perm[i : i + a.batch_size]]
            opt.zero_grad()
            loss = loss_fn(model(xb), xb)
            loss.backward()
            opt.step()
            v = loss.item()
            batch_losses.append(v)
            weighted += v * len(xb)
            if epoch == 0 and b + 1 == a.warmup_batches:
                warm = (time.perf_counter() - t0, min(n, i + a.batch_size))
        seconds = time.perf_counter() - te
        epochs.append(
            {
                "epoch": epoch + 1,
                "train_loss": weighted / n,
                "train_loss_batch_mean": sum(batch_losses) / len(batch_losses),
                "seconds": seconds,
                "samples_per_second": n / seconds,
            }
        )
        print(f"epoch {epoch + 1}/{a.epochs}: loss {weighted / n:.6f}, {seconds:.2f} s, "
              f"{n / seconds:,.0f} samples/s", file=sys.stderr, flush=True)
    train_seconds = time.perf_counter() - t0
    samples = a.epochs * n
    after_warmup = None
    if warm is not None and train_seconds > warm[0]:
        after_warmup = (samples - warm[1]) / (train_seconds - warm[0])

    eval_loss = None
    if not a.no_eval:
        model.eval()
        total = 0.0
        with torch.no_grad():
            for i in range(0, n, 4096):
                xb = x[i : i + 4096]
                total += float(nn.functional.binary_cross_entropy(model(xb), xb, reduction="sum"))
        eval_loss = total / (n * h * w)

    flop_per_sample = 3 * 2 * macs
    record = {
        "contender": f"PyTorch {torch.__version__}",
        "n_samples": n,
        "shape": [h, w, 1],
        "epochs_run": a.epochs,
        "batch_size": a.batch_size,
        "learning_rate": a.lr,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "load_seconds": load_seconds,
        "train_seconds": train_seconds,
        "samples_per_second": samples / train_seconds,
        "warmup_batches": a.warmup_batches if warm is not None else 0,
        "samples_per_second_after_warmup": after_warmup,
        "epochs": epochs,
        "final_train_loss": epochs[-1]["train_loss"],
        "eval_loss": eval_loss,
        "parameters": sum(p.numel() for p in model.parameters()),
        "forward_macs_per_sample": macs,
        "flop_per_sample": flop_per_sample,
        "gflops": flop_per_sample * samples / train_seconds / 1e9,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "pyarrow": pyarrow.__version__,
            "parallel": torch.__config__.parallel_info().splitlines()[-1].strip(),
            "mkldnn": torch.backends.mkldnn.is_available(),
        },
    }
    print(json.dumps(record, separators=(",", ":")), flush=True)


if __name__ == "__main__":
    sys.exit(main())
