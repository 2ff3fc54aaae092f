"""The fill Gi starts from (``networks.smooth_fill``), scored alone and timed.

    python benchmarks/bench_fill.py                          # demo val split, 256 px, 16 crops per bucket
    python benchmarks/bench_fill.py --split test --per-bucket 48 --json runs/bench/fill.json
    python benchmarks/bench_fill.py --split test --known-conducts --thin  # border lines block nothing, thinned lines
    python benchmarks/bench_fill.py --time-only                 # only the time of one fill (no weights, no photos)
    python benchmarks/bench_fill.py --time-only --size 128 --batch 8 --backward    # what a joint-stage step pays
    python benchmarks/bench_fill.py --time-only --same-hole     # a new sketch in the hole filled before

Scores, with notebook 06's evaluation (Table 1's protocol), an Inpainter whose Gi is untrained: a prefill Gi
with its zero-initialised correction layer returns the fill itself, so the columns are the fill given Gs's
sketch ("ours"), the true sketch ("oracle sketch") and the sketch emptied inside the hole ("emptied sketch"),
beside scikit-image's biharmonic fill on the same crops and masks. ``--known-conducts`` and the sketch options
score another treatment of the hole's border or another binarisation of the true sketch (the "ours" column then
still gets the shipped Gs's output, which was trained on the shipped binarisation). Then times ``smooth_fill``
on one image (6 stroke holes, 5 calls each: median and quartiles), each call a first fill of its hole (the kept
factorisations are forgotten before it); ``--same-hole``: each call a new sketch in the hole of the call before,
which reuses its analysis (``inpaintkit.fill``: the evaluation's ladder, the widget's "Re-run stage 2").
Needs the shipped demo weights (Gs) and the demo photographs (``--photos``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inpaintkit.baselines import Method  # noqa: E402
from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.config import get_profile  # noqa: E402
from inpaintkit.data import demo_patch_size, ensure_demo_dataset  # noqa: E402
from inpaintkit.evaluate import evaluate  # noqa: E402
from inpaintkit.fill import forget_factorisations, smooth_fill  # noqa: E402
from inpaintkit.masks import irregular_mask  # noqa: E402
from inpaintkit.networks import image_generator  # noqa: E402
from inpaintkit.pipeline import Inpainter  # noqa: E402


def fill_only_inpainter() -> Inpainter:
    """The shipped Inpainter with Gi swapped for an untrained prefill Gi: its output is the fill."""
    inp = Inpainter.from_pretrained(device="cpu")
    p = inp.weights.profile
    inp.gi = image_generator(p["gi_channels"], skips=p["skips"], prefill=True).eval()
    return inp


def time_fill(size: int, holes: int = 6, repeats: int = 5, batch: int = 1, backward: bool = False,
              same_hole: bool = False) -> list[float]:
    """Seconds of each smooth_fill of ``batch`` size x size RGB images with random lines and 20-30 % stroke holes
    (and its backward pass to the sketch, as a joint-stage step pays, with ``backward``): ``holes`` draws, each
    filled once to warm up and then ``repeats`` times (a busy machine's times spread: report quartiles). Each
    timed call is a first fill of its hole, or with ``same_hole`` a new sketch in the hole filled just before."""
    times = []
    for seed in range(holes):
        g = torch.Generator().manual_seed(seed)
        x = torch.rand(batch, 3, size, size, generator=g)
        m = torch.stack([torch.from_numpy(irregular_mask(size, size, (0.2, 0.3), rng=seed * batch + i)).float()[None]
                         for i in range(batch)])
        for k in range(repeats + 1):
            s = (torch.rand(batch, 1, size, size, generator=g) > 0.9).float().requires_grad_(backward)
            if not same_hole:
                forget_factorisations()
            t = time.perf_counter()
            with torch.set_grad_enabled(backward):
                out = smooth_fill(x, m, s)
                if backward:
                    out.square().mean().backward()
            if k:
                times.append(time.perf_counter() - t)
    return times


def describe_times(times: list[float]) -> str:
    """'median 38 ms (quartiles 35-41, 30 calls)'."""
    q1, median, q3 = (1000 * q for q in statistics.quantiles(times, n=4))
    return f"median {median:.0f} ms (quartiles {q1:.0f}-{q3:.0f}, {len(times)} calls)"


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--per-bucket", type=int, default=16)
    ap.add_argument("--photos", default=None, help="extra photographs (default $INPAINTKIT_PHOTOS)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--known-conducts", action=argparse.BooleanOptionalAction, default=None,
                    help="known pixels always pass their colour on (lines on the hole's border block nothing); "
                         "default as Gi's fill")
    ap.add_argument("--sketch-threshold", type=float, default=None, help="HED threshold of the true sketch "
                    "(default the shipped weights')")
    ap.add_argument("--thin", action=argparse.BooleanOptionalAction, default=None,
                    help="thin the true sketch to 1 px (default as the shipped weights)")
    ap.add_argument("--time-only", action="store_true", help="only time smooth_fill (6 holes, 5 calls each)")
    ap.add_argument("--batch", type=int, default=1, help="with --time-only: images per call")
    ap.add_argument("--backward", action="store_true", help="with --time-only: time the backward pass too")
    ap.add_argument("--same-hole", action="store_true", help="with --time-only: each call a new sketch in the "
                    "hole of the call before (no gradient), reusing that fill's analysis")
    ap.add_argument("--json", default=None)
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.known_conducts is not None:      # every smooth_fill call in this process, Gi's included
        smooth_fill.__defaults__ = (None, args.known_conducts)
    if args.time_only:
        if args.same_hole and args.backward:
            ap.error("--same-hole times fills without a gradient (a fill with one keeps its factors); "
                     "drop --backward or --same-hole")
        what = "one image" if args.batch == 1 else f"a batch of {args.batch} images"
        where = "a new sketch in the hole filled before" if args.same_hole else "first fills of 20-30 % holes"
        times = time_fill(args.size, batch=args.batch, backward=args.backward, same_hole=args.same_hole)
        print(f"smooth_fill{' + backward' if args.backward else ''} of {what} at {args.size} px, {where}, "
              f"random lines, {args.threads} threads: {describe_times(times)}")
        return 0
    folder = ensure_demo_dataset(patch_size=demo_patch_size(args.size), stride=64, photos=args.photos)
    profile = replace(get_profile("demo"), image_size=args.size)
    inp = fill_only_inpainter()
    spec = inp.sketch_spec
    inp.sketch_spec = replace(spec, threshold=args.sketch_threshold or spec.threshold,
                              thin=spec.thin if args.thin is None else args.thin)
    result = evaluate(inp, data=str(folder / f"{args.split}.flist"),
                      methods=["biharmonic", "no_sketch", "ours", "oracle_sketch", "emptied_sketch"],
                      per_bucket=args.per_bucket,
                      profile=profile, device="cpu", write=False)
    table = {Method(m).label: {b: round(v["psnr"]["mean"], 2) for b, v in d.items()}
             for m, d in result["summary"].items()}
    times = time_fill(args.size)
    print(f"fill alone (known pixels conduct: {smooth_fill.__defaults__[1]}, true sketch {inp.sketch_spec}), "
          f"{args.split} split, "
          f"{args.size} px, {args.per_bucket} crops per bucket (PSNR, dB):")
    for method, row in table.items():
        print(f"  {method:16s} " + "  ".join(f"{b}: {v:6.2f}" for b, v in row.items()))
    print(f"smooth_fill of one {args.size} px image, {args.threads} threads: {describe_times(times)}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        record = {"psnr": table, "fill_seconds": statistics.median(times),
                  "known_conducts": smooth_fill.__defaults__[1], **vars(args)}
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
