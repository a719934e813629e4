#!/usr/bin/env python3
"""PyTorch's numbers for the autoencoder's training controls, written to training.json.

    python -m venv /tmp/torch && /tmp/torch/bin/pip install -r tests/reference/requirements-torch.txt
    /tmp/torch/bin/python tests/reference/make_training_reference.py

Cases, each a few steps from fixed numbers (float64 tensors, so the reference is exact to
rounding):
- `adamw`: torch.optim.AdamW (decoupled weight decay) on a parameter vector fed a fixed
  sequence of gradients; the parameters after each step.
- `adam`: torch.optim.Adam with weight_decay=0, the same way.
- `sgd`: torch.optim.SGD with momentum, nesterov and weight_decay (L2 added to the gradient).
- `clip`: torch.nn.utils.clip_grad_norm_ on two gradient tensors: the total norm returned and
  the clipped values, for a max_norm below and above the norm.
- `step_lr`, `cosine`, `plateau`: the learning rate of each epoch (the optimizer's lr after
  e calls of scheduler.step(), ReduceLROnPlateau fed a fixed sequence of losses).
"""

import json
import os

import torch

torch.set_default_dtype(torch.float64)
HERE = os.path.dirname(os.path.abspath(__file__))

GRADS = [[0.5, -0.25, 1.0], [-0.75, 0.125, 0.5], [0.25, 0.5, -1.5], [1.0, -1.0, 0.25]]
START = [1.0, -0.5, 0.25]


def optimizer_steps(make):
    p = torch.nn.Parameter(torch.tensor(START))
    opt = make([p])
    out = []
    for g in GRADS:
        opt.zero_grad()
        p.grad = torch.tensor(g)
        opt.step()
        out.append(p.detach().tolist())
    return out


def lrs(make_sched, epochs, metrics=None, lr=0.1):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_sched(opt)
    out = []
    for e in range(epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
    return out


def main():
    cases = {
        "torch": torch.__version__,
        "start": START,
        "grads": GRADS,
        "adamw": {
            "lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.3,
            "params": optimizer_steps(lambda ps: torch.optim.AdamW(ps, lr=0.1, weight_decay=0.3)),
        },
        "adam": {
            "lr": 0.1, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0,
            "params": optimizer_steps(lambda ps: torch.optim.Adam(ps, lr=0.1)),
        },
        "sgd": {
            "lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.2,
            "params": optimizer_steps(
                lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.2)
            ),
        },
    }
    clip = []
    for max_norm in [0.5, 100.0]:
        a = torch.nn.Parameter(torch.zeros(3))
        b = torch.nn.Parameter(torch.zeros(2))
        a.grad = torch.tensor([0.3, -1.2, 0.4])
        b.grad = torch.tensor([2.0, -0.5])
        norm = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
        clip.append({"max_norm": max_norm, "norm": float(norm),
                     "grads": [[0.3, -1.2, 0.4], [2.0, -0.5]],
                     "clipped": [a.grad.tolist(), b.grad.tolist()]})
    cases["clip"] = clip
    cases["step_lr"] = {"lr": 0.1, "step_size": 2, "gamma": 0.5,
                        "lrs": lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 2, gamma=0.5), 7)}
    cases["cosine"] = {"lr": 0.1, "t_max": 5, "eta_min": 0.01,
                       "lrs": lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 5, eta_min=0.01), 8)}
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8, 0.9, 0.91, 0.92]
    cases["plateau"] = {
        "lr": 0.1, "factor": 0.5, "patience": 1, "threshold": 1e-4, "cooldown": 1, "min_lr": 0.02,
        "metrics": metrics,
        "lrs": lrs(lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
            o, mode="min", factor=0.5, patience=1, threshold=1e-4, cooldown=1, min_lr=0.02),
            len(metrics), metrics),
    }
    with open(os.path.join(HERE, "training.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
