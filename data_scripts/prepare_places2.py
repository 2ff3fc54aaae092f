#!/usr/bin/env python
"""Prepare Places365-Standard (the paper's "Places2") for training: flists for train/val/test and sketches.

    python data_scripts/prepare_places2.py --root ~/data/places365 --out data/places2             # all, HED
    python data_scripts/prepare_places2.py --root ~/data/places365 --out data/p2k --subset 2000 --sketches canny

ROOT is the download as unpacked from places2.csail.mit.edu (see inpaintkit.data.PLACES_IMAGE_DIRS):
``data_256/a/abbey/00000001.jpg ...`` (train), ``val_256/Places365_val_00000001.jpg ...``,
optionally ``test_256/Places365_test_00000001.jpg ...``, and the file lists ``places365_train_standard.txt``,
``places365_val.txt``, ``places365_test.txt`` (used when present, else the folders are walked).

Splits. The paper trains on the 1,803,460 training images and reports Table 1 on a "test set [of] 328000
images" (Section 4): Places365's test set (328,500 images, no labels needed). ``--test-split test`` uses it;
``--test-split val`` instead holds out the validation images as the test set (what many inpainting papers do),
keeping the first ``--val-size`` of a seeded shuffle of val_256 as our validation split and the rest as test,
so no image is in two splits. ``auto`` (default) takes test_256 when it is there, else val_256.
``--subset N`` keeps a seeded random N images per split (order kept).

Sketches (``--sketches hed|canny|none``) are computed for every listed image into the sketch cache that
InpaintingDataset reads (default ``~/.cache/inpaintkit/sketches``), with the **training profile's** sketch
settings: ``get_profile(--profile).sketch_spec(method)`` (threshold, thinning; default profile ``full``) at the
profile's ``image_size`` (``--size`` overrides it). Training with the same profile then reads every one of them
and computes none; a sketch made with other settings has another cache key and would be computed again.
Already cached sketches are skipped. Unreadable or too small images are reported, left out of the flists and
listed in OUT/skipped.txt. OUT/places2.json records what was done, with the sketch cache's folder and key
(the trainer reads the folder from it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone, too

import numpy as np  # noqa: E402

from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.config import PROFILES, cache_dir, get_profile  # noqa: E402
from inpaintkit.data import (  # noqa: E402
    PLACES_IMAGE_DIRS,
    atomic_write_text,
    is_places_root,
    load_image,
    places_split,
    write_flist,
)
from inpaintkit.files import check_writable_dir  # noqa: E402


def _subset(paths: list, n: int | None, rng: np.random.Generator) -> list:
    if n is None or n >= len(paths):
        return paths
    keep = np.sort(rng.choice(len(paths), size=n, replace=False))
    return [paths[i] for i in keep]


def make_splits(root: Path, test_split: str = "auto", val_size: int = 2000, subset: int | None = None,
                seed: int = 0) -> tuple[dict[str, list[Path]], str]:
    """{"train", "val", "test": paths} following the rules in this script's docstring; and the test source."""
    has_test = any((root / d).is_dir() for d in PLACES_IMAGE_DIRS["test"])
    if test_split == "auto":
        test_split = "test" if has_test else "val"
    rng = np.random.default_rng(seed)
    train = places_split(root, "train")
    val = places_split(root, "val")
    if test_split == "test":
        test = places_split(root, "test")
    else:
        order = rng.permutation(len(val))
        held, rest = np.sort(order[:val_size]), np.sort(order[val_size:])
        val, test = [val[i] for i in held], [val[i] for i in rest]
        if not test:
            raise ValueError(f"--val-size {val_size} leaves no test images out of {len(order)} validation images; "
                             "lower --val-size.")
    splits = {"train": train, "val": val, "test": test}
    splits = {k: _subset(v, subset, np.random.default_rng([seed, i])) for i, (k, v) in enumerate(splits.items())}
    return splits, test_split


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, required=True, help="the Places365-Standard download")
    ap.add_argument("--out", type=Path, required=True, help="where the flists and places2.json go")
    ap.add_argument("--subset", type=int, default=None, help="seeded random N images per split (default: all)")
    ap.add_argument("--profile", choices=PROFILES, default="full",
                    help="the training profile whose sketch settings and image size are used (default full)")
    ap.add_argument("--size", type=int, default=None,
                    help="working size the sketches are made at (default: the profile's image_size)")
    ap.add_argument("--sketches", choices=("hed", "canny", "none"), default="hed")
    ap.add_argument("--sketch-cache", type=Path, default=None, help="default: <inpaintkit cache>/sketches")
    ap.add_argument("--device", default="auto", help="HED device: auto, cpu, cuda, cuda:1 ...")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--num-workers", type=int, default=4, help="decoding workers for the sketch pass")
    ap.add_argument("--test-split", choices=("auto", "test", "val"), default="auto")
    ap.add_argument("--val-size", type=int, default=2000, help="with --test-split val: images kept for val")
    ap.add_argument("--seed", type=int, default=0)
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    if not is_places_root(args.root):
        ap.error(f"{args.root} does not look like a Places365 download (no data_256/, val_256/, ... nor "
                 "places365_*.txt). Unpack the archives from places2.csail.mit.edu there.")
    if args.subset is not None and args.subset < 1:
        ap.error("--subset must be >= 1")
    check_writable_dir(args.out, "--out")                  # before hours of sketches, not after
    profile = get_profile(args.profile)
    size = profile.image_size if args.size is None else args.size
    if size != profile.image_size:
        print(f"note: --size {size} is not the {profile.name} profile's image_size {profile.image_size}: training "
              f"with that profile will not find these sketches (the cache is keyed by size).", flush=True)
    try:
        splits, test_source = make_splits(args.root, args.test_split, args.val_size, args.subset, args.seed)
    except (FileNotFoundError, ValueError) as e:
        ap.error(str(e))

    skipped: list[tuple[str, str]] = []
    sketch_info = None
    if args.sketches != "none":
        from dataclasses import asdict

        from inpaintkit.sketches import SketchCache, extract_sketches

        spec = profile.sketch_spec(args.sketches)          # the spec the trainer of this profile reads
        root = (args.sketch_cache or cache_dir() / "sketches").resolve()
        cache = SketchCache(root, spec)
        sketch_info = {"spec": asdict(spec), "spec_key": cache.key, "profile": profile.name, "cache": str(cache.dir),
                       "cache_root": str(root), "size": size}
        print(f"sketches: {spec} (profile {profile.name}) at {size} px into {cache.dir}", flush=True)
        for name, paths in splits.items():
            print(f"{name}: {len(paths)} images", flush=True)
            report = extract_sketches(paths, spec, cache, size, load_fn=load_image, device=args.device,
                                      batch_size=args.batch_size, num_workers=args.num_workers)
            sketch_info[name] = {"computed": report.computed, "cached": report.cached,
                                 "skipped": len(report.skipped)}
            skipped.extend(report.skipped)
        bad = {p for p, _ in skipped}
        splits = {k: [p for p in v if str(p) not in bad] for k, v in splits.items()}

    args.out.mkdir(parents=True, exist_ok=True)
    for name, paths in splits.items():
        write_flist(paths, args.out / f"{name}.flist")
    atomic_write_text(args.out / "skipped.txt", "".join(f"{p}\t{why}\n" for p, why in skipped))
    info = {"root": str(args.root.resolve()), "test_source": test_source, "seed": args.seed,
            "subset": args.subset, "val_size": args.val_size if test_source == "val" else None,
            "counts": {k: len(v) for k, v in splits.items()}, "skipped": len(skipped), "sketches": sketch_info}
    atomic_write_text(args.out / "places2.json", json.dumps(info, indent=1))
    print(f"flists in {args.out}: " + ", ".join(f"{k} {len(v)}" for k, v in splits.items())
          + f" (test from Places365 {test_source}); skipped {len(skipped)} (see skipped.txt)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
