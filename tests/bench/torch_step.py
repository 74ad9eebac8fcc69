#!/usr/bin/env python3
"""tests/bench/torch_step.py -- the PyTorch (CPU or GPU, eager) twin of
tests/bench/nn_step.lua: the same lattice transformer (pre-LayerNorm, periodic
RoPE, GELU MLP, log-softmax over real states), one MDNS training step (WDCE,
B=128, R=8, Adam lr 1e-4 + EMA) and drawing 128 samples one site at a time,
for Ising 8x8 and 16x16; then drawing with the paper-scale recipes' CPU
network (embed 32, depth 1, heads 4).  Optional: never part of `make test`; needs torch.

    python3 tests/bench/torch_step.py [--sizes 8,16] [--steps 2] [--samples 128]
                                      [--device cpu|cuda] [--threads N]
                                      [--tempera bin/tempera]

With --tempera, each size is also run through tests/bench/nn_step.lua
(same steps, samples and thread count: OMP_NUM_THREADS) right after the
PyTorch run, and the tempera/PyTorch speed ratios are printed: ratios from
one run on a shared machine mean more than timings from two.
PyTorch gets its fastest plain settings: fused Adam, foreach EMA, SDPA.
tempera sets OMP_WAIT_POLICY=PASSIVE unless it is set; PyTorch's OpenMP
reads it when torch is imported, so for a like-for-like comparison set it
in this script's environment (OMP_WAIT_POLICY=PASSIVE python3 ...).  The
ratio depends strongly on it when other jobs share the cores.
"""
import argparse
import math
import os
import re
import subprocess
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def rope_table(L, dims, hd):
    """cos/sin (T, hd/2) of angle 2*pi*j*u_axis, pairs split over axes
    (earlier axes take the remainder), harmonics j = 1, 2, ..."""
    npairs = hd // 2
    coords = torch.stack(torch.meshgrid(*[torch.arange(L)] * dims, indexing="ij"), -1).reshape(-1, dims) / L
    angles = []
    base, rem = divmod(npairs, dims)
    for a in range(dims):
        cnt = base + (1 if a < rem else 0)
        for j in range(1, cnt + 1):
            angles.append(2 * math.pi * j * coords[:, a])
    ang = torch.stack(angles, -1)
    return torch.cos(ang), torch.sin(ang)


def rotate(x, cos, sin):  # x (B, H, T, hd), pairs (2p, 2p+1)
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), -1).flatten(-2)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.ln1 = nn.LayerNorm(d, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x, cos, sin):
        B, T, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        y = F.scaled_dot_product_attention(q, k, v)
        x = x + self.o(y.transpose(1, 2).reshape(B, T, d))
        return x + self.mlp(self.ln2(x))


class Net(nn.Module):
    def __init__(self, L, q=2, d=64, depth=4, heads=4):
        super().__init__()
        self.q = q
        self.wte = nn.Embedding(q + 1, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(depth))
        self.lnf = nn.LayerNorm(d, eps=1e-6)
        self.head = nn.Linear(d, q)
        cos, sin = rope_table(L, 2, d // heads)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)

    def forward(self, x):
        h = self.wte(x)
        for b in self.blocks:
            h = b(h, self.cos, self.sin)
        return F.log_softmax(self.head(self.lnf(h)), -1)


def wdce_step(net, ema, opt, x, log_rnd, R, n):
    B, T = x.shape
    w = torch.softmax(log_rnd, 0)
    xr = x.repeat_interleave(R, 0)
    lam = torch.rand(B * R, 1, device=x.device).clamp_min(1e-7)
    mask = torch.rand(B * R, T, device=x.device) < lam
    inp = torch.where(mask, torch.full_like(xr, net.q), xr)
    logp = net(inp).gather(-1, xr.unsqueeze(-1)).squeeze(-1)
    ll = (logp * mask).sum(-1)
    loss = -(w.repeat_interleave(R) * (1 / lam.squeeze(-1)).clamp_max(1e5) * ll).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    decay = min(0.9999, (1 + n) / (10 + n))
    with torch.no_grad():
        pe, p = list(ema.parameters()), list(net.parameters())
        torch._foreach_mul_(pe, decay)
        torch._foreach_add_(pe, p, alpha=1 - decay)
    return loss.item()


def make_adam(params):
    try:  # fused CPU Adam exists from torch 2.4
        return torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.Adam(params, lr=1e-4, betas=(0.9, 0.999), eps=1e-8)


def run_tempera(exe, L, a):
    """tokens/s of (train, sample) from nn_step.lua for one size"""
    env = dict(os.environ, OMP_NUM_THREADS=str(torch.get_num_threads()))
    cmd = [exe, "run", os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn_step.lua"),
           "--set", f"sizes={L}", "--set", f"steps={a.steps}", "--set", f"samples={a.samples}",
           "--set", f"backend={'cuda' if a.device.startswith('cuda') else 'cpu'}"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    rate = {}
    for line in out.splitlines():
        print("  tempera: " + line)
        m = re.search(r"(train step|sample 1blk|sample) .*?([0-9.]+) s +([0-9]+) tokens/s", line)
        if m:
            rate[m.group(1)] = float(m.group(3))
    return rate.get("train step"), rate.get("sample"), rate.get("sample 1blk")


@torch.no_grad()
def sample(net, n, T):
    dev = net.cos.device
    x = torch.full((n, T), net.q, dtype=torch.long, device=dev)
    order = torch.argsort(torch.rand(n, T, device=dev), -1)
    logq = torch.zeros(n, device=dev)
    rows = torch.arange(n, device=dev)
    for step in range(T):
        site = order[:, step]
        lp = net(x)[rows, site]
        tok = torch.multinomial(lp.exp(), 1).squeeze(-1)
        x[rows, site] = tok
        logq += lp[rows, tok]
    return x, logq


def time_sample(net, n, T, sync, label):
    """draw n samples, print the label, the time and tokens/s; return tokens/s"""
    t0 = time.perf_counter()
    sample(net, n, T)
    sync()
    dt = time.perf_counter() - t0
    print(f"{label}     {dt:8.3f} s  {n * T / dt:10.0f} tokens/s", flush=True)
    return n * T / dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8,16")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--samples", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--tempera", default="", help="path to bin/tempera: also run nn_step.lua, print ratios")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    print(f"# torch {torch.__version__} on {dev}, {torch.get_num_threads()} threads")
    for L in map(int, a.sizes.split(",")):
        T, B, R = L * L, 128, 8
        net = Net(L).to(dev)
        ema = Net(L).to(dev)
        ema.load_state_dict(net.state_dict())
        opt = make_adam(net.parameters())
        x = torch.randint(0, 2, (B, T), device=dev)
        lr = torch.rand(B, device=dev)
        wdce_step(net, ema, opt, x, lr, R, 0)
        sync()
        t0 = time.perf_counter()
        for s in range(a.steps):
            wdce_step(net, ema, opt, x, lr, R, s + 1)
        sync()
        dt = (time.perf_counter() - t0) / a.steps
        train = B * R * T / dt
        print(f"ising {L:2d}x{L:<2d} train step  B={B} R={R}: {dt:8.3f} s  {train:10.0f} tokens/s")
        samp = time_sample(ema, a.samples, T, sync, f"ising {L:2d}x{L:<2d} sample     n={a.samples}:")
        # the paper-scale recipes' CPU network (embed 32, depth 1): tempera
        # samples it from its one-block table, PyTorch eager runs the net
        net1 = Net(L, d=32, depth=1, heads=4).to(dev)
        sample(net1, 8, T)   # warm-up
        samp1 = time_sample(net1, a.samples, T, sync, f"ising {L:2d}x{L:<2d} sample 1blk n={a.samples}:")
        if a.tempera:
            tt, ts, ts1 = run_tempera(a.tempera, L, a)
            if tt and ts:
                print(f"ratio tempera/torch ising {L}x{L}: train {tt / train:.2f}x  sample {ts / samp:.2f}x"
                      + (f"  sample 1blk {ts1 / samp1:.2f}x" if ts1 else ""), flush=True)


if __name__ == "__main__":
    main()
