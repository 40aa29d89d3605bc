#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: RK4 generation of the bench model, one thread, on request.

A long-lived child of bench/torch.ts, so that its rounds interleave with the WASM ones. It
builds the vector field of the paper (features [t, cos k pi t, sin k pi t, x] -> Linear -> act
... -> Linear, as shared/anchors/torch/ref.py does) with the weights the bench passes as a raw
float32 file in the canonical layout (per layer W [out, in] row-major, then b), and integrates
with fixed-step RK4 under torch.no_grad(), batch by batch, exactly as ref.py's integrate().

Protocol: one JSON object per line on stdout. First {"ready": ...}; then for each stdin line
  gen <n> <batch> <steps>     -> {"seconds": s, "cpu": c, "points": n}  (wall and process CPU
                                                seconds of the integration only; c/s > 1 would
                                                mean more than one thread ran)
  check <in> <out> <n> <steps> -> {"ok": true}  integrates float32 rows [n, d] from file <in>
                                                into file <out>
  quit
"""

import argparse
import json
import math
import os
import sys

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


class VField(nn.Module):
    """v(t, x): t [B], x [B, d] -> [B, d]."""

    def __init__(self, dim, hidden, frequencies, activation):
        super().__init__()
        self.register_buffer("freqs", torch.arange(1, frequencies + 1, dtype=torch.float32) * math.pi)
        act = {"elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh, "relu": nn.ReLU}[activation]
        widths = [1 + 2 * frequencies + dim, *hidden]
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), act()]
        layers.append(nn.Linear(widths[-1], dim))
        self.net = nn.Sequential(*layers)

    def forward(self, t, x):
        tc = t.unsqueeze(-1)
        a = tc * self.freqs
        emb = torch.stack([torch.cos(a), torch.sin(a)], dim=-1).flatten(1)  # cos1 sin1 cos2 sin2 ...
        return self.net(torch.cat([tc, emb, x], dim=-1))


def load_params(model, flat):
    at = 0
    for layer in model.net:
        if isinstance(layer, nn.Linear):
            w, b = layer.weight, layer.bias
            w.data.copy_(torch.from_numpy(flat[at:at + w.numel()].reshape(w.shape)))
            at += w.numel()
            b.data.copy_(torch.from_numpy(flat[at:at + b.numel()]))
            at += b.numel()
    if at != flat.size:
        raise SystemExit(f"torch_gen: parameter file has {flat.size} floats, the model needs {at}")


def integrate(model, x, steps, t0=0.0, t1=1.0):
    h = (t1 - t0) / steps
    tt = torch.empty(x.shape[0])
    for i in range(steps):
        t = t0 + i * h
        k1 = model(tt.fill_(t), x)
        k2 = model(tt.fill_(t + 0.5 * h), x + (0.5 * h) * k1)
        k3 = model(tt.fill_(t + 0.5 * h), x + (0.5 * h) * k2)
        k4 = model(tt.fill_(t + h), x + h * k3)
        x = x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
    return x


def blas_loaded():
    """The BLAS libraries mapped into this process (Debian picks one through alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            names = {os.path.basename(ln.split()[-1]) for ln in f if "blas" in ln.lower()}
        return sorted(names)
    except OSError:
        return []


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--params", required=True, help="raw little-endian float32, canonical layout")
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--hidden", required=True, help="comma-separated widths")
    ap.add_argument("--frequencies", type=int, required=True)
    ap.add_argument("--activation", required=True)
    args = ap.parse_args()

    torch.set_num_threads(1)
    model = VField(args.dim, [int(w) for w in args.hidden.split(",")], args.frequencies, args.activation)
    load_params(model, np.fromfile(args.params, dtype="<f4"))
    model.eval()
    reply({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_loaded()})
    gen = torch.Generator().manual_seed(10)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        with torch.no_grad():
            if cmd[0] == "gen":
                n, batch, steps = int(cmd[1]), int(cmd[2]), int(cmd[3])
                z = torch.randn(n, args.dim, generator=gen)
                start, cpu = time.perf_counter(), time.process_time()
                for b in range(0, n, batch):
                    integrate(model, z[b:b + batch], steps)
                reply({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "points": n})
            elif cmd[0] == "check":
                src, dst, n, steps = cmd[1], cmd[2], int(cmd[3]), int(cmd[4])
                z = torch.from_numpy(np.fromfile(src, dtype="<f4").reshape(n, args.dim))
                integrate(model, z, steps).numpy().astype("<f4").tofile(dst)
                reply({"ok": True})
            else:
                reply({"error": f"unknown command {cmd[0]!r}"})


if __name__ == "__main__":
    main()
