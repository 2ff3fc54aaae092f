#!/usr/bin/env python
"""Write an EdgeConnect-style file list (one absolute image path per line) for a folder, flist or Places365 split.

    python data_scripts/make_flist.py ~/photos photos.flist
    python data_scripts/make_flist.py ~/places365 train.flist --split train --shuffle --seed 0 --limit 10000

SOURCE is searched recursively for image files (inpaintkit.data.IMAGE_EXTENSIONS). The list keeps the sorted
order unless --shuffle; --limit keeps the first N (after shuffling). The file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone, too

import numpy as np  # noqa: E402

from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.data import list_images, write_flist  # noqa: E402
from inpaintkit.files import NotRegularFileError, check_utf8_name, check_writable_dir  # noqa: E402


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source", type=Path, help="image folder, .flist, or Places365 root (with --split)")
    ap.add_argument("out", type=Path, help="the .flist to write")
    ap.add_argument("--split", choices=("train", "val", "test"), default=None, help="for a Places365 root")
    ap.add_argument("--shuffle", action="store_true", help="shuffle the list (seeded)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None, help="keep at most N paths")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        ap.error("--limit must be >= 1")
    check_writable_dir(args.out.parent or Path("."), "folder of the .flist")   # before the walk
    paths, skipped = [], []
    for p in list_images(args.source, args.split):
        try:
            check_utf8_name(p, "image")
            paths.append(p)
        except NotRegularFileError as e:                 # named and left out; the rest is listed
            skipped.append(str(e))
    for why in skipped:
        print(f"skipped: {why}", file=sys.stderr)
    if not paths:
        raise ValueError(f"{args.source}: no image with a usable name ({len(skipped)} skipped).")
    if args.shuffle:
        paths = [paths[i] for i in np.random.default_rng(args.seed).permutation(len(paths))]
    if args.limit is not None:
        paths = paths[: args.limit]
    write_flist(paths, args.out)
    print(f"wrote {len(paths)} paths to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
