#!/usr/bin/env python3
"""strider next to PyTorch on the same machine: the same DCGAN conv layers (every pass) and the same
training step, timed in PyTorch here, strider's times read from its Google Benchmark JSON; prints
ONE Markdown table per device with both times and the ratio strider / PyTorch (< 1: strider faster).

    python3 bench/pytorch_side_by_side.py --device cpu --conv-json conv_cpu.json \
        --train-json train_cpu.json [--threads 2] [--reps 5] [--out-md side_by_side.md]
    python3 bench/pytorch_side_by_side.py --device cuda --conv-json conv_gpu.json --train-json train_gpu.json

Layers and step are bench/dcgan_shapes.cpp and bench/train_step_bench.cpp written in PyTorch:
configuration A 64x64 RGB batch 128, B 32x32 grey batch 64, nz 100, ngf = ndf = 64, no conv bias,
conv weights N(0, 0.02), batch-norm weight N(1, 0.02), Adam lr 2e-4 betas (0.5, 0.999), BCELoss.
Passes: forward F.conv2d / F.conv_transpose2d; backward-data and backward-weight
aten.convolution_backward with output_mask (True, False, False) / (False, True, False) (what
autograd calls). Timing as strider's: best over --reps repetitions (fewer for passes slower than
--max-pass-seconds in all) of the mean of enough calls to fill --min-time, after one warm-up call; CPU by the clock with torch.set_num_threads(--threads); GPU by CUDA events with
cudnn.benchmark on, in FP32 (allow_tf32 off) and TF32 (on), rotating through enough input sets to
exceed twice the L2 cache. Peak RSS: the peak resident memory (VmHWM; getrusage's ru_maxrss
would include the parent's peak, carried across fork + exec) of a child process that imports
torch, builds the model and runs 2 steps (also shown: a child that only imports torch).
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_table  # noqa: E402

CONFIGS = {
    "A": dict(batch=128, image=64, channels=3, nz=100, ngf=64, ndf=64),
    "B": dict(batch=64, image=32, channels=1, nz=100, ngf=64, ndf=64),
}
PASSES = ["fwd", "bwd_data", "bwd_weight"]


def conv_layers(name):
    """The same list as bench/dcgan_shapes.cpp: dicts with N, C, H (input), K, transposed, s, p."""
    c = CONFIGS[name]
    d = int(math.log2(c["image"])) - 2
    out = []
    ch, size = c["ngf"] << (d - 1), 4
    out.append(dict(config=name, name="G.1", N=c["batch"], C=c["nz"], H=1, K=ch, transposed=True, s=1, p=0))
    for i in range(d):
        nxt = c["channels"] if i + 1 == d else ch // 2
        out.append(dict(config=name, name=f"G.{i + 2}", N=c["batch"], C=ch, H=size, K=nxt, transposed=True, s=2, p=1))
        ch, size = nxt, size * 2
    ch, size = c["channels"], c["image"]
    for i in range(d):
        nxt = c["ndf"] << i
        out.append(dict(config=name, name=f"D.{i + 1}", N=c["batch"], C=ch, H=size, K=nxt, transposed=False, s=2, p=1))
        ch, size = nxt, size // 2
    out.append(dict(config=name, name=f"D.{d + 1}", N=c["batch"], C=ch, H=size, K=1, transposed=False, s=1, p=0))
    return out


def out_size(layer):
    h, s, p = layer["H"], layer["s"], layer["p"]
    return (h - 1) * s - 2 * p + 4 if layer["transposed"] else (h + 2 * p - 4) // s + 1


def describe(layer):
    kind = "ConvT" if layer["transposed"] else "Conv"
    return f"{kind}({layer['C']}->{layer['K']}, k4 s{layer['s']} p{layer['p']}) {layer['H']}->{out_size(layer)}"


# ---- timing ----------------------------------------------------------------------------------------

def sync(device):
    import torch
    if device == "cuda":
        torch.cuda.synchronize()


def time_calls(fn, device, reps, min_time, max_seconds):
    """[(wall seconds, process CPU seconds) per call] for each repetition, a repetition being the
    mean of k calls, k filling min_time; fewer repetitions (at least one) when they would take more
    than max_seconds in all. GPU: wall time from CUDA events, CPU time None."""
    import torch
    fn()  # warm-up
    sync(device)
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    sync(device)
    single, single_cpu = max(time.perf_counter() - t0, 1e-7), time.process_time() - c0
    k = max(1, math.ceil(min_time / single))
    reps = max(1, min(reps, int(max_seconds / (single * k))))
    times = [(single, single_cpu if device == "cpu" else None)] if k == 1 else []
    while len(times) < reps:
        if device == "cuda":
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(k):
                fn()
            stop.record()
            stop.synchronize()
            times.append((start.elapsed_time(stop) / 1e3 / k, None))
        else:
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(k):
                fn()
            times.append(((time.perf_counter() - t0) / k, (time.process_time() - c0) / k))
    return times


def conv_pass_fn(layer, pass_name, device):
    """A callable running one pass, cycling over enough input sets (GPU: > 2x L2) per call batch;
    returns (fn, calls_per_fn)."""
    import torch
    import torch.nn.functional as F
    N, C, H, K, s, p, tr = layer["N"], layer["C"], layer["H"], layer["K"], layer["s"], layer["p"], layer["transposed"]
    P = out_size(layer)
    wshape = (C, K, 4, 4) if tr else (K, C, 4, 4)
    xshape, yshape = (N, C, H, H), (N, K, P, P)
    set_bytes = 4 * (math.prod(xshape) + math.prod(wshape) + math.prod(yshape))
    nsets = 1
    if device == "cuda":
        l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 50 << 20)
        nsets = min(64, max(2, math.ceil(2 * l2 / set_bytes) + 1))
    g = torch.Generator(device=device).manual_seed(1)

    def rnd(shape):  # uniform [-1, 1): never zeros
        return torch.rand(shape, generator=g, device=device) * 2 - 1

    sets = [(rnd(xshape), rnd(wshape), rnd(yshape)) for _ in range(nsets)]
    aten = torch.ops.aten.convolution_backward
    mask = [True, False, False] if pass_name == "bwd_data" else [False, True, False]

    def one(x, w, y):
        if pass_name == "fwd":
            return F.conv_transpose2d(x, w, stride=s, padding=p) if tr else F.conv2d(x, w, stride=s, padding=p)
        # grad_output is the op's output gradient: y-shaped for both ops.
        return aten(y, x, w, None, [s, s], [p, p], [1, 1], tr, [0, 0], 1, mask)

    def fn():
        for x, w, y in sets:
            one(x, w, y)

    return fn, nsets


# ---- the training step -----------------------------------------------------------------------------

def build_dcgan(cfg, device):
    import torch
    import torch.nn as nn
    layers = conv_layers(cfg)
    g_layers, d_layers = [lay for lay in layers if lay["name"][0] == "G"], [lay for lay in layers if lay["name"][0] == "D"]
    g_mods, d_mods = [], []
    for i, lay in enumerate(g_layers):
        g_mods.append(nn.ConvTranspose2d(lay["C"], lay["K"], 4, lay["s"], lay["p"], bias=False))
        if i + 1 < len(g_layers):
            g_mods += [nn.BatchNorm2d(lay["K"]), nn.ReLU(True)]
        else:
            g_mods.append(nn.Tanh())
    for i, lay in enumerate(d_layers):
        d_mods.append(nn.Conv2d(lay["C"], lay["K"], 4, lay["s"], lay["p"], bias=False))
        if i + 1 < len(d_layers):
            if i > 0:
                d_mods.append(nn.BatchNorm2d(lay["K"]))
            d_mods.append(nn.LeakyReLU(0.2, inplace=True))
        else:
            d_mods.append(nn.Sigmoid())
    netG, netD = nn.Sequential(*g_mods).to(device), nn.Sequential(*d_mods).to(device)
    for m in list(netG.modules()) + list(netD.modules()):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return netG, netD


def make_step(cfg, device):
    import torch
    import torch.nn as nn
    c = CONFIGS[cfg]
    torch.manual_seed(1234)
    netG, netD = build_dcgan(cfg, device)
    crit = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand(c["batch"], c["channels"], c["image"], c["image"], device=device) * 2 - 1
    ones, zeros = torch.ones(c["batch"], device=device), torch.zeros(c["batch"], device=device)

    def step():
        netD.zero_grad()
        crit(netD(real).view(-1), ones).backward()
        noise = torch.randn(c["batch"], c["nz"], 1, 1, device=device)
        fake = netG(noise)
        crit(netD(fake.detach()).view(-1), zeros).backward()
        optD.step()
        netG.zero_grad()
        crit(netD(fake).view(-1), ones).backward()
        optG.step()

    return step


def time_train(cfg, device, reps):
    step = make_step(cfg, device)
    step()  # warm-up (cudnn.benchmark search)
    sync(device)
    times = []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        sync(device)
        times.append((time.perf_counter() - t0, time.process_time() - c0 if device == "cpu" else None))
    return times


def peak_rss_mib():
    """VmHWM of this process; ru_maxrss would carry the parent's peak across fork + exec."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_rss(cfg, device, threads, tf32, steps):
    cmd = [sys.executable, os.path.abspath(__file__), "--rss-only", cfg, "--device", device, "--threads",
           str(threads), "--steps", str(steps)] + (["--tf32"] if tf32 else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
        for line in out.splitlines():
            if line.startswith("peak_rss_mib "):
                return float(line.split()[1])
    except (subprocess.SubprocessError, OSError, ValueError):
        pass
    return None


def setup_torch(device, threads, tf32):
    import torch
    if device == "cpu":
        torch.set_num_threads(threads)
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
    return torch


# ---- the table -------------------------------------------------------------------------------------

def best(ts, calls=1):
    """(best wall ms, best CPU ms) per call over repetitions of (wall s, CPU s)."""
    walls = [w for w, _ in ts]
    cpus = [c for _, c in ts if c is not None]
    return (min(walls) * 1e3 / calls if walls else None, min(cpus) * 1e3 / calls if cpus else None)


def ratio(a, b):
    return a / b if a is not None and b else None


def cpu_table(cfgs, py, strider, rss):
    f = bench_table.fmt
    rows = ["| config | layer | pass | strider ms | PyTorch ms | strider / PyTorch | strider CPU ms | "
            "PyTorch CPU ms | strider / PyTorch (CPU) |", "|---|---|---|---|---|---|---|---|---|"]

    def row(cfg, what, p, s, t):
        sw, sc = s.get("best_ms"), s.get("min_cpu_ms")
        tw, tc = t if t else (None, None)
        return (f"| {cfg} | {what} | {p} | {f(sw)} | {f(tw)} | {f(ratio(sw, tw))} | {f(sc)} | {f(tc)} | "
                f"{f(ratio(sc, tc))} |")

    for cfg in cfgs:
        for lay in conv_layers(cfg):
            for p in PASSES:
                key = f"conv/{cfg}/{lay['name']}/{p}"
                rows.append(row(cfg, f"{lay['name']} {describe(lay)}", p, strider.get(key + "/cpu", {}), py.get(key)))
    for cfg in cfgs:
        s = strider.get(f"train/{cfg}/cpu", {})
        t = py.get(f"train/{cfg}")
        c = CONFIGS[cfg]
        rows.append(row(cfg, "**training step** (ms/step)", "G+D", s, t))
        s_ips = c["batch"] / s["best_ms"] * 1e3 if s.get("best_ms") else None
        t_ips = c["batch"] / t[0] * 1e3 if t and t[0] else None
        rows.append(f"| {cfg} | training step (images/s) | | {f(s_ips)} | {f(t_ips)} | {f(ratio(s_ips, t_ips))} | | | |")
        s_rss = s.get("counters", {}).get("peak_rss_MiB")
        t_rss = rss.get(cfg)
        rows.append(f"| {cfg} | peak RSS of a step-only process (MiB) | | {f(s_rss)} | {f(t_rss)} "
                    f"(import torch alone: {f(rss.get('import'))}) | {f(ratio(s_rss, t_rss))} | | | |")
    return "\n".join(rows)


def gpu_table(cfgs, py, strider, rss):
    f = bench_table.fmt
    head = ["config", "layer", "pass", "strider cuda-igemm", "strider cuda-direct", "strider cudnn",
            "cuDNN fp32 (direct)", "PyTorch fp32", "PyTorch tf32", "best strider native / PyTorch fp32",
            "strider cudnn / PyTorch fp32"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def g(name):
        return strider.get(name, {}).get("best_ms")

    for cfg in cfgs:
        for lay in conv_layers(cfg):
            for p in PASSES:
                key = f"conv/{cfg}/{lay['name']}/{p}"
                ig, di, cd, cf = g(key + "/cuda-igemm"), g(key + "/cuda-direct"), g(key + "/cudnn"), g(key + "/cudnn-fp32")
                native = min([v for v in (ig, di) if v is not None], default=None)
                t32, t_tf = (py.get(key + "/fp32") or (None,))[0], (py.get(key + "/tf32") or (None,))[0]
                rows.append(f"| {cfg} | {lay['name']} {describe(lay)} | {p} | {f(ig)} | {f(di)} | {f(cd)} | {f(cf)} | "
                            f"{f(t32)} | {f(t_tf)} | {f(ratio(native, t32))} | {f(ratio(cd, t32))} |")
    for cfg in cfgs:
        cu, cd = g(f"train/{cfg}/cuda"), g(f"train/{cfg}/cudnn")
        t32, t_tf = (py.get(f"train/{cfg}/fp32") or (None,))[0], (py.get(f"train/{cfg}/tf32") or (None,))[0]
        rows.append(f"| {cfg} | **training step** (ms/step) | G+D | {f(cu)} | | {f(cd)} | | {f(t32)} | {f(t_tf)} | "
                    f"{f(ratio(cu, t32))} | {f(ratio(cd, t32))} |")
        s_rss = strider.get(f"train/{cfg}/cuda", {}).get("counters", {}).get("peak_rss_MiB")
        rows.append(f"| {cfg} | peak host RSS, step-only process (MiB) | | {f(s_rss)} | | | | {f(rss.get(cfg))} | | "
                    f"{f(ratio(s_rss, rss.get(cfg)))} | |")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (default: strider's cpu_threads)")
    ap.add_argument("--conv-json", action="append", default=[], help="strider conv_bench JSON (repeatable)")
    ap.add_argument("--train-json", action="append", default=[], help="strider train_step_bench JSON")
    ap.add_argument("--configs", default="A,B")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--train-reps", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.05)
    ap.add_argument("--max-pass-seconds", type=float, default=20.0,
                    help="fewer repetitions for a pass slower than this in all (PyTorch 1.13's CPU "
                         "transposed-conv backward takes seconds)")
    ap.add_argument("--skip-conv", action="store_true")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--out-md", help="write the table (with a header) here")
    ap.add_argument("--dump-json", metavar="FILE",
                    help="write this run's PyTorch times to FILE (JSON) and print no table: one round of an "
                         "interleaved run (bench/side_by_side.sh --rounds)")
    ap.add_argument("--torch-json", action="append", default=[], metavar="FILE",
                    help="PyTorch times of earlier rounds (--dump-json; repeatable): the table takes the best "
                         "of them and of this run, per pass and side")
    # child mode
    ap.add_argument("--rss-only", metavar="CONFIG", help=argparse.SUPPRESS)
    ap.add_argument("--steps", type=int, default=2, help=argparse.SUPPRESS)
    ap.add_argument("--tf32", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.rss_only:
        torch = setup_torch(args.device, max(args.threads, 1), args.tf32)
        if args.steps > 0:
            step = make_step(args.rss_only, args.device)
            for _ in range(args.steps):
                step()
            sync(args.device)
        print(f"peak_rss_mib {peak_rss_mib():.1f}")
        return 0

    strider, context = bench_table.load_results(args.conv_json + args.train_json)
    threads = args.threads or int(context.get("cpu_threads", os.cpu_count() or 1))
    cfgs = [c for c in args.configs.split(",") if c]
    torch = setup_torch(args.device, threads, False)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("pytorch_side_by_side: --device cuda but torch.cuda.is_available() is False: skipped")
        return 0
    py, rss = {}, {}
    modes = [("", False)] if args.device == "cpu" else [("/fp32", False), ("/tf32", True)]
    for suffix, tf32 in modes:
        setup_torch(args.device, threads, tf32)
        for cfg in cfgs:
            if not args.skip_conv:
                for lay in conv_layers(cfg):
                    for p in PASSES:
                        fn, calls = conv_pass_fn(lay, p, args.device)
                        ts = time_calls(fn, args.device, args.reps, args.min_time, args.max_pass_seconds)
                        py[f"conv/{cfg}/{lay['name']}/{p}{suffix}"] = best(ts, calls)
                        print(f"  torch {args.device}{suffix} conv/{cfg}/{lay['name']}/{p}: "
                              f"{best(ts, calls)} ms (wall, CPU)", file=sys.stderr)
            if not args.skip_train:
                py[f"train/{cfg}{suffix}"] = best(time_train(cfg, args.device, args.train_reps))
                print(f"  torch {args.device}{suffix} train/{cfg}: {py[f'train/{cfg}{suffix}']} ms (wall, CPU)",
                      file=sys.stderr)
    if args.dump_json:
        with open(args.dump_json, "w") as f:
            json.dump(py, f, indent=1)
        return 0
    for path in args.torch_json:  # best of the rounds, wall and CPU time each
        with open(path) as f:
            for key, (wall, cpu) in json.load(f).items():
                old_wall, old_cpu = py.get(key, (None, None))
                py[key] = (min(x for x in (wall, old_wall) if x is not None) if wall or old_wall else None,
                           min(x for x in (cpu, old_cpu) if x is not None) if cpu or old_cpu else None)
    if not args.skip_train:
        for cfg in cfgs:
            rss[cfg] = child_rss(cfg, args.device, threads, False, 2)
        rss["import"] = child_rss(cfgs[0], args.device, threads, False, 0)

    table = (cpu_table if args.device == "cpu" else gpu_table)(cfgs, py, strider, rss)
    header = [f"### strider vs PyTorch {torch.__version__} on {args.device}",
              "",
              f"- machine: {context.get('cpu_model', '?')}, strider {context.get('cpu_threads', '?')} threads, "
              f"PyTorch {threads} threads" + (f"; GPU {torch.cuda.get_device_name(0)}" if args.device == "cuda" else ""),
              f"- load average when strider ran: {context.get('load_avg', '?')}; when PyTorch finished: "
              f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}",
              "- times: best of the repetitions (strider: Google Benchmark repetitions; PyTorch: "
              f"{args.reps} conv / {args.train_reps} step repetitions), ms per call; ratio < 1: strider faster"
              + (f"; conv passes: best over {len(args.torch_json) + (0 if args.skip_conv else 1)} interleaved "
                 "rounds (strider's conv_bench, then PyTorch's passes, per round)" if args.torch_json else ""),
              "- CPU ms: process CPU time per call, all threads (the work done; other load on the machine "
              "inflates it far less than the wall time)" if args.device == "cpu" else "- GPU times: CUDA events",
              ""]
    text = "\n".join(header) + table + "\n"
    print(text)
    if args.out_md:
        with open(args.out_md, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
