"""The demo set's splits: patches and photographs per split, how many photographs Table 1's test picks come from,
and the time to cut (or bring up to date) the folder.

    python benchmarks/bench_demo_splits.py                                   # quick and demo profiles, fresh builds
    python benchmarks/bench_demo_splits.py --profile quick --root ~/.cache/inpaintkit/demo   # the cached folder
    python benchmarks/bench_demo_splits.py --profile demo --photos data/photos --image-size 256

For each profile: ``ensure_demo_dataset`` at the profile's patch size and stride, timed (a fresh build in a
temporary folder unless ``--root`` names one: then the time is that of reusing or updating it in place); the
number of patches and photographs per split; and the photographs behind Table 1's ``eval_images`` test images per
bucket, picked and paired as ``inpaintkit.protocol.test_set`` does (``record["group"]``, what the bootstrap
resamples): for each photograph, its picks and its test patches, and beside them the picks of the old rule
(``evenly_spaced`` over the whole list, which followed the patch counts). Notebook 03's ablation scores the same
picks (``protocol.balanced_picks``). Patch cutting only: no sketch is computed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.config import get_profile  # noqa: E402
from inpaintkit.data import DEMO_SPLITS, demo_patch_size, demo_photo_of, ensure_demo_dataset, read_flist  # noqa: E402
from inpaintkit.protocol import evenly_spaced, make_pairs, pick_readable  # noqa: E402
from inpaintkit.scoring import record_base  # noqa: E402


def table1_groups(test_paths: list[Path], per_bucket: int, size: int) -> Counter:
    """{photograph: number of Table 1's test images cut from it}, in order of first appearance (one bucket's
    pairs: every bucket gets the same images)."""
    images, _ = pick_readable(test_paths, per_bucket, size)
    pairs = make_pairs(images, {"10-20": [("m", 0.15, False)]}, per_bucket)
    return Counter(record_base(p)["group"] for p in pairs)


def measure(profile_name: str, root: Path, photos, image_size: int | None) -> None:
    p = get_profile(profile_name)
    size = image_size or p.image_size
    patch, stride = demo_patch_size(size), p.demo_patch_stride
    t = time.perf_counter()
    folder = ensure_demo_dataset(root, patch, stride, photos)
    seconds = time.perf_counter() - t
    print(f"{profile_name}: {size} px, {patch} px patches every {stride} px: {folder.name} in {seconds:.1f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    flists = {s: read_flist(folder / f"{s}.flist") for s in DEMO_SPLITS}
    for s, paths in flists.items():
        print(f"  {s:5s} {len(paths):5d} patches from {len({demo_photo_of(q) for q in paths}):2d} photographs")
    test = flists["test"]
    groups = table1_groups(test, p.eval_images, size)
    patches = Counter(demo_photo_of(q) for q in test)
    old = Counter(demo_photo_of(test[i]) for i in evenly_spaced(len(test), p.eval_images))
    print(f"  Table 1's {p.eval_images} test images per bucket come from {len(groups)} of {len(patches)} photographs "
          f"({min(groups.values())}-{max(groups.values())} each; evenly spaced over the list: {len(old)} photographs, "
          f"{min(old[g] for g in patches)}-{max(old.values())} each). Picks / patches (evenly spaced picks):")
    for g, n in patches.items():
        print(f"    {g:28s} {groups.get(g, 0):3d} / {n:4d}  ({old.get(g, 0)})")


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", action="append", help="profile(s) to measure (default: quick and demo)")
    ap.add_argument("--root", type=Path, default=None, help="demo folder parent (default: a fresh temporary one)")
    ap.add_argument("--photos", default=None, help="folder of extra photographs (as --photos everywhere)")
    ap.add_argument("--image-size", type=int, default=None, help="working size (default: the profile's)")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    root = args.root.expanduser() if args.root else Path(tempfile.mkdtemp(prefix="bench_demo_splits."))
    try:
        for name in args.profile or ("quick", "demo"):
            measure(name, root, args.photos, args.image_size)
    finally:
        if args.root is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
