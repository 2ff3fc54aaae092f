"""Latency of one interactive inpaint (what the widget's Inpaint button costs), split into its parts.

    python benchmarks/bench_inpaint_latency.py                  # 256x256, 2 CPU threads, demo weights
    python benchmarks/bench_inpaint_latency.py --size 512 --threads 4 --device cuda
    python benchmarks/bench_inpaint_latency.py --json runs/bench/inpaint_latency.json

Target (issue 7): one inpaint of a 256x256 image on 2 CPU cores in under 0.5 s. Parts, each timed alone on the
same input (median of ``--repeats`` after a warm-up; wall time, and process CPU time per thread, which is what
the call costs with its cores to itself on a shared machine; plus GFLOP from ``torch.utils.flop_counter``):

* ``hed``      the input sketch, ``inpainter.sketch(image)`` (HED: VGG16 + side outputs, binarised),
* ``gs``       stage 1, the sketch generator's forward pass (Eq. 9),
* ``gi``       stage 2, the image generator's forward pass (Eq. 10),
* ``both``     ``inpainter(image, mask)``: all of the above plus conversions, padding, compositing,
* ``stage2``   ``inpainter.complete(image, sketch, mask)``: what "Re-run stage 2" costs (the hole of the run
               before it: the fill reuses that run's analysis, ``inpaintkit.fill``),
* ``widget``   ``InpaintWidget.run()``: ``both`` plus the widget's PNG encoding and canvas redraw.

``both`` and ``widget`` are timed as the first fill of their hole (a new mask each time, as after drawing one):
the fill's kept factorisations are forgotten before each call.

Uses the shipped demo weights (``Inpainter.from_pretrained``); ``--fresh`` (or missing demo weights) builds
freshly initialised networks at ``--profile``'s widths instead: the same cost for the same architecture.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.config import get_profile  # noqa: E402
from inpaintkit.fill import forget_factorisations  # noqa: E402
from inpaintkit.masks import irregular_mask  # noqa: E402
from inpaintkit.metrics import rgb_to_gray  # noqa: E402
from inpaintkit.networks import count_parameters, image_generator, sketch_generator  # noqa: E402
from inpaintkit.pipeline import Inpainter  # noqa: E402
from inpaintkit.widgets import InpaintWidget, example_image, fit_image  # noqa: E402


def median_seconds(fn, repeats: int, warmup: int = 2, before=None) -> tuple[float, float]:
    """Median wall time and median process CPU time (all threads) of ``fn()``, seconds; ``before()`` runs,
    untimed, before each call.

    On a shared machine the wall time grows with the load; CPU time / threads is what the call would take
    with its cores to itself (a lower bound), so both are reported.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        if before is not None:
            before()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def gflops(fn) -> float:
    """Floating-point operations of one call (torch.utils.flop_counter; convolutions and matmuls), GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() / 1e9


def build_inpainter(fresh: bool, profile: str, device: str) -> tuple[Inpainter, str]:
    if not fresh:
        try:
            inp = Inpainter.from_pretrained(device=device)
            return inp, f"demo weights {inp.weights.name}"
        except FileNotFoundError as e:
            print(f"note: {e}\n      timing freshly initialised networks of the {profile!r} profile instead.")
    p = get_profile(profile)
    return (Inpainter(sketch_generator(p.gs_channels), image_generator(p.gi_channels), device=device),
            f"fresh networks, {profile} widths")


@command
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=256, help="square image side, px")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (the target is for 2 cores)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--fresh", action="store_true", help="time fresh networks instead of the demo weights")
    ap.add_argument("--profile", default="full", help="widths for --fresh (full = the paper's 64)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    inp, what = build_inpainter(args.fresh, args.profile, args.device)
    image = fit_image(example_image("chelsea"), 10_000)[:, :300]                  # (300, 300, 3) uint8 crop
    image = np.asarray(torch.nn.functional.interpolate(                              # (size, size, 3)
        torch.from_numpy(image).permute(2, 0, 1)[None].float(), size=(args.size, args.size), mode="area",
    )[0].permute(1, 2, 0).round().byte().numpy())
    mask = irregular_mask(args.size, args.size, hole_range=(0.2, 0.3), rng=np.random.default_rng(0))
    print(f"{what}: Gs {count_parameters(inp.gs):,} params (base {inp.gs.base_channels}), "
          f"Gi {count_parameters(inp.gi):,} params (base {inp.gi.base_channels}, {inp.gi.block}); "
          f"sketch {inp.sketch_spec.method}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, device {inp.device}, "
          f"{args.size}x{args.size}, hole {1 - mask.mean():.0%}, median of {args.repeats}")

    dev = inp.device
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float().div(255).to(dev)     # (1, 3, S, S)
    m = torch.from_numpy(mask)[None, None].float().to(dev)                         # (1, 1, S, S)
    s = torch.from_numpy(inp.sketch(image))[None, None].to(dev)                      # (1, 1, S, S)
    gray = rgb_to_gray(x)

    @torch.inference_mode()
    def gs():
        inp.gs(gray, s, m)

    @torch.inference_mode()
    def gi():
        inp.gi(x, s, m)

    widget = InpaintWidget(inp, image=image, max_side=args.size)
    widget.mask[:] = mask
    rows = {
        "hed": median_seconds(lambda: inp.sketch(image), args.repeats),
        "gs": median_seconds(gs, args.repeats),
        "gi": median_seconds(gi, args.repeats),
        "both": median_seconds(lambda: inp(image, mask), args.repeats, before=forget_factorisations),
        "stage2": median_seconds(lambda: inp.complete(image, s[0, 0].cpu().numpy(), mask), args.repeats),
        "widget": median_seconds(widget.run, args.repeats, before=forget_factorisations),
    }
    with torch.no_grad():   # (FlopCounterMode cannot see spectral norm's weights under inference_mode)
        flops = {"hed": gflops(lambda: inp.sketch(image)), "gs": gflops(lambda: inp.gs(gray, s, m)),
                 "gi": gflops(lambda: inp.gi(x, s, m))}
    both_wall, both_cpu = rows["both"]
    print(f"  {'part':<7} {'wall ms':>9} {'CPU ms/thread':>14} {'GFLOP':>7} {'share of both (CPU)':>20}")
    for k, (wall, cpu) in rows.items():
        share = f"{cpu / both_cpu:.0%}" if k in flops else ""
        fl = f"{flops[k]:7.2f}" if k in flops else " " * 7
        print(f"  {k:<7} {wall * 1e3:9.1f} {cpu / args.threads * 1e3:14.1f} {fl} {share:>20}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    def verdict(t):
        return "meets" if t < 0.5 else "misses"

    print(f"one inpaint (both stages): wall {both_wall:.3f} s ({verdict(both_wall)} the 0.5 s target), "
          f"CPU/thread {both_cpu / args.threads:.3f} s ({verdict(both_cpu / args.threads)} it uncontended); "
          f"1-min load average {load:.1f} on {os.cpu_count()} CPUs")
    if args.json:
        out = dict(weights=what, size=args.size, threads=args.threads, device=str(inp.device), load=load,
                   wall_seconds={k: v[0] for k, v in rows.items()},
                   cpu_seconds={k: v[1] for k, v in rows.items()}, gflop=flops, torch=torch.__version__)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(out, f, indent=2)
        os.replace(tmp, args.json)
    return rows


if __name__ == "__main__":
    main()
