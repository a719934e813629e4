#!/usr/bin/env python3
"""PyTorch forward references for the autoencoder's layer kinds, for the layers' Rust tests.

Run from the repository root, in a venv with the pinned versions
(tests/reference/requirements-torch.txt: torch 2.15.0, numpy 2.4.6; Python 3.11.7):

    python3 -m venv /work/torch-venv
    /work/torch-venv/bin/pip install -r tests/reference/requirements-torch.txt
    /work/torch-venv/bin/python tests/reference/make_layers_reference.py

(PyPI's Linux torch wheel is the CUDA build and pulls about 3 GB of nvidia wheels; it runs
on the CPU.) Writes tests/reference/layers.json:

    {"torch": "2.15.0", "cases": [{"name", "layer", "input_shape", "batch", "input",
      "tensors", "output_shape", "output"}, ..., {"name": "network", "layers": [{"layer",
      "tensors"}, ...], "input_shape", "batch", "input", "output_shape", "output"}]}

Values. Inputs and parameters are drawn from numpy's PCG64 (seed 25, one stream for the
whole file) and rounded to float32, so the f32 layers hold them exactly; the JSON has each
as `float()` of the float32 number (Python's repr, which round-trips). The outputs are
computed by torch in float64 from those values, so they are exact to about 1e-15 and a
layer in f32 or f64 compares against them. Images are channels last: `input` is sample
after sample, each row-major (h, w, c); `output` likewise. A dense layer's input is
[batch, in]. Tensors keep PyTorch's layout: conv `weight` [out_ch, in_ch, kh, kw],
conv_transpose `weight` [in_ch, out_ch, kh, kw], each with `bias` [out_ch]; dense
`weights` [in, out] (numpy's x @ weights) and `bias` [out]. Arrays are flattened row-major.

Semantics (dimred follows Keras/TensorFlow where it and PyTorch differ; here they are
built from torch primitives, and every conv and conv_transpose case is also checked against
a direct loop over the definitions below, in numpy):
  conv            valid: out = floor((in - k) / s) + 1, no padding. same (TensorFlow's
                  rule): out = ceil(in / s), pad_total = max((out - 1) s + k - in, 0),
                  pad_before = pad_total // 2, the rest after (bottom/right); F.pad with
                  zeros, then F.conv2d(padding=0).
  conv_transpose  full = F.conv_transpose2d(x, w, stride=s) of length L = (in - 1) s + k;
                  pad_total = 0 (valid) or max(k - s, 0) (same), pad_before = pad_total // 2,
                  out = L - pad_total + output_padding, output[o] = full[o + pad_before]
                  (0 beyond L); then the bias, then the activation. For k=3, s=2, same:
                  out = 2 in and output[o] = full[o] (TensorFlow's conv2d_transpose).
                  Checked against Keras 3.15.1 (jax backend, float64): every case agrees
                  (to 1e-16; tanh to 1e-7, XLA's tanh) except same with an explicit
                  output_padding, where Keras's length is (in - 1) s + k - 2 (k // 2) + op
                  (6 x 8 for conv_transpose_same_s2_k3_output_padding_1 instead of 7 x 9;
                  the same window start). Keras's default (None) is this rule's 0.
  max_pool        F.max_pool2d(size, stride (default size)), valid, floor.
  avg_pool        F.avg_pool2d(size), stride = size, valid.
  upsample        F.interpolate(scale_factor=size, mode="nearest").
  dense           x @ weights + bias.
  activations     linear, relu, sigmoid, tanh, selu (torch's constants).
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tests", "reference", "layers.json")
SEED = 25

ACTIVATIONS = {
    "linear": lambda t: t,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "selu": torch.selu,
}


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


class Draw:
    """Seeded float32 draws, handed out as float64 numpy arrays of the float32 values."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def uniform(self, shape, low, high):
        return self.rng.uniform(low, high, size=shape).astype(np.float32).astype(np.float64)

    def normal(self, shape, std):
        return (self.rng.standard_normal(size=shape) * std).astype(np.float32).astype(np.float64)


# ------------------------------------------------------------------ layers with torch


def conv_pads(size, k, s, padding):
    """(out, pad_before, pad_after) along one axis."""
    if padding == "valid":
        return (size - k) // s + 1, 0, 0
    out = -(-size // s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def conv_transpose_crop(size, k, s, padding, output_padding):
    """(L, out, pad_before) along one axis."""
    full = (size - 1) * s + k
    total = 0 if padding == "valid" else max(k - s, 0)
    return full, full - total + output_padding, total // 2


def forward(spec, x, tensors):
    """One layer on x (float64, NCHW, or [batch, in] for dense); returns the same layout."""
    (kind, p), = spec.items()
    act = ACTIVATIONS[p.get("activation", "linear")]
    t = {name: torch.from_numpy(v) for name, v in tensors.items()}
    if kind == "conv":
        (kh, kw), (sh, sw) = pair(p["kernel"]), pair(p.get("stride", 1))
        padding = p.get("padding", "valid")
        _, top, bottom = conv_pads(x.shape[2], kh, sh, padding)
        _, left, right = conv_pads(x.shape[3], kw, sw, padding)
        y = F.conv2d(F.pad(x, (left, right, top, bottom)), t["weight"], t["bias"], stride=(sh, sw))
        return act(y)
    if kind == "conv_transpose":
        (kh, kw), (sh, sw) = pair(p["kernel"]), pair(p.get("stride", 1))
        padding, op = p.get("padding", "valid"), pair(p.get("output_padding", 0))
        full = F.conv_transpose2d(x, t["weight"], bias=None, stride=(sh, sw), padding=0)
        lh, oh, bh = conv_transpose_crop(x.shape[2], kh, sh, padding, op[0])
        lw, ow, bw = conv_transpose_crop(x.shape[3], kw, sw, padding, op[1])
        assert full.shape[2:] == (lh, lw)
        # Zeros beyond L (output_padding can reach past it), then the window from pad_before.
        full = F.pad(full, (0, max(bw + ow - lw, 0), 0, max(bh + oh - lh, 0)))
        y = full[:, :, bh : bh + oh, bw : bw + ow] + t["bias"].view(1, -1, 1, 1)
        return act(y)
    if kind == "max_pool":
        size = pair(p["size"])
        return F.max_pool2d(x, size, stride=pair(p.get("stride", p["size"])))
    if kind == "avg_pool":
        size = pair(p["size"])
        return F.avg_pool2d(x, size, stride=size)
    if kind == "upsample":
        return F.interpolate(x, scale_factor=pair(p["size"]), mode="nearest")
    if kind == "dense":
        return act(x @ t["weights"] + t["bias"])
    raise ValueError(f"unknown layer kind {kind}")


# ------------------------------------------------------------------ the same, by loops


def np_act(name, v):
    return {
        "linear": lambda a: a,
        "relu": lambda a: np.maximum(a, 0),
        "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
        "tanh": np.tanh,
        "selu": lambda a: 1.0507009873554804934193349852946
        * np.where(a > 0, a, 1.6732632423543772848170429916717 * np.expm1(np.minimum(a, 0))),
    }[name](v)


def loop_conv(p, x, w, b):
    """Channels-last x [n, h, w, c]; output[i, j] = Σ x[i s - before + a, j s - left + b] w."""
    (kh, kw), (sh, sw) = pair(p["kernel"]), pair(p.get("stride", 1))
    padding = p.get("padding", "valid")
    n, h, wd, _ = x.shape
    oh, top, _ = conv_pads(h, kh, sh, padding)
    ow, left, _ = conv_pads(wd, kw, sw, padding)
    y = np.zeros((n, oh, ow, w.shape[0]))
    for i in range(oh):
        for j in range(ow):
            for a in range(kh):
                for c in range(kw):
                    r, q = i * sh - top + a, j * sw - left + c
                    if 0 <= r < h and 0 <= q < wd:
                        y[:, i, j, :] += x[:, r, q, :] @ w[:, :, a, c].T
    return np_act(p.get("activation", "linear"), y + b)


def loop_conv_transpose(p, x, w, b):
    """Each input pixel scatters x[i, j] w into full[i s + a, j s + c]; then the window."""
    (kh, kw), (sh, sw) = pair(p["kernel"]), pair(p.get("stride", 1))
    padding, op = p.get("padding", "valid"), pair(p.get("output_padding", 0))
    n, h, wd, _ = x.shape
    lh, oh, bh = conv_transpose_crop(h, kh, sh, padding, op[0])
    lw, ow, bw = conv_transpose_crop(wd, kw, sw, padding, op[1])
    full = np.zeros((n, lh + oh, lw + ow, w.shape[1]))
    for i in range(h):
        for j in range(wd):
            for a in range(kh):
                for c in range(kw):
                    full[:, i * sh + a, j * sw + c, :] += x[:, i, j, :] @ w[:, :, a, c]
    y = full[:, bh : bh + oh, bw : bw + ow, :]
    return np_act(p.get("activation", "linear"), y + b)


# ------------------------------------------------------------------ cases


def make_tensors(draw, spec, in_shape):
    """Parameters for a layer on an input of in_shape (h, w, c) or (in,)."""
    (kind, p), = spec.items()
    if kind in ("conv", "conv_transpose"):
        kh, kw = pair(p["kernel"])
        cin, cout = in_shape[2], p["filters"]
        shape = (cout, cin, kh, kw) if kind == "conv" else (cin, cout, kh, kw)
        # LeCun-like scale: pre-activations of about unit size, away from saturation.
        std = 1 / math.sqrt(cin * kh * kw)
        return {"weight": draw.normal(shape, std), "bias": draw.normal((cout,), 0.1)}
    if kind == "dense":
        n_in = in_shape[0]
        return {
            "weights": draw.normal((n_in, p["units"]), 1 / math.sqrt(n_in)),
            "bias": draw.normal((p["units"],), 0.1),
        }
    return {}


def run_layer(spec, x_nhwc, tensors):
    """Channels-last in, channels-last out, through torch's NCHW."""
    x = torch.from_numpy(x_nhwc)
    if x.dim() == 4:
        x = x.permute(0, 3, 1, 2)
    y = forward(spec, x, tensors)
    if y.dim() == 4:
        y = y.permute(0, 2, 3, 1)
    return y.contiguous().numpy()


def check_by_loops(name, spec, x, tensors, y):
    (kind, p), = spec.items()
    if kind == "conv":
        z = loop_conv(p, x, tensors["weight"], tensors["bias"])
    elif kind == "conv_transpose":
        z = loop_conv_transpose(p, x, tensors["weight"], tensors["bias"])
    else:
        return
    assert z.shape == y.shape, (name, z.shape, y.shape)
    err = float(np.max(np.abs(z - y)))
    assert err < 1e-12, (name, err)


def values(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def tensors_json(tensors):
    return {k: {"shape": list(v.shape), "values": values(v)} for k, v in tensors.items()}


CONV = "conv"
CT = "conv_transpose"

# (name, layer spec, input_shape (h, w, c) or (in,), batch, input range)
CASES = [
    ("conv_valid_s1_k3", {CONV: {"filters": 3, "kernel": 3, "activation": "relu"}}, (6, 5, 2), 2),
    ("conv_defaults_valid_linear", {CONV: {"filters": 2, "kernel": 2}}, (4, 3, 3), 2),
    ("conv_same_s1_k3", {CONV: {"filters": 2, "kernel": 3, "padding": "same", "activation": "linear"}}, (5, 5, 3), 2),
    ("conv_same_s2_k3", {CONV: {"filters": 3, "kernel": 3, "stride": 2, "padding": "same", "activation": "relu"}}, (7, 6, 2), 2),
    ("conv_same_s2_k3_odd_sigmoid", {CONV: {"filters": 2, "kernel": 3, "stride": 2, "padding": "same", "activation": "sigmoid"}}, (9, 7, 1), 3),
    ("conv_same_s1_k2_tanh", {CONV: {"filters": 2, "kernel": 2, "stride": 1, "padding": "same", "activation": "tanh"}}, (5, 6, 2), 2),
    ("conv_same_s2_k4", {CONV: {"filters": 2, "kernel": 4, "stride": 2, "padding": "same", "activation": "linear"}}, (6, 7, 2), 2),
    ("conv_valid_k3x2_s2x1_selu", {CONV: {"filters": 3, "kernel": [3, 2], "stride": [2, 1], "activation": "selu"}}, (8, 5, 2), 2),
    ("conv_same_k3x2_s2x1_selu", {CONV: {"filters": 4, "kernel": [3, 2], "stride": [2, 1], "padding": "same", "activation": "selu"}}, (7, 5, 3), 2),
    ("conv_valid_s2_k3_selu", {CONV: {"filters": 2, "kernel": 3, "stride": 2, "padding": "valid", "activation": "selu"}}, (8, 9, 4), 2),
    ("max_pool_2", {"max_pool": {"size": 2}}, (6, 7, 3), 2),
    ("max_pool_3_s2_odd", {"max_pool": {"size": 3, "stride": 2}}, (9, 7, 2), 2),
    ("avg_pool_2", {"avg_pool": {"size": 2}}, (6, 4, 2), 2),
    ("avg_pool_2_odd", {"avg_pool": {"size": 2}}, (5, 5, 1), 3),
    ("conv_transpose_valid_s2_k3", {CT: {"filters": 3, "kernel": 3, "stride": 2, "padding": "valid", "activation": "relu"}}, (3, 4, 2), 2),
    ("conv_transpose_defaults_valid_s1_k2", {CT: {"filters": 2, "kernel": 2}}, (3, 3, 2), 2),
    ("conv_transpose_same_s2_k3", {CT: {"filters": 2, "kernel": 3, "stride": 2, "padding": "same", "activation": "selu"}}, (3, 3, 2), 2),
    ("conv_transpose_same_s2_k3_output_padding_1", {CT: {"filters": 2, "kernel": 3, "stride": 2, "padding": "same", "output_padding": 1, "activation": "sigmoid"}}, (3, 4, 2), 2),
    ("conv_transpose_valid_s2_k3_output_padding_1", {CT: {"filters": 1, "kernel": 3, "stride": 2, "padding": "valid", "output_padding": 1, "activation": "linear"}}, (2, 3, 3), 2),
    ("conv_transpose_same_s1_k3", {CT: {"filters": 3, "kernel": 3, "stride": 1, "padding": "same", "activation": "tanh"}}, (4, 5, 3), 2),
    ("conv_transpose_same_s2_k4", {CT: {"filters": 2, "kernel": 4, "stride": 2, "padding": "same", "activation": "linear"}}, (3, 3, 2), 2),
    ("conv_transpose_same_k3x2_s2x1", {CT: {"filters": 2, "kernel": [3, 2], "stride": [2, 1], "padding": "same", "activation": "selu"}}, (3, 4, 2), 2),
    ("upsample_2", {"upsample": {"size": 2}}, (3, 4, 2), 2),
    ("dense_selu", {"dense": {"units": 4, "activation": "selu"}}, (5,), 3),
]

NETWORK = [
    {CONV: {"filters": 4, "kernel": 3, "padding": "same", "activation": "selu"}},
    {"max_pool": {"size": 2}},
    {CONV: {"filters": 8, "kernel": 3, "padding": "same", "activation": "selu"}},
    {"max_pool": {"size": 2}},
    {CT: {"filters": 4, "kernel": 3, "stride": 2, "padding": "same", "activation": "selu"}},
    {CT: {"filters": 1, "kernel": 3, "stride": 2, "padding": "same", "activation": "sigmoid"}},
]


def single_case(draw, name, spec, in_shape, batch):
    x = draw.uniform((batch, *in_shape), -1.0, 1.0)
    tensors = make_tensors(draw, spec, in_shape)
    y = run_layer(spec, x, tensors)
    check_by_loops(name, spec, x, tensors, y)
    return {
        "name": name,
        "layer": spec,
        "input_shape": list(in_shape),
        "batch": batch,
        "input": values(x),
        "tensors": tensors_json(tensors),
        "output_shape": list(y.shape[1:]),
        "output": values(y),
    }


def network_case(draw):
    in_shape, batch = (8, 8, 1), 2
    x = draw.uniform((batch, *in_shape), 0.0, 1.0)  # pixels, as a sigmoid/bce network sees them
    a, layers = x, []
    for spec in NETWORK:
        tensors = make_tensors(draw, spec, a.shape[1:])
        b = run_layer(spec, a, tensors)
        check_by_loops("network", spec, a, tensors, b)
        layers.append({"layer": spec, "tensors": tensors_json(tensors)})
        a = b
    assert a.shape[1:] == in_shape, a.shape
    return {
        "name": "network",
        "layers": layers,
        "input_shape": list(in_shape),
        "batch": batch,
        "input": values(x),
        "output_shape": list(a.shape[1:]),
        "output": values(a),
    }


def main():
    torch.set_default_dtype(torch.float64)
    draw = Draw(SEED)
    cases = [single_case(draw, *c) for c in CASES] + [network_case(draw)]
    # One case per line: small diffs when a case changes.
    lines = ",\n".join(json.dumps(c, separators=(",", ":")) for c in cases)
    text = '{"torch": %s, "cases": [\n%s\n]}\n' % (json.dumps(torch.__version__), lines)
    json.loads(text)
    with open(OUT, "w") as f:
        f.write(text)
    print(f"wrote {OUT}: {len(cases)} cases, {len(text)} bytes (torch {torch.__version__}, numpy {np.__version__})")
    for c in cases:
        kind = "network" if "layers" in c else next(iter(c["layer"]))
        print(f"  {c['name']:<48} {kind:<15} {c['input_shape']} -> {c['output_shape']} x{c['batch']}")


if __name__ == "__main__":
    sys.exit(main())
