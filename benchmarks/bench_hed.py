"""HED throughput in images/s at 256x256: model only, and end to end (decode PNG -> HED -> write PNG).

    python benchmarks/bench_hed.py                                  # CPU (and CUDA when present)
    python benchmarks/bench_hed.py --device cpu --iters 2 --images 16
    python benchmarks/bench_hed.py --device cuda --batch-sizes 32 128 256 --images 4096 --workers 12

On CUDA the model-only rows run fp32, bf16 and fp16 autocast with channels_last; the end-to-end rows go
through inpaintkit.sketches.extract_sketches (bf16, channels_last, DataLoader decode workers, threaded PNG
writes), as a Places2 sketch job would. Issue target on an H100: >= 1000 images/s end to end.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import numpy as np
import torch
from PIL import Image

from inpaintkit.hed import HED, load_hed
from inpaintkit.sketches import SketchCache, SketchSpec, extract_sketches


def load_png(path, size):
    """Decode + resize, as a data set loader would (module-level so DataLoader workers can pickle it)."""
    with Image.open(path) as im:
        im = im.convert("RGB")
        if im.size != (size, size):
            im = im.resize((size, size), Image.BILINEAR)
        return np.asarray(im, dtype=np.float32) / 255.0


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def model_only(hed, dev, batch, size, iters, dtype):
    x = torch.rand(batch, 3, size, size, device=dev)
    if dev.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    amp = dtype in (torch.bfloat16, torch.float16)
    with torch.autocast(dev.type, dtype=dtype, enabled=amp):
        hed(x)  # warm-up (cuDNN autotune, allocator)
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(iters):
            hed(x)
        _sync(dev)
    return batch * iters / (time.perf_counter() - t0)


def end_to_end(hed, dev, batch, size, n_images, workers, src_dir):
    paths = sorted(Path(src_dir).glob("*.png"))[:n_images]
    spec = SketchSpec()
    with tempfile.TemporaryDirectory() as out:
        cache = SketchCache(out, spec)
        extract_sketches(paths[:batch], spec, cache, size, load_png, device=str(dev), batch_size=batch,
                         hed=hed, progress=False, num_workers=0)  # warm-up, not timed
        cache = SketchCache(Path(out) / "timed", spec)
        _sync(dev)
        t0 = time.perf_counter()
        r = extract_sketches(paths, spec, cache, size, load_png, device=str(dev), batch_size=batch, hed=hed,
                             progress=False, num_workers=workers)
        _sync(dev)
        dt = time.perf_counter() - t0
    assert r.computed == len(paths) and not r.skipped
    return len(paths) / dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto (both when CUDA is present)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--iters", type=int, default=3, help="timed model-only batches per row")
    ap.add_argument("--images", type=int, default=64, help="PNG files per end-to-end row")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader decode workers (end to end)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    devices = ["cpu", "cuda"] if args.device == "auto" and torch.cuda.is_available() else \
        ["cpu" if args.device == "auto" else args.device]
    try:
        hed = load_hed()
        weights = "BSDS500"
    except (FileNotFoundError, ValueError):
        hed = HED().eval().requires_grad_(False)  # same speed; the weights only change the values
        weights = "random (no cached weights)"
    print(f"HED {args.size}x{args.size}, weights {weights}, torch {torch.__version__}, "
          f"CPU threads {torch.get_num_threads()}"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""))

    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as src:
        base = (rng.random((args.size // 8, args.size // 8, 3)) * 255).astype(np.uint8)
        for i in range(args.images):  # smooth random photos-ish images, each different
            im = Image.fromarray(np.roll(base, i, axis=0)).resize((args.size, args.size), Image.BICUBIC)
            im.save(Path(src) / f"{i:06d}.png")
        for name in devices:
            dev = torch.device(name)
            net = hed.to(dev, memory_format=torch.channels_last if dev.type == "cuda" else torch.contiguous_format)
            dtypes = [torch.float32, torch.bfloat16, torch.float16] if dev.type == "cuda" else [torch.float32]
            for b in args.batch_sizes:
                for dt in dtypes:
                    ips = model_only(net, dev, b, args.size, args.iters, dt)
                    rows.append((name, "model only", str(dt).replace("torch.", ""), b, ips))
                    print(f"  {rows[-1][:4]}: {ips:.2f} img/s", flush=True)
                if b <= args.images:
                    ips = end_to_end(net, dev, b, args.size, args.images, args.workers, src)
                    amp = "bf16" if dev.type == "cuda" else "float32"
                    rows.append((name, f"end to end ({args.workers} workers)", amp, b, ips))
                    print(f"  {rows[-1][:4]}: {ips:.2f} img/s", flush=True)

    print("\n| device | variant | dtype | batch | images/s | ms/image |\n|---|---|---|---:|---:|---:|")
    for name, variant, dt, b, ips in rows:
        print(f"| {name} | {variant} | {dt} | {b} | {ips:.2f} | {1000 / ips:.1f} |")


if __name__ == "__main__":
    main()
