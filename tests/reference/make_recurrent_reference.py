#!/usr/bin/env python3
"""PyTorch references for the autoencoder's sequence layers (lstm, gru, repeat,
time_distributed_dense), for the layers' Rust tests.

Run from the repository root in the venv of tests/reference/requirements-torch.txt
(torch 2.15.0, numpy 2.4.6; Python 3.11.7):

    /work/torch-venv/bin/python tests/reference/make_recurrent_reference.py

Writes tests/reference/recurrent.json:

    {"torch": "2.15.0", "cases": [{"name", "layers": [{"layer", "tensors"}, ...],
      "input_shape", "batch", "input", "output_shape", "output", "gradients"}, ...]}

Values. Inputs and parameters are drawn from numpy's PCG64 (seed 28) and rounded to
float32, so the f32 layers hold them exactly. Outputs are computed by torch in float64
from those values. A sequence sample is row-major [steps, features], so `input` is sample
after sample, step after step. `gradients` are, for every layer, d loss / d tensor of
loss = sum(output ** 2) / 2 (the output's own values as the gradient at the output),
by torch's autograd, named and shaped as the tensors.

Layers (PyTorch's formulation, which dimred follows):
  lstm   nn.LSTM(features, units, batch_first=True): gates i, f, g, o; tensors
         weight_ih_l0 [4u, f], weight_hh_l0 [4u, u], bias_ih_l0 [4u], bias_hh_l0 [4u];
         zero initial state; return_sequences: every step's h, else the last.
  gru    nn.GRU: gates r, z, n; n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),
         h' = (1 - z) n + z h. Tensors as the LSTM's with 3u rows.
  repeat x [N, w] -> [N, steps, w], the same vector at every step.
  time_distributed_dense  nn.Linear applied to every step; weight [units, f], bias
         [units]; then the activation.
"""

import json
import os

import numpy as np
import torch

torch.set_default_dtype(torch.float64)
rng = np.random.Generator(np.random.PCG64(28))


def f32(shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32).astype(np.float64)


def listed(a):
    return [float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def recurrent(kind, features, units, sequences):
    cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
    m = cls(features, units, batch_first=True)
    g = 4 if kind == "lstm" else 3
    k = 1.0 / np.sqrt(units)
    shapes = {
        "weight_ih_l0": (g * units, features),
        "weight_hh_l0": (g * units, units),
        "bias_ih_l0": (g * units,),
        "bias_hh_l0": (g * units,),
    }
    values = {n: f32(s, 2 * k) for n, s in shapes.items()}
    with torch.no_grad():
        for n, v in values.items():
            getattr(m, n).copy_(torch.tensor(v))

    def run(x):
        y, _ = m(x)
        return y if sequences else y[:, -1, :]

    spec = {kind: {"units": units, "return_sequences": sequences}}
    return spec, m, run


def time_dense(features, units, activation):
    m = torch.nn.Linear(features, units)
    values = {"weight": f32((units, features), 0.5), "bias": f32((units,), 0.2)}
    with torch.no_grad():
        m.weight.copy_(torch.tensor(values["weight"]))
        m.bias.copy_(torch.tensor(values["bias"]))
    act = {
        "linear": lambda v: v,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": torch.relu,
    }[activation]
    spec = {"time_distributed_dense": {"units": units, "activation": activation}}
    return spec, m, lambda x: act(m(x))


def repeat(steps):
    spec = {"repeat": {"steps": steps}}
    return spec, None, lambda x: x.unsqueeze(1).expand(-1, steps, -1)


def case(name, input_shape, batch, layers):
    x = torch.tensor(f32([batch] + input_shape))
    h = x
    for _, _, run in layers:
        h = run(h)
    loss = (h**2).sum() / 2
    params = [p for _, m, _ in layers if m is not None for p in m.parameters()]
    grads = torch.autograd.grad(loss, params) if params else []
    grad_of = dict(zip([id(p) for p in params], grads))
    out_layers = []
    for spec, m, _ in layers:
        tensors, gradients = {}, {}
        if m is not None:
            for n, p in m.named_parameters():
                tensors[n] = {"shape": list(p.shape), "values": listed(p.detach().numpy())}
                gradients[n] = listed(grad_of[id(p)].numpy())
        out_layers.append({"layer": spec, "tensors": tensors, "gradients": gradients})
    return {
        "name": name,
        "layers": out_layers,
        "input_shape": input_shape,
        "batch": batch,
        "input": listed(x.numpy()),
        "output_shape": list(h.shape[1:]),
        "output": listed(h.detach().numpy()),
    }


cases = [
    case("lstm_sequences", [5, 3], 4, [recurrent("lstm", 3, 4, True)]),
    case("lstm_last", [6, 2], 3, [recurrent("lstm", 2, 5, False)]),
    case("gru_sequences", [5, 3], 4, [recurrent("gru", 3, 4, True)]),
    case("gru_last", [6, 2], 3, [recurrent("gru", 2, 5, False)]),
    case("repeat", [3], 2, [repeat(4)]),
    case("time_distributed_dense", [4, 3], 3, [time_dense(3, 2, "tanh")]),
    case(
        "lstm_autoencoder",
        [6, 3],
        5,
        [
            recurrent("lstm", 3, 8, True),
            recurrent("lstm", 8, 2, False),
            repeat(6),
            recurrent("lstm", 2, 8, True),
            time_dense(8, 3, "sigmoid"),
        ],
    ),
    case(
        "gru_autoencoder",
        [7, 2],
        4,
        [
            recurrent("gru", 2, 6, False),
            repeat(7),
            recurrent("gru", 6, 5, True),
            time_dense(5, 2, "linear"),
        ],
    ),
]

path = os.path.join(os.path.dirname(__file__), "recurrent.json")
with open(path, "w") as f:
    json.dump({"torch": torch.__version__.split("+")[0], "cases": cases}, f)
    f.write("\n")
print(f"wrote {path}: {len(cases)} cases")
