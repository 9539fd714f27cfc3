#!/usr/bin/python3
"""make_fixtures.py: PyTorch reference fixtures for the DINAMO-ML C model.

Builds the SPEC 3 architecture in PyTorch (x_emb / t_emb MLPs, a
TransformerEncoder of post-norm batch_first layers, mean pooling, softmax and
softplus heads), runs a forward, the Gaussian NLL loss, a backward and 3 AdamW
steps with dropout off, and writes everything the C tests compare against into
one small binary file per configuration:

    tests/fixtures/ml_<name>.bin

File format (little-endian): magic b"DNFX0001", then records until EOF:
    u32 name_len, name (ASCII), u32 type (0 float32, 1 int32, 2 float64),
    u64 count, count values.
(type 3 is raw bytes). Records: config (int32: n_bins d_model n_heads n_layers
d_ff context batch n_hist activation), params (float32, SPEC 3 exchange order),
hist, tok_index, tok_time, target (the batch as the C API takes it), mu, sigma
(float64), loss (float64), grads (float32), params_adamw3 (float32: after 3
AdamW steps on the same batch), names (bytes: "name:count\\n" per tensor).

The parameters are PyTorch's default init plus a small random perturbation (so
LayerNorm weights, zero biases and the like are all distinct and a layout error
shows), stored as float32; the computation runs in float64 from those float32
values, so the fixture is the exact answer for the C model's float32 inputs.
Run with /usr/bin/python3 (Debian's python3-torch): make fixtures.
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn


class DinamoML(nn.Module):
    def __init__(self, n_bins, d, heads, layers, ff, act, dropout):
        super().__init__()
        self.x_emb = nn.Sequential(nn.Linear(n_bins, d), nn.LayerNorm(d), nn.ReLU(),
                                   nn.Linear(d, d))
        self.t_emb = nn.Sequential(nn.Linear(1, d), nn.LayerNorm(d), nn.ReLU(),
                                   nn.Linear(d, d))
        layer = nn.TransformerEncoderLayer(d, heads, dim_feedforward=ff,
                                           dropout=dropout, activation=act,
                                           batch_first=True, norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.mu_out = nn.Sequential(nn.Linear(d, n_bins), nn.LayerNorm(n_bins),
                                    nn.ReLU(), nn.Linear(n_bins, n_bins),
                                    nn.Softmax(dim=-1))
        self.sigma_out = nn.Sequential(nn.Linear(d, n_bins), nn.LayerNorm(n_bins),
                                       nn.ReLU(), nn.Linear(n_bins, n_bins),
                                       nn.Softplus(beta=1, threshold=20))

    def forward(self, xs, ts):
        # xs [B, M, n_bins] context histograms, ts [B, M, 1] relative times
        h = self.x_emb(xs) + self.t_emb(ts)
        h = self.encoder(h)
        pooled = h.mean(dim=1)
        return self.mu_out(pooled), self.sigma_out(pooled)


def spec_names(layers):
    names = []
    for m in ("x_emb", "t_emb"):
        for i in (0, 1, 3):
            names += [f"{m}.{i}.weight", f"{m}.{i}.bias"]
    for l in range(layers):
        p = f"encoder.layers.{l}."
        names += [p + "self_attn.in_proj_weight", p + "self_attn.in_proj_bias",
                  p + "self_attn.out_proj.weight", p + "self_attn.out_proj.bias",
                  p + "linear1.weight", p + "linear1.bias",
                  p + "linear2.weight", p + "linear2.bias",
                  p + "norm1.weight", p + "norm1.bias",
                  p + "norm2.weight", p + "norm2.bias"]
    for m in ("mu_out", "sigma_out"):
        for i in (0, 1, 3):
            names += [f"{m}.{i}.weight", f"{m}.{i}.bias"]
    return names


def nll(mu, sigma, xt):
    v = torch.clamp(sigma * sigma, min=1e-9)
    return (0.5 * (torch.log(v) + (xt - mu) ** 2 / v)).mean()


def make(name, outdir, n_bins, d, heads, layers, ff, M, B, act, seed):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = DinamoML(n_bins, d, heads, layers, ff, act, 0.0)
    got = [n for n, _ in model.named_parameters()]
    assert got == spec_names(layers), got
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    params32 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).float()
    model = model.double()

    # good runs with gaps in their run index; the first context is padded
    R = B + M - 2
    run_t = np.cumsum(rng.integers(1, 4, size=R))
    hist = rng.gamma(2.0, 1.0, size=(R, n_bins))
    hist /= hist.sum(axis=1, keepdims=True)
    hist = np.vstack([hist, np.full((1, n_bins), 0.01)]).astype(np.float32)
    pad = R
    tok_index = np.zeros((B, M), dtype=np.int32)
    tok_time = np.zeros((B, M), dtype=np.float32)
    target = np.zeros((B, n_bins), dtype=np.float32)
    for b in range(B):
        r = R - B + b                 # the predicted run
        target[b] = hist[r]
        ctx = list(range(max(0, r - M), r))
        ctx = [pad] * (M - len(ctx)) + ctx
        tok_index[b] = ctx
        tok_time[b] = [-100.0 if c == pad else float(run_t[c] - run_t[r]) for c in ctx]
    assert (tok_index == pad).any(), "fixture must exercise padding"

    xs = torch.tensor(hist[tok_index], dtype=torch.float64)
    ts = torch.tensor(tok_time[..., None], dtype=torch.float64)
    xt = torch.tensor(target, dtype=torch.float64)
    model.train()
    mu, sigma = model(xs, ts)
    loss = nll(mu, sigma, xt)
    model.zero_grad()
    loss.backward()
    grads = torch.cat([p.grad.reshape(-1) for p in model.parameters()]).float()

    opt = torch.optim.AdamW(model.parameters(), lr=5e-4, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=1e-4)
    for _ in range(3):
        opt.zero_grad()
        l = nll(*model(xs, ts), xt)
        l.backward()
        opt.step()
    params3 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).float()

    names = "".join(f"{n}:{p.numel()}\n" for n, p in model.named_parameters())
    recs = [
        ("config", 1, np.array([n_bins, d, heads, layers, ff, M, B, R + 1,
                                0 if act == "relu" else 1], dtype="<i4")),
        ("params", 0, params32.numpy().astype("<f4")),
        ("hist", 0, hist.reshape(-1).astype("<f4")),
        ("tok_index", 1, tok_index.reshape(-1).astype("<i4")),
        ("tok_time", 0, tok_time.reshape(-1).astype("<f4")),
        ("target", 0, target.reshape(-1).astype("<f4")),
        ("mu", 2, mu.detach().numpy().reshape(-1).astype("<f8")),
        ("sigma", 2, sigma.detach().numpy().reshape(-1).astype("<f8")),
        ("loss", 2, np.array([loss.item()], dtype="<f8")),
        ("grads", 0, grads.numpy().astype("<f4")),
        ("params_adamw3", 0, params3.numpy().astype("<f4")),
        ("names", 3, np.frombuffer(names.encode(), dtype=np.uint8)),
    ]
    path = os.path.join(outdir, f"ml_{name}.bin")
    with open(path, "wb") as f:
        f.write(b"DNFX0001")
        for rname, typ, arr in recs:
            nb = rname.encode()
            f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<IQ", typ, arr.size))
            f.write(arr.tobytes())
    print(f"{path}: {params32.numel()} params, loss {loss.item():.6f}, "
          f"{os.path.getsize(path)} bytes")


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    make("small", outdir, n_bins=6, d=8, heads=2, layers=2, ff=12, M=4, B=3,
         act="relu", seed=11)
    make("small_gelu", outdir, n_bins=6, d=8, heads=2, layers=2, ff=12, M=4, B=3,
         act="gelu", seed=12)
    make("mid", outdir, n_bins=10, d=12, heads=3, layers=2, ff=16, M=5, B=4,
         act="relu", seed=13)


if __name__ == "__main__":
    main()
