#!/usr/bin/env python3
"""PyTorch side of `npm run bench`: RK4 generation, CFM training steps and the AdamMCMC energy
with its gradient, for the bench model, one thread, on request.

A long-lived child of bench/torch.ts, so that its rounds interleave with the WASM ones. It
builds the vector field of the paper (features [t, cos k pi t, sin k pi t, x] -> Linear -> act
... -> Linear, as shared/anchors/torch/ref.py does) with the weights the bench passes as a raw
float32 file in the canonical layout (per layer W [out, in] row-major, then b), and
- integrates with fixed-step RK4 under torch.no_grad(), batch by batch, exactly as ref.py's
  integrate() (section [1]);
- trains by conditional flow matching exactly as ref.py's train_epoch() (section [2]): per epoch a
  randperm of the data, per step x0 ~ N, t ~ U, x_t, u, loss = mean ||v - u||^2, zero_grad,
  backward, Adam step (lr 1e-3, PyTorch defaults), loss.item();
- evaluates the AdamMCMC energy -scale * sum log p(x) over a batch and its gradient as ref.py's
  nll_fwd_bwd() (section [3]): RK4 from t = 1 to 0 on (x, l), exact divergence by two autograd
  passes per evaluation with create_graph=True, then backward(). ref.py takes the mean of -log p;
  AdamMCMC scales the sum by N/B (shared/train/mcmc-energy.ts): the same graph, one scalar apart.

Protocol: one JSON object per line on stdout. First {"ready": ...}; then for each stdin line
  gen <n> <batch> <steps>     -> {"seconds": s, "cpu": c, "points": n}  (wall and process CPU
                                                seconds of the integration only; c/s > 1 would
                                                mean more than one thread ran)
  check <in> <out> <n> <steps> -> {"ok": true}  integrates float32 rows [n, d] from file <in>
                                                into file <out>
  data <file> <n>             -> {"ok": true}    loads the training set, float32 rows [n, d]
  cfm <epochs> <batch> <per-epoch>
                              -> {"seconds", "cpu", "steps", "loss"}  trains a copy of the model
                                                (made, with its Adam, at the first cfm command and
                                                kept: later calls continue the same training)
  energy <reps> <batch> <steps> <scale>
                              -> {"seconds", "cpu", "energy"}  reps evaluations of the energy and
                                                gradient of the model on the first <batch> points
                                                of the training set, RK4 <steps> steps (seconds
                                                for all reps together)
  cfmcheck <in> <out> <n> <smin>  -> {"ok": true}  float32 file <in>: t [n], x0 [n, d], x1 [n, d];
                                                writes float64 [loss, dloss/dparams...] to <out>
                                                (the CFM loss of these draws, no randomness)
  energycheck <in> <out> <n> <steps> <scale> -> {"ok": true}  float32 rows x [n, d] in <in>;
                                                writes float64 [energy, denergy/dparams...]
  quit
"""

import argparse
import copy
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


def v_and_div(model, t, x):
    """v(t, x) and its exact divergence: one autograd pass per output dimension (create_graph,
    so that the energy's backward() reaches the parameters through it), as ref.py's v_and_div."""
    tt = torch.full((x.shape[0],), t)
    v = model(tt, x)
    div = torch.zeros(x.shape[0])
    for j in range(x.shape[1]):
        g = torch.autograd.grad(v[:, j].sum(), x, create_graph=True, retain_graph=True)[0]
        div = div + g[:, j]
    return v, div


def log_prob(model, x1, steps):
    """log p(x1) = log N(x(0); 0, I) + l(0), RK4 from t = 1 to 0 on dx/dt = v, dl/dt = div v,
    l(1) = 0, keeping the graph (ref.py's log_prob with create_graph=True)."""
    x = x1.detach().clone().requires_grad_(True)
    ll = torch.zeros(x.shape[0])
    h = -1.0 / steps
    for i in range(steps):
        t = 1.0 + i * h
        v1, d1 = v_and_div(model, t, x)
        v2, d2 = v_and_div(model, t + 0.5 * h, x + (0.5 * h) * v1)
        v3, d3 = v_and_div(model, t + 0.5 * h, x + (0.5 * h) * v2)
        v4, d4 = v_and_div(model, t + h, x + h * v3)
        x = x + (h / 6.0) * (v1 + 2.0 * v2 + 2.0 * v3 + v4)
        ll = ll + (h / 6.0) * (d1 + 2.0 * d2 + 2.0 * d3 + d4)
    logn = -0.5 * (x ** 2).sum(-1) - 0.5 * x.shape[1] * math.log(2 * math.pi)
    return logn + ll


def energy_grad(model, x, steps, scale):
    """-scale * sum log p(x) and, in the parameters' .grad, its gradient."""
    model.zero_grad()
    e = -scale * log_prob(model, x, steps).sum()
    e.backward()
    return e


def cfm_loss(model, t, x0, x1, smin):
    """ref.py's cfm_loss with the draws given: mean over the batch of ||v(t, x_t) - u||^2."""
    tc = t.unsqueeze(-1)
    xt = (1.0 - (1.0 - smin) * tc) * x0 + tc * x1
    u = x1 - (1.0 - smin) * x0
    return ((model(t, xt) - u) ** 2).sum(-1).mean()


def train_epoch(model, opt, data, batch, per_epoch, smin=1e-4):
    """ref.py's train_epoch: a randperm of the data, then per step fresh x0 ~ N(0, I) and
    t ~ U(0, 1), the loss, zero_grad, backward, Adam step, loss.item()."""
    perm = torch.randperm(data.shape[0])
    loss = float("nan")
    for i in range(per_epoch):
        x1 = data[perm[i * batch:(i + 1) * batch]]
        x0 = torch.randn(batch, data.shape[1])
        t = torch.rand(batch)
        out = cfm_loss(model, t, x0, x1, smin)
        opt.zero_grad()
        out.backward()
        opt.step()
        loss = out.item()
    return loss


def flat_grad(model):
    return torch.cat([p.grad.flatten() for p in model.parameters()]).double().numpy()


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
    d = args.dim
    data = None
    trainer = None  # (model copy, Adam), made at the first cfm command
    reply({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_loaded()})
    gen = torch.Generator().manual_seed(10)
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] == "gen":
            n, batch, steps = int(cmd[1]), int(cmd[2]), int(cmd[3])
            z = torch.randn(n, d, generator=gen)
            start, cpu = time.perf_counter(), time.process_time()
            with torch.no_grad():
                for b in range(0, n, batch):
                    integrate(model, z[b:b + batch], steps)
            reply({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "points": n})
        elif cmd[0] == "check":
            src, dst, n, steps = cmd[1], cmd[2], int(cmd[3]), int(cmd[4])
            z = torch.from_numpy(np.fromfile(src, dtype="<f4").reshape(n, d))
            with torch.no_grad():
                integrate(model, z, steps).numpy().astype("<f4").tofile(dst)
            reply({"ok": True})
        elif cmd[0] == "data":
            data = torch.from_numpy(np.fromfile(cmd[1], dtype="<f4").reshape(int(cmd[2]), d))
            reply({"ok": True})
        elif cmd[0] == "cfm":
            epochs, batch, per_epoch = int(cmd[1]), int(cmd[2]), int(cmd[3])
            if data is None or data.shape[0] < batch * per_epoch:
                reply({"error": "cfm needs a training set of at least batch x per-epoch points (data command)"})
                continue
            if trainer is None:
                torch.manual_seed(11)
                tm = copy.deepcopy(model).train()
                trainer = (tm, torch.optim.Adam(tm.parameters(), lr=1e-3))
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(epochs):
                loss = train_epoch(trainer[0], trainer[1], data, batch, per_epoch)
            reply({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu,
                   "steps": epochs * per_epoch, "loss": loss})
        elif cmd[0] == "energy":
            reps, batch, steps, scale = int(cmd[1]), int(cmd[2]), int(cmd[3]), float(cmd[4])
            if data is None or data.shape[0] < batch:
                reply({"error": "energy needs a training set of at least batch points (data command)"})
                continue
            xb = data[:batch]
            start, cpu = time.perf_counter(), time.process_time()
            for _ in range(reps):
                e = energy_grad(model, xb, steps, scale)
            reply({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "energy": float(e)})
        elif cmd[0] == "cfmcheck":
            src, dst, n, smin = cmd[1], cmd[2], int(cmd[3]), float(cmd[4])
            a = torch.from_numpy(np.fromfile(src, dtype="<f4"))
            t, x0, x1 = a[:n], a[n:n + n * d].reshape(n, d), a[n + n * d:n + 2 * n * d].reshape(n, d)
            model.zero_grad()
            loss = cfm_loss(model, t, x0, x1, smin)
            loss.backward()
            np.concatenate([[float(loss)], flat_grad(model)]).astype("<f8").tofile(dst)
            reply({"ok": True})
        elif cmd[0] == "energycheck":
            src, dst, n, steps, scale = cmd[1], cmd[2], int(cmd[3]), int(cmd[4]), float(cmd[5])
            x = torch.from_numpy(np.fromfile(src, dtype="<f4").reshape(n, d))
            e = energy_grad(model, x, steps, scale)
            np.concatenate([[float(e)], flat_grad(model)]).astype("<f8").tofile(dst)
            reply({"ok": True})
        else:
            reply({"error": f"unknown command {cmd[0]!r}"})

if __name__ == "__main__":
    main()
