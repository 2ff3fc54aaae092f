"""Data sets: image folders, EdgeConnect-style ``.flist`` files, the Places365 layout, the embedded demo set.

Each item is what both stages need (docs/paper_reading.md, "Conventions")::

    {"image":  (3, S, S) float in [0, 1],
     "gray":   (1, S, S) float, skimage rgb2gray of the image,
     "sketch": (1, S, S) float in [0, 1], the full image's sketch S_gt (HED or Canny, from the cache),
     "mask":   (1, S, S) float, the paper's M: 1 = known, 0 = hole,
     "path":   str,
     "sketch_read", "sketch_computed": int 0/1, whether the sketch was read from the cache or computed now}

Images are read by :func:`load_image`: centre crop to a square, then resize to S. Sketches are made once for
the whole data set by :func:`inpaintkit.sketches.extract_sketches` (the full image first, masking later) and
read from the on-disk :class:`~inpaintkit.sketches.SketchCache`. Masks are generated per item
(:func:`inpaintkit.masks.irregular_mask`) or read from a mask folder (:class:`inpaintkit.masks.LiuMaskSet`).

Bad input: an unreadable, truncated or too-small image raises :class:`BadImageError` from ``load_image``; a
data set drops such images up front, lists them in ``dataset.skipped`` as (path, reason), and prints them.

The **demo set** (:func:`demo_dataset`) is cut from the photographs that ship inside scikit-image and matplotlib
(no download), split by photograph so that no photograph is in two splits: see DEMO_SPLITS.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from skimage.color import rgb2gray

from . import masks as _masks
from .config import cache_dir
from .files import (
    NotRegularFileError,
    atomic_path,
    atomic_write_text,  # re-exported: the data scripts import it from here
    check_regular_file,
    check_utf8_name,
    display_path,
    open_regular,
)
from .images import BadImageError, as_float_rgb, decode_image, pil_to_rgb
from .limits import MAX_TEXT_BYTES
from .sketches import SketchSpec

__all__ = [
    "IMAGE_EXTENSIONS", "PLACES_IMAGE_DIRS", "PLACES_FILE_LISTS", "DEMO_SPLITS", "DEMO_SCALES", "DEMO_PATCH_SIZE",
    "BadImageError", "open_image", "load_image", "is_places_root", "places_split", "read_flist", "write_flist",
    "split_source", "list_images", "prepared_sketch_root", "InpaintingDataset", "demo_photos", "demo_split_of",
    "DEMO_MANIFEST", "demo_split_names", "demo_patch_size",
    "ensure_demo_dataset", "demo_photo_of", "demo_split_sizes", "demo_dataset", "atomic_write_text",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# --------------------------------------------------------------------------------------------- Places365
# Places365-Standard as downloaded from places2.csail.mit.edu (names as torchvision.datasets.Places365 uses):
#   train_256_places365standard.tar -> data_256/a/abbey/00000001.jpg ... (class folders, some nested:
#                                      data_256/a/apartment_building/outdoor/...)   1,803,460 images
#   val_256.tar                     -> val_256/Places365_val_00000001.jpg ...  (flat)   36,500 images
#   test_256.tar                    -> test_256/Places365_test_00000001.jpg ... (flat) 328,500 images
#   filelist_places365-standard.tar -> places365_train_standard.txt ("/a/abbey/00000001.jpg 0"),
#                                      places365_val.txt ("Places365_val_00000001.jpg 165"),
#                                      places365_test.txt ("Places365_test_00000001.jpg"), categories_places365.txt
# The high-resolution variant uses data_large/, val_large/, test_large/; torchvision renames data_256 to
# data_256_standard. All of these are recognised. The paper trains on the 1,803,460 training images and tests on
# "328000" images (Section 4), i.e. Places365's test set; see data_scripts/prepare_places2.py for our splits.
PLACES_IMAGE_DIRS = {
    "train": ("data_256", "data_256_standard", "train_256", "data_large", "data_large_standard", "train_large"),
    "val": ("val_256", "val_large"),
    "test": ("test_256", "test_large"),
}
PLACES_FILE_LISTS = {
    "train": "places365_train_standard.txt",
    "val": "places365_val.txt",
    "test": "places365_test.txt",
}

# --------------------------------------------------------------------------------------------- demo set
# Photographs bundled with scikit-image and matplotlib (no download), split by photograph. The two views of the
# stereo motorcycle pair are one photograph for this purpose and both stay in train. The grayscale photographs
# (camera ... grass, stacked to RGB) only enlarge val and test: Table 1 scores in grayscale anyway, and train stays
# the four colour photographs the shipped weights were trained on. Extra photographs (``photos=DIR``, e.g. the
# wallpaper collection) are split by demo_split_of. A folder built with another list is brought up to date in
# place by ensure_demo_dataset (its splits.json).
DEMO_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("astronaut", "coffee", "motorcycle_left", "motorcycle_right"),
    "val": ("rocket", "moon", "grass"),
    "test": ("chelsea", "grace_hopper", "camera", "coins", "brick", "gravel"),
}
DEMO_SCALES = (2, 3, 4)  # each photograph's short side is resized to these multiples of the patch size
DEMO_PATCH_SIZE = 128   # crops are 128 px (or the working size when that is larger), then resized


# --------------------------------------------------------------------------------------------- one image

def open_image(path, size: int | None = None) -> Image.Image:
    """Decode an image file as a Pillow image, mode "RGB" (8 bit) or "F" (16/32-bit grayscale in [0, 1]).

    The guard every file goes through (:func:`load_image`, the widget's upload): the header's size is checked
    with :func:`inpaintkit.limits.check_image_size` *before* any pixel is decoded (empty, over
    :data:`~inpaintkit.limits.MAX_PIXELS`, or more elongated than :data:`~inpaintkit.limits.MAX_ASPECT`), and
    Pillow's decompression-bomb guard is reported the same way: as :class:`BadImageError` naming the limit.
    Memory: at most ``MAX_PIXELS`` x 4 bytes (200 MB) for the decoded pixels. With ``size``, a JPEG is decoded
    at a reduced scale (Pillow's ``Image.draft``: 1/2, 1/4 or 1/8, both sides still >= ``size``).
    Conversions as described in :func:`load_image`.
    """
    def use(img: Image.Image) -> Image.Image:
        if size is not None and img.format == "JPEG":
            img.draft(img.mode, (size, size))   # DCT-domain downscale while decoding
        img.load()                              # decode now: truncated files fail here
        return pil_to_rgb(ImageOps.exif_transpose(img))

    return decode_image(path, use)


def load_image(path, size: int | None = None) -> np.ndarray:
    """Read an image file as float32 (H, W, 3) RGB in [0, 1]; with ``size``, centre crop + resize to (size, size).

    Conversions: EXIF orientation applied; grayscale, palette and CMYK -> RGB; 16-bit grayscale scaled by
    1/65535 (16-bit RGB PNGs are reduced to 8 bits by Pillow on reading); transparency (RGBA, LA, palette with
    transparency) is composited **on white**, so a transparent pixel is what a viewer shows, not whatever colour
    happens to be stored under alpha = 0.

    Resizing: centre crop to the largest square, then Pillow's LANCZOS (anti-aliased) to ``size``. An image
    whose shorter side is below ``size`` is **not upscaled**: BadImageError says so, and data sets skip and
    list it. ``size=None`` returns the full image, uncropped. Any unreadable, truncated or non-image file raises
    BadImageError naming the path and the reason; so does an image over the size limits of
    :mod:`inpaintkit.limits`, checked from the header before decoding (see :func:`open_image`).
    Memory: with ``size``, the decoded 8-bit pixels (<= 200 MB) plus the (size, size) result; without it, the
    full image as float32 too (12 bytes a pixel).
    """
    path = Path(path)
    if size is not None and (isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"load_image: size must be a positive int or None, got {size!r}.")
    img = open_image(path, size)

    if size is not None:
        w, h = img.size
        side = min(w, h)
        if side < size:
            raise BadImageError(
                f"{path}: is {w}x{h} px, smaller than the working size {size} (images are never upscaled); "
                "use a smaller size or drop the image."
            )
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
        if side != size:
            img = img.resize((size, size), Image.LANCZOS)
    return as_float_rgb(img)                 # 8-bit RGB / 255; 16-bit gray ("F") kept as float, clipped to [0, 1]


# --------------------------------------------------------------------------------------------- image lists

def is_places_root(path) -> bool:
    """True if ``path`` looks like a Places365 download (one of its image folders or file lists)."""
    path = Path(path)
    names = [n for dirs in PLACES_IMAGE_DIRS.values() for n in dirs]
    return path.is_dir() and (any((path / n).is_dir() for n in names)
                              or any((path / f).is_file() for f in PLACES_FILE_LISTS.values()))


def places_split(root, split: str) -> list[Path]:
    """The image paths of one Places365 split ("train", "val", "test") under a Places365 root.

    Uses the official file list (``places365_*.txt`` in the root or in ``filelist_places365-standard/``) when
    present -- its order, no walk over 1.8 M files -- else walks the split's image folder.
    """
    root = Path(root)
    if split not in PLACES_IMAGE_DIRS:
        raise ValueError(f"Places365 split {split!r}: choose 'train', 'val' or 'test'.")
    image_dir = next((root / n for n in PLACES_IMAGE_DIRS[split] if (root / n).is_dir()), None)
    if image_dir is None:
        raise FileNotFoundError(
            f"{root} has no Places365 {split} images (looked for {', '.join(PLACES_IMAGE_DIRS[split])}/). "
            f"Unpack the {split} archive from places2.csail.mit.edu there."
        )
    for d in (root, root / "filelist_places365-standard"):
        flist = d / PLACES_FILE_LISTS[split]
        if flist.is_file():
            with open_regular(flist, "Places365 file list", MAX_TEXT_BYTES, text=True) as f:
                names = [line.split()[0].lstrip("/") for line in f if line.strip()]
            return [image_dir / n for n in names]
    return _walk_images(image_dir)


def _walk_images(folder: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        out.extend(Path(dirpath) / f for f in sorted(filenames) if f.lower().endswith(IMAGE_EXTENSIONS))
    return out


def read_flist(path) -> list[Path]:
    """An EdgeConnect-style ``.flist``: one image path per line; blank lines and ``#`` comments ignored;
    relative paths are resolved against the flist's own folder. A regular text file of at most
    :data:`~inpaintkit.limits.MAX_TEXT_BYTES` (a FIFO or device is refused, never read)."""
    path = Path(path)
    base = path.resolve().parent
    out = []
    try:
        with open_regular(path, ".flist", MAX_TEXT_BYTES, text=True) as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith("#"):
                    p = Path(line).expanduser()
                    out.append(p if p.is_absolute() else base / p)
    except UnicodeDecodeError:
        raise ValueError(f"{display_path(path)} is not a text .flist (one UTF-8 image path per line): it holds "
                         "binary data. Give "
                         "an image folder, a .flist or a Places365 root.") from None
    return out


def write_flist(paths, out) -> Path:
    """Write one absolute path per line to ``out`` atomically; return ``out``. A path whose name is not valid
    UTF-8 (a flist is UTF-8 text): ValueError naming it, nothing written."""
    paths = list(paths)
    for p in paths:
        check_utf8_name(p, "image")
    return atomic_write_text(out, "".join(f"{Path(p).resolve()}\n" for p in paths))


def split_source(source, split: str) -> tuple[Path, str | None]:
    """Where the ``split`` ("train", "val", "test") images of ``source`` are: ``(path, split or None)`` for
    :func:`list_images`.

    * the output folder of ``data_scripts/prepare_places2.py`` (it holds ``<split>.flist``): that flist;
    * a Places365 root: the root with ``split``; for "test" without ``test_256/``, the ``val`` split;
    * anything else (an image folder, a ``.flist``): itself, whatever the split.
    """
    source = Path(source).expanduser()
    if source.is_dir() and (source / f"{split}.flist").is_file():
        return source / f"{split}.flist", None
    if is_places_root(source):
        if split == "test" and not any((source / d).is_dir() for d in PLACES_IMAGE_DIRS["test"]):
            return source, "val"
        return source, split
    return source, None


def prepared_sketch_root(source, spec: SketchSpec, size: int) -> Path | None:
    """The sketch cache root that ``data_scripts/prepare_places2.py`` filled for ``source`` (its output folder,
    or a file in it), read from its ``places2.json``; None when ``source`` is not such a folder or its sketches
    were made with another spec or size (then a note says that they will be computed again)."""
    source = Path(source).expanduser()
    info_path = (source if source.is_dir() else source.parent) / "places2.json"
    try:
        sk = json.loads(info_path.read_text()).get("sketches") or {}
    except (OSError, ValueError):
        return None
    if "cache_root" not in sk:
        return None
    if sk.get("spec_key") != spec.key() or sk.get("size") != size:
        print(f"note: {info_path} holds sketches with key {sk.get('spec_key')} at {sk.get('size')} px, this run "
              f"needs {spec.key()} at {size} px ({spec}): they will be computed again. Prepare with the run's "
              "profile (prepare_places2.py --profile NAME) to reuse them.", flush=True)
        return None
    return Path(sk["cache_root"])


def list_images(source, split: str | None = None) -> list[Path]:
    """The image paths named by ``source``:

    * a ``.flist`` / ``.txt`` file: one path per line (relative to the file's folder);
    * one image file (extensions IMAGE_EXTENSIONS): that image alone;
    * a Places365 root (see PLACES_IMAGE_DIRS): the ``split`` ("train", "val", "test"; required);
    * any other folder: every image file below it (recursive; extensions IMAGE_EXTENSIONS), sorted.

    FileNotFoundError for a missing path or an empty folder or list.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(
            f"Image source {source} does not exist. Give an image folder, a .flist file (one path per line) "
            "or a Places365 root; or use the demo set (inpaintkit.data.demo_dataset)."
        )
    if not source.is_dir():
        check_regular_file(source, "image source")      # a FIFO or device: refused, never opened
    if source.is_file() and source.suffix.lower() in IMAGE_EXTENSIONS:
        paths = [source]
    elif source.is_file():
        paths = read_flist(source)
    elif is_places_root(source):
        if split is None:
            raise ValueError(f"{source} is a Places365 root: pass split='train', 'val' or 'test'.")
        paths = places_split(source, split)
    else:
        paths = _walk_images(source)
    if not paths:
        raise FileNotFoundError(f"{source} names no image files (extensions: {', '.join(IMAGE_EXTENSIONS)}).")
    return paths


# --------------------------------------------------------------------------------------------- the data set

class InpaintingDataset(torch.utils.data.Dataset):
    """Images with their grayscale, sketch and a mask, at ``size`` x ``size`` (see the module docstring).

    ``source``: folder, ``.flist`` or Places365 root (with ``split``), or a list of paths.
    ``sketch``: a :class:`~inpaintkit.sketches.SketchSpec` (default: HED, threshold 0.5), or None for an all-zero
    sketch (the "no sketch" baseline). Sketches live in ``SketchCache(sketch_cache_root or
    cache_dir()/"sketches", sketch)``; with ``precompute_sketches`` the missing ones are computed up front
    (progress bar, HED on ``device``), else on first access (in the worker, then cached).
    ``masks``: "generate" (:func:`~inpaintkit.masks.irregular_mask` with ``hole_range``), or a folder of mask
    PNGs / a :class:`~inpaintkit.masks.LiuMaskSet` (``hole_range`` is then unused). ``deterministic_masks``: the
    mask of item i depends only on (seed, i) -- for val/test; otherwise each process draws from its own
    generator seeded by (seed, torch.initial_seed()), so DataLoader workers differ and a torch-seeded run repeats.
    Unreadable or too-small images are dropped at construction (``verify``, or the sketch pass) and listed in
    ``self.skipped`` as (path, reason).
    """

    def __init__(self, source, size: int, sketch: SketchSpec | None = SketchSpec(), sketch_cache_root=None,
                 masks="generate", hole_range=(0.0, 0.6), seed: int = 0, deterministic_masks: bool = False,
                 precompute_sketches: bool = True, device: str = "auto", split: str | None = None,
                 verify: bool = True, progress: bool = True):
        from .sketches import SketchCache, extract_sketches

        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ValueError(f"InpaintingDataset: size must be a positive int, got {size!r}.")
        self.size = int(size)
        if isinstance(source, (list, tuple)):
            paths = [Path(p) for p in source]
            if not paths:
                raise ValueError("InpaintingDataset: the list of image paths is empty.")
        else:
            paths = list_images(source, split)
        self.source = source
        self.sketch_spec = sketch
        if self.sketch_spec is not None and not isinstance(self.sketch_spec, SketchSpec):
            raise ValueError(f"sketch must be a SketchSpec or None, got {sketch!r}.")
        self.hole_range = _masks._check_range(hole_range)
        self.seed = int(seed)
        self.deterministic_masks = bool(deterministic_masks)
        self.device = device
        self.skipped: list[tuple[str, str]] = []

        if isinstance(masks, _masks.LiuMaskSet):
            self.mask_set = masks
        elif isinstance(masks, str) and masks == "generate":
            self.mask_set = None
        else:
            self.mask_set = _masks.LiuMaskSet(masks, size=self.size)
        if self.mask_set is not None and self.mask_set.size != self.size:
            raise ValueError(f"The mask set resizes to {self.mask_set.size}, the data set works at {self.size}: "
                             f"make it with LiuMaskSet(root, size={self.size}).")

        self.cache = None
        bad: set[str] = set()
        if self.sketch_spec is not None:
            root = Path(sketch_cache_root) if sketch_cache_root else cache_dir() / "sketches"
            self.cache = SketchCache(root, self.sketch_spec)
            if precompute_sketches:
                report = extract_sketches(paths, self.sketch_spec, self.cache, self.size, load_fn=load_image,
                                          device=device, progress=progress)
                self.skipped.extend(report.skipped)
                bad = {p for p, _ in report.skipped}
                verify = False            # every image was decoded (or found in the cache) just now
        if verify:
            self.skipped.extend(_verify_images(paths, self.size, progress))
            bad = {p for p, _ in self.skipped}
            if self.skipped:
                msg = "\n".join(f"  {display_path(p)}: {why}" for p, why in self.skipped)
                print(f"Skipped {len(self.skipped)} unusable image(s):\n{msg}", flush=True)
        self.paths = [p for p in paths if str(p) not in bad]
        if not self.paths:
            where = "the list" if isinstance(source, (list, tuple)) else display_path(source)
            raise ValueError(f"No usable image in {where}: all {len(paths)} were skipped (see .skipped).")
        self._rng_key = None
        self._rng = None
        self._hed = None

    def __len__(self) -> int:
        return len(self.paths)

    # -- parts of an item
    def _mask_rng(self, index: int) -> np.random.Generator:
        if self.deterministic_masks:
            return np.random.default_rng([self.seed, index])
        key = (os.getpid(), torch.initial_seed())  # differs per DataLoader worker and per epoch's workers
        if key != self._rng_key:
            self._rng_key, self._rng = key, np.random.default_rng([self.seed, torch.initial_seed()])
        return self._rng

    def draw_mask(self, rng: np.random.Generator) -> np.ndarray:
        """A random training mask drawn from ``rng``, (S, S) uint8, 1 = known, 0 = hole: generated strokes
        with ``hole_range``, or a random mask of the mask set. The trainer draws each sample's from
        ``numpy.random.default_rng([seed, rank stream, sample number])`` (exact resume)."""
        if self.mask_set is None:
            return _masks.irregular_mask(self.size, self.size, self.hole_range, rng)
        return self.mask_set[int(rng.integers(len(self.mask_set)))]

    def mask(self, index: int) -> np.ndarray:
        """The (S, S) uint8 mask of item ``index``, 1 = known, 0 = hole."""
        if self.deterministic_masks and self.mask_set is not None:
            return self.mask_set[index % len(self.mask_set)]
        return self.draw_mask(self._mask_rng(index))

    def sketch(self, path: Path, rgb: np.ndarray) -> np.ndarray:
        """The (S, S) float32 sketch of the full image, from the cache (computed and stored when missing)."""
        return self._sketch(path, rgb)[0]

    def _sketch(self, path: Path, rgb: np.ndarray) -> tuple[np.ndarray, str | None]:
        """(sketch, "read" | "computed" | None): the sketch and where it came from (None: no sketch)."""
        if self.sketch_spec is None:
            return np.zeros((self.size, self.size), np.float32), None
        s = self.cache.load(path, self.size)
        if s is None:
            from .sketches import count_sketches, sketch_image

            if self.sketch_spec.method == "hed" and self._hed is None:
                from .hed import load_hed

                self._hed = load_hed(device="cpu")  # in a worker: one HED per process, CPU
            s = sketch_image(rgb, self.sketch_spec, hed=self._hed)
            count_sketches(computed=1)
            self.cache.save(path, self.size, s)
            return s, "computed"
        return s, "read"

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a data set of {len(self)} images")
        for attempt in range(len(self)):   # a file broken after construction: report, take the next one
            path = self.paths[(index + attempt) % len(self)]
            try:
                rgb = load_image(path, self.size)
                break
            except BadImageError as e:
                self.skipped.append((str(path), str(e)))
                warnings.warn(f"Skipping {e}", stacklevel=2)
        else:
            raise ValueError("Every image of the data set has become unreadable.")
        sketch, source = self._sketch(path, rgb)
        mask = self.mask(index)
        image = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)    # (3, S, S)
        gray = torch.from_numpy(rgb2gray(rgb).astype(np.float32))[None]         # (1, S, S)
        return {
            "image": image,
            "gray": gray,
            "sketch": torch.from_numpy(np.asarray(sketch, np.float32))[None],  # (1, S, S)
            "mask": _masks.mask_to_tensor(mask),                               # (1, S, S), 1 = known
            "path": str(path),
            # where the sketch came from, so that a process receiving items from DataLoader workers can count
            # them (inpaintkit.sketches.count_sketches): 1/0 read from the cache, 1/0 computed now
            "sketch_read": int(source == "read"),
            "sketch_computed": int(source == "computed"),
        }


def _verify_images(paths, size: int, progress: bool) -> list[tuple[str, str]]:
    """Decode every image once at ``size``; return (path, reason) of those that fail."""
    from tqdm.auto import tqdm

    bad = []
    for p in tqdm(paths, desc="checking images", disable=not progress or len(paths) < 200, unit="img"):
        try:
            load_image(p, size)
        except BadImageError as e:
            bad.append((str(p), str(e)))
    return bad


# --------------------------------------------------------------------------------------------- demo set

class _Photos(Mapping):
    """Name -> photograph (uint8 (H, W, 3)), each decoded when it is looked up and not kept: iterating over
    ``items()`` holds one photograph at a time, however many the folder has."""

    def __init__(self, loaders: dict):
        self._loaders = loaders

    def __getitem__(self, name: str) -> np.ndarray:
        return self._loaders[name]()

    def __iter__(self):
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


def _photo_uint8(path: Path) -> np.ndarray:
    """One extra photograph as uint8 (H, W, 3): the same values as ``round(load_image(path) * 255)`` at 3 bytes
    a pixel (not 12), through the guards of :func:`open_image` (<= MAX_PIXELS, a regular file)."""
    img = open_image(path)
    if img.mode == "RGB":
        return np.asarray(img)
    return (as_float_rgb(img) * 255).round().astype(np.uint8)


def _gray_as_rgb(load) -> callable:
    """A loader of a grayscale (H, W) uint8 photograph that returns it as (H, W, 3), the gray stacked."""
    return lambda: np.repeat(load()[..., None], 3, axis=2)


def demo_photos(photos=None) -> Mapping[str, np.ndarray]:
    """The demo photographs as uint8 (H, W, 3): the photographs bundled with the kit's own dependencies (no
    download), plus every image in the folder ``photos`` (named by file stem; e.g.
    ``data_scripts/fetch_wallpaper_photos.py``'s collection).

    From the dependencies: scikit-image's colour photographs (``astronaut``, ``coffee``, ``chelsea``, ``rocket``,
    the two views of ``stereo_motorcycle``), matplotlib's ``grace_hopper``, and scikit-image's grayscale
    photographs ``camera``, ``coins``, ``brick``, ``gravel``, ``moon`` and ``grass`` as RGB with the gray in all
    three channels (only in val and test: see :data:`DEMO_SPLITS`). Left out: ``hubble_deep_field`` (a star
    field), ``retina``, ``ihc``, ``cell`` and ``microaneurysms`` (scientific and medical imaging, not scenes),
    ``page`` and ``text`` (printed text, and under 256 px on the short side), ``clock`` (blurred on purpose, a
    deblurring test), ``horse``, ``checkerboard``, ``logo``, ``colorwheel`` and ``shepp_logan_phantom``
    (synthetic or binary drawings), and those that scikit-image downloads on first use (``eagle``, ``lily``, ...:
    a fresh clone must work offline); matplotlib's rendered icon.

    A read-only mapping that decodes a photograph when it is looked up and keeps none: memory is one
    photograph at a time, not the whole folder (building the demo set from four 49-Mpx JPEGs peaks at +0.73 GB
    over the import, whatever their number; keeping them all took +1.5 GB for four, +2.5 GB for five).
    """
    import matplotlib
    from skimage import data

    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    loaders = {
        "astronaut": data.astronaut, "coffee": data.coffee, "chelsea": data.chelsea, "rocket": data.rocket,
        "motorcycle_left": lambda: data.stereo_motorcycle()[0], "motorcycle_right": lambda: data.stereo_motorcycle()[1],
        "grace_hopper": lambda: np.asarray(Image.open(hopper).convert("RGB")),
        **{name: _gray_as_rgb(getattr(data, name)) for name in ("camera", "coins", "brick", "gravel", "moon", "grass")},
    }
    for path in _extra_photo_paths(photos):
        if path.stem in loaders:
            raise ValueError(f"{display_path(path)}: a demo photograph is already called {path.stem!r}; rename the "
                             "file.")
        loaders[path.stem] = lambda path=path: _photo_uint8(path)
    return _Photos(loaders)


def _extra_photo_paths(photos) -> list[Path]:
    """The extra photographs: ``photos``, else ``$INPAINTKIT_PHOTOS`` (what ``--photos DIR`` sets), else none."""
    photos = photos if photos is not None else os.environ.get("INPAINTKIT_PHOTOS") or None
    if photos is None:
        return []
    folder = Path(photos)
    if not folder.is_dir():
        raise ValueError(f"photos={str(folder)!r} is not a folder of photographs. Give a folder of .jpg/.png files "
                         "(e.g. `python data_scripts/fetch_wallpaper_photos.py --out data/photos`).")
    paths, skipped = [], []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_EXTENSIONS or p.name.startswith("."):
            continue
        try:
            check_regular_file(p, "photograph")
            paths.append(p)
        except (NotRegularFileError, OSError) as e:       # a FIFO, a folder, a non-UTF-8 name, a dangling link
            skipped.append(str(e))
    if skipped:
        warnings.warn(f"--photos {display_path(folder)}: skipped {len(skipped)} entr(ies): {' '.join(skipped)}",
                      stacklevel=3)
    if not paths:
        raise ValueError(f"{folder} holds no image ({', '.join(IMAGE_EXTENSIONS)}).")
    return paths


def demo_split_names(photos=None) -> dict[str, list[str]]:
    """The demo photographs of each split, ``{"train": [...], "val": [...], "test": [...]}``: those of
    :data:`DEMO_SPLITS` in its order, then the extra photographs (``photos``) sorted by name, the 2nd, 6th, 10th,
    ... to test, the 4th, 12th, 20th, ... to val, the rest to train. A split's flist follows this order."""
    names = {s: list(v) for s, v in DEMO_SPLITS.items()}
    for i, p in enumerate(_extra_photo_paths(photos)):
        names["test" if i % 4 == 1 else "val" if i % 8 == 3 else "train"].append(p.stem)
    return names


def demo_split_of(name: str, photos=None) -> str:
    """The split ("train", "val" or "test") of demo photograph ``name`` (:func:`demo_split_names`). A photograph
    is in exactly one split."""
    for split, names in demo_split_names(photos).items():
        if name in names:
            return split
    raise ValueError(f"{name!r} is not a demo photograph.")


def demo_patch_size(size: int) -> int:
    """Crop size of the demo patches for a working size: 128 px, or the working size when larger."""
    return max(DEMO_PATCH_SIZE, int(size))


def _scaled_versions(photo: np.ndarray, patch_size: int) -> list[tuple[int, np.ndarray]]:
    """(short side, photo resized so) for each of :data:`DEMO_SCALES` (short side = scale x patch size),
    never upscaled: a scale beyond the photo's own size gives the photo as it is (once)."""
    h, w = photo.shape[:2]
    out, seen = [], set()
    for scale in DEMO_SCALES:
        short = min(scale * patch_size, min(h, w))
        if short < patch_size or short in seen:
            continue
        seen.add(short)
        size = (round(w * short / min(h, w)), round(h * short / min(h, w)))   # PIL's (width, height)
        img = photo if short == min(h, w) else np.asarray(Image.fromarray(photo).resize(size, Image.LANCZOS))
        out.append((short, img))
    return out


DEMO_MANIFEST = "splits.json"


def _demo_manifest(patch_size: int, stride: int, photos) -> dict:
    """What a demo folder holds: the photographs of each split (flist order) and the grid they were cut on."""
    return {"splits": demo_split_names(photos), "scales": list(DEMO_SCALES), "patch_size": int(patch_size),
            "stride": int(stride)}


def _read_demo_manifest(folder: Path) -> dict | None:
    try:
        return json.loads((folder / DEMO_MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def _cut_photo(photo: np.ndarray, folder: Path, split: str, name: str, patch_size: int, stride: int,
               atomic: bool) -> list[str]:
    """Cut one photograph into ``folder/split/<name>_s<short>_<y>_<x>.png`` at each scale of
    :func:`_scaled_versions`; return the paths relative to ``folder``. ``atomic``: each PNG written to a
    temporary file and renamed (a folder in use), else written directly (a temporary folder)."""
    rels = []
    for short, img in _scaled_versions(photo, patch_size):
        h, w = img.shape[:2]
        for y in range(0, h - patch_size + 1, stride):
            for x in range(0, w - patch_size + 1, stride):
                rel = f"{split}/{name}_s{short:04d}_{y:04d}_{x:04d}.png"
                crop = Image.fromarray(img[y:y + patch_size, x:x + patch_size])
                if atomic:
                    with atomic_path(folder / rel, suffix=".png") as tmp:
                        crop.save(tmp)
                else:
                    crop.save(folder / rel)
                rels.append(rel)
    return rels


def _write_flists(folder: Path, lines: dict[str, list[str]]) -> None:
    """The three flists, paths relative to ``folder``, each written atomically."""
    for s, rels in lines.items():
        atomic_write_text(folder / f"{s}.flist", "".join(f"{r}\n" for r in rels))


def _write_demo_manifest(folder: Path, manifest: dict) -> None:
    atomic_write_text(folder / DEMO_MANIFEST, json.dumps(manifest, indent=1) + "\n")


def _update_demo_folder(folder: Path, manifest: dict, photos) -> None:
    """Bring a demo folder built with another split list (or before manifests) up to ``manifest`` in place.

    A photograph already listed in its split's flist, with every patch present, keeps its files untouched (same
    path, same mtime: the sketch cache, keyed by both, stays valid). The others are cut (each PNG atomically),
    the flists rewritten, then patches of photographs no longer in a split removed, and the manifest written last:
    an interrupted update is redone by the next call, and a reader never finds a listed patch missing."""
    old = _read_demo_manifest(folder)
    same_grid = old is None or all(old.get(k) == manifest[k] for k in ("scales", "patch_size", "stride"))
    pictures = demo_photos(photos)
    lines = {}
    for s, names in manifest["splits"].items():
        have: dict[str, list[str]] = {}
        for rel in filter(None, (folder / f"{s}.flist").read_text().splitlines()):
            have.setdefault(demo_photo_of(rel), []).append(rel)
        (folder / s).mkdir(exist_ok=True)
        lines[s] = []
        for name in names:
            kept = have.get(name) if same_grid else None
            if not kept or not all((folder / r).is_file() for r in kept):
                kept = _cut_photo(pictures[name], folder, s, name, manifest["patch_size"], manifest["stride"], True)
            lines[s] += kept
    _write_flists(folder, lines)
    for s, names in manifest["splits"].items():       # stale patches: listed nowhere now
        for f in (folder / s).iterdir():
            if f.suffix == ".png" and not f.name.startswith(".") and demo_photo_of(f) not in names:
                f.unlink(missing_ok=True)
    _write_demo_manifest(folder, manifest)


def ensure_demo_dataset(root=None, patch_size: int = DEMO_PATCH_SIZE, stride: int | None = None,
                        photos=None) -> Path:
    """Cut the demo photographs into ``patch_size`` crops on a grid of ``stride`` (default patch_size // 4),
    at several scales: each photograph is resized so that its short side is 2, 3 and 4 x ``patch_size``
    (:data:`DEMO_SCALES`; never upscaled), and cut at each, so a model sees structures at several sizes.

    ``photos``: a folder of extra photographs (:func:`demo_photos`), split by :func:`demo_split_of`.
    Written once under ``root`` (default ``cache_dir()/"demo"``) as
    ``patch<P>_stride<S>_x234[_<photos hash>]/{train,val,test}/<photo>_s<short>_<y>_<x>.png`` plus ``train.flist``,
    ``val.flist``, ``test.flist`` (paths relative to the folder, in :func:`demo_split_names`' order) and
    ``splits.json`` (the photographs of each split and the grid), written last. A new folder is built in a
    temporary directory and renamed into place, so a half-written set is never used. Later calls return the
    existing folder; when its ``splits.json`` is missing or names other photographs (:data:`DEMO_SPLITS` changed),
    it is first brought up to date in place (:func:`_update_demo_folder`): only the photographs that changed split
    are cut or removed, the other patches keep their files.
    """
    for name, v in (("patch_size", patch_size), ("stride", stride if stride is not None else 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"ensure_demo_dataset: {name} must be a positive int, got {v!r}.")
    patch_size = int(patch_size)
    stride = int(stride) if stride is not None else max(patch_size // 4, 1)
    root = Path(root) if root is not None else cache_dir() / "demo"
    extra = _extra_photo_paths(photos)
    tag = ""
    if extra:   # the folder's name changes with the photo set (names, sizes, dates)
        key = "".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns};" for p in extra)
        tag = "_" + hashlib.sha1(key.encode()).hexdigest()[:10]
    final = root / f"patch{patch_size}_stride{stride}_x{''.join(map(str, DEMO_SCALES))}{tag}"
    manifest = _demo_manifest(patch_size, stride, photos)
    if all((final / f"{s}.flist").is_file() for s in DEMO_SPLITS):
        if _read_demo_manifest(final) != manifest:
            _update_demo_folder(final, manifest, photos)
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", suffix=".tmp", dir=root))
    try:
        pictures = demo_photos(photos)
        lines = {s: [] for s in DEMO_SPLITS}
        for s, names in manifest["splits"].items():
            (tmp / s).mkdir()
            for name in names:
                lines[s] += _cut_photo(pictures[name], tmp, s, name, patch_size, stride, atomic=False)
        _write_flists(tmp, lines)
        _write_demo_manifest(tmp, manifest)                # last: the folder's record of what it holds
        try:
            os.replace(tmp, final)
        except OSError:   # another process finished first (or a stale partial folder): keep/replace it
            if not all((final / f"{s}.flist").is_file() for s in DEMO_SPLITS):
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def demo_photo_of(path) -> str:
    """The photograph a demo patch was cut from (``chelsea_s0256_0032_0064.png`` -> ``chelsea``): the unit the
    evaluation's confidence intervals resample, since overlapping crops of one photograph are not independent.
    Any other file is its own photograph (its stem)."""
    parts = Path(path).stem.split("_")
    return "_".join(parts[:-3]) if len(parts) > 3 and parts[-3].startswith("s") else Path(path).stem


def demo_split_sizes(root=None, patch_size: int = DEMO_PATCH_SIZE, stride: int | None = None,
                     photos=None) -> dict[str, int]:
    """Number of patches per split of the demo set (builds it if needed)."""
    folder = ensure_demo_dataset(root, patch_size, stride, photos)
    return {s: len(read_flist(folder / f"{s}.flist")) for s in DEMO_SPLITS}


def demo_dataset(split: str, size: int, root=None, stride: int | None = None, photos=None,
                 **kw) -> InpaintingDataset:
    """The embedded demo set's ``split`` ("train", "val", "test") at ``size`` x ``size``.

    Crops are ``demo_patch_size(size)`` px on a grid of ``stride`` (notebooks pass the profile's
    ``demo_patch_stride``), at the scales of :func:`ensure_demo_dataset`; ``photos``: a folder of extra
    photographs. Masks are deterministic per item for val and test unless ``kw`` says otherwise;
    other keywords go to :class:`InpaintingDataset` (e.g. ``sketch=SketchSpec(method="canny")``).
    """
    if split not in DEMO_SPLITS:
        raise ValueError(f"Demo split {split!r}: choose one of {', '.join(DEMO_SPLITS)}.")
    folder = ensure_demo_dataset(root, demo_patch_size(size), stride, photos)
    kw.setdefault("deterministic_masks", split != "train")
    return InpaintingDataset(folder / f"{split}.flist", size, **kw)
