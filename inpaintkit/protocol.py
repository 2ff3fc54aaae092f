"""Table 1's test protocol: which images, which masks, and how they are paired.

Every test image is paired with one mask of each Table-1 bucket (10-20 %, 20-30 %, 30-40 % and 40-50 %, the
paper's ">= 40 %"). Pairing is deterministic: ``per_bucket`` images are taken from the test list balanced over
its photographs (:func:`balanced_picks`: as many from each, evenly spaced within it; a list of distinct files,
Places2's, is simply taken evenly spaced), the same images for every bucket, so the buckets differ only by their
masks; image j of bucket b gets mask j of bucket b (both cycled when fewer exist, with a note). Masks come from
a fixed, seeded set written once by :func:`inpaintkit.masks.write_mask_folder` into ``cache_dir()/test_masks/``
(or from a folder: ours, or Liu et al.'s set bucketed by each mask's measured hole ratio at the working size).
The CFS ablation (notebook 03) takes its masks and images from here too. Running the methods on the pairs:
:mod:`inpaintkit.scoring`.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .config import Profile, cache_dir
from .files import display_path, open_regular
from .images import decode_image
from .limits import MAX_TEXT_BYTES
from .masks import BUCKETS, MANIFEST, TABLE1_BUCKETS, LiuMaskSet, bucket_of, hole_ratio, write_mask_folder

__all__ = ["default_mask_dir", "ensure_test_masks", "scan_test_masks", "load_test_masks", "read_mask", "table1_masks",
           "table1_mask_root", "resolve_data",
           "evenly_spaced", "photo_groups", "balanced_picks", "pick_readable", "make_pairs", "hole_at_border",
           "PairImages", "collate_pairs", "TestSet", "test_set", "load_record"]


def hole_at_border(mask: np.ndarray) -> bool:
    """True if the hole reaches the image's outermost row or column (mask HxW, 1 = known, 0 = hole): Liu et
    al.'s test set has masks with and without holes at the border, split here by this measured property."""
    return bool((mask[0] == 0).any() or (mask[-1] == 0).any() or (mask[:, 0] == 0).any() or (mask[:, -1] == 0).any())



# ---------------------------------------------------------------------------------------------- masks

def default_mask_dir(size: int, seed: int = 0) -> Path:
    """Where the fixed test masks for a working size live: ``cache_dir()/test_masks/<size>px_seed<seed>``."""
    return cache_dir() / "test_masks" / f"{size}px_seed{seed}"


def _our_manifest(root: Path) -> dict | None:
    """``root``'s masks.json when it marks our convention (white = known); a FIFO or a broken file: ValueError."""
    f = root / MANIFEST
    if f.exists():
        try:
            with open_regular(f, "mask manifest", MAX_TEXT_BYTES, text=True) as fh:
                m = json.load(fh)
        except (ValueError, OSError) as e:
            raise ValueError(f"{display_path(f)} cannot be read as a mask manifest ({e}). Fix or remove it.") from None
        if isinstance(m, dict) and m.get("white") == "known":
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


def scan_test_masks(root, size: int, per_bucket: int, buckets=TABLE1_BUCKETS,
                    progress: bool = True) -> tuple[dict[str, list[tuple[str, float, bool]]], list[str]]:
    """``({bucket: [(mask id, hole ratio, hole at the border)]}, notes)``, up to ``per_bucket`` per bucket.

    What :func:`load_test_masks` reads, without keeping the masks: memory does not grow with ``per_bucket``
    (the evaluation reads each mask back when its pair is scored, :func:`read_mask`). ``root``: our folder
    (``masks.json`` beside ``<bucket>/NNNNN.png``, white = known; read bucket by bucket, in order) or Liu et
    al.'s set (white = hole; masks are read in order and bucketed by their hole ratio at ``size``). Every mask
    kept has its *measured* ratio inside its bucket; masks that leave their bucket when resized are dropped and
    counted in a note, and so are Liu masks at 60 % or more after resizing (outside every bucket: skipped, never
    scored in the top one). ValueError when a bucket ends up empty. Mask ids are paths relative to ``root``.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Mask folder {root} does not exist: give Liu et al.'s irregular mask test set, "
                                "or ours from `python data_scripts/make_test_masks.py --out DIR`.")
    out: dict[str, list[tuple[str, float, bool]]] = {b: [] for b in buckets}
    notes: list[str] = []

    def keep(b, masks, i, m):
        out[b].append((str(masks.paths[i].relative_to(root)), hole_ratio(m), hole_at_border(m)))

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
                r = hole_ratio(m)
                if r >= BUCKETS["50-60"][1] or bucket_of(r) != b:
                    dropped += 1
                    continue
                keep(b, masks, i, m)
            if dropped:
                notes.append(f"{dropped} mask(s) of {b} left their bucket when resized to {size} px and were dropped.")
    else:
        masks = LiuMaskSet(root, size=size, invert="auto")
        over = 0
        for i in tqdm(range(len(masks)), desc="bucketing masks", unit="mask", disable=not progress):
            m = masks[i]
            r = hole_ratio(m)
            if r >= BUCKETS["50-60"][1]:
                over += 1
                continue
            b = bucket_of(r)
            if b in out and len(out[b]) < per_bucket:
                keep(b, masks, i, m)
            if all(len(v) >= per_bucket for v in out.values()):
                break
        if over:
            notes.append(f"{over} mask(s) had a hole of 60 % or more at {size} px (outside every bucket) and were "
                         "skipped.")
    empty = [b for b, v in out.items() if not v]
    if empty:
        raise ValueError(f"Mask folder {root} has no mask in bucket(s) {empty} at {size} px; use a set that covers "
                         f"{list(buckets)} (Liu et al.'s, or `python data_scripts/make_test_masks.py --out DIR`).")
    for b, v in out.items():
        if len(v) < per_bucket:
            notes.append(f"bucket {b}: only {len(v)} mask(s) for {per_bucket} images; masks are reused in turn.")
    resized = sorted({_png_size(root / entry[0]) for v in out.values() for entry in v} - {(size, size)})
    if resized:      # square, or LiuMaskSet refused them; say that they were resized
        notes.append(f"masks of {', '.join(f'{w}x{h}' for w, h in resized)} px were resized to {size}x{size} "
                     "px (nearest neighbour).")
    return out, notes


def load_test_masks(root, size: int, per_bucket: int, buckets=TABLE1_BUCKETS,
                    progress: bool = True) -> tuple[dict[str, list[tuple[str, np.ndarray]]], list[str]]:
    """``({bucket: [(mask id, (size, size) uint8 mask, 1 = known)]}, notes)``: :func:`scan_test_masks`' masks,
    read into memory (for figures and small sets; the evaluation keeps only the ids)."""
    scanned, notes = scan_test_masks(root, size, per_bucket, buckets, progress)
    return {b: [(mask_id, read_mask(root, mask_id, size)) for mask_id, _, _ in v] for b, v in scanned.items()}, notes


def read_mask(root, mask_id: str, size: int) -> np.ndarray:
    """Mask ``mask_id`` (a path relative to ``root``, as :func:`scan_test_masks` names it) at ``size``: (size,
    size) uint8, 1 = known, 0 = hole; white is known in our folders, the hole in Liu et al.'s."""
    masks, index = _mask_index(str(Path(root)), size)
    if mask_id not in index:               # the folder grew since it was listed (ensure_test_masks): list it again
        _mask_index.cache_clear()
        masks, index = _mask_index(str(Path(root)), size)
    return masks[index[mask_id]]


def _png_size(path: Path) -> tuple[int, int]:
    """(width, height) from an image file's header."""
    return decode_image(path, lambda img: img.size, what="mask file")


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


def photo_groups(paths) -> list[list[int]]:
    """Indices of ``paths`` grouped by the photograph they were cut from, groups in order of first appearance.

    A demo patch's photograph is :func:`inpaintkit.data.demo_photo_of` (in its folder); any other file is its
    own photograph, whatever its name (two ``001.jpg`` of two folders are two groups)."""
    from .data import demo_photo_of

    groups: dict[str, list[int]] = {}
    for i, path in enumerate(paths):
        folder, name = os.path.split(os.fspath(path))          # strings: a Places2 test split is 328,500 paths
        photo = demo_photo_of(name)
        key = os.fspath(path) if photo == os.path.splitext(name)[0] else os.path.join(folder, photo)
        groups.setdefault(key, []).append(i)
    return list(groups.values())


def _quotas(sizes: list[int], k: int) -> list[int]:
    """How many of ``k`` picks each group of ``sizes`` gets: the same number L for every group (all of a group's
    crops when it has fewer), L as large as ``k`` allows, then one more for each of the r picks left, given to r
    groups evenly spaced (:func:`evenly_spaced`) over those with crops to spare. Without caps that is k // G
    each, and one more for k % G of them; a small group's unused share goes to the others."""
    total = min(k, sum(sizes))
    level = 0
    while level < max(sizes) and sum(min(n, level + 1) for n in sizes) <= total:
        level += 1
    counts = [min(n, level) for n in sizes]
    spare = [g for g, n in enumerate(sizes) if n > level]
    for i in evenly_spaced(len(spare), total - sum(counts)) if total > sum(counts) else ():
        counts[spare[i]] += 1
    return counts


def _spread(n: int, c: int) -> list[int]:
    """``c`` of ``range(n)`` evenly spaced, each the middle of its share (c = 1: the middle one)."""
    return [(2 * i + 1) * n // (2 * c) for i in range(c)]


def balanced_picks(paths, k: int, groups: list[list[int]] | None = None) -> list[int]:
    """``k`` indices of ``paths`` (sorted; all of them when k >= len(paths)), balanced over photographs.

    Overlapping demo crops of one photograph are not independent test images, and the photographs give very
    different numbers of crops (a 49-Mpx wallpaper hundreds, a 512 px photograph a dozen), so picks evenly spaced
    over the list would follow the crop counts. Here, with G photographs (:func:`photo_groups`): when G >= k,
    one image (its middle crop) each from k photographs evenly spaced over the G (for distinct files, Places2 or a
    folder, that is ``evenly_spaced(len(paths), k)`` exactly); else each photograph gets k // G picks or one
    more (:func:`_quotas`: capped at its crop count, the rest shared out among the others), evenly spaced
    within the photograph. Deterministic: a function of the list's order and ``k`` alone. ``groups``:
    :func:`photo_groups` of ``paths``, when already at hand.
    """
    groups = photo_groups(paths) if groups is None else groups
    if not groups:
        raise ValueError("No test images.")
    if len(groups) >= k:
        return sorted(groups[g][_spread(len(groups[g]), 1)[0]] for g in evenly_spaced(len(groups), k))
    counts = _quotas([len(g) for g in groups], k)
    return sorted(members[j] for members, c in zip(groups, counts) for j in _spread(len(members), c))


def pick_readable(paths: list[Path], k: int, size: int) -> tuple[list[Path], dict[str, str]]:
    """Up to ``k`` images of ``paths`` that decode at ``size``, and {path: why} of those that did not.

    Starts at :func:`balanced_picks`; an unreadable pick is replaced by the next readable image after it in its
    own photograph (wrapping round the photograph), else, when none is left there, by the next readable image
    after it in the list (wrapping round), so unreadable files never shrink the test set while readable ones
    are left. ValueError when no image can be read.
    """
    from .data import BadImageError, load_image

    chosen: set[int] = set()
    bad: dict[str, str] = {}
    groups = photo_groups(paths)
    group_of = {i: members for members in groups for i in members}
    for start in balanced_picks(paths, k, groups):
        members = group_of[start]
        pos = members.index(start)
        # lazily: a Places2 test split is 328,500 files, and the list is only walked until a readable one
        for j in itertools.chain(members[pos:], members[:pos], range(start, len(paths)), range(start)):
            if j in chosen or str(paths[j]) in bad:
                continue
            try:
                load_image(paths[j], size)
            except BadImageError as e:
                bad[str(paths[j])] = str(e)
                continue
            chosen.add(j)
            break
    if not chosen:
        shown = "\n".join(f"  {p}: {why}" for p, why in list(bad.items())[:5])
        raise ValueError(f"No image could be read: all {len(paths)} failed at {size} px. First reasons:\n{shown}")
    return [paths[j] for j in sorted(chosen)], bad


def make_pairs(paths: list[Path], masks: dict[str, list[tuple]], per_bucket: int) -> list[dict]:
    """The deterministic (bucket, image, mask) pairs, bucket by bucket: image j of a bucket gets its mask j.

    The images are ``per_bucket`` of ``paths`` picked by :func:`balanced_picks` (the same for every bucket;
    all of them when ``paths`` holds no more, as :func:`pick_readable`'s result does); images and masks
    are taken in turn when there are fewer than ``per_bucket``. ``masks``: :func:`scan_test_masks`' entries
    (id, ratio, at border) or :func:`load_test_masks`' (id, array); a pair holds the mask's id, and its ratio
    and border flag, never the array.
    """
    images = [paths[i] for i in balanced_picks(paths, per_bucket)]
    pairs = []
    for b, ms in masks.items():
        for j in range(per_bucket):
            entry = ms[j % len(ms)]
            if isinstance(entry[1], np.ndarray):
                entry = (entry[0], hole_ratio(entry[1]), hole_at_border(entry[1]))
            mask_id, ratio, border = entry
            pairs.append({"bucket": b, "image": str(images[j % len(images)]), "mask_id": mask_id,
                          "hole_ratio": ratio, "hole_at_border": border})
    return pairs


class PairImages(torch.utils.data.Dataset):
    """Loads the image and the mask of each pair (the mask from ``mask_root`` by its id); an unreadable image
    comes back flagged, to be reported and skipped."""

    def __init__(self, pairs, size, mask_root):
        self.pairs, self.size, self.mask_root = pairs, size, str(mask_root)

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
        m = read_mask(self.mask_root, p["mask_id"], self.size)
        mask = torch.from_numpy(m.astype(np.float32))[None]                      # (1, S, S), 1 = known
        return {"index": i, "image": image, "mask": mask}


def collate_pairs(items):
    good = [it for it in items if "error" not in it]
    bad = [(it["index"], it["error"]) for it in items if "error" in it]
    if not good:
        return None, bad
    return {"index": [it["index"] for it in good],
            "image": torch.stack([it["image"] for it in good]),                   # (B, 3, S, S)
            "mask": torch.stack([it["mask"] for it in good])}, bad                # (B, 1, S, S)


# ---------------------------------------------------------------------------------------------- the test set

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


def table1_mask_root(size: int, per_bucket: int, masks=None, seed: int = 0, progress: bool = True) -> Path:
    """The folder of Table 1's test masks: ``masks`` (ours or Liu et al.'s test set) or our seeded set, made once."""
    return Path(masks) if masks is not None else ensure_test_masks(size, per_bucket, seed, progress=progress)


@dataclass
class TestSet:
    """The deterministic (bucket, image, mask) pairs and where they came from; ``mask_sets`` as
    :func:`scan_test_masks` gives them (ids, ratios, border flags: no arrays)."""

    pairs: list[dict]
    data: str
    mask_root: Path
    mask_sets: dict[str, list[tuple[str, float, bool]]]
    notes: list[str]
    unreadable: dict[str, str]


def test_set(prof: Profile, data, masks, per_bucket: int, mask_seed: int, progress: bool) -> TestSet:
    """Test images (unreadable ones dropped before pairing) and Table 1's masks, paired by :func:`make_pairs`.

    Holds paths, mask ids and ratios only: its memory grows by a few hundred bytes per pair, and images and
    masks are read when their chunk is scored (:class:`PairImages`)."""
    size = prof.image_size
    paths, data_desc = resolve_data(data, size, prof.demo_patch_stride)
    mask_root = table1_mask_root(size, per_bucket, masks, mask_seed, progress)
    mask_sets, notes = scan_test_masks(mask_root, size, per_bucket, progress=progress)
    images, unreadable = pick_readable(paths, per_bucket, size)
    if len(images) < per_bucket:
        notes.append(f"only {len(images)} readable image(s) of {len(paths)} for {per_bucket} per bucket; "
                     "images are reused in turn.")
    return TestSet(make_pairs(images, mask_sets, per_bucket), data_desc, mask_root, mask_sets, notes, unreadable)


# ---------------------------------------------------------------------------------------------- for figures

def load_record(metrics: dict, record: dict) -> tuple[np.ndarray, np.ndarray]:
    """The (image HxWx3 float32, mask HxW uint8 1 = known) that produced ``record`` of ``metrics``."""
    from .data import load_image

    size = metrics["image_size"]
    return load_image(record["image"], size), read_mask(metrics["masks"]["root"], record["mask_id"], size)


@functools.lru_cache(maxsize=4)
def _mask_index(root: str, size: int) -> tuple[LiuMaskSet, dict[str, int]]:
    """A mask folder's loader and {mask id: index}, listed once per folder (Liu's set has 12,000 files)."""
    root = Path(root)
    masks = LiuMaskSet(root, size=size, invert=_our_manifest(root) is None)
    return masks, {str(p.relative_to(root)): i for i, p in enumerate(masks.paths)}

