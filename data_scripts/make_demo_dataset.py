#!/usr/bin/env python
"""Build the embedded demo data set: patches of the photographs bundled with scikit-image and matplotlib, split by
photograph (scikit-image's grayscale photographs, as RGB, in val and test only; see ``inpaintkit.data.DEMO_SPLITS``).

    python data_scripts/make_demo_dataset.py                       # 128 px patches, stride 32 (quick profile)
    python data_scripts/make_demo_dataset.py --patch-size 256 --stride 128

Writes ``<root>/patch<P>_stride<S>_x234/{train,val,test}/*.png``, ``{train,val,test}.flist`` and ``splits.json``
(default root: ``~/.cache/inpaintkit/demo``, or ``$INPAINTKIT_CACHE/demo``) and prints the number of patches per
split. A second run reuses what is there, and brings a folder made with another split list up to date in place.
Notebooks call ``inpaintkit.data.demo_dataset``, which does the same.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone, too

from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.data import DEMO_PATCH_SIZE, DEMO_SPLITS, ensure_demo_dataset, read_flist  # noqa: E402
from inpaintkit.files import check_writable_dir  # noqa: E402


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="parent folder (default: the inpaintkit cache)")
    ap.add_argument("--patch-size", type=int, default=DEMO_PATCH_SIZE, help="crop size in px (default 128)")
    ap.add_argument("--stride", type=int, default=None, help="grid stride in px (default patch size / 4)")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    if args.root is not None:
        check_writable_dir(args.root, "--root")
    if args.patch_size < 1 or (args.stride is not None and args.stride < 1):
        ap.error("--patch-size and --stride must be positive")
    folder = ensure_demo_dataset(args.root, args.patch_size, args.stride)
    print(f"demo data set: {folder}")
    for split, photos in DEMO_SPLITS.items():
        n = len(read_flist(folder / f"{split}.flist"))
        print(f"  {split:5s} {n:5d} patches from {', '.join(photos)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
