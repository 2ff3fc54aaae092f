"""Irregular masks: a free-form generator, Liu et al.'s mask set, hole-ratio buckets.

Convention (docs/paper_reading.md): a mask is the paper's M, **1 = known pixel, 0 = hole**. Arrays here
are (H, W) uint8 in {0, 1}; :func:`mask_to_tensor` gives the (1, H, W) float tensor the
networks take.

Hole-ratio buckets follow Liu et al.'s test set (six buckets of 10 %); the paper's Table 1
uses four of them, its ">= 40 %" row being Liu's 40-50 % bucket::

    ratio = hole_ratio(mask)          # fraction of 0s
    bucket_of(ratio)                  # "10-20" for 0.1 <= ratio < 0.2 (half-open)

Masks on disk
-------------
* **Liu et al.'s irregular mask test set** (``mask.zip`` of the PartialConv project page, the
  set EdgeConnect and later papers evaluate on): 12,000 PNGs, 512x512, **white (255) = hole,
  black (0) = known**. EdgeConnect reads them with ``mask > 0`` and uses that directly as the hole
  (``images * (1 - masks) + masks``, its issue #20/#24), i.e. the inverse of the paper's M.
* **Our own test masks** (``data_scripts/make_test_masks.py``): **white (255) = known, black (0) =
  hole**, i.e. ``png / 255`` is M directly, in ``OUT/<bucket>/00000.png`` beside a
  ``masks.json`` manifest that records this convention and every ratio.

**The rule for a folder without metadata.** :class:`LiuMaskSet` reads either: with ``invert="auto"`` a
``masks.json`` in the folder (or its parent) decides -- ``"white": "known"`` (ours) or ``"white": "hole"``
(Liu's; a one-line ``{"white": "hole"}`` file is enough) -- and **without one, Liu's convention (white =
hole)** is used. Since both sets hold masks of 0-60 % holes, a folder read so whose median hole ratio (of up to
:data:`INVERSION_SAMPLE` masks spread over it) is above :data:`INVERTED_MEDIAN` looks inverted -- e.g. our own
masks copied without their ``masks.json``: 12-18 % holes read as 82-88 % -- and is **refused**, naming the
ratio and the fix (a ``masks.json`` saying which colour is the hole, or ``invert=`` explicitly).
:func:`load_mask_folder` is the short name evaluation uses.

Files: every mask goes through :func:`inpaintkit.images.decode_image` (a regular file, the header's size
checked before decoding, a decompression bomb or a corrupted file one error naming it). Entries that are not
regular files (a FIFO, a folder named ``x.png``) or whose names are not valid UTF-8 are left out when the
folder is listed, with a warning naming them. Memory: one mask at a time (at most ``MAX_PIXELS`` bytes).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from .files import NotRegularFileError, atomic_path, check_regular_file, display_path, open_regular
from .images import BadImageError, decode_image
from .limits import MAX_TEXT_BYTES

if TYPE_CHECKING:
    import torch

__all__ = [
    "BUCKETS", "TABLE1_BUCKETS", "STROKE_WIDTH", "STROKE_VERTICES", "STROKE_LENGTH", "STROKE_MAX_TURN",
    "MAX_SEGMENTS", "MANIFEST", "hole_ratio", "bucket_of", "irregular_mask", "mask_to_tensor", "LiuMaskSet",
    "load_mask_folder", "write_mask_folder", "INVERSION_SAMPLE", "INVERTED_MEDIAN",
]

# Half-open [lo, hi) hole-ratio ranges, as in Liu et al.'s test set.
BUCKETS: dict[str, tuple[float, float]] = {
    "0-10": (0.0, 0.1),
    "10-20": (0.1, 0.2),
    "20-30": (0.2, 0.3),
    "30-40": (0.3, 0.4),
    "40-50": (0.4, 0.5),
    "50-60": (0.5, 0.6),
}
# The four rows of the paper's Table 1 ("40-50" is its ">= 40 %").
TABLE1_BUCKETS: tuple[str, ...] = ("10-20", "20-30", "30-40", "40-50")

# Free-form strokes in DeepFill v2's style, in pixels at 256x256 (scaled with min(H, W) / 256):
STROKE_WIDTH = (12.0, 40.0)      # brush width range (DeepFill v2: 12-40 px at 256; docs/paper_reading.md)
STROKE_VERTICES = (4, 12)        # vertices per stroke, [lo, hi)
STROKE_LENGTH = (10.0, 60.0)     # length of one segment
STROKE_MAX_TURN = 2.0            # max change of direction between segments, radians
MAX_SEGMENTS = 4000              # bound on the generate-and-measure loop (see irregular_mask)

MANIFEST = "masks.json"          # written by make_test_masks.py; marks white = known
INVERSION_SAMPLE = 64            # masks read to tell an inverted folder without metadata
INVERTED_MEDIAN = 0.5            # their median hole ratio above this: the folder's colours look inverted


# ----------------------------------------------------------------------------- ratios, buckets

def hole_ratio(mask: np.ndarray) -> float:
    """Fraction of hole pixels (0s) in a mask with 1 = known, 0 = hole; any shape."""
    mask = np.asarray(mask)
    if mask.size == 0:
        raise ValueError("hole_ratio: the mask is empty (size 0).")
    return float(np.count_nonzero(mask == 0)) / mask.size


def bucket_of(ratio: float) -> str:
    """Liu's bucket name for a hole ratio: half-open ``[lo, hi)``, so 0.1 -> "10-20".

    A ratio of exactly 0.6 or above is outside every bucket (Liu's set stops below 60 %):
    ValueError. So is a ratio outside [0, 1].
    """
    ratio = float(ratio)
    for name, (lo, hi) in BUCKETS.items():
        if lo <= ratio < hi:
            return name
    raise ValueError(
        f"Hole ratio {ratio:.4f} is outside every bucket {list(BUCKETS)} (half-open, 0 <= r < 0.6); "
        "masks with 60 % or more holes have no bucket in Liu et al.'s test set."
    )


def _check_range(hole_range) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in hole_range)
    except (TypeError, ValueError):
        raise ValueError(f"hole_range must be a pair (lo, hi) of floats, got {hole_range!r}.") from None
    if not (0.0 <= lo < hi <= 1.0):
        raise ValueError(
            f"hole_range=({lo}, {hi}) must satisfy 0 <= lo < hi <= 1 (fractions of hole pixels, "
            "e.g. (0.1, 0.2) or BUCKETS['10-20'])."
        )
    return lo, hi


def _check_size(height, width) -> tuple[int, int]:
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an int number of pixels, got {v!r} ({type(v).__name__}).")
        if v < 1:
            raise ValueError(f"{name} must be >= 1 pixel, got {v}.")
    return int(height), int(width)


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}.")


def _admissible_counts(lo: float, hi: float, n: int) -> tuple[int, int]:
    """Hole-pixel counts k with lo <= k / n < hi (and k >= 1): the range [k_lo, k_hi)."""
    k_lo = max(math.floor(lo * n) - 1, 1)
    while k_lo / n < lo:
        k_lo += 1
    k_hi = max(math.floor(hi * n) - 1, 0)
    while k_hi / n < hi:          # first count that is no longer < hi
        k_hi += 1
    return k_lo, k_hi


# ----------------------------------------------------------------------------- the generator

def _segment(height: int, width: int, p0, p1, brush: float) -> np.ndarray:
    """A thick line p0 -> p1 with round ends (so consecutive segments join round), as a bool array.

    PIL's ImageDraw draws the line and the end disks (no hand-written rasteriser).
    """
    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    w = max(int(round(brush)), 1)
    draw.line([tuple(p0), tuple(p1)], fill=255, width=w)
    r = brush / 2.0
    for x, y in (p0, p1):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(img) > 0


def _grow_to(hole: np.ndarray, count: int, target: int, rng: np.random.Generator) -> np.ndarray:
    """Fallback when the stroke budget ran out: grow the hole ring by ring to exactly ``target``.

    Adds pixels of the one-pixel ring around the hole (scipy's binary dilation), in random order,
    only as many as needed, so the count lands exactly on target.
    """
    from scipy.ndimage import binary_dilation

    hole = hole.copy()
    while count < target:
        ring = np.flatnonzero(binary_dilation(hole) & ~hole) if hole.any() else np.flatnonzero(~hole)
        take = rng.permutation(ring)[: target - count]
        hole.flat[take] = True
        count += take.size
    return hole


def irregular_mask(height: int, width: int, hole_range=(0.1, 0.2), rng=None) -> np.ndarray:
    """A free-form irregular mask, (H, W) uint8, **1 = known, 0 = hole**, hole ratio in ``hole_range``.

    Strokes in the style of DeepFill v2 / Liu et al.: random walks of thick lines with round
    joints, 4-11 vertices, brush 12-40 px and segments 10-60 px at 256x256 (scaled by
    min(H, W) / 256, at least 1 px). Generate, measure, adjust:

    1. draw a target hole-pixel count uniformly among the counts k with lo <= k / (H W) < hi
       (at least one pixel, so "0-10" never returns an empty mask);
    2. add strokes segment by segment until the count reaches the target; a segment that would
       take the ratio to hi or beyond is undone, and the stroke continues thinner and shorter;
    3. after ``MAX_SEGMENTS`` segments (only very wide ranges on tiny images get there), grow the
       hole pixel by pixel along its border to the target.

    The result is therefore always inside the half-open ``[lo, hi)``. ``rng`` is an int seed, a
    ``numpy.random.Generator`` or None (fresh entropy); the same seed gives the same mask.
    ValueError for non-int sizes, a range outside 0 <= lo < hi <= 1, or a range that holds no
    whole pixel count at this size (e.g. (0.1, 0.1001) at 32x32).
    """
    height, width = _check_size(height, width)
    lo, hi = _check_range(hole_range)
    rng = _as_rng(rng)
    n = height * width
    k_lo, k_hi = _admissible_counts(lo, hi, n)
    if k_lo >= k_hi:
        raise ValueError(
            f"hole_range=({lo}, {hi}) holds no whole number of hole pixels at {height}x{width} "
            f"({n} pixels); widen the range or use a larger mask."
        )
    target = int(rng.integers(k_lo, k_hi))
    scale = min(height, width) / 256.0

    hole = np.zeros((height, width), dtype=bool)
    count, segments = 0, 0
    while count < target and segments < MAX_SEGMENTS:
        # one stroke: a random walk from a random start
        brush = max(rng.uniform(*STROKE_WIDTH) * scale, 1.0)
        shrink = 1.0
        p = np.array([rng.uniform(0, width - 1), rng.uniform(0, height - 1)])
        angle = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(*STROKE_VERTICES))):
            angle += rng.uniform(-STROKE_MAX_TURN, STROKE_MAX_TURN)
            length = max(rng.uniform(*STROKE_LENGTH) * scale * shrink, 1.0)
            q = p + length * np.array([np.cos(angle), np.sin(angle)])
            q = np.clip(q, 0, [width - 1, height - 1])
            new = hole | _segment(height, width, p, q, brush * shrink)
            k = int(np.count_nonzero(new))
            segments += 1
            if k >= k_hi:            # overshoot: undo, continue thinner and shorter
                shrink *= 0.5
                continue
            hole, count, p = new, k, q
            if count >= target or segments >= MAX_SEGMENTS:
                break
    if count < target:
        hole = _grow_to(hole, count, target, rng)
    return (~hole).astype(np.uint8)


def mask_to_tensor(mask: np.ndarray) -> torch.Tensor:
    """(H, W) mask with 1 = known, 0 = hole -> (1, H, W) float32 tensor (same convention)."""
    import torch

    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"mask_to_tensor expects an (H, W) mask, got shape {mask.shape}.")
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("mask_to_tensor expects a binary mask of 0 (hole) and 1 (known); "
                         "threshold it first, e.g. (png > 127).astype(np.uint8).")
    return torch.from_numpy(mask.astype(np.float32))[None]  # (1, H, W)


# ----------------------------------------------------------------------------- mask folders

def _read_binary_png(path: Path, size: int | None) -> np.ndarray:
    """A mask PNG as bool "white" (H, W); nearest-neighbour resize to (size, size) keeps it binary."""
    def use(img):
        if size is not None and img.size != (size, size) and img.width != img.height:
            raise BadImageError(f"Mask file {display_path(path)} is {img.width}x{img.height} px, not square: "
                                f"resizing it to {size}x{size} would stretch its holes. Crop it square first, or "
                                "remove it.")
        img = img.convert("L")
        if size is not None and img.size != (size, size):
            img = img.resize((size, size), Image.NEAREST)
        return np.asarray(img) > 127

    try:
        return decode_image(path, use, what="mask file")
    except BadImageError as e:
        raise BadImageError(f"{e} Remove or replace the mask file.") from None


def _regular_pngs(root: Path) -> list[Path]:
    """The ``*.png`` files below ``root``, sorted; FIFOs, folders and non-UTF-8 names left out with a warning."""
    import warnings

    paths, left_out = [], []
    for p in sorted(root.rglob("*.png")):
        try:
            check_regular_file(p, "mask file")
            paths.append(p)
        except (NotRegularFileError, OSError) as e:
            left_out.append(str(e))
    if left_out:
        warnings.warn(f"Mask folder {display_path(root)}: left out {len(left_out)} entr(ies): {' '.join(left_out)}",
                      stacklevel=3)
    return paths


class LiuMaskSet:
    """A folder of mask PNGs: Liu et al.'s irregular mask set, or ours, as (H, W) uint8, 1 = known.

    ``root``: a folder searched recursively for ``*.png`` (sorted by path, so indices are stable).
    ``size``: resize each mask to (size, size) with nearest-neighbour (keeps it binary); None keeps
    the file's size. A non-square mask is never stretched to a square: reading it raises ValueError.
    ``invert``: True if white (255) is the **hole** in the files (Liu's test set, converted here to
    1 = known); False if white is **known** (ours); ``"auto"``: as a ``masks.json`` in the folder (or its
    parent) says, else True (Liu's convention) -- and then a folder whose masks look inverted is refused
    (see the module docstring, "The rule for a folder without metadata"). ``convention`` says which rule
    decided.
    """

    def __init__(self, root, size: int | None = None, invert="auto"):
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"Mask folder {display_path(self.root)} is not a folder: give the folder that "
                                     "holds the mask PNGs.")
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"Mask folder {self.root} does not exist. Download Liu et al.'s irregular mask test set "
                "(mask.zip from the PartialConv project page) and unpack it there, or write ours with "
                "`python data_scripts/make_test_masks.py --out DIR`."
            )
        self.paths = _regular_pngs(self.root)
        if not self.paths:
            raise FileNotFoundError(f"Mask folder {display_path(self.root)} holds no .png files.")
        if size is not None:
            _check_size(size, size)
        self.size = size
        self.manifest = self._find_manifest()
        self._ratios: list[float] | None = None
        if invert == "auto" and self.manifest is not None:
            invert, self.convention = self.manifest["white"] == "hole", f"{MANIFEST}: white = {self.manifest['white']}"
        elif invert == "auto":
            invert, self.convention = True, f"no {MANIFEST}: Liu et al.'s rule, white = hole"
        else:
            self.convention = f"invert={invert!r} given"
        if not isinstance(invert, bool):
            raise ValueError(f"invert must be True, False or 'auto', got {invert!r}.")
        self.invert = invert
        if self.convention.startswith("no "):
            self._refuse_if_inverted()

    def _find_manifest(self) -> dict | None:
        """The folder's (or its parent's) ``masks.json``; ValueError when it is unreadable or says neither
        ``"white": "known"`` nor ``"white": "hole"``."""
        for d in (self.root, self.root.parent):
            f = d / MANIFEST
            if not f.exists():
                continue
            try:
                with open_regular(f, "mask manifest", MAX_TEXT_BYTES, text=True) as fh:
                    m = json.load(fh)
            except (ValueError, OSError) as e:       # JSONDecodeError, UnicodeDecodeError, a FIFO
                raise ValueError(f"{display_path(f)} cannot be read as a mask manifest ({e}). Fix it, or replace "
                                 'it by {"white": "known"} or {"white": "hole"}.') from None
            if not isinstance(m, dict) or m.get("white") not in ("known", "hole"):
                raise ValueError(f'{display_path(f)} does not say which colour is the hole: give it "white": '
                                 '"known" (our masks) or "white": "hole" (Liu et al.\'s).')
            return m
        return None

    def _refuse_if_inverted(self) -> None:
        """ValueError when the median hole ratio of up to INVERSION_SAMPLE masks spread over the folder, read by
        the rule for a folder without metadata, is above INVERTED_MEDIAN (its colours look inverted)."""
        n, k = len(self), min(len(self), INVERSION_SAMPLE)
        picks = sorted({round(i * (n - 1) / max(k - 1, 1)) for i in range(k)})
        median = float(np.median([self.ratio(i) for i in picks]))
        if median > INVERTED_MEDIAN:
            raise ValueError(
                f"Mask folder {display_path(self.root)} has no {MANIFEST}, so it is read by Liu et al.'s rule "
                f"(white = hole); read so, the median hole ratio of {len(picks)} of its masks is {median:.0%}, over "
                f"{INVERTED_MEDIAN:.0%}: its colours look inverted (white = known, as the kit's own masks). Add "
                f'a {MANIFEST} holding {{"white": "known"}} to the folder (or {{"white": "hole"}} if its holes '
                "really are that large).")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        white = _read_binary_png(self.paths[i], self.size)
        known = ~white if self.invert else white
        return known.astype(np.uint8)  # (H, W), 1 = known

    def ratio(self, i: int) -> float:
        """Hole ratio of mask i (at the loader's size)."""
        return hole_ratio(self[i])

    def bucket(self, i: int) -> str | None:
        """Bucket of mask i by its measured hole ratio; None if 60 % or more (no bucket)."""
        r = self.ratio(i)
        return bucket_of(r) if r < BUCKETS["50-60"][1] else None

    def by_bucket(self, progress: bool = False) -> dict[str, list[int]]:
        """{bucket: [indices]} for every bucket in BUCKETS (empty lists included)."""
        from tqdm.auto import tqdm

        out: dict[str, list[int]] = {b: [] for b in BUCKETS}
        for i in tqdm(range(len(self)), desc="mask buckets", disable=not progress):
            b = self.bucket(i)
            if b is not None:
                out[b].append(i)
        return out


def load_mask_folder(root, size: int | None = None) -> LiuMaskSet:
    """Our own test masks (``make_test_masks.py``; white = known) or Liu's set, by the manifest."""
    return LiuMaskSet(root, size=size, invert="auto")


def write_mask_folder(out, size: int = 256, per_bucket: int = 100, seed: int = 0, buckets=None,
                      progress: bool = True) -> Path:
    """A fixed, seeded test-mask set: ``out/<bucket>/00000.png`` ... plus ``out/masks.json``.

    PNGs are 8-bit grayscale, **white (255) = known, black (0) = hole** (``png / 255`` is M). Mask i of
    bucket b is ``irregular_mask(size, size, BUCKETS[b], rng=default_rng([seed, list(BUCKETS).index(b), i]))``,
    so a bucket's masks do not change when other buckets are added. The manifest records the convention,
    the arguments and every mask's ratio. Files are written atomically. Returns ``out``.
    """

    from tqdm.auto import tqdm

    size = _check_size(size, size)[0]
    buckets = tuple(buckets) if buckets is not None else tuple(BUCKETS)
    unknown = [b for b in buckets if b not in BUCKETS]
    if unknown:
        raise ValueError(f"Unknown bucket(s) {unknown}; choose from {list(BUCKETS)}.")
    if isinstance(per_bucket, bool) or not isinstance(per_bucket, (int, np.integer)) or per_bucket < 1:
        raise ValueError(f"per_bucket must be a positive int, got {per_bucket!r}.")
    out = Path(out)
    manifest = {"white": "known", "black": "hole", "size": size, "seed": int(seed), "per_bucket": int(per_bucket),
                "generator": "inpaintkit.masks.irregular_mask", "buckets": {}}

    def atomic(path: Path, write) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            write(f)

    bar = tqdm(total=len(buckets) * per_bucket, desc="test masks", disable=not progress)
    for b in buckets:
        (out / b).mkdir(parents=True, exist_ok=True)
        entries = []
        for i in range(per_bucket):
            rng = np.random.default_rng([int(seed), list(BUCKETS).index(b), i])
            m = irregular_mask(size, size, BUCKETS[b], rng)
            name = f"{i:05d}.png"
            atomic(out / b / name, lambda f: Image.fromarray(m * 255).save(f, format="PNG"))
            entries.append({"file": f"{b}/{name}", "ratio": hole_ratio(m)})
            bar.update()
        manifest["buckets"][b] = entries
    bar.close()
    atomic(out / MANIFEST, lambda f: f.write(json.dumps(manifest, indent=1).encode()))
    return out
