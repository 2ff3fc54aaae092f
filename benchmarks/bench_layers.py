"""Forward+backward time of PartialConv2d and CFSBlock against nn.Conv2d of the same shape.

    python benchmarks/bench_layers.py                 # CPU (and CUDA when present)
    python benchmarks/bench_layers.py --device cuda --dtype bf16 --channels-last
    python benchmarks/bench_layers.py --json runs/bench/layers.json

Printed as ratios to nn.Conv2d (target for PartialConv2d: within 1.15x). Timings use
``torch.utils.benchmark.Timer`` (warm-up, CUDA synchronisation, adaptive repeat counts).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import torch
import torch.utils.benchmark as tb
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inpaintkit.layers import CFSBlock, PartialConv2d  # noqa: E402

# (batch, channels in, channels out, size): an encoder layer, a residual-block layer at two widths
CPU_CASES = [(4, 16, 16, 64), (4, 64, 64, 32), (2, 64, 128, 64), (1, 128, 128, 64)]
GPU_CASES = [(6, 64, 64, 128), (6, 128, 128, 64), (6, 256, 256, 32), (6, 512, 512, 16), (6, 64, 128, 256)]


def bench_case(n, cin, cout, size, device, dtype, channels_last, min_run_time):
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(n, cin, size, size, device=device).to(memory_format=fmt).requires_grad_()
    mask = (torch.rand(n, 1, size, size, device=device) > 0.25).float().to(memory_format=fmt)
    conv = nn.Conv2d(cin, cout, 3, 1, 1).to(device).to(memory_format=fmt)
    pconv = PartialConv2d(cin, cout, 3, 1, 1).to(device).to(memory_format=fmt)
    cfs = CFSBlock(cin, cout, 3, 1, 1).to(device).to(memory_format=fmt)
    if dtype != torch.float32:
        autocast = torch.autocast(device.type, dtype=dtype)
    else:
        autocast = torch.autocast(device.type, enabled=False)

    def step_conv():
        with autocast:
            y = conv(x)
        y.float().sum().backward()

    def step_pconv():
        with autocast:
            y, _ = pconv(x, mask, check=False)
        y.float().sum().backward()

    def step_cfs():
        with autocast:
            y = cfs(x)
        y.float().sum().backward()

    times = {}
    for name, fn in (("conv", step_conv), ("partial", step_pconv), ("cfs", step_cfs)):
        for _ in range(2):
            fn()                                           # warm-up
        t = tb.Timer("fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time)
        times[name] = t.median * 1e3                       # ms
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="all", help="cpu, cuda or all (cpu, then cuda when present)")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "bf16", "fp16"], help="autocast dtype on CUDA")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--min-run-time", type=float, default=1.0, help="seconds per measurement")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    rows = []
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, forward+backward, 3x3 conv, median ms")
    print(f"{'device':<6} {'N':>3} {'Cin':>4} {'Cout':>4} {'HxW':>7} | {'conv':>8} {'partial':>8} {'cfs':>8} | "
          f"{'partial/conv':>12} {'cfs/conv':>9}")
    for dev in devices:
        device = torch.device(dev)
        use_dtype = dtype if dev == "cuda" else torch.float32
        for n, cin, cout, size in (GPU_CASES if dev == "cuda" else CPU_CASES):
            t = bench_case(n, cin, cout, size, device, use_dtype, args.channels_last, args.min_run_time)
            row = dict(device=dev, dtype=str(use_dtype).split(".")[-1], channels_last=args.channels_last,
                       n=n, cin=cin, cout=cout, size=size, **{f"{k}_ms": v for k, v in t.items()},
                       partial_ratio=t["partial"] / t["conv"], cfs_ratio=t["cfs"] / t["conv"])
            rows.append(row)
            print(f"{dev:<6} {n:>3} {cin:>4} {cout:>4} {size:>3}x{size:<3} | {t['conv']:8.2f} {t['partial']:8.2f} "
                  f"{t['cfs']:8.2f} | {row['partial_ratio']:12.2f} {row['cfs_ratio']:9.2f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rows, f, indent=2)
        os.replace(tmp, args.json)
    return rows


if __name__ == "__main__":
    main()
