"""Seconds per training step of each stage at each profile's settings (batch, size, widths).

    python benchmarks/bench_train.py                          # CPU: smoke and quick
    python benchmarks/bench_train.py --device cuda            # CUDA (bf16 autocast, channels_last): smoke, quick, full
    python benchmarks/bench_train.py --device cuda --compile  # the same with torch.compile
    python benchmarks/bench_train.py --profiles quick --stages 2 --json runs/bench/train.json

One step = what :meth:`inpaintkit.train.Trainer.train_step` does: Gs or Gi forward, the G loss with D
frozen, the D hinge loss, the NaN check, one Adam step each (and for stage 2 the VGG of Eq. 14). The
batch is a fixed in-memory one, so data loading is not timed. Printed: wall seconds per step (median
of the timed steps), images per second and, on the CPU, process CPU seconds per step (on a shared
machine wall time grows with the load, CPU time much less).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import torch
from torch.utils.data import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.config import get_profile, resolve_device  # noqa: E402
from inpaintkit.train import Trainer  # noqa: E402


class RandomBatchData(Dataset):
    """Random items in the data sets' format (image, gray, sketch, mask with 1 = known)."""

    def __init__(self, n: int, size: int):
        self.n, self.size = n, size

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        image = torch.rand(3, self.size, self.size, generator=g)
        mask = torch.ones(1, self.size, self.size)
        q = self.size // 4
        mask[:, q:3 * q, q:3 * q] = 0
        return {"image": image, "gray": image.mean(0, keepdim=True),
                "sketch": (torch.rand(1, self.size, self.size, generator=g) > 0.85).float(), "mask": mask,
                "path": str(i)}


def bench(profile_name: str, stage: int, device: str, compile: bool, steps: int, warmup: int, vgg: str) -> dict:
    p = get_profile(profile_name)
    data = RandomBatchData(2 * p.batch_size, p.image_size)
    with tempfile.TemporaryDirectory() as tmp:
        t = Trainer(stage, p, tmp, device=device, data=data, compile=compile, progress=False, vgg=vgg)
        batch = torch.utils.data.default_collate([data[i] for i in range(p.batch_size)])
        dev = t.device
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        for _ in range(warmup):
            t.train_step(batch)
        sync()
        walls, cpus = [], []
        for _ in range(steps):
            w0, c0 = time.perf_counter(), time.process_time()
            t.train_step(batch)
            sync()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        wall = statistics.median(walls)
        return {"profile": profile_name, "stage": stage, "device": str(dev), "compile": compile,
                "image_size": p.image_size, "batch_size": p.batch_size,
                "widths": p.gs_channels if stage == 1 else p.gi_channels, "vgg": t.vgg_source,
                "s_per_step": wall, "images_per_s": p.batch_size / wall, "cpu_s_per_step": statistics.median(cpus),
                "steps_timed": steps,
                "torch": torch.__version__, "threads": torch.get_num_threads(),
                "gpu": torch.cuda.get_device_name(dev) if dev.type == "cuda" else None}


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--profiles", nargs="+", default=None, help="default: smoke quick (CPU), smoke quick full (CUDA)")
    ap.add_argument("--stages", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per case")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--vgg", default="auto", choices=("auto", "imagenet", "hed"))
    ap.add_argument("--json", default=None)
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    dev = resolve_device(args.device)
    profiles = args.profiles or (["smoke", "quick", "full"] if dev.type == "cuda" else ["smoke", "quick"])
    results = []
    print(f"{'profile':8s} {'stage':>5s} {'size':>5s} {'batch':>5s} {'s/step':>9s} {'img/s':>8s} "
          f"{'cpu s/step':>10s}  device")
    for name in profiles:
        for stage in args.stages:
            r = bench(name, stage, str(dev), args.compile, args.steps, args.warmup, args.vgg)
            results.append(r)
            print(f"{name:8s} {stage:5d} {r['image_size']:5d} {r['batch_size']:5d} {r['s_per_step']:9.4f} "
                  f"{r['images_per_s']:8.1f} {r['cpu_s_per_step']:10.4f}  "
                  f"{r['device']}{' compiled' if args.compile else ''}"
                  f"{'  vgg=' + r['vgg'].split(':')[0] if r['vgg'] else ''}", flush=True)
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
