"""``make rehearse``: the paper's run (``make reproduce PROFILE=full``) on a CPU, with only its counts shrunk.

    python -m inpaintkit.rehearsal --out runs/rehearse

A path that never runs breaks silently, and the paper's run (Places2, 256 px, the paper's widths, HED, VGG19,
training and test masks) has never run before it runs on GPUs for days. So this runs that path end to end:

1. a synthetic Places365-Standard tree (``data_256/<a>/<class>/``, ``val_256/``, ``test_256/`` and the three
   ``places365_*.txt`` lists; gradients with random shapes, seeded) and two Liu-style mask folders (white = hole,
   512 px, resized to 256 by the kit): training masks and test masks, drawn apart (Liu et al. release them apart);
2. ``data_scripts/prepare_places2.py`` on it: the flists and the HED sketches, into the rehearsal's own cache;
3. ``python -m inpaintkit.reproduce --profile rehearse --data PREPARED --masks TRAIN --test-masks TEST --vgg
   imagenet``: the command ``make reproduce PROFILE=full`` runs, every notebook through papermill. The
   ``rehearse`` profile is ``full`` with only :data:`inpaintkit.config.REHEARSAL_COUNTS` changed (steps, the
   intervals counted in steps, test images per bucket, the ablation's steps and seeds): widths, size, batch,
   workers, losses, sketch spec and VGG are full's. The one thing not the paper's: torchvision's VGG19 is
   **randomly initialised** (seeded), put where torch hub's cache is read (``$TORCH_HOME`` of the run), since
   no weights are downloaded here; the code path is the ImageNet one.
4. ``rehearsal.md`` / ``rehearsal.json`` in OUT (and printed): per notebook its wall time, the peak resident
   memory of the run's processes (papermill and the kernel, sampled) and the sketches it added to the cache; the
   counters that catch a first run's failures: sketches read from the prepared cache vs computed again (each
   stage's ``sketch_cache.json`` where the trainer writes one, and the cache's files counted before and after
   every notebook), the data each notebook trained and scored on (checked: none is a demo photograph), the
   evaluation's batch size and peak memory. Exit code 1 when a notebook fails or a check does not hold.

Everything lives under OUT (``$INPAINTKIT_CACHE`` and ``$TORCH_HOME`` point into it); HED's BSDS500 weights are
linked from the user's cache when there, else fetched as the kit always does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from .config import REHEARSAL_COUNTS, cache_dir, get_profile, repo_root
from .files import atomic_write_text

__all__ = ["PLACES_CLASSES", "synthetic_image", "make_places_tree", "make_liu_style_masks", "random_vgg19",
           "sketch_files", "disk_used", "TreeMemory", "collect", "checks", "format_report", "rehearse", "main"]

PLACES_CLASSES = ("a/abbey", "a/apartment_building/outdoor", "b/bakery/shop", "c/canyon", "f/forest_path",
                  "o/ocean", "s/street", "k/kitchen")
NOTEBOOK_LINE = re.compile(r"^\s+(\d\d_\S+\.ipynb)\s+(ok|FAILED)")


# ---------------------------------------------------------------------------------------------- inputs

def synthetic_image(size: int, rng: np.random.Generator):
    """A gradient with random ellipses, rectangles and lines (a PIL image): edges for HED, flat areas to fill."""
    from PIL import Image, ImageDraw

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
    """Places365-Standard's layout (:data:`inpaintkit.data.PLACES_IMAGE_DIRS`) with synthetic JPEGs and the three
    file lists; returns {split: images}."""
    rng = np.random.default_rng(seed)
    lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
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


def make_liu_style_masks(out: Path, size: int, per_bucket: int, seed: int = 0, buckets=None) -> int:
    """Liu et al.'s convention (white = hole, no manifest): ``per_bucket`` seeded masks per bucket (default Table
    1's four); returns how many were written."""
    from PIL import Image

    from .masks import BUCKETS, TABLE1_BUCKETS, irregular_mask

    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for b_index, b in enumerate(buckets or TABLE1_BUCKETS):
        for i in range(per_bucket):
            m = irregular_mask(size, size, BUCKETS[b], np.random.default_rng([seed, b_index, i]))    # 1 = known
            Image.fromarray(((1 - m) * 255).astype(np.uint8)).save(out / f"{n:05d}.png")
            n += 1
    return n


def random_vgg19(torch_home: Path, seed: int = 0) -> Path:
    """A seeded, randomly initialised torchvision VGG19 saved where torch hub's cache looks for the ImageNet
    weights (``<torch_home>/hub/checkpoints/vgg19-dcbb9e9d.pth``), so the ImageNet code path runs offline.
    Only the rehearsal does this, in its own ``$TORCH_HOME``; its report says so."""
    import torch
    from torchvision.models import vgg19

    from .losses import IMAGENET_VGG19_FILE

    path = torch_home / "hub" / "checkpoints" / IMAGENET_VGG19_FILE
    if not path.is_file():
        torch.manual_seed(seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(vgg19(weights=None).state_dict(), tmp)
        os.replace(tmp, path)
    return path


# ---------------------------------------------------------------------------------------------- measuring

def sketch_files(cache: Path) -> dict[str, int]:
    """{sketch spec key: cached sketch PNGs} under ``<cache>/sketches`` (:class:`inpaintkit.sketches.SketchCache`)."""
    root = cache / "sketches"
    if not root.is_dir():
        return {}
    return {d.name: sum(1 for _ in d.rglob("*.png")) for d in sorted(root.iterdir()) if d.is_dir()}


class TreeMemory(threading.Thread):
    """Samples the memory of a process and all its descendants (every ``every_s`` seconds, psutil) and keeps the
    peak since the last :meth:`take`: the sum over the tree (papermill, the kernel, its DataLoader workers) of each
    process's proportional set size (PSS; resident size where the system gives no PSS)."""

    def __init__(self, pid: int, every_s: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every_s, self.peak, self._halt = pid, every_s, 0, threading.Event()

    def run(self):
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._halt.is_set():
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    try:   # PSS: pages shared by forked DataLoader workers are counted once, not per worker
                        info = p.memory_full_info()
                        total += getattr(info, "pss", info.rss)
                    except psutil.Error:
                        pass
            except psutil.Error:
                break
            self.peak = max(self.peak, total)
            self._halt.wait(self.every_s)

    def take(self) -> int:
        """The peak since the last call (bytes), and start a new one."""
        peak, self.peak = self.peak, 0
        return peak

    def stop(self) -> None:
        self._halt.set()
        self.join()


# ---------------------------------------------------------------------------------------------- the run

def _inputs(out: Path, env: dict, n_train: int, n_test: int, masks_per_bucket: int) -> dict:
    """The synthetic tree, the two mask folders and prepare_places2.py's output (made once per OUT)."""
    from .masks import BUCKETS

    places, prepared = out / "places365", out / "places2"
    train_masks, test_masks = out / "liu_train_masks", out / "liu_test_masks"
    t0 = time.perf_counter()
    if not (places / "places365_test.txt").is_file():
        make_places_tree(places, n_train, 4, n_test, size=256)
        # Liu et al.'s masks are 512 px, all six buckets, training and test sets drawn apart
        make_liu_style_masks(train_masks, 512, masks_per_bucket, seed=1, buckets=list(BUCKETS))
        make_liu_style_masks(test_masks, 512, masks_per_bucket, seed=2, buckets=list(BUCKETS))
    tree_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    if not (prepared / "places2.json").is_file():
        cmd = [sys.executable, str(repo_root() / "data_scripts" / "prepare_places2.py"), "--root", str(places),
               "--out", str(prepared), "--device", "cpu", "--num-workers", "0"]
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, env=env, check=True, cwd=repo_root())
    counts = {s: len((prepared / f"{s}.flist").read_text().splitlines()) for s in ("train", "val", "test")}
    return {"places": str(places), "prepared": str(prepared), "train_masks": str(train_masks),
            "test_masks": str(test_masks), "counts": counts, "tree_seconds": tree_s,
            "prepare_seconds": time.perf_counter() - t0}


def disk_used(folder: Path) -> int:
    """Bytes in the files under ``folder`` (links not followed): what the run has written so far."""
    total = 0
    for root, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:                     # removed while we walked (an atomic write's temporary file)
                pass
    return total


def _machine_room(folder: Path) -> str:
    """The memory and disk a run starts with: a notebook that dies on a smaller machine names one of them."""
    import shutil

    avail = None
    try:
        with open("/proc/meminfo") as f:
            avail = next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):            # not Linux
        pass
    mem = f"{avail / 2**30:.1f} GiB memory available" if avail else "memory available unknown"
    return f"{mem}, {shutil.disk_usage(folder).free / 2**30:.1f} GiB disk free at the start"


def _run_notebooks(cmd: list[str], env: dict, cache: Path) -> tuple[int, list[dict]]:
    """Run reproduce, echo its output, and per notebook take the peak memory of its processes, the sketches
    the cache gained while it ran and the disk the rehearsal's folder (the cache's parent) holds after it."""
    print("$", " ".join(cmd), flush=True)
    proc = subprocess.Popen(cmd, env=env, cwd=repo_root(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, bufsize=1)
    watch = TreeMemory(proc.pid)
    watch.start()
    rows, before = [], sketch_files(cache)
    for line in proc.stdout:
        print(line, end="", flush=True)
        hit = NOTEBOOK_LINE.match(line)
        if hit:
            now = sketch_files(cache)
            rows.append({"name": hit.group(1), "status": hit.group(2), "peak_rss_mib": watch.take() / 2**20,
                         "sketches_added": {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)},
                         "disk_mib": disk_used(cache.parent) / 2**20})
            before = now
    code = proc.wait()
    watch.stop()
    return code, rows


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def collect(run_dir: Path) -> dict:
    """What the run's artefacts say each notebook trained and scored on, and the counters, from the files the
    notebooks wrote: stage configs and sketch_cache.json, the ablation's results, the evaluation's metrics."""
    run_dir = Path(run_dir)
    out: dict = {"stages": {}, "ablation": None, "evaluation": None}
    for s in (1, 2):
        cfg = _json(run_dir / f"stage{s}" / "config.json") or {}
        out["stages"][s] = {"data": cfg.get("data"), "masks": cfg.get("masks"), "vgg": cfg.get("vgg_source"),
                            "sketch_cache": _json(run_dir / f"stage{s}" / "sketch_cache.json")}
    ab = _json(run_dir / "ablation" / "results.json")
    if ab:
        out["ablation"] = {"data": ab.get("data"), "steps": ab["steps"], "seeds": ab["seeds"], "kinds": ab["kinds"],
                           "eval_images": ab["eval_images"], "vgg": ab["variants"][0].get("vgg_source")}
    m = _json(run_dir / "metrics.json")
    if m:
        out["evaluation"] = {"data": m["data"], "per_bucket": m["per_bucket"], "masks": m["masks"]["root"],
                             "pairs": len({(r["image"], r["mask_id"]) for r in m["records"]}),
                             "images": sorted({r["image"] for r in m["records"]}), "memory": m.get("memory"),
                             "sketch_cache": m.get("sketch_cache"), "notes": m.get("notes", [])}
    return out


def checks(rows: list[dict], art: dict, inputs: dict, prepared_sketches: dict[str, int], spec_key: str) -> list:
    """[(what, held, detail)]: the targets of the rehearsal."""
    roots = (str(Path(inputs["places"]).resolve()), str(Path(inputs["prepared"]).resolve()))
    demo = str((cache_dir() / "demo").resolve())

    def ours(path) -> bool:
        return path is not None and str(Path(str(path).split(" (")[0]).resolve()).startswith(roots)

    added = sum(r["sketches_added"].get(spec_key, 0) for r in rows)
    stage_counts = {s: (v["sketch_cache"] or {}) for s, v in art["stages"].items()}
    recomputed = [f"stage {s}: {c.get('computed')}" for s, c in stage_counts.items() if c.get("computed")]
    data = {f"stage {s} data": v["data"] for s, v in art["stages"].items()}
    if art["ablation"]:
        data |= {"ablation train": art["ablation"]["data"].get("train"),
                 "ablation test": art["ablation"]["data"].get("test")}
    if art["evaluation"]:
        data |= {"Table 1 data": art["evaluation"]["data"]}
        data |= {f"Table 1 image {i}": p for i, p in enumerate(art["evaluation"]["images"])}
    not_ours = {k: v for k, v in data.items() if not ours(v) or demo in str(v)}
    return [
        ("every notebook ran", bool(rows) and all(r["status"] == "ok" for r in rows),
         ", ".join(f"{r['name']} {r['status']}" + (f" ({r['error']})" if r.get("error") else "") for r in rows)
         or "none ran"),
        ("prepare_places2.py cached the sketches the training reads", prepared_sketches.get(spec_key, 0) > 0,
         f"{prepared_sketches.get(spec_key, 0)} sketches under the profile's spec key {spec_key} after preparation; "
         f"all keys: {prepared_sketches}"),
        ("0 sketches recomputed after preparation", added == 0 and not recomputed,
         f"{added} sketch(es) of the profile's spec added to the cache while the notebooks ran"
         + (f"; the trainers' counters: {', '.join(recomputed)}" if recomputed else "")),
        ("no notebook trained or scored on a demo photograph", not not_ours and bool(data),
         "all under the synthetic tree / its prepared folder" if not not_ours else f"elsewhere: {not_ours}"),
        ("the evaluation streamed its chunks", bool(art["evaluation"] and art["evaluation"]["memory"]
                                                     and art["evaluation"]["memory"].get("chunks")),
         json.dumps(art["evaluation"]["memory"]) if art["evaluation"] else "no metrics.json"),
    ]


def _stage_line(s: int, v: dict) -> str:
    c = v["sketch_cache"]
    counts = (f"sketches read {c.get('read')}, computed {c.get('computed')} (its sketch_cache.json)" if c else
              "no sketch_cache.json (this trainer writes none: see the cache's file count above)")
    return f"- stage {s} (notebook 0{3 + s}): data `{v['data']}`, masks `{v['masks']}`; {counts}" + (
        f"; VGG of Eq. 14: {v['vgg']}" if s == 2 else "")


def format_report(res: dict) -> str:
    """The rehearsal's report in Markdown (``rehearsal.md``)."""
    inp, art = res["inputs"], res["artefacts"]
    lines = [f"# The paper's run, rehearsed ({res['profile']} = full with {res['counts']})", "",
             f"Command: `{res['command']}`; {res['machine']}; total {res['seconds']:.0f} s "
             f"(tree {inp['tree_seconds']:.0f} s, prepare_places2.py {inp['prepare_seconds']:.0f} s, notebooks "
             f"{res['notebook_seconds']:.0f} s). Synthetic Places365 tree: {inp['counts']} images (prepared); "
             f"training masks `{Path(inp['train_masks']).name}`, test masks `{Path(inp['test_masks']).name}` "
             "(Liu-style, 512 px). **VGG19 randomly initialised** (seeded; no weights are downloaded here): the "
             "ImageNet code path, not its features. HED: " + res["hed"] + ".", "",
             "| notebook | status | wall time | peak memory (PSS, all its processes) | disk used by the rehearsal "
             "after it | sketches added to the cache |",
             "|---|---|---:|---:|---:|---|"]
    for r in res["notebooks"]:
        added = ", ".join(f"{k}: {v}" for k, v in r["sketches_added"].items()) or "0"
        lines.append(f"| {r['name']} | {r['status']} | {r.get('seconds', float('nan')):.0f} s | "
                     f"{r['peak_rss_mib']:.0f} MiB | {r.get('disk_mib', float('nan')) / 1024:.1f} GiB | {added} |")
    lines += ["", f"Sketches in the cache after preparation: {res['prepared_sketches']} (the profile's spec key: "
                  f"`{res['spec_key']}`).", "", "## What each notebook trained and scored on", ""]
    if art["ablation"]:
        a = art["ablation"]
        lines.append(f"- 03 (ablation): {len(a['kinds'])} blocks x seeds {a['seeds']} x {a['steps']} step(s); "
                     f"trained on `{a['data'].get('train')}` ({a['data'].get('train_images')} images), scored on "
                     f"{a['data'].get('test')} ({a['eval_images']} images x 4 buckets); VGG: {a['vgg']}")
    lines += [_stage_line(s, v) for s, v in art["stages"].items()]
    if art["evaluation"]:
        e = art["evaluation"]
        mem = e["memory"] or {}
        lines.append(f"- 06 (Table 1): {e['pairs']} pairs ({e['per_bucket']} per bucket, {len(e['images'])} images) "
                     f"of {e['data']}; test masks `{e['masks']}`; evaluation batch {mem.get('batch_size')} "
                     f"({mem.get('chunks')} chunk(s)), resident memory {mem.get('rss_start_mib') or 0:.0f} MiB "
                     f"before scoring, peak {mem.get('rss_peak_mib') or 0:.0f} MiB; sketch cache "
                     f"{e['sketch_cache']}")
        lines += [f"  - note: {n}" for n in e["notes"]]
    lines += ["- 00, 02: no data (networks and layers on a scikit-image photograph and synthetic masks); 01 shows "
              "the demo set and HED on a demo photograph as illustrations and the run's first training batch; 07 "
              "draws on the shipped demo weights: none of them trains or scores.", "", "## Checks", ""]
    lines += [f"- [{'x' if ok else ' '}] {what}: {detail}" for what, ok, detail in res["checks"]]
    return "\n".join(lines) + "\n"


def _environment(out: Path) -> tuple[dict, str]:
    """The child processes' environment (the run's own cache and torch hub) and how HED is had."""
    from .hed import WEIGHTS_FILENAME

    env = dict(os.environ)
    cache, home = out / "cache", out / "torch"
    cache.mkdir(parents=True, exist_ok=True)
    user_hed = cache_dir() / WEIGHTS_FILENAME
    if user_hed.is_file() and not (cache / WEIGHTS_FILENAME).exists():
        (cache / WEIGHTS_FILENAME).symlink_to(user_hed)
    hed = ("BSDS500, linked from " + str(user_hed)) if user_hed.is_file() else "BSDS500, fetched into the run's cache"
    random_vgg19(home)
    env |= {"INPAINTKIT_CACHE": str(cache), "TORCH_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(repo_root()), env.get("PYTHONPATH")]))}
    return env, hed


def _fresh(out: Path) -> None:
    """Start from nothing (a resumed run would read its own checkpoints and caches, and prove nothing): ``out`` is
    removed when it is an earlier rehearsal's; a folder holding anything else is refused."""
    import shutil

    if out.exists() and any(out.iterdir()):
        if not ((out / "rehearsal.json").is_file() or (out / "places365").is_dir()):
            raise FileExistsError(f"{out} holds files that are not a rehearsal's; give --out an empty or new folder.")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def rehearse(out, n_train: int = 12, n_test: int = 6, masks_per_bucket: int = 3, device: str = "cpu") -> dict:
    """Steps 1-4 of the module docstring under ``out``; returns the report's dict (written as rehearsal.json)."""
    import platform


    out = Path(out).resolve()
    _fresh(out)
    t0 = time.perf_counter()
    env, hed = _environment(out)
    os.environ["INPAINTKIT_CACHE"] = env["INPAINTKIT_CACHE"]          # this process reads the same cache
    inputs = _inputs(out, env, n_train, n_test, masks_per_bucket)
    prof = get_profile("rehearse")
    spec_key = prof.sketch_spec().key()
    prepared = sketch_files(out / "cache")
    run_dir = out / "run"
    cmd = [sys.executable, "-m", "inpaintkit.reproduce", "--profile", prof.name, "--run-dir", str(run_dir),
           "--device", device, "--data", inputs["prepared"], "--masks", inputs["train_masks"],
           "--test-masks", inputs["test_masks"]]
    room = _machine_room(out)
    code, rows = _run_notebooks(cmd, env, out / "cache")
    report = _json(run_dir / "report.json") or {"notebooks": []}
    secs = {n["name"]: n["seconds"] for n in report["notebooks"]}
    errors = {n["name"]: n.get("error") for n in report["notebooks"]}
    for r in rows:
        r["seconds"] = secs.get(r["name"], float("nan"))
        if errors.get(r["name"]):
            r["error"] = errors[r["name"]]
    art = collect(run_dir)
    res = {"profile": prof.name, "counts": REHEARSAL_COUNTS, "command": " ".join(["python", *cmd[1:]]),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPU(s), device {device}, {room}", "hed": hed,
           "inputs": inputs, "notebooks": rows, "returncode": code, "prepared_sketches": prepared,
           "spec_key": spec_key, "artefacts": art, "notebook_seconds": sum(secs.values()),
           "seconds": time.perf_counter() - t0}
    res["checks"] = checks(rows, art, inputs, prepared, spec_key)
    res["ok"] = code == 0 and all(ok for _, ok, _ in res["checks"])
    atomic_write_text(out / "rehearsal.json", json.dumps(res, indent=1, default=str))
    atomic_write_text(out / "rehearsal.md", format_report(res))
    return res


def main(argv=None) -> int:

    ap = argparse.ArgumentParser(prog="python -m inpaintkit.rehearsal", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(repo_root() / "runs" / "rehearse"), help="everything goes here")
    ap.add_argument("--train-images", type=int, default=12)
    ap.add_argument("--test-images", type=int, default=6)
    ap.add_argument("--masks-per-bucket", type=int, default=3, help="Liu-style masks per bucket, each folder")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    try:
        res = rehearse(args.out, args.train_images, args.test_images, args.masks_per_bucket, args.device)
    except FileExistsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_report(res))
    print(f"wrote {Path(args.out) / 'rehearsal.md'} and rehearsal.json", flush=True)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
