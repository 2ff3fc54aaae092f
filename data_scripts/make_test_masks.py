#!/usr/bin/env python
"""Write the fixed, seeded test masks every evaluation uses: OUT/<bucket>/00000.png ... and OUT/masks.json.

    python data_scripts/make_test_masks.py --out masks/test --size 256 --per-bucket 2000 --seed 0
    python data_scripts/make_test_masks.py --out masks/table1 --buckets 10-20 20-30 30-40 40-50

On disk: 8-bit grayscale PNG, white (255) = known, black (0) = hole (png / 255 is the paper's M); the
manifest records this, the arguments and every mask's hole ratio. Read them back with
``inpaintkit.masks.load_mask_folder(OUT / bucket, size)``. Liu et al.'s own set uses the opposite colours;
LiuMaskSet handles both. Buckets: 0-10 10-20 20-30 30-40 40-50 50-60 (half-open hole ratios).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone, too

from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.files import check_writable_dir  # noqa: E402
from inpaintkit.masks import BUCKETS, write_mask_folder  # noqa: E402


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--per-bucket", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--buckets", nargs="+", choices=list(BUCKETS), default=list(BUCKETS))
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    check_writable_dir(args.out, "--out")                  # before any mask is drawn
    try:
        out = write_mask_folder(args.out, args.size, args.per_bucket, args.seed, args.buckets)
    except ValueError as e:
        ap.error(str(e))
    print(f"wrote {args.per_bucket} masks x {len(args.buckets)} buckets at {args.size}x{args.size} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
