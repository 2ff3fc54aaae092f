"""How well Gs draws the hole's edges, by split and hole size: exact-pixel F1 and F1 within one pixel.

    python benchmarks/bench_sketch.py                           # the shipped Gs, its threshold, 96 crops per split
    python benchmarks/bench_sketch.py --run-dir runs/demo4      # a run's Gs (threshold: --threshold, default 0.15)

Scores Gs on evenly spaced crops of the demo train, val and test splits (128 px, each crop's fixed mask) with
:func:`inpaintkit.metrics.sketch_scores`, after the binarisation (and thinning, if the profile thins) the
Inpainter applies, and splits them by hole ratio. The train split is there to tell the two failures apart: a
Gs that overfits scores far better on train than on test; one that cannot place the lines scores low on both.
Needs the demo photographs (``--photos``) for the splits the shipped weights were made with.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inpaintkit.checkpoints import load_generator  # noqa: E402
from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.config import get_profile  # noqa: E402
from inpaintkit.data import demo_dataset  # noqa: E402
from inpaintkit.metrics import sketch_scores  # noqa: E402
from inpaintkit.pipeline import Inpainter  # noqa: E402
from inpaintkit.sketches import binarize  # noqa: E402

BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 1.0))       # hole ratio of the crop's training-style mask


def score_split(gs, split: str, size: int, n: int, threshold: float, photos) -> dict:
    """{bucket: {"crops", "f1", "f1_within_1px"}} and "all" for ``n`` evenly spaced crops of ``split``."""
    spec = get_profile("demo").sketch_spec()
    ds = demo_dataset(split, size, stride=64, sketch=spec, progress=False, photos=photos, deterministic_masks=True)
    idx = np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int)
    b = torch.utils.data.default_collate([ds[int(i)] for i in idx])
    with torch.no_grad():
        pred = binarize(gs(b["gray"], b["sketch"], b["mask"]), threshold, spec.thin)
    ratio = 1 - b["mask"].mean(dim=(1, 2, 3))
    out = {}
    for name, sel in [(f"{lo:.0%}-{hi:.0%}", (ratio >= lo) & (ratio < hi)) for lo, hi in BUCKETS] + \
            [("all", torch.ones_like(ratio, dtype=torch.bool))]:
        if sel.any():
            p, t, m = pred[sel], b["sketch"][sel], b["mask"][sel]
            out[name] = {"crops": int(sel.sum()), "f1": round(sketch_scores(p, t, m)["f1"], 3),
                         "f1_within_1px": round(sketch_scores(p, t, m, tolerance=1)["f1"], 3)}
    return out


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default=None, help="score this run's stage-1 generator (default: the shipped Gs)")
    ap.add_argument("--threshold", type=float, default=None,
                    help="binarisation threshold (default: the shipped weights' gs_threshold, or 0.15 for a run)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--crops", type=int, default=96, help="crops per split")
    ap.add_argument("--photos", default=None, help="extra photographs (default $INPAINTKIT_PHOTOS)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.run_dir:
        gs, threshold = load_generator(args.run_dir, 1), args.threshold or 0.15
    else:
        inp = Inpainter.from_pretrained(device="cpu")
        gs, threshold = inp.gs, args.threshold or inp.gs_threshold
    table = {split: score_split(gs, split, args.size, args.crops, threshold, args.photos)
             for split in ("train", "val", "test")}
    lines = "thinned" if get_profile("demo").sketch_spec().thin else "unthinned (as the demo profile draws them)"
    print(f"Gs in the hole, {args.size} px, threshold {threshold}, {lines}: F1 exact / within 1 px (crops)")
    for split, row in table.items():
        print(f"  {split:5s} " + "  ".join(f"{b}: {v['f1']:.3f} / {v['f1_within_1px']:.3f} ({v['crops']})"
                                           for b, v in row.items()))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"f1": table, "threshold": threshold, **vars(args)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
