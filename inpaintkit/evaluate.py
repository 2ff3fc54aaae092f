"""Table 1: PSNR / SSIM per hole-ratio bucket for our model, its variants and classical baselines.

    python -m inpaintkit.evaluate --run-dir runs/quick                       # demo weights, demo test split
    python -m inpaintkit.evaluate --run-dir runs/full --weights run --data /data/places365 --masks /data/liu_masks

What is measured (Section 4): every test image is paired with one mask of each Table-1 bucket (10-20 %,
20-30 %, 30-40 %, and 40-50 %, the paper's ">= 40 %"); every method fills the hole; PSNR, SSIM and
EdgeConnect's relative MAE of the **composited** output against the original image, over the whole image
(:mod:`inpaintkit.metrics`, ``protocol="edgeconnect"`` by default: the scale of the paper's table). The output
is rounded to 8 bits first, as EdgeConnect reads its results back from PNG files. The CFS ablation (notebook 03)
scores through the same functions, :func:`table1_masks` and :func:`inpaintkit.metrics.table1_scores`
(``docs/evaluation.md``).

Pairing is deterministic: ``per_bucket`` images are taken evenly spaced from the test list (the same images
for every bucket, so the buckets differ only by their masks), image j of bucket b gets mask j of bucket b
(both cycled when fewer exist, with a note). Masks come from a fixed, seeded set written once by
:func:`inpaintkit.masks.write_mask_folder` into ``cache_dir()/test_masks/`` (or from ``masks=DIR``: ours,
or Liu et al.'s set bucketed by each mask's measured hole ratio at the working size).

Written into the run directory, atomically: ``metrics.json`` (every record, per-bucket means with bootstrap
95 % intervals, the protocol, the model's weights and VGG source, skipped methods and images and why, where
the time went: wall and CPU seconds per stage) and ``table1.md`` (Table 1's layout, with the paper's own numbers
in a separate block).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .baselines import METHOD_ORDER, MODEL_VARIANTS, Method, ModelVariant, available_methods
from .config import Profile, cache_dir, default_run_dir, get_profile
from .data import demo_photo_of
from .files import atomic_write_text
from .masks import BUCKETS, MANIFEST, TABLE1_BUCKETS, LiuMaskSet, bucket_of, hole_ratio, write_mask_folder
from .metrics import PROTOCOLS, aggregate_by_bucket, quantize_8bit, sketch_scores, table1_scores

__all__ = ["evaluate", "format_table1", "table1_masks", "compute_order", "ensure_test_masks", "load_test_masks",
           "default_mask_dir", "resolve_data", "evenly_spaced", "pick_readable", "make_pairs", "weights_choice",
           "load_inpainter", "model_info", "extra_metric_status", "hole_at_border", "load_record", "sketch_overlay",
           "main", "EVAL_BATCH_SIZE", "TABLE1_LABELS", "METRIC_KEYS", "PUBLISHED_METHODS", "PUBLISHED",
           "PROTOCOL_NOTES", "INPAINTED_STROKE_RGB", "LPIPS_ALEXNET_FILE", "FID_INCEPTION_FILE"]

EVAL_BATCH_SIZE = 16      # images per model forward pass (at least the profile's batch size)
TABLE1_LABELS = {"10-20": "10-20%", "20-30": "20-30%", "30-40": "30-40%", "40-50": ">=40%"}
METRIC_KEYS = ("psnr", "ssim", "mae")

# The paper's Table 1, copied digit for digit (strings keep its precision, e.g. the four-decimal 0.7695).
# Its CA, GLCIC, PConv and EdgeConnect columns are EdgeConnect's numbers on Places2; ">=40" is Liu's 40-50 %.
PUBLISHED_METHODS = ("CA", "GLCIC", "PConv", "EdgeCnt", "Ours (paper)")
PUBLISHED = {
    "10-20": {"psnr": ("24.36", "23.49", "28.02", "27.95", "30.85"),
              "ssim": ("0.893", "0.862", "0.869", "0.920", "0.951")},
    "20-30": {"psnr": ("21.19", "20.45", "24.90", "24.92", "26.87"),
              "ssim": ("0.815", "0.771", "0.777", "0.861", "0.900")},
    "30-40": {"psnr": ("19.13", "18.50", "22.45", "22.84", "24.17"),
              "ssim": ("0.739", "0.686", "0.685", "0.799", "0.841")},
    "40-50": {"psnr": ("17.75", "17.17", "20.86", "21.16", "21.74"),
              "ssim": ("0.662", "0.603", "0.589", "0.731", "0.7695")},
}
PROTOCOL_NOTES = {
    "edgeconnect": ("EdgeConnect's scripts/metrics.py: rgb2gray, PSNR with data_range 1, "
                    "SSIM with a 51x51 uniform window"),
    "rgb": "scikit-image's defaults on RGB: channel_axis=-1, data_range 1, SSIM with a 7x7 uniform window",
}


# ---------------------------------------------------------------------------------------------- LPIPS, FID
# Reported only from weights already in torch hub's cache (never downloaded here): LPIPS (Zhang et al.) with
# the ``lpips`` package's AlexNet variant, FID with ``pytorch-fid``'s Inception. Otherwise metrics.json and
# table1.md say "not computed: weights absent (...)" -- a missing metric is never dropped silently.
LPIPS_ALEXNET_FILE = "alexnet-owt-7be5be79.pth"           # torchvision's AlexNet, which lpips.LPIPS(net="alex") loads
FID_INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"


def extra_metric_status() -> dict[str, str]:
    """{"lpips": ..., "fid": ...}: "computed" when the package imports and its weights are cached, else
    "not computed: weights absent (<what is missing, where>)"."""
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    out = {}
    for name, package, file in (("lpips", "lpips", LPIPS_ALEXNET_FILE), ("fid", "pytorch_fid", FID_INCEPTION_FILE)):
        missing = []
        try:
            __import__(package)
        except ImportError:
            missing.append(f"package {package.replace('_', '-')} not installed")
        if not (hub / file).is_file():
            missing.append(f"{file} not in {hub}")
        out[name] = "computed" if not missing else f"not computed: weights absent ({'; '.join(missing)})"
    return out


def hole_at_border(mask: np.ndarray) -> bool:
    """True if the hole reaches the image's outermost row or column (mask HxW, 1 = known, 0 = hole): Liu et
    al.'s test set has masks with and without holes at the border, split here by this measured property."""
    return bool((mask[0] == 0).any() or (mask[-1] == 0).any() or (mask[:, 0] == 0).any() or (mask[:, -1] == 0).any())


class _FidFeatures:
    """Inception pool features of outputs and originals per (method, bucket), for FID at the end."""

    def __init__(self, device):
        from pytorch_fid.inception import InceptionV3

        self.net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).to(device).eval()
        self.feats = defaultdict(lambda: {"fake": [], "real": []})

    @torch.no_grad()
    def add(self, method: str, buckets: list[str], fake: torch.Tensor, real: torch.Tensor) -> None:
        f, r = (self.net(t)[0].flatten(1).double().cpu().numpy() for t in (fake, real))   # (B, 2048)
        for j, b in enumerate(buckets):
            self.feats[(method, b)]["fake"].append(f[j])
            self.feats[(method, b)]["real"].append(r[j])

    def scores(self) -> dict[str, dict[str, float]]:
        from pytorch_fid.fid_score import calculate_frechet_distance

        out: dict = defaultdict(dict)
        for (method, b), d in self.feats.items():
            fake, real = np.stack(d["fake"]), np.stack(d["real"])
            if len(fake) > 1:
                out[method][b] = float(calculate_frechet_distance(fake.mean(0), np.cov(fake, rowvar=False),
                                                                  real.mean(0), np.cov(real, rowvar=False)))
        return dict(out)


# ---------------------------------------------------------------------------------------------- masks

def default_mask_dir(size: int, seed: int = 0) -> Path:
    """Where the fixed test masks for a working size live: ``cache_dir()/test_masks/<size>px_seed<seed>``."""
    return cache_dir() / "test_masks" / f"{size}px_seed{seed}"


def _our_manifest(root: Path) -> dict | None:
    f = root / MANIFEST
    if f.is_file():
        m = json.loads(f.read_text())
        if m.get("white") == "known":
            return m
    return None


def ensure_test_masks(size: int, per_bucket: int, seed: int = 0, root=None, progress: bool = True) -> Path:
    """The fixed, seeded Table-1 mask set at ``size``, with at least ``per_bucket`` masks per bucket.

    Written once by :func:`inpaintkit.masks.write_mask_folder` (mask i of a bucket depends only on (seed,
    bucket, i), so a larger set rewritten later starts with the same masks). Returns the folder.
    """
    root = Path(root) if root is not None else default_mask_dir(size, seed)
    m = _our_manifest(root)
    if (m is None or m.get("size") != size or m.get("seed") != seed or m.get("per_bucket", 0) < per_bucket
            or not all(b in m.get("buckets", {}) for b in TABLE1_BUCKETS)):
        write_mask_folder(root, size=size, per_bucket=per_bucket, seed=seed, buckets=TABLE1_BUCKETS, progress=progress)
    return root


def load_test_masks(root, size: int, per_bucket: int, buckets=TABLE1_BUCKETS,
                    progress: bool = True) -> tuple[dict[str, list[tuple[str, np.ndarray]]], list[str]]:
    """``({bucket: [(mask id, (size, size) uint8 mask, 1 = known)]}, notes)`` with up to ``per_bucket`` per bucket.

    ``root``: our folder (``masks.json`` beside ``<bucket>/NNNNN.png``, white = known; read bucket by bucket, in
    order) or Liu et al.'s set (white = hole; every mask is read and bucketed by its hole ratio at ``size``).
    Every mask kept has its *measured* ratio inside its bucket; masks that leave their bucket when resized are
    dropped, with a note. ValueError when a bucket ends up empty. Mask ids are paths relative to ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Mask folder {root} does not exist: give Liu et al.'s irregular mask test set, "
                                "or ours from `python data_scripts/make_test_masks.py --out DIR`.")
    out: dict[str, list[tuple[str, np.ndarray]]] = {b: [] for b in buckets}
    notes: list[str] = []
    if _our_manifest(root) is not None:
        for b in buckets:
            if not (root / b).is_dir():
                continue
            masks = LiuMaskSet(root / b, size=size, invert=False)
            dropped = 0
            for i in range(len(masks)):
                if len(out[b]) >= per_bucket:
                    break
                m = masks[i]
                if bucket_of(hole_ratio(m)) != b:
                    dropped += 1
                    continue
                out[b].append((str(masks.paths[i].relative_to(root)), m))
            if dropped:
                notes.append(f"{dropped} mask(s) of {b} left their bucket when resized to {size} px and were dropped.")
    else:
        masks = LiuMaskSet(root, size=size, invert="auto")
        for i in tqdm(range(len(masks)), desc="bucketing masks", unit="mask", disable=not progress):
            m = masks[i]
            r = hole_ratio(m)
            b = bucket_of(r) if r < BUCKETS["50-60"][1] else None
            if b in out and len(out[b]) < per_bucket:
                out[b].append((str(masks.paths[i].relative_to(root)), m))
            if all(len(v) >= per_bucket for v in out.values()):
                break
    empty = [b for b, v in out.items() if not v]
    if empty:
        raise ValueError(f"Mask folder {root} has no mask in bucket(s) {empty} at {size} px; use a set that covers "
                         f"{list(buckets)} (Liu et al.'s, or `python data_scripts/make_test_masks.py --out DIR`).")
    for b, v in out.items():
        if len(v) < per_bucket:
            notes.append(f"bucket {b}: only {len(v)} mask(s) for {per_bucket} images; masks are reused in turn.")
    resized = sorted({_png_size(root / mask_id) for v in out.values() for mask_id, _ in v} - {(size, size)})
    if resized:      # square, or LiuMaskSet refused them; say that they were resized
        notes.append(f"masks of {', '.join(f'{w}x{h}' for w, h in resized)} px were resized to {size}x{size} "
                     "px (nearest neighbour).")
    return out, notes


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from an image file's header."""
    from PIL import Image

    with Image.open(path) as img:
        return img.size


# ---------------------------------------------------------------------------------------------- images

def resolve_data(data, size: int, stride: int | None) -> tuple[list[Path], str]:
    """The test image paths and a description: the demo test split (``data=None``) or a folder / flist / Places
    root (its test split, else val) / prepare_places2.py's output folder (its test.flist)."""
    from .data import demo_patch_size, ensure_demo_dataset, list_images, split_source

    if data is None:
        folder = ensure_demo_dataset(patch_size=demo_patch_size(size), stride=stride)
        return list_images(folder / "test.flist"), f"demo test split ({folder / 'test.flist'})"
    source, split = split_source(data, "test")
    return list_images(source, split), f"{source}" + (f" (Places365 {split} split)" if split else "")


def evenly_spaced(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them, in order, when k >= n)."""
    if n <= 0:
        raise ValueError("No test images.")
    if k >= n:
        return list(range(n))
    return [int(i) for i in np.linspace(0, n - 1, k).round()]


def pick_readable(paths: list[Path], k: int, size: int) -> tuple[list[Path], dict[str, str]]:
    """Up to ``k`` images of ``paths`` that decode at ``size``, and {path: why} of those that did not.

    Starts at :func:`evenly_spaced`'s picks; an unreadable pick is replaced by the next readable image after it
    (wrapping round), so unreadable files never shrink the test set while readable ones are left. ValueError
    when no image can be read.
    """
    from .data import BadImageError, load_image

    chosen: list[int] = []
    bad: dict[str, str] = {}
    for start in evenly_spaced(len(paths), k):
        for j in [*range(start, len(paths)), *range(start)]:
            if j in chosen or str(paths[j]) in bad:
                continue
            try:
                load_image(paths[j], size)
            except BadImageError as e:
                bad[str(paths[j])] = str(e)
                continue
            chosen.append(j)
            break
    if not chosen:
        shown = "\n".join(f"  {p}: {why}" for p, why in list(bad.items())[:5])
        raise ValueError(f"No image could be read: all {len(paths)} failed at {size} px. First reasons:\n{shown}")
    return [paths[j] for j in sorted(chosen)], bad


def make_pairs(paths: list[Path], masks: dict[str, list[tuple[str, np.ndarray]]], per_bucket: int) -> list[dict]:
    """The deterministic (bucket, image, mask) pairs, bucket by bucket: image j of a bucket gets its mask j.

    The images are ``per_bucket`` evenly spaced ones of ``paths`` (the same for every bucket); images and masks
    are taken in turn when there are fewer than ``per_bucket``.
    """
    images = [paths[i] for i in evenly_spaced(len(paths), per_bucket)]
    pairs = []
    for b, ms in masks.items():
        for j in range(per_bucket):
            mask_id, m = ms[j % len(ms)]
            pairs.append({"bucket": b, "image": str(images[j % len(images)]), "mask_id": mask_id, "mask": m})
    return pairs


class _Pairs(torch.utils.data.Dataset):
    """Loads the image of each pair; an unreadable one comes back flagged, to be reported and skipped."""

    def __init__(self, pairs, size):
        self.pairs, self.size = pairs, size

    def __len__(self):
        return len(self.pairs)

    def __getitem__(self, i):
        from .data import BadImageError, load_image

        p = self.pairs[i]
        try:
            rgb = load_image(p["image"], self.size)
        except BadImageError as e:
            return {"index": i, "error": str(e)}
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)      # (3, S, S)
        mask = torch.from_numpy(p["mask"].astype(np.float32))[None]              # (1, S, S), 1 = known
        return {"index": i, "image": image, "mask": mask}


def _collate(items):
    good = [it for it in items if "error" not in it]
    bad = [(it["index"], it["error"]) for it in items if "error" in it]
    if not good:
        return None, bad
    return {"index": [it["index"] for it in good],
            "image": torch.stack([it["image"] for it in good]),                   # (B, 3, S, S)
            "mask": torch.stack([it["mask"] for it in good])}, bad                # (B, 1, S, S)


# ---------------------------------------------------------------------------------------------- the model

def weights_choice(weights: str, run_dir: Path | None) -> tuple[str, str]:
    """("run" or "demo", a sentence saying which weights are scored and why): ``weights`` "demo" (shipped),
    "run" (``run_dir``'s stages) or "auto" (the run's when both stages are trained, else the demo weights)."""
    if weights not in ("demo", "run", "auto"):
        raise ValueError(f"weights={weights!r}: choose 'demo' (the shipped weights), 'run' (the run dir's) or 'auto'.")
    trained = run_dir is not None and all((Path(run_dir) / f"stage{s}" / "generator.pt").is_file() for s in (1, 2))
    if weights == "run" or (weights == "auto" and trained):
        if run_dir is None:
            raise ValueError("weights='run' needs a run dir holding stage1/ and stage2/ (pass run_dir).")
        return "run", f"scoring the generators trained in {run_dir} (stage1/ and stage2/)"
    if weights == "demo":
        return "demo", "scoring the shipped demo weights (inpaintkit/weights/, weights='demo')"
    why = "does not exist (a typo?)" if run_dir is not None and not Path(run_dir).exists() else \
        "has no trained stage1/generator.pt and stage2/generator.pt"
    return "demo", (f"scoring the shipped demo weights (inpaintkit/weights/): the run dir {run_dir} {why}; "
                    "pass --weights run to insist on a run's own generators")


def load_inpainter(weights: str, run_dir: Path | None, device: str = "auto"):
    """(Inpainter, description): ``weights`` "demo" (shipped), "run" (``run_dir``'s stages) or "auto" (run if
    trained); prints which weights it loads, and why (:func:`weights_choice`), before loading them."""
    from .pipeline import Inpainter

    source, sentence = weights_choice(weights, run_dir)
    print(sentence, flush=True)
    if source == "run":
        return Inpainter.from_run(run_dir, device=device), "run"
    return Inpainter.from_pretrained(device=device), "demo"


def model_info(inpainter, source: str) -> dict:
    """What the evaluated model was: its weights' metadata, VGG source, widths and sketch spec."""
    from .networks import count_parameters

    info = {"source": source, "sketch_spec": asdict(inpainter.sketch_spec), "device": str(inpainter.device),
            "gs_base_channels": inpainter.gs.base_channels, "gi_base_channels": inpainter.gi.base_channels,
            "gi_block": inpainter.gi.block,
            "num_params": {"gs": count_parameters(inpainter.gs), "gi": count_parameters(inpainter.gi)}}
    w = getattr(inpainter, "weights", None)
    if w is not None:
        info.update({"weights_name": w.name, "sha256": w.sha256, "steps": w.steps, "data": w.data,
                     "trained_profile": w.profile.get("name"), "vgg_source": w.vgg_source})
    else:
        info.setdefault("vgg_source", "not recorded with these weights")
    return info


# ---------------------------------------------------------------------------------------------- evaluation

def table1_masks(size: int, per_bucket: int, masks=None, seed: int = 0,
                 progress: bool = True) -> tuple[Path, dict[str, list[tuple[str, np.ndarray]]], list[str]]:
    """Table 1's test masks at ``size``: ``(folder, {bucket: [(mask id, mask HxW uint8, 1 = known)]}, notes)``.

    ``masks``: None (our fixed set drawn with ``seed``, written once by :func:`ensure_test_masks`) or a folder
    (ours or Liu et al.'s), read by :func:`load_test_masks`. Image j of a bucket gets mask ``j % len(masks)``
    (:func:`make_pairs`). The CFS ablation takes its masks from here too (:func:`inpaintkit.ablation.bucket_masks`).
    """
    root = Path(masks) if masks is not None else ensure_test_masks(size, per_bucket, seed, progress=progress)
    mask_sets, notes = load_test_masks(root, size, per_bucket, progress=progress)
    return root, mask_sets, notes


@dataclass
class _TestSet:
    """The deterministic (bucket, image, mask) pairs and where they came from."""

    pairs: list[dict]
    data: str
    mask_root: Path
    mask_sets: dict[str, list[tuple[str, np.ndarray]]]
    notes: list[str]
    unreadable: dict[str, str]


def _test_set(prof: Profile, data, masks, per_bucket: int, mask_seed: int, progress: bool) -> _TestSet:
    """Test images (unreadable ones dropped before pairing) and Table 1's masks, paired by :func:`make_pairs`."""
    size = prof.image_size
    paths, data_desc = resolve_data(data, size, prof.demo_patch_stride)
    mask_root, mask_sets, notes = table1_masks(size, per_bucket, masks, mask_seed, progress)
    images, unreadable = pick_readable(paths, per_bucket, size)
    if len(images) < per_bucket:
        notes.append(f"only {len(images)} readable image(s) of {len(paths)} for {per_bucket} per bucket; "
                     "images are reused in turn.")
    return _TestSet(make_pairs(images, mask_sets, per_bucket), data_desc, mask_root, mask_sets, notes, unreadable)


def _check_request(prof: Profile, data, weights: str, protocol: str, per_bucket: int | None) -> tuple[str, int]:
    """``(weights, per_bucket)`` after the checks: the protocol is known, a Places2 profile scores its own run
    on Places2, at least one image per bucket."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r}: choose one of {PROTOCOLS}.")
    if data is None and prof.needs_real_data:
        raise ValueError(f"The {prof.name} profile is evaluated on Places2, not on the demo photographs: prepare it "
                         "with `python data_scripts/prepare_places2.py --root /data/places365 --out data/places2` "
                         "and pass data='data/places2' (--data).")
    if weights == "demo" and prof.needs_real_data:
        raise ValueError(f"The {prof.name} profile evaluates the run's own generators (weights='run'), never the "
                         "shipped 64-px demo weights.")
    if weights == "auto" and prof.needs_real_data:
        weights = "run"
    per_bucket = int(per_bucket if per_bucket is not None else prof.eval_images)
    if per_bucket < 1:
        raise ValueError(f"per_bucket must be >= 1, got {per_bucket}.")
    return weights, per_bucket


def compute_order(methods) -> list[Method]:
    """The order methods run in on a batch: METHOD_ORDER, except that "oracle sketch" and then "emptied sketch"
    come after "ours", whose ground-truth HED sketch they reuse (HED runs once per batch). Tables keep METHOD_ORDER."""
    reuse = (Method.ORACLE_SKETCH, Method.EMPTIED_SKETCH)
    return sorted(methods, key=lambda n: (reuse.index(n) + 1 if n in reuse else 0, METHOD_ORDER.index(n)))


def _run_method(fn, x: torch.Tensor, m: torch.Tensor, gt_sketch: torch.Tensor | None):
    """``(output (B, 3, S, S), stage-2 sketch or None, the full image's sketch or None)`` of one method."""
    if isinstance(fn, ModelVariant):
        return fn.batch(x, m, gt_sketch if fn.uses_gt_sketch else None)
    out = torch.stack([torch.from_numpy(fn(img.permute(1, 2, 0).double().numpy(), mk[0].numpy()))
                       .permute(2, 0, 1).float() for img, mk in zip(x, m)])            # (B, 3, S, S)
    return out, None, None


class _Scores:
    """Per-image records of every method on every batch: Table 1's scores (:func:`inpaintkit.metrics.table1_scores`),
    LPIPS and FID features where their weights are cached, and the sketch scores of "ours" in the hole."""

    def __init__(self, protocol: str, device: torch.device):
        self.protocol, self.device = protocol, device
        self.records: list[dict] = []
        self.ssim_warnings: set[str] = set()
        self.extra = extra_metric_status()
        self.lpips_net = None
        if self.extra["lpips"] == "computed":
            import lpips

            self.lpips_net = lpips.LPIPS(net="alex", verbose=False).to(device).eval()
        self.fid = _FidFeatures(device) if self.extra["fid"] == "computed" else None

    def add(self, method: Method, out, target, base: list[dict], mask, sketch=None, gt_sketch=None) -> None:
        out, target = out.to(self.device), target.to(self.device)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            scores = table1_scores(out, target, self.protocol)
        self.ssim_warnings.update(str(w.message) for w in caught)
        if self.lpips_net is not None or self.fid is not None:
            out8 = quantize_8bit(out.float().clamp(0, 1))               # what Table 1's scores saw
            if self.lpips_net is not None:
                with torch.no_grad():
                    scores["lpips"] = self.lpips_net(out8 * 2 - 1, target * 2 - 1).flatten().cpu()
            if self.fid is not None:
                self.fid.add(method, [r["bucket"] for r in base], out8, target)
        if method is Method.OURS:
            sk = sketch_scores(sketch, gt_sketch, mask, per_image=True)
            scores |= {"sketch_accuracy": sk["accuracy"], "sketch_f1": sk["f1"]}
        for j, rec in enumerate(base):
            self.records.append({"method": method, **rec} | {k: float(v[j]) for k, v in scores.items()})


def _record_base(pair: dict) -> dict:
    """What a record says about its pair; ``group`` (the photograph) is what the bootstrap intervals resample."""
    return {k: pair[k] for k in ("bucket", "image", "mask_id")} | {
        "hole_ratio": hole_ratio(pair["mask"]), "hole_at_border": hole_at_border(pair["mask"]),
        "group": demo_photo_of(pair["image"])}


def _score_batch(batch: dict, pairs: list[dict], runnable: dict, scores: _Scores, clock: "_Clock") -> None:
    """Every method on one batch of pairs, in :func:`compute_order`, scored into ``scores``."""
    x, m = batch["image"], batch["mask"]                                          # (B, 3, S, S), (B, 1, S, S)
    base = [_record_base(pairs[i]) for i in batch["index"]]
    gt_sketch = None
    for name in compute_order(runnable):
        clock.lap()
        out, sketch, start = _run_method(runnable[name], x, m, gt_sketch)
        if name in (Method.OURS, Method.ORACLE_SKETCH):
            gt_sketch = start                                                     # HED of the full images
        clock.add(name)
        scores.add(name, out, x, base, m, sketch, gt_sketch)
        clock.add("metrics")


def _score_all(test: _TestSet, runnable: dict, scores: _Scores, size: int, batch_size: int, num_workers: int,
               clock: "_Clock", progress: bool) -> dict[str, str]:
    """Load the pairs batch by batch and score every method on them; returns {image: why} of unreadable ones."""
    loader = torch.utils.data.DataLoader(_Pairs(test.pairs, size), batch_size=batch_size, shuffle=False,
                                         num_workers=num_workers, collate_fn=_collate)
    skipped = dict(test.unreadable)
    bar = tqdm(total=len(test.pairs), desc="evaluating", unit="img", disable=not progress)
    clock.lap()
    for batch, bad in loader:
        clock.add("load images")
        for i, why in bad:
            skipped[test.pairs[i]["image"]] = why
        if batch is not None:
            _score_batch(batch, test.pairs, runnable, scores, clock)
        bar.update((len(batch["index"]) if batch is not None else 0) + len(bad))
        clock.lap()
    bar.close()
    if skipped:
        print(f"Skipped {len(skipped)} unreadable image(s):\n" +
              "\n".join(f"  {p}: {why}" for p, why in skipped.items()), flush=True)
    return skipped


def _summaries(records: list[dict]) -> tuple[dict, dict]:
    """Per-bucket means with bootstrap intervals, overall and split by whether the hole touches the border."""
    summary = aggregate_by_bucket(records)
    by_border = {group: aggregate_by_bucket([r for r in records if r["hole_at_border"] == flag], METRIC_KEYS)
                 for group, flag in (("hole at the border", True), ("hole inside", False))
                 if any(r["hole_at_border"] == flag for r in records)}
    return summary, by_border


def evaluate(inpainter=None, *, run_dir=None, data=None, masks=None, methods=None, protocol: str = "edgeconnect",
             per_bucket: int | None = None, profile: str | Profile | None = None, weights: str = "auto",
             device: str = "auto", batch_size: int | None = None, mask_seed: int = 0, progress: bool = True,
             write: bool = True) -> dict:
    """Evaluate every method on the fixed test pairs; write ``metrics.json`` and ``table1.md`` into ``run_dir``.

    ``inpainter``: an :class:`~inpaintkit.pipeline.Inpainter`, or None to load one by ``weights`` ("demo": the
    shipped weights, "run": ``run_dir``'s trained stages, "auto": the run's when trained, else demo).
    ``data``: None (the demo test split) or an image folder / flist / Places365 root (its test split, else val).
    ``masks``: None (our fixed seeded set, made once) or a mask folder (ours or Liu et al.'s).
    ``methods``: :class:`~inpaintkit.baselines.Method` members, keys or labels (default all of METHOD_ORDER);
    records and summaries are keyed by Method (its key string in JSON). ``protocol``: "edgeconnect"
    (Table 1's) or "rgb". ``per_bucket``: images per bucket (default the profile's ``eval_images``).
    Images are ``profile.image_size`` square. Returns the dict written to ``metrics.json``.
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    weights, per_bucket = _check_request(prof, data, weights, protocol, per_bucket)
    out_dir = Path(run_dir) if run_dir is not None else default_run_dir(prof)
    clock = _Clock()
    source = "given"
    wanted = set(MODEL_VARIANTS if methods is None else (Method.parse(n) for n in methods))
    if inpainter is None and wanted & set(MODEL_VARIANTS):
        inpainter, source = load_inpainter(weights, run_dir, device)
    clock.add("load model")
    runnable, skipped_methods = available_methods(inpainter, methods)
    if not runnable:
        raise ValueError(f"No method can run: {skipped_methods}.")
    clock.lap()
    test = _test_set(prof, data, masks, per_bucket, mask_seed, progress)
    clock.add("masks and pairing")
    # metrics on the model's GPU when it has one (batched torch SSIM there), else on the CPU (scikit-image's SSIM)
    on_gpu = inpainter is not None and inpainter.device.type == "cuda"
    scores = _Scores(protocol, inpainter.device if on_gpu else torch.device("cpu"))
    skipped_images = _score_all(test, runnable, scores, prof.image_size,
                                batch_size or max(EVAL_BATCH_SIZE, prof.batch_size),
                                prof.num_workers, clock, progress)
    records = scores.records
    if not records:
        raise ValueError(f"No image of {test.data} could be read; nothing was evaluated (see the skipped list).")
    # records in table order (methods, then buckets), whatever the compute order was
    records.sort(key=lambda r: (METHOD_ORDER.index(r["method"]), TABLE1_BUCKETS.index(r["bucket"])))
    clock.lap()
    summary, by_border = _summaries(records)
    extra_scores = {"fid": scores.fid.scores()} if scores.fid is not None else {}
    clock.add("bootstrap")
    result = {
        "protocol": protocol,
        "protocol_note": PROTOCOL_NOTES[protocol] + "; output rounded to 8 bits first",
        "profile": prof.name,
        "image_size": prof.image_size,
        "per_bucket": per_bucket,
        "data": test.data,
        "masks": {"root": str(test.mask_root), "seed": mask_seed if masks is None else None,
                  "ratios": {b: [hole_ratio(mk) for _, mk in v] for b, v in test.mask_sets.items()}},
        "model": model_info(inpainter, source) if inpainter is not None else None,
        "methods": [n for n in METHOD_ORDER if n in runnable],
        "method_labels": {n: n.label for n in METHOD_ORDER if n in runnable or n in skipped_methods},
        "skipped_methods": skipped_methods,
        "skipped_images": skipped_images,
        "notes": test.notes + sorted(scores.ssim_warnings),
        "seconds": dict(clock.wall),
        "cpu_seconds": dict(clock.cpu),
        "summary": summary,
        "summary_by_border": by_border,
        "extra_metrics": scores.extra,
        "extra_scores": extra_scores,
        "records": records,
    }
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(out_dir / "metrics.json", json.dumps(result, indent=1, default=_json_default))
        _atomic_write(out_dir / "table1.md", format_table1(result))
    return result


class _Clock:
    """Wall seconds (``perf_counter``) and CPU seconds of this process, all threads (``process_time``), per stage.

    CPU time is the steadier of the two on a shared machine: waiting for a core adds wall time, not CPU time.
    """

    def __init__(self):
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.lap()

    def lap(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def add(self, stage: str) -> None:
        """Charge the time since the last lap (or add) to ``stage``; start a new lap."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.wall[stage] += wall - self._wall
        self.cpu[stage] += cpu - self._cpu
        self._wall, self._cpu = wall, cpu


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


_atomic_write = atomic_write_text


# ---------------------------------------------------------------------------------------------- the report

def _fmt(entry: dict | None, metric: str) -> str:
    if not entry or entry.get("n", 0) == 0:
        return "n/a"
    return f"{entry['mean']:.2f}" if metric == "psnr" else f"{entry['mean']:.3f}"


def _label(method) -> str:
    """A method's display label, from its key (or its label, as older metrics.json files hold)."""
    return Method.parse(method).label


def format_table1(metrics: dict) -> str:
    """Table 1's layout in Markdown: a PSNR and an SSIM row per bucket, a column per method (by its label); then
    the paper's published numbers in a separate block, labelled as not re-run here."""
    methods = metrics["methods"]
    summary = metrics["summary"]
    lines = [
        "## Table 1 (this run)",
        "",
        f"Protocol `{metrics['protocol']}` ({metrics['protocol_note']}); "
        f"{metrics['image_size']}x{metrics['image_size']} "
        f"images from {metrics['data']}; {metrics['per_bucket']} image(s) per bucket. Mean over images; "
        "95 % bootstrap intervals are in metrics.json.",
        "",
        "| Mask | Metric | " + " | ".join(_label(m) for m in methods) + " |",
        "|---|---|" + "---:|" * len(methods),
    ]
    for b in TABLE1_BUCKETS:
        for metric in ("psnr", "ssim"):
            cells = [_fmt(summary.get(m, {}).get(b, {}).get(metric), metric) for m in methods]
            label = TABLE1_LABELS[b] if metric == "psnr" else ""
            lines.append(f"| {label} | {metric.upper()} | " + " | ".join(cells) + " |")
    for name, status in metrics.get("extra_metrics", {}).items():
        lines += ["", f"{name.upper()}: {status}"]
        if status != "computed":
            continue
        for m in methods:
            if name == "lpips":
                vals = [_fmt(summary.get(m, {}).get(b, {}).get("lpips"), "lpips") for b in TABLE1_BUCKETS]
            else:
                fids = metrics.get("extra_scores", {}).get("fid", {}).get(m, {})
                vals = [f"{fids[b]:.2f}" if b in fids else "n/a" for b in TABLE1_BUCKETS]
            lines.append(f"- {_label(m)}: "
                         + ", ".join(f"{TABLE1_LABELS[b]} {v}" for b, v in zip(TABLE1_BUCKETS, vals)))
    borders = metrics.get("summary_by_border", {})
    if len(borders) == 2:
        m = Method.OURS if Method.OURS in methods else methods[-1]
        lines += ["", f"PSNR of {_label(m)} by where the hole lies "
                      "(Liu et al.'s test masks come with and without holes "
                      "at the border; mean, images in brackets):"]
        for group, summ in borders.items():
            cells = [f"{TABLE1_LABELS[b]} {_fmt(summ.get(m, {}).get(b, {}).get('psnr'), 'psnr')} "
                     f"({summ.get(m, {}).get(b, {}).get('psnr', {}).get('n', 0)})" for b in TABLE1_BUCKETS]
            lines.append(f"- {group}: " + ", ".join(cells))
    for name, why in metrics.get("skipped_methods", {}).items():
        lines.append("")
        lines.append(f"Not run: {_label(name)} ({why})")
    lines += [
        "",
        "## As reported on Places2 in the paper (Table 1), not re-run here",
        "",
        "The CA, GLCIC, PConv and EdgeCnt columns are EdgeConnect's numbers, copied by the paper; "
        "\">=40%\" is Liu et al.'s 40-50 % bucket.",
        "",
        "| Mask | Metric | " + " | ".join(PUBLISHED_METHODS) + " |",
        "|---|---|" + "---:|" * len(PUBLISHED_METHODS),
    ]
    for b in TABLE1_BUCKETS:
        for metric in ("psnr", "ssim"):
            label = TABLE1_LABELS[b] if metric == "psnr" else ""
            lines.append(f"| {label} | {metric.upper()} | " + " | ".join(PUBLISHED[b][metric]) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- for figures

def load_record(metrics: dict, record: dict) -> tuple[np.ndarray, np.ndarray]:
    """The (image HxWx3 float32, mask HxW uint8 1 = known) that produced ``record`` of ``metrics``."""
    from .data import load_image

    size = metrics["image_size"]
    masks, index = _mask_index(metrics["masks"]["root"], size)
    return load_image(record["image"], size), masks[index[record["mask_id"]]]


@functools.lru_cache(maxsize=4)
def _mask_index(root: str, size: int) -> tuple[LiuMaskSet, dict[str, int]]:
    """A mask folder's loader and {mask id: index}, listed once per folder (Liu's set has 12,000 files)."""
    root = Path(root)
    masks = LiuMaskSet(root, size=size, invert=_our_manifest(root) is None)
    return masks, {str(p.relative_to(root)): i for i, p in enumerate(masks.paths)}


INPAINTED_STROKE_RGB = (1.0, 0.55, 0.0)   # orange, as the paper's Fig. 4


def sketch_overlay(sketch: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The restored sketch as in the paper's Fig. 4: HxWx3 on white, known strokes black, inpainted ones orange.

    sketch HxW in [0, 1] (binarised at ``threshold``); mask HxW, 1 = known, 0 = hole.
    """
    sketch, mask = np.asarray(sketch), np.asarray(mask)
    if sketch.shape != mask.shape or sketch.ndim != 2:
        raise ValueError(f"sketch {sketch.shape} and mask {mask.shape} must both be HxW.")
    stroke = sketch >= threshold
    out = np.ones((*sketch.shape, 3), np.float32)                     # (H, W, 3) white
    out[stroke & (mask == 1)] = 0.0
    out[stroke & (mask == 0)] = INPAINTED_STROKE_RGB
    return out


# ---------------------------------------------------------------------------------------------- CLI

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inpaintkit.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", required=True,
                    help="where metrics.json and table1.md go (and trained stages for --weights run)")
    ap.add_argument("--data", default=None,
                    help="image folder, .flist or Places365 root (default: the demo test split)")
    ap.add_argument("--photos", default=None, help="a folder of extra photographs for the demo set (split by "
                                                   "photograph; sets $INPAINTKIT_PHOTOS), e.g. data/photos")
    ap.add_argument("--masks", default=None, help="mask folder, ours or Liu et al.'s (default: our fixed seeded set)")
    ap.add_argument("--weights", default="auto", choices=("demo", "run", "auto"),
                    help="demo: shipped weights; run: the run dir's stages; auto: run if trained, else demo")
    ap.add_argument("--per-bucket", type=int, default=None,
                    help="images per bucket (default: the profile's eval_images)")
    ap.add_argument("--protocol", default="edgeconnect", choices=PROTOCOLS)
    ap.add_argument("--profile", default=None, help="smoke, quick or full (default: $INPAINTKIT_PROFILE or quick)")
    ap.add_argument("--methods", nargs="+", default=None, type=Method.parse, choices=METHOD_ORDER, metavar="METHOD",
                    help=f"subset of {', '.join(METHOD_ORDER)} (keys; their labels are taken too)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--image-size", type=int, default=None,
                    help="square test size instead of the profile's (e.g. a model's serving size)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    if args.photos is not None:                # the demo set reads it wherever it is built (data.demo_photos)
        if not Path(args.photos).is_dir():
            print(f"error: --photos {args.photos}: no such folder of photographs", file=sys.stderr)
            return 2
        os.environ["INPAINTKIT_PHOTOS"] = str(Path(args.photos).resolve())
    try:
        profile = get_profile(args.profile)
        if args.image_size is not None:
            profile = replace(profile, image_size=args.image_size)   # Profile checks the multiple of 16
        res = evaluate(run_dir=args.run_dir, data=args.data, masks=args.masks, methods=args.methods,
                       protocol=args.protocol, per_bucket=args.per_bucket, profile=profile,
                       weights=args.weights, device=args.device, batch_size=args.batch_size)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(format_table1(res))
    for note in res["notes"]:                  # masks resized, images reused, ...: said, not only stored
        print(f"note: {note}")
    print(f"wrote {Path(args.run_dir) / 'metrics.json'} and {Path(args.run_dir) / 'table1.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
