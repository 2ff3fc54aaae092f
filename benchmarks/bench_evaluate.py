"""Where does an evaluation's time go? Model variants vs classical baselines vs metrics, scaled to 1,000 images.

    python benchmarks/bench_evaluate.py [--images 32] [--size 256] [--width 64] [--batch 16] [--device auto]
    python benchmarks/bench_evaluate.py --images 64 --size 64 --width 16       # the quick profile's setting

Runs :func:`inpaintkit.evaluate.evaluate` (write=False) on ``--images`` pairs (a quarter per Table-1 bucket)
cut from scikit-image's photographs at ``--size``, with an untrained Inpainter of base width ``--width``
(timings do not depend on the weights; 64 is the paper's width) and HED's real weights when cached (random
otherwise, same cost). Prints evaluate's own per-stage timers (``metrics.json`` "seconds" and "cpu_seconds"),
the fastest of ``--repeat`` passes per stage (a shared machine's load only ever adds time), and the same scaled
to 1,000 images. "ours" includes HED on the full image; "oracle sketch" reuses that sketch.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import numpy as np
import torch
from PIL import Image

from inpaintkit.baselines import METHOD_ORDER, Method
from inpaintkit.config import get_profile, resolve_device
from inpaintkit.data import demo_photos
from inpaintkit.evaluate import evaluate
from inpaintkit.hed import HED, load_hed, weights_path
from inpaintkit.networks import image_generator, sketch_generator
from inpaintkit.pipeline import Inpainter


def write_images(folder: Path, n: int, size: int) -> None:
    """n crops of size x size from the bundled photographs, on a seeded grid of offsets."""
    rng = np.random.default_rng(0)
    photos = [p for p in demo_photos().values() if min(p.shape[:2]) >= size]
    for i in range(n):
        p = photos[i % len(photos)]
        y, x = (int(rng.integers(0, d - size + 1)) for d in p.shape[:2])
        Image.fromarray(p[y:y + size, x:x + size]).save(folder / f"{i:05d}.png")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=32, help="pairs in all (a quarter per bucket)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--width", type=int, default=64, help="base width of Gs and Gi (the paper: 64)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--protocol", default="edgeconnect")
    ap.add_argument("--methods", nargs="+", default=None, type=Method.parse, choices=METHOD_ORDER)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes; each stage reports its fastest")
    args = ap.parse_args()
    device = resolve_device(args.device)
    per_bucket = max(args.images // 4, 1)

    hed = load_hed(device=device) if weights_path().exists() else HED().eval()
    torch.manual_seed(0)
    inp = Inpainter(sketch_generator(args.width), image_generator(args.width), hed=hed, device=str(device))
    prof = replace(get_profile("full"), image_size=args.size, eval_images=per_bucket, num_workers=0)
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        tmp = Path(tmp)
        (tmp / "images").mkdir()
        write_images(tmp / "images", per_bucket, args.size)
        os.environ["INPAINTKIT_CACHE"] = str(tmp / "cache")     # the test masks go there, not the user's cache
        # warm-up pass (first convolutions allocate, threads start), then the timed one
        evaluate(inp, run_dir=tmp, data=tmp / "images", profile=replace(prof, eval_images=1), methods=args.methods,
                 protocol=args.protocol, batch_size=args.batch, progress=False, write=False)
        walls, per_stage, cpu_stage = [], {}, {}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = evaluate(inp, run_dir=tmp, data=tmp / "images", profile=prof, methods=args.methods,
                           protocol=args.protocol, batch_size=args.batch, progress=False, write=False)
            walls.append(time.perf_counter() - t0)
            for k, v in res["seconds"].items():    # the fastest repeat of each stage: least disturbed by other load
                per_stage[k] = min(per_stage.get(k, float("inf")), v)
                cpu_stage[k] = min(cpu_stage.get(k, float("inf")), res["cpu_seconds"][k])
        wall = min(walls)
    n = 4 * per_bucket
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {device}")
    print(f"{n} pairs at {args.size}x{args.size}, width {args.width}, batch {args.batch}, protocol {args.protocol}, "
          f"methods {', '.join(res['methods'])}; fastest of {args.repeat} passes {wall:.1f} s")
    print(f"{'stage':<20} {'wall s':>8} {'share':>7} {'per 1,000 img':>14} "
          f"{'CPU s':>8} {'share':>7} {'per 1,000 img':>14}")
    total, total_cpu = sum(per_stage.values()), sum(cpu_stage.values())
    for k, v in sorted(per_stage.items(), key=lambda kv: -kv[1]):
        c = cpu_stage[k]
        print(f"{k:<20} {v:8.2f} {100 * v / total:6.1f}% {v / n * 1000:12.0f} s {c:8.2f} {100 * c / total_cpu:6.1f}% "
              f"{c / n * 1000:12.0f} s")
    print(f"{'total':<20} {total:8.2f} {100.0:6.1f}% {total / n * 1000:12.0f} s {total_cpu:8.2f} {100.0:6.1f}% "
          f"{total_cpu / n * 1000:12.0f} s")


if __name__ == "__main__":
    main()
