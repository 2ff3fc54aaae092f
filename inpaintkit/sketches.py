"""Sketches S_gt for stage 1: HED (the paper) or Canny (EdgeConnect; our ablation), binarised, cached on disk.

The paper's sketch generator is trained against HED sketches of the full images (Section 3; Eq. 9 composites
S_comp = S_pred * (1 - M) + S_gt * M) and scored by a binary accuracy (Section 4: "77% accuracy (Binary
Classification)"). So our sketches are **binarised by default**: HED's fused probability >= ``threshold``
(0.5, the profile's ``sketch_threshold``), optionally thinned to one pixel (``skimage.morphology.thin``).
``threshold=None`` keeps HED's soft probability map. Either way a sketch is single-channel, float in [0, 1].
Sketch the full image, then mask it -- never the other way round (HED draws thick outlines at hole borders).

A :class:`~inpaintkit.config.SketchSpec` (defined with the profiles, re-exported here) names the method and its
parameters; its :meth:`~inpaintkit.config.SketchSpec.key` (plus HED's weights checksum) keys the on-disk
:class:`SketchCache`, together with the image's absolute path, mtime, size in bytes
and the working size, so a changed parameter, image or weights file never reads a stale sketch.

Counters: :func:`cache_counts` says how many sketches this process read from the cache (a hit of
:meth:`SketchCache.load`) and how many it computed (HED or Canny ran: :func:`extract_sketches`, or a data set
filling a gap on access). A DataLoader worker counts in its own process; whoever receives its items adds them
here with :func:`count_sketches` (the trainer does, from each item's ``sketch_read`` / ``sketch_computed``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from skimage.color import rgb2gray
from skimage.feature import canny
from skimage.morphology import thin as skimage_thin
from tqdm.auto import tqdm

from .config import CANNY_SIGMA, SketchSpec, resolve_device
from .files import atomic_path, atomic_write_bytes, check_utf8_name, display_path
from .hed import HED, load_hed
from .images import as_float_rgb
from .limits import INPAINT_MAX_PIXELS, check_image_size

__all__ = ["SketchSpec", "CANNY_SIGMA", "HED_MAX_SIDE", "cache_counts", "count_sketches",
           "binarize", "canny_sketch", "hed_scale", "hed_sketch",
           "sketch_image", "SketchCache", "SketchReport", "extract_sketches"]

log = logging.getLogger(__name__)

HED_MAX_SIDE = 512  # HED's working size never exceeds this long side (bounded memory; see hed_sketch)

_COUNTS = {"read": 0, "computed": 0}   # this process's; see cache_counts


def cache_counts() -> dict[str, int]:
    """``{"read": n, "computed": m}``: sketches this process read from a :class:`SketchCache` and sketches it
    computed (HED or Canny ran) since it started, plus what :func:`count_sketches` added from worker processes."""
    return dict(_COUNTS)


def count_sketches(read: int = 0, computed: int = 0) -> None:
    """Add ``read`` and ``computed`` sketches to this process's :func:`cache_counts` (e.g. those a DataLoader
    worker read or computed for items this process received)."""
    _COUNTS["read"] += int(read)
    _COUNTS["computed"] += int(computed)


def binarize(prob, threshold: float, thin: bool = False):
    """{0, 1} float map of ``prob >= threshold`` (numpy array or tensor, any leading dims, ... x H x W).

    ``thin=True`` thins each H x W map to one-pixel-wide lines with ``skimage.morphology.thin`` (on the CPU).
    Returns the input's type (numpy float32, or a tensor of the input's float dtype and device).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"binarize: threshold={threshold} must be a probability in (0, 1).")
    if isinstance(prob, torch.Tensor):
        out = (prob >= threshold).to(prob.dtype if prob.is_floating_point() else torch.float32)
        if thin:
            thinned = binarize(out.float().cpu().numpy(), 0.5, thin=True)
            out = torch.from_numpy(thinned).to(out.device, out.dtype)
        return out
    out = (np.asarray(prob) >= threshold).astype(np.float32)
    if thin:
        maps = out.reshape(-1, *out.shape[-2:])  # (B, H, W) over any leading dims
        out = np.stack([skimage_thin(m > 0) for m in maps]).astype(np.float32).reshape(out.shape)
    return out


def canny_sketch(rgb: np.ndarray, sigma: float = CANNY_SIGMA) -> np.ndarray:
    """EdgeConnect's edge map: ``skimage.feature.canny(rgb2gray(rgb), sigma)``; rgb HxWx3 in [0, 1] (or HxW
    gray) -> float32 HxW in {0, 1}."""
    rgb = np.asarray(rgb)
    gray = rgb if rgb.ndim == 2 else rgb2gray(rgb)
    return canny(gray, sigma=sigma).astype(np.float32)


def hed_scale(h: int, w: int, spec: SketchSpec = SketchSpec()) -> float:
    """The factor HED's working size is the image's: short side up to ``spec.hed_min_side``, but the long side
    never above :data:`HED_MAX_SIDE` (large images are shrunk to it). 1 when the image fits as it is."""
    up = spec.hed_min_side / min(h, w)
    cap = HED_MAX_SIDE / max(h, w)
    return min(max(up, 1.0), cap)


@torch.no_grad()
def hed_sketch(rgb: torch.Tensor, hed: HED, spec: SketchSpec = SketchSpec()) -> torch.Tensor:
    """HED sketches of RGB images (N, 3, H, W) in [0, 1] -> (N, 1, H, W) float32: {0, 1}, or soft if
    ``spec.threshold`` is None. On CUDA it runs under bf16 autocast (the caller picks channels_last).

    HED runs at a bounded working size (:func:`hed_scale`): the short side is upsampled to
    ``spec.hed_min_side`` and the map averaged back down, but the long side is at most :data:`HED_MAX_SIDE`
    px, so one image costs HED at most ~512 x 512 px (about 0.1 GB on the CPU); a larger image is shrunk
    (area) to it and the edge map resized back (bilinear) before thresholding. Empty images and those
    beyond :data:`inpaintkit.limits.MAX_ASPECT` are refused with a ValueError.
    """
    if spec.method != "hed":
        raise ValueError(f"hed_sketch got SketchSpec(method={spec.method!r}); use sketch_image or canny_sketch.")
    h, w = rgb.shape[-2:]
    check_image_size(w, h, "hed_sketch's image")
    scale = hed_scale(h, w, spec)
    x = rgb
    size = (max(1, round(h * scale)), max(1, round(w * scale)))                  # HED's working size (h', w')
    if scale > 1:
        x = torch.nn.functional.interpolate(rgb, size=size, mode="bilinear", align_corners=False)  # (N, 3, h', w')
    elif scale < 1:
        x = torch.nn.functional.interpolate(rgb, size=size, mode="area")  # anti-aliased shrink: (N, 3, h', w')
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=rgb.is_cuda):
        prob = hed(x).float()  # (N, 1, h', w')
    if scale > 1:
        prob = torch.nn.functional.interpolate(prob, size=(h, w), mode="area")  # (N, 1, H, W)
    elif scale < 1:
        prob = torch.nn.functional.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)
    if spec.threshold is None:
        return prob
    return binarize(prob, spec.threshold, spec.thin)


def sketch_image(rgb: np.ndarray, spec: SketchSpec = SketchSpec(), hed: HED | None = None,
                 device: str = "cpu") -> np.ndarray:
    """The sketch of one image (HxWx3 uint8, or float in [0, 1]) -> float32 HxW in [0, 1].

    Memory: the image as float32 (12 bytes a pixel, up to :data:`inpaintkit.limits.MAX_PIXELS`) plus, for HED,
    its bounded working size (:func:`hed_sketch`); Canny runs at full size (tens of bytes a pixel), so for
    Canny images over :data:`inpaintkit.limits.INPAINT_MAX_PIXELS` are refused. Empty or > 64:1: ValueError.
    """
    rgb = as_float_rgb(rgb, alpha=False)  # loaders and callers give RGB here; alpha is refused
    if spec.method == "canny":
        check_image_size(rgb.shape[1], rgb.shape[0], "image (Canny runs at full size)", INPAINT_MAX_PIXELS)
        return canny_sketch(rgb, spec.canny_sigma)
    dev = resolve_device(device)
    hed = hed if hed is not None else load_hed(device=dev)
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].to(next(hed.parameters()).device)  # (1, 3, H, W)
    return hed_sketch(x, hed, spec)[0, 0].cpu().numpy()


# ----------------------------------------------------------------------------------------------------------
# On-disk cache


def _size_str(size: int | tuple[int, int]) -> str:
    return f"{size}x{size}" if isinstance(size, int) else "x".join(str(int(s)) for s in size)


class SketchCache:
    """Sketches as 8-bit grayscale PNGs under ``root/<spec key>/``, one per (image, working size).

    The file name hashes the image's absolute path, mtime (ns), size in bytes and the working size; the
    folder is the spec's key (method, parameters, HED weights' checksum). Binary sketches round-trip exactly;
    soft ones are quantised to 1/255. Writes are atomic.
    """

    def __init__(self, root: str | os.PathLike, spec: SketchSpec, weights_sha: str | None = None):
        self.spec = spec
        self.key = spec.key(weights_sha)
        self.dir = Path(root) / self.key
        self.dir.mkdir(parents=True, exist_ok=True)
        info = self.dir / "spec.json"
        if not info.exists():  # for a person browsing the cache
            _atomic_write_bytes(info, json.dumps({**asdict(spec), "key": self.key}, indent=1).encode())

    def path_for(self, image_path: str | os.PathLike, size: int | tuple[int, int]) -> Path:
        """The PNG that holds (or will hold) this image's sketch; raises FileNotFoundError if the image is gone."""
        check_utf8_name(image_path, "image")
        p = Path(image_path).resolve()
        st = p.stat()
        ident = f"{p}\n{st.st_mtime_ns}\n{st.st_size}\n{_size_str(size)}"
        h = hashlib.sha256(ident.encode()).hexdigest()[:32]
        return self.dir / h[:2] / f"{h}.png"

    def load(self, image_path: str | os.PathLike, size: int | tuple[int, int]) -> np.ndarray | None:
        """The cached sketch (float32 HxW in [0, 1]) or None when absent, stale or unreadable."""
        try:
            path = self.path_for(image_path, size)
            with Image.open(path) as im:
                sketch = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        except (OSError, ValueError):  # missing image or cache entry, truncated PNG
            return None
        count_sketches(read=1)
        return sketch

    def save(self, image_path: str | os.PathLike, size: int | tuple[int, int], sketch: np.ndarray,
             path: Path | None = None) -> Path:
        """Store a sketch (HxW in [0, 1]) atomically; return its path."""
        path = path or self.path_for(image_path, size)
        _write_png(path, sketch)
        return path


_atomic_write_bytes = atomic_write_bytes


def _write_png(path: Path, sketch: np.ndarray) -> None:
    sketch = np.asarray(sketch)
    if sketch.ndim != 2 or not np.isfinite(sketch).all() or sketch.min() < 0 or sketch.max() > 1:
        raise ValueError(f"A sketch is HxW in [0, 1]; got shape {sketch.shape}, range "
                         f"[{np.nanmin(sketch):.3g}, {np.nanmax(sketch):.3g}].")
    with atomic_path(path, suffix=".png.tmp") as tmp:
        Image.fromarray(np.round(sketch * 255).astype(np.uint8), mode="L").save(tmp, format="PNG")


# ----------------------------------------------------------------------------------------------------------
# A whole data set


@dataclass
class SketchReport:
    """What :func:`extract_sketches` did: counts, and the (path, reason) of every image it skipped."""

    computed: int = 0
    cached: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


class _Images(torch.utils.data.Dataset):
    """Decodes (and for Canny, sketches) in DataLoader workers; errors come back as text, never raise."""

    def __init__(self, items, size, load_fn, spec):
        self.items, self.size, self.load_fn, self.spec = items, size, load_fn, spec

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path = self.items[i][0]
        try:
            rgb = as_float_rgb(self.load_fn(path, self.size), alpha=False)
        except Exception as e:  # any decoder error: report and skip, the job goes on
            return i, None, f"{type(e).__name__}: {e}"
        if self.spec.method == "canny":
            return i, canny_sketch(rgb, self.spec.canny_sigma), None
        return i, rgb, None


def extract_sketches(image_paths: Sequence[str | os.PathLike], spec: SketchSpec, cache: SketchCache,
                     size: int | tuple[int, int], load_fn: Callable, device: str = "auto",
                     batch_size: int = 16, hed: HED | None = None, progress: bool = True,
                     num_workers: int = 0) -> SketchReport:
    """Sketch every image not yet in ``cache``; report computed, cached and skipped (path, reason).

    ``load_fn(path, size) -> float32 HxWx3 in [0, 1]`` decodes an image at the working size (the data set
    passes :func:`inpaintkit.data.load_image`; this module does not import the data module, which imports it).
    HED runs batched on ``device`` ("auto": CUDA when present, then bf16 autocast and channels_last); decoding
    runs in ``num_workers`` DataLoader workers (load_fn must then be a module-level function), PNG writes in
    two threads. An unreadable image is skipped and listed, never fatal.
    """
    if cache.spec != spec:
        raise ValueError(f"The cache was made for {cache.spec}, not {spec}: use SketchCache(root, spec).")
    report = SketchReport()
    todo = []
    for p in image_paths:
        try:
            target = cache.path_for(p, size)
        except (OSError, ValueError) as e:              # a missing file; a name that is not valid UTF-8
            report.skipped.append((str(p), str(e)))
            continue
        if target.exists():
            report.cached += 1
        else:
            todo.append((str(p), target))

    dev = resolve_device(device)
    if spec.method == "hed" and todo:
        hed = hed if hed is not None else load_hed(device=dev)
        hed = hed.to(dev, memory_format=torch.channels_last if dev.type == "cuda" else torch.contiguous_format)
    loader = torch.utils.data.DataLoader(
        _Images(todo, size, load_fn, spec), batch_size=batch_size, num_workers=num_workers,
        collate_fn=list, pin_memory=False)

    bar = tqdm(total=len(image_paths), desc=f"sketches ({spec.method})", disable=not progress, unit="img")
    bar.update(report.cached + len(report.skipped))
    with ThreadPoolExecutor(max_workers=2) as writer:
        pending = []
        for items in loader:
            good = []
            for i, arr, err in items:
                if err is not None:
                    report.skipped.append((todo[i][0], err))
                else:
                    good.append((i, arr))
            if spec.method == "canny":
                sketches = [arr for _, arr in good]
            else:
                sketches = _hed_batch([arr for _, arr in good], hed, spec, dev)
            for (i, _), s in zip(good, sketches):
                pending.append(writer.submit(_write_png, todo[i][1], s))
            report.computed += len(good)
            count_sketches(computed=len(good))
            bar.update(len(items))
            for f in [f for f in pending if f.done()]:
                f.result()  # raises a write error (disk full, permissions) now, not at the end
                pending.remove(f)
        for f in pending:
            f.result()
    bar.close()
    if report.skipped:
        msg = "\n".join(f"  {display_path(p)}: {why}" for p, why in report.skipped)
        log.info("Skipped %d image(s):\n%s", len(report.skipped), msg)
        print(f"Skipped {len(report.skipped)} unreadable image(s):\n{msg}", flush=True)
    return report


def _hed_batch(arrays: list[np.ndarray], hed: HED, spec: SketchSpec, dev: torch.device) -> list[np.ndarray]:
    """HED sketches of HxWx3 arrays, grouped by shape (images of one size form one batch)."""
    out: list[np.ndarray | None] = [None] * len(arrays)
    shapes: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        shapes.setdefault(a.shape, []).append(i)
    for idx in shapes.values():
        x = torch.from_numpy(np.stack([arrays[i] for i in idx])).to(dev, non_blocking=True)  # (B, H, W, 3)
        x = x.permute(0, 3, 1, 2)  # (B, 3, H, W), channels_last in memory
        if dev.type != "cuda":
            x = x.contiguous()
        s = hed_sketch(x, hed, spec)[:, 0].cpu().numpy()  # (B, H, W)
        for j, i in enumerate(idx):
            out[i] = s[j]
    return out
