#!/usr/bin/python3
"""bench_torch.py: the PyTorch side of bench/bench_torch.c (make bench).

The C benchmark writes the initial weights (SPEC 3 exchange format, raw float32)
and one training batch into files, starts this script as a child on pipes and
asks it, line by line, for the same measurements it makes on its own model, so
that both sides run in turns on the same machine, from the same weights, on the
same batch. The architecture is tools/make_fixtures.py's DinamoML (imported, not
copied), float32, one thread (torch.set_num_threads(1)).

    /usr/bin/python3 tools/bench_torch.py WEIGHTS BATCH

First line out: "ready" or "skip REASON" (then exit 0: no torch here). Then one
reply line per command line in:
    info            "info TEXT"   the BLAS and threads torch runs with
    check S         "check L1 .. LS"  losses of S training steps, dropout 0
    step N          "step T1 .. TN"   seconds of N training steps, dropout on
    ubegin 0        "ubegin"  starts a good-run update: the initial weights, a
                    fresh AdamW (the stopping rule's best loss forgotten)
    urun N          "urun T K D"  up to N more steps of that update, stopping
                    when the loss has not improved on its best for `patience`
                    steps or at max_steps: seconds, steps taken, 1 when done
    infer N         "infer T1 .. TN"  seconds of N eval-mode inferences of the
                    batch's last context
    quit
Errors: "error TEXT" on one line, exit 1.

BATCH (little-endian): b"DNTB0001"; int32 n_bins d_model n_heads n_layers d_ff
context batch n_hist activation patience max_steps; float32 dropout lr beta1
beta2 eps weight_decay; float32 hist[n_hist*n_bins]; int32 tok_index[batch*
context]; float32 tok_time[batch*context]; float32 target[batch*n_bins].
"""
import os
import sys
import time


def reply(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def blas_info(torch, np):
    """Which BLAS torch's float32 matrix products reach, as this process sees it.

    Debian's torch is built with BLAS_INFO=generic: it calls libblas.so.3, which
    the alternatives system points at OpenBLAS (openblas-pthread), so
    OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS apply to it as to dinamo. oneDNN
    (MKL-DNN) is linked too but does not run float32 Linear layers here."""
    import ctypes
    parts = []
    try:
        ob = ctypes.CDLL("libopenblas.so.0")
        ob.openblas_get_corename.restype = ctypes.c_char_p
        ob.openblas_get_config.restype = ctypes.c_char_p
        parts.append("OpenBLAS core %s, %d thread(s) (%s)" % (
            ob.openblas_get_corename().decode(), ob.openblas_get_num_threads(),
            ob.openblas_get_config().decode()))
    except OSError as e:
        parts.append("libopenblas.so.0 not loadable (%s)" % e)
    cfg = torch.__config__.show()
    for key in ("BLAS_INFO", "USE_MKLDNN"):
        i = cfg.find(key + "=")
        if i >= 0:
            parts.append(cfg[i:].split(",")[0])
    cap = [l.strip().lstrip("- ") for l in cfg.splitlines() if "CPU capability" in l]
    parts += cap
    par = torch.__config__.parallel_info()
    threads = [l.strip() for l in par.splitlines() if "get_num_threads" in l]
    parts += threads
    try:
        npcfg = np.__config__.get_info("blas_opt_info")
        parts.append("numpy %s built on -l%s" % (np.__version__, " -l".join(
            sorted(set(npcfg.get("libraries", ["?"]))))))
    except Exception:  # numpy >= 1.26 has no get_info: the loaded list below still says
        pass
    parts.append("loaded: " + ", ".join(loaded_blas()))
    parts.append("OPENBLAS_CORETYPE=%s" % os.environ.get("OPENBLAS_CORETYPE", "unset"))
    return "torch %s; %s" % (torch.__version__, "; ".join(parts))


def loaded_blas():
    """The BLAS-like shared objects mapped into this process (after torch and
    numpy loaded), resolved through their symlinks: what actually runs."""
    found = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                base = os.path.basename(path)
                if any(k in base for k in ("blas", "lapack", "mkl", "dnnl", "blis")):
                    real = os.path.realpath(path)
                    if real not in found:
                        found.append(real)
    except OSError:
        return ["?"]
    return found


def read_batch(path, np):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:8] != b"DNTB0001":
        raise ValueError("%s: not a bench batch (magic %r)" % (path, raw[:8]))
    ints = np.frombuffer(raw, dtype="<i4", count=11, offset=8)
    floats = np.frombuffer(raw, dtype="<f4", count=6, offset=8 + 44)
    nb, d, heads, layers, ff, M, B, U, act, patience, max_steps = (int(v) for v in ints)
    off = 8 + 44 + 24
    sizes = [("hist", "<f4", U * nb), ("tok_index", "<i4", B * M),
             ("tok_time", "<f4", B * M), ("target", "<f4", B * nb)]
    arr = {}
    for name, dt, n in sizes:
        if off + 4 * n > len(raw):
            raise ValueError("%s: truncated in %s" % (path, name))
        arr[name] = np.frombuffer(raw, dtype=dt, count=n, offset=off)
        off += 4 * n
    if off != len(raw):
        raise ValueError("%s: %d bytes after the target" % (path, len(raw) - off))
    return dict(n_bins=nb, d=d, heads=heads, layers=layers, ff=ff, M=M, B=B, U=U,
                act="relu" if act == 0 else "gelu", patience=patience,
                max_steps=max_steps, dropout=float(floats[0]), lr=float(floats[1]),
                betas=(float(floats[2]), float(floats[3])), eps=float(floats[4]),
                wd=float(floats[5]), **arr)


class Side:
    """The PyTorch model, its optimizer and the batch as tensors."""

    def __init__(self, torch, np, fx, weights_path, batch_path):
        self.torch, self.fx = torch, fx
        c = self.c = read_batch(batch_path, np)
        w = np.fromfile(weights_path, dtype="<f4")
        self.w0 = torch.from_numpy(w.copy())
        hist = c["hist"].reshape(c["U"], c["n_bins"])
        idx = c["tok_index"].reshape(c["B"], c["M"])
        if idx.min() < 0 or idx.max() >= c["U"]:
            raise ValueError("tok_index outside [0, %d)" % c["U"])
        self.xs = torch.from_numpy(hist[idx].copy())          # [B, M, n_bins]
        self.ts = torch.from_numpy(c["tok_time"].reshape(c["B"], c["M"], 1).copy())
        self.xt = torch.from_numpy(c["target"].reshape(c["B"], c["n_bins"]).copy())
        self.model = self.new_model(c["dropout"])

    def new_model(self, dropout):
        c, fx, torch = self.c, self.fx, self.torch
        model = fx.DinamoML(c["n_bins"], c["d"], c["heads"], c["layers"], c["ff"],
                            c["act"], dropout)
        names = [n for n, _ in model.named_parameters()]
        if names != fx.spec_names(c["layers"]):
            raise ValueError("parameters not in the SPEC 3 exchange order: %s" % names)
        n = sum(p.numel() for p in model.parameters())
        if n != self.w0.numel():
            raise ValueError("weights file has %d floats, the model %d parameters"
                             % (self.w0.numel(), n))
        self.load(model)
        return model

    def load(self, model):
        off = 0
        with self.torch.no_grad():
            for p in model.parameters():
                p.copy_(self.w0[off:off + p.numel()].view_as(p))
                off += p.numel()

    def adamw(self, model):
        c = self.c
        return self.torch.optim.AdamW(model.parameters(), lr=c["lr"], betas=c["betas"],
                                      eps=c["eps"], weight_decay=c["wd"])

    def train_step(self, model, opt):
        opt.zero_grad()
        loss = self.fx.nll(*model(self.xs, self.ts), self.xt)
        loss.backward()
        opt.step()
        return loss.item()

    def check(self, steps):
        model = self.new_model(0.0)
        model.train()
        opt = self.adamw(model)
        return [self.train_step(model, opt) for _ in range(steps)]

    def steps(self, n):
        if not hasattr(self, "opt"):
            self.opt = self.adamw(self.model)
        self.model.train()
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            self.train_step(self.model, self.opt)
            out.append(time.perf_counter() - t0)
        return out

    def update_begin(self):
        """A good-run update as the tracker trains on a good run (SPEC 3), from
        the initial weights with a fresh optimizer, so every update starts
        alike; update_run takes its steps a few at a time."""
        self.load(self.model)
        self.model.train()
        self.opt = self.adamw(self.model)
        self.best, self.since, self.taken, self.done = float("inf"), 0, 0, False

    def update_run(self, n):
        c = self.c
        t0 = time.perf_counter()
        k = 0
        while k < n and not self.done:
            loss = self.train_step(self.model, self.opt)
            k += 1
            self.taken += 1
            if loss < self.best:
                self.best, self.since = loss, 0
            else:
                self.since += 1
            self.done = self.since >= c["patience"] or self.taken >= c["max_steps"]
        return [time.perf_counter() - t0, k, int(self.done)]

    def infer(self, n):
        torch = self.torch
        self.model.eval()
        xs, ts = self.xs[-1:].clone(), self.ts[-1:].clone()
        out = []
        with torch.no_grad():
            for _ in range(n):
                t0 = time.perf_counter()
                self.model(xs, ts)
                out.append(time.perf_counter() - t0)
        return out


def main():
    if len(sys.argv) != 3:
        reply("error usage: bench_torch.py WEIGHTS BATCH")
        return 1
    try:
        import numpy as np
        import torch
    except Exception as e:  # ImportError, or a broken install failing on load
        reply("skip /usr/bin/python3 cannot import torch (%s: %s); Debian's "
              "python3-torch has it (apt-get install python3-torch, about 1 GB)"
              % (type(e).__name__, e))
        return 0
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    sys.dont_write_bytecode = True  # no __pycache__ in the source tree
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        import make_fixtures as fx
        torch.manual_seed(0)
        side = Side(torch, np, fx, sys.argv[1], sys.argv[2])
    except Exception as e:
        reply("error %s: %s" % (type(e).__name__, e))
        return 1
    reply("ready")
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], [int(a) for a in words[1:]]
        try:
            if cmd == "quit":
                return 0
            elif cmd == "info":
                reply("info " + blas_info(torch, np))
            elif cmd == "check":
                reply("check " + " ".join("%.9g" % v for v in side.check(*args)))
            elif cmd == "step":
                reply("step " + " ".join("%.9g" % v for v in side.steps(*args)))
            elif cmd == "ubegin":
                side.update_begin()
                reply("ubegin")
            elif cmd == "urun":
                reply("urun " + " ".join("%.9g" % v for v in side.update_run(*args)))
            elif cmd == "infer":
                reply("infer " + " ".join("%.9g" % v for v in side.infer(*args)))
            else:
                reply("error unknown command %r" % cmd)
                return 1
        except Exception as e:
            reply("error %s: %s" % (type(e).__name__, e))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
