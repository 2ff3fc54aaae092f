"""The whole notebook chain on one GPU, on a synthetic Places365-layout tree, with the figures issue 12 asks for.

    python benchmarks/gpu_check.py --out runs/gpu_check                        # on the GPU: profile gpu, cuda
    python benchmarks/gpu_check.py --out /tmp/gc --profile smoke --device cpu --image-px 64 --train-images 24
    python benchmarks/gpu_check.py --export-hed-fp16 .whl/hed_bsds500_fp16.pt  # HED to carry (29 MB)

What it does, all under ``--out`` (nothing downloaded; ``$INPAINTKIT_CACHE`` points into it):

1. writes a synthetic Places365-Standard tree (``data_256/<a>/<class>/NNNNNNNN.jpg``, ``val_256/``,
   ``test_256/``, the three ``places365_*.txt`` lists; random shapes on gradients, seeded) and a Liu-style
   mask folder (white = hole) covering Table 1's buckets;
2. runs ``python -m inpaintkit.reproduce`` on it (``--data``, ``--masks``, ``--vgg``) -- every notebook
   through papermill -- and reads each notebook's wall time from ``report.json``; on CUDA a thread samples
   the device's used memory meanwhile (all processes: the kernels);
3. measures each training stage on a batch resident on the device (no data loading): images/s, FLOPs of
   one step counted by ``torch.utils.flop_counter`` (forward + backward of G, D and the VGG), model FLOP
   utilisation against the card's dense bf16 peak, peak memory; and HED sketches/s at the profile's size
   (HED's forward, batched, bf16 on CUDA; and the whole sketch with threshold + thinning);
4. writes ``gpu_check.json`` and ``gpu_check.md`` (the table for the README).

HED: ``--hed-weights FILE`` (e.g. the fp16 copy made by ``--export-hed-fp16``; set as
``$INPAINTKIT_HED_WEIGHTS`` for every process) or ``random`` (seeded random weights: timing only, the
sketches are meaningless). Default: the cached BSDS500 weights when present, else random.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import numpy as np
import torch
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from inpaintkit.config import get_profile, resolve_device  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks from NVIDIA's data sheets, FLOP/s; matched on the device name.
BF16_PEAK = (("H200", 989.4e12), ("H100 PCIe", 756.5e12), ("H100", 989.4e12), ("A100", 312e12),
             ("L40S", 362.05e12), ("L4", 121e12), ("A10", 125e12), ("RTX 4090", 165.2e12))
PLACES_CLASSES = ("a/abbey", "a/apartment_building/outdoor", "b/bakery/shop", "c/canyon", "f/forest_path",
                  "o/ocean", "s/street", "k/kitchen")
TABLE1_BUCKETS = ("10-20", "20-30", "30-40", "40-50")


# ---------------------------------------------------------------------------------------------- data

def synthetic_image(size: int, rng: np.random.Generator) -> Image.Image:
    """A gradient with random ellipses, rectangles and lines: edges for HED, texture-free areas to fill."""
    top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = np.linspace(0, 1, size)[:, None, None]
    arr = (top * (1 - t) + bottom * t).repeat(size, axis=1).astype(np.uint8)          # (size, size, 3)
    img = Image.fromarray(arr)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = rng.integers(0, size, 2)
        x1, y1 = x0 + rng.integers(size // 10, size // 2), y0 + rng.integers(size // 10, size // 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif kind == 1:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
        else:
            draw.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(2, max(3, size // 32))))
    return img


def make_places_tree(root: Path, n_train: int, n_val: int, n_test: int, size: int = 256, seed: int = 0) -> dict:
    """Places365-Standard's layout (see inpaintkit.data.PLACES_IMAGE_DIRS) with synthetic JPEGs; the file lists."""
    rng = np.random.default_rng(seed)
    lists = {"train": [], "val": [], "test": []}
    for i in range(n_train):
        cls = PLACES_CLASSES[i % len(PLACES_CLASSES)]
        rel = f"{cls}/{i // len(PLACES_CLASSES) + 1:08d}.jpg"
        path = root / "data_256" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        synthetic_image(size, rng).save(path, quality=90)
        lists["train"].append(f"/{rel} {i % len(PLACES_CLASSES)}\n")
    for split, n, folder in (("val", n_val, "val_256"), ("test", n_test, "test_256")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(1, n + 1):
            name = f"Places365_{split}_{i:08d}.jpg"
            synthetic_image(size, rng).save(root / folder / name, quality=90)
            lists[split].append(f"{name} 0\n" if split == "val" else f"{name}\n")
    (root / "places365_train_standard.txt").write_text("".join(lists["train"]))
    (root / "places365_val.txt").write_text("".join(lists["val"]))
    (root / "places365_test.txt").write_text("".join(lists["test"]))
    return {k: len(v) for k, v in lists.items()}


def make_liu_style_masks(out: Path, size: int, per_bucket: int, seed: int = 0) -> int:
    """Liu et al.'s convention (white = hole, no manifest): ``per_bucket`` seeded masks per Table-1 bucket."""
    from inpaintkit.masks import BUCKETS, irregular_mask

    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for b_index, b in enumerate(TABLE1_BUCKETS):
        for i in range(per_bucket):
            m = irregular_mask(size, size, BUCKETS[b], np.random.default_rng([seed, b_index, i]))    # 1 = known
            Image.fromarray(((1 - m) * 255).astype(np.uint8)).save(out / f"{n:05d}.png")
            n += 1
    return n


def prepare_hed(choice: str | None, out: Path) -> tuple[str, str]:
    """(path for $INPAINTKIT_HED_WEIGHTS or "", description)."""
    from inpaintkit.hed import HED, weights_path

    if choice in (None, "auto"):
        if weights_path().is_file():
            return "", f"BSDS500 (cached, checksum-verified: {weights_path()})"
        choice = "random"
    if choice == "random":
        torch.manual_seed(0)
        path = out / "hed_random.pt"
        torch.save({k: v.half() for k, v in HED().state_dict().items()}, path)
        return str(path), "RANDOM weights (timing only; the sketches are meaningless)"
    path = Path(choice).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"--hed-weights {choice}: no such file (make one with --export-hed-fp16 FILE).")
    return str(path), f"from {path} (not checksum-verified)"


def export_hed_fp16(dest: Path) -> Path:
    """The cached BSDS500 HED weights as an fp16 state dict (half the size: fits the device's 64 MiB carry)."""
    from inpaintkit.hed import load_hed

    state = {k: v.half() for k, v in load_hed().state_dict().items()}
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, dest)
    return dest


# ---------------------------------------------------------------------------------------------- the chain

class MemorySampler(threading.Thread):
    """Samples the CUDA device's used memory (total - free, every process) until stopped; max in bytes."""

    def __init__(self, device: torch.device, every_s: float = 0.5):
        super().__init__(daemon=True)
        self.device, self.every_s, self.peak, self._stop_evt = device, every_s, 0, threading.Event()

    def run(self):
        while not self._stop_evt.is_set():
            free, total = torch.cuda.mem_get_info(self.device)
            self.peak = max(self.peak, total - free)
            self._stop_evt.wait(self.every_s)

    def stop(self) -> int:
        self._stop_evt.set()
        self.join()
        return self.peak


def run_chain(profile: str, run_dir: Path, device: str, data: Path, masks: Path, vgg: str, env: dict,
              only: str | None) -> dict:
    cmd = [sys.executable, "-m", "inpaintkit.reproduce", "--profile", profile, "--run-dir", str(run_dir),
           "--device", device, "--data", str(data), "--masks", str(masks), "--vgg", vgg]
    if only:
        cmd += ["--only", only]
    print("$", " ".join(cmd), flush=True)
    dev = resolve_device(device)
    sampler = MemorySampler(dev) if dev.type == "cuda" else None
    if sampler:
        sampler.start()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env)
    wall = time.perf_counter() - t0
    peak = sampler.stop() if sampler else None
    report = run_dir / "report.json"
    notebooks = json.loads(report.read_text())["notebooks"] if report.is_file() else []
    return {"returncode": proc.returncode, "wall_seconds": wall, "device_memory_peak_bytes": peak,
            "notebooks": [{"name": n["name"], "status": n["status"], "seconds": n["seconds"]} for n in notebooks]}


# ---------------------------------------------------------------------------------------------- measurements

def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bf16_peak(dev: torch.device) -> tuple[float | None, str]:
    if dev.type != "cuda":
        return None, "cpu (no tensor-core peak: MFU not computed)"
    name = torch.cuda.get_device_name(dev)
    for key, peak in BF16_PEAK:
        if key in name:
            return peak, name
    return None, f"{name} (peak unknown: MFU not computed)"


def measure_stage(stage: int, profile, dev: torch.device, data: Path, vgg: str, work: Path, steps: int) -> dict:
    """Images/s, FLOPs per step, MFU and peak memory of ``train_step`` on one resident batch."""
    from torch.utils.flop_counter import FlopCounterMode

    from inpaintkit.train import Trainer

    t = Trainer(stage, profile, work / f"stage{stage}_bench", device=str(dev), data=str(data), steps=0,
                progress=False, vgg=vgg if stage == 2 else "auto", overwrite=True)
    batch = torch.utils.data.default_collate([t.dataset[(1, i, i % len(t.dataset))]
                                              for i in range(t.batch_per_process)])
    batch = {k: v for k, v in batch.items() if k != "path"}
    for _ in range(3):                                                     # warm-up (cudnn autotune, allocator)
        t.train_step(batch)
    _sync(dev)
    with FlopCounterMode(display=False) as counter:
        t.train_step(batch)
    flops = counter.get_total_flops()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    _sync(dev)
    t0 = time.perf_counter()
    for _ in range(steps):
        t.train_step(batch)
    _sync(dev)
    seconds = (time.perf_counter() - t0) / steps
    peak, _ = bf16_peak(dev)
    return {"stage": stage, "batch": t.batch_per_process, "precision": t.precision, "seconds_per_step": seconds,
            "images_per_s": t.batch_per_process / seconds, "flops_per_step": flops,
            "tflops_per_s": flops / seconds / 1e12, "mfu": flops / seconds / peak if peak else None,
            "peak_memory_bytes": torch.cuda.max_memory_allocated(dev) if dev.type == "cuda" else None,
            "vgg_source": t.vgg_source}


def measure_hed(profile, dev: torch.device, batch: int, repeats: int) -> dict:
    """HED forward (batched, bf16 on CUDA, channels_last) and the whole sketch (threshold, and thinning where the
    profile thins) per second."""
    from inpaintkit.hed import load_hed
    from inpaintkit.sketches import hed_sketch

    hed = load_hed(device=dev)
    if dev.type == "cuda":
        hed = hed.to(memory_format=torch.channels_last)
    size = profile.image_size
    x = torch.rand(batch, 3, size, size, device=dev)
    if dev.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    spec = profile.sketch_spec("hed")

    def forward():
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            hed(x)

    def whole():
        with torch.inference_mode():
            hed_sketch(x, hed, spec)

    out = {"size": size, "batch": batch, "thin": spec.thin}     # full and gpu do not thin (docs/paper_reading.md)
    for name, fn, n in (("forward", forward, repeats), ("with_threshold_and_thin", whole, max(1, repeats // 4))):
        fn()
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        _sync(dev)
        out[f"{name}_sketches_per_s"] = batch * n / (time.perf_counter() - t0)
    return out


# ---------------------------------------------------------------------------------------------- report

def _fmt_bytes(b):
    return "n/a" if b is None else f"{b / 2**30:.1f} GiB"


def format_markdown(res: dict) -> str:
    lines = [f"GPU check on {res['device']} (torch {res['torch']}, profile `{res['profile']}`, "
             f"{res['data']['counts']['train']} synthetic training images at {res['data']['image_px']} px; "
             f"HED {res['hed']}; VGG of Eq. 14: {res['vgg']}).", ""]
    chain = res.get("chain")
    if chain:
        lines += ["| notebook | status | wall time |", "|---|---|---:|"]
        lines += [f"| {n['name']} | {n['status']} | {n['seconds']:.1f} s |" for n in chain["notebooks"]]
        lines += [f"| **whole chain** | exit {chain['returncode']} | {chain['wall_seconds']:.1f} s |", "",
                  f"Device memory in use at most (all processes) during the chain: "
                  f"{_fmt_bytes(chain['device_memory_peak_bytes'])}.", ""]
    lines += ["| stage (train_step, resident batch) | batch | images/s | TFLOP/s | MFU (bf16 dense peak) "
              "| peak memory |",
              "|---|---:|---:|---:|---:|---:|"]
    for s in res["stages"]:
        mfu = "n/a" if s["mfu"] is None else f"{s['mfu']:.1%}"
        lines.append(f"| {s['stage']} ({s['precision']}) | {s['batch']} | {s['images_per_s']:.1f} | "
                     f"{s['tflops_per_s']:.2f} | {mfu} | {_fmt_bytes(s['peak_memory_bytes'])} |")
    h = res["hed_speed"]
    lines += ["", f"HED at {h['size']} px, batch {h['batch']}: {h['forward_sketches_per_s']:.0f} sketches/s (forward), "
              f"{h['with_threshold_and_thin_sketches_per_s']:.0f} sketches/s with threshold"
              + (" and thinning." if h.get("thin", True) else " (the profile does not thin).")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "gpu_check")
    ap.add_argument("--profile", default="gpu")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--image-px", type=int, default=256, help="side of the synthetic JPEGs (>= the profile's size)")
    ap.add_argument("--train-images", type=int, default=192)
    ap.add_argument("--test-images", type=int, default=32)
    ap.add_argument("--masks-per-bucket", type=int, default=8)
    ap.add_argument("--hed-weights", default="auto", help="FILE (e.g. fp16), random, or auto (cached, else random)")
    ap.add_argument("--vgg", default="auto", help="auto: imagenet when torchvision's VGG19 is cached, else hed "
                                                  "(recorded as a departure)")
    ap.add_argument("--only", default=None, help="notebooks of the chain, e.g. 04,05,06 (default all)")
    ap.add_argument("--no-chain", action="store_true", help="skip the notebooks: data, measurements, report only")
    ap.add_argument("--bench-steps", type=int, default=20, help="timed train_step calls per stage")
    ap.add_argument("--hed-batch", type=int, default=64)
    ap.add_argument("--export-hed-fp16", type=Path, default=None, metavar="FILE",
                    help="write the cached HED weights as fp16 to FILE and stop")
    args = ap.parse_args(argv)
    if args.export_hed_fp16:
        path = export_hed_fp16(args.export_hed_fp16)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
        return 0

    profile = get_profile(args.profile)
    dev = resolve_device(args.device)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ["INPAINTKIT_CACHE"] = str(out / "cache")                   # this process and the kernels
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    hed_path, hed_desc = prepare_hed(args.hed_weights, out)
    if hed_path:
        os.environ["INPAINTKIT_HED_WEIGHTS"] = hed_path
    vgg = args.vgg
    if vgg == "auto":
        from inpaintkit.losses import IMAGENET_VGG19_FILE

        vgg = "imagenet" if (Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_VGG19_FILE).is_file() else "hed"

    t0 = time.perf_counter()
    places, masks = out / "places365", out / "liu_masks"
    if not (places / "places365_test.txt").is_file():
        counts = make_places_tree(places, args.train_images, 8, args.test_images, args.image_px)
        make_liu_style_masks(masks, args.image_px, args.masks_per_bucket)
    else:
        counts = {s: len((places / f).read_text().splitlines()) for s, f in
                  (("train", "places365_train_standard.txt"), ("val", "places365_val.txt"),
                   ("test", "places365_test.txt"))}
    print(f"synthetic Places365 tree {places} ({counts}) and masks in {time.perf_counter() - t0:.1f} s", flush=True)

    res = {"device": bf16_peak(dev)[1] if dev.type == "cuda" else f"cpu ({platform.processor() or platform.machine()}, "
           f"{torch.get_num_threads()} threads)", "torch": torch.__version__, "profile": profile.name,
           "hed": hed_desc, "vgg": vgg, "data": {"root": str(places), "counts": counts, "image_px": args.image_px,
                                                  "masks": str(masks)}}
    if not args.no_chain:
        res["chain"] = run_chain(profile.name, out / "run", str(dev), places, masks, vgg, dict(os.environ), args.only)
    res["stages"] = [measure_stage(s, profile, dev, places, vgg, out / "bench", args.bench_steps) for s in (1, 2)]
    res["hed_speed"] = measure_hed(profile, dev, args.hed_batch, repeats=10 if dev.type == "cuda" else 2)
    (out / "gpu_check.json").write_text(json.dumps(res, indent=1))
    md = format_markdown(res)
    (out / "gpu_check.md").write_text(md)
    print(md)
    return 0 if res.get("chain", {}).get("returncode", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
