"""Table 1: PSNR / SSIM per hole-ratio bucket for our model, its variants and classical baselines.

    python -m inpaintkit.evaluate --run-dir runs/quick                       # demo weights, demo test split
    python -m inpaintkit.evaluate --run-dir runs/full --weights run --data /data/places365 --test-masks /data/liu_test

What is measured (Section 4): every test image is paired with one mask of each Table-1 bucket (10-20 %,
20-30 %, 30-40 %, and 40-50 %, the paper's ">= 40 %"); every method fills the hole; PSNR, SSIM and
EdgeConnect's relative MAE of the **composited** output against the original image, over the whole image
(:mod:`inpaintkit.metrics`, ``protocol="edgeconnect"`` by default: the scale of the paper's table). The output
is rounded to 8 bits first, as EdgeConnect reads its results back from PNG files. The CFS ablation (notebook 03)
scores through the same functions, :func:`inpaintkit.protocol.table1_masks` and
:func:`inpaintkit.metrics.table1_scores` (``docs/evaluation.md``).

This module puts three together: the test pairs (:mod:`inpaintkit.protocol`: which images, which masks, how
paired), the methods run and scored on them (:mod:`inpaintkit.scoring`) and the report
(:mod:`inpaintkit.table1`); and it is the command line.

Written into the run directory, atomically: ``metrics.json`` (every record, per-bucket means with bootstrap
95 % intervals, the protocol, the model's weights and VGG source, skipped methods and images and why, where
the time went: wall and CPU seconds per stage) and ``table1.md`` (Table 1's layout, with the paper's own numbers
in a separate block).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .baselines import METHOD_ORDER, MODEL_VARIANTS, Method, available_methods
from .cli import add_debug_flag, command
from .config import Profile, default_run_dir, get_profile
from .files import atomic_write_text, check_writable_dir
from .limits import INPAINT_MAX_PIXELS
from .masks import TABLE1_BUCKETS
from .metrics import PROTOCOLS, aggregate_by_bucket
from .protocol import test_set
from .scoring import EVAL_BATCH_SIZE, METRIC_KEYS, PROTOCOL_NOTES, Clock, Scores, load_inpainter, model_info, score_all
from .table1 import format_table1

__all__ = ["OUTPUTS", "evaluate", "correction_gain", "CORRECTION_MIN_GAIN_DB", "choose_strength", "SKETCH_STRENGTHS",
           "LADDER", "gap_closed",
           "paired_differences", "main"]

OUTPUTS = ("metrics.json", "table1.md")        # what evaluate writes into the run dir

# The sketch ladder of notebooks 05-06: the same fill and Gi handed ever better sketches
LADDER = (Method.NO_SKETCH, Method.EMPTIED_SKETCH, Method.STAGE1_SKETCH, Method.OURS, Method.ORACLE_SKETCH)

CORRECTION_MIN_GAIN_DB = 0.1   # Gi's correction is applied only if it beats its own fill by this much on val
SKETCH_STRENGTHS = (1.0, 0.75, 0.5)   # the sketch strengths choose_strength tries (Inpainter.sketch_strength)


def _check_request(prof: Profile, data, weights: str, protocol: str, per_bucket: int | None) -> tuple[str, int]:
    """``(weights, per_bucket)`` after the checks: the protocol is known, a Places2 profile scores its own run
    on Places2, at least one image per bucket."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r}: choose one of {PROTOCOLS}.")
    if data is None and prof.needs_real_data:
        raise ValueError(f"The {prof.name} profile is evaluated on Places2, not on the demo photographs: prepare it "
                         "with `python data_scripts/prepare_places2.py --root /data/places365 --out data/places2` "
                         "and pass data='data/places2' (--data).")
    if weights == "demo" and prof.needs_real_data:
        raise ValueError(f"The {prof.name} profile evaluates the run's own generators (weights='run'), never the "
                         "shipped 64-px demo weights.")
    if weights == "auto" and prof.needs_real_data:
        weights = "run"
    per_bucket = int(per_bucket if per_bucket is not None else prof.eval_images)
    if per_bucket < 1:
        raise ValueError(f"per_bucket must be >= 1, got {per_bucket}.")
    if prof.image_size ** 2 > INPAINT_MAX_PIXELS:      # what Inpainter would refuse image by image, said up front
        side = int(INPAINT_MAX_PIXELS ** 0.5)
        raise ValueError(f"image size {prof.image_size} px is over the {side}x{side} px our generators run at "
                         f"(inpaintkit.limits.INPAINT_MAX_PIXELS); give --image-size {side} or less.")
    return weights, per_bucket



def _check_outputs(out_dir: Path) -> None:
    """Create ``out_dir`` and prove it writable, and refuse a folder sitting where metrics.json or table1.md go:
    before the scoring starts, so that no result is lost at the end."""
    check_writable_dir(out_dir, "run dir (where metrics.json and table1.md go)")
    for name in OUTPUTS:
        if (out_dir / name).is_dir():
            raise IsADirectoryError(f"{out_dir / name} is a folder; evaluate writes a file there. Move it away, "
                                    "or give another --run-dir.")


def _summaries(records: list[dict]) -> tuple[dict, dict]:
    """Per-bucket means with bootstrap intervals, overall and split by whether the hole touches the border."""
    summary = aggregate_by_bucket(records)
    by_border = {group: aggregate_by_bucket([r for r in records if r["hole_at_border"] == flag], METRIC_KEYS)
                 for group, flag in (("hole at the border", True), ("hole inside", False))
                 if any(r["hole_at_border"] == flag for r in records)}
    return summary, by_border


def evaluate(inpainter=None, *, run_dir=None, data=None, masks=None, methods=None, protocol: str = "edgeconnect",
             per_bucket: int | None = None, profile: str | Profile | None = None, weights: str = "auto",
             device: str = "auto", batch_size: int | None = None, mask_seed: int = 0, progress: bool = True,
             write: bool = True) -> dict:
    """Evaluate every method on the fixed test pairs; write ``metrics.json`` and ``table1.md`` into ``run_dir``.

    ``inpainter``: an :class:`~inpaintkit.pipeline.Inpainter`, or None to load one by ``weights`` ("demo": the
    shipped weights, "run": ``run_dir``'s trained stages, "auto": the run's when trained, else demo).
    ``data``: None (the demo test split) or an image folder / flist / Places365 root (its test split, else val).
    ``masks``: None (our fixed seeded set, made once) or a mask folder (ours or Liu et al.'s).
    ``methods``: :class:`~inpaintkit.baselines.Method` members, keys or labels (default all of METHOD_ORDER);
    records and summaries are keyed by Method (its key string in JSON). ``protocol``: "edgeconnect"
    (Table 1's) or "rgb". ``per_bucket``: images per bucket (default the profile's ``eval_images``).
    Images are ``profile.image_size`` square. Returns the dict written to ``metrics.json``.
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    weights, per_bucket = _check_request(prof, data, weights, protocol, per_bucket)
    out_dir = Path(run_dir) if run_dir is not None else default_run_dir(prof)
    clock = Clock()
    source = "given"
    wanted = set(MODEL_VARIANTS if methods is None else (Method.parse(n) for n in methods))
    if inpainter is None and wanted & set(MODEL_VARIANTS):
        inpainter, source = load_inpainter(weights, run_dir, device)
    clock.add("load model")
    if write:                 # after the weights are chosen (a missing run dir is named there), before any scoring
        _check_outputs(out_dir)
    runnable, skipped_methods = available_methods(inpainter, methods, prof.image_size)
    if not runnable:
        raise ValueError(f"No method can run: {skipped_methods}.")
    clock.lap()
    counts_before = _sketch_cache_counts()
    test = test_set(prof, data, masks, per_bucket, mask_seed, progress)
    clock.add("masks and pairing")
    # metrics on the model's GPU when it has one (batched torch SSIM there), else on the CPU (scikit-image's SSIM)
    on_gpu = inpainter is not None and inpainter.device.type == "cuda"
    scores = Scores(protocol, inpainter.device if on_gpu else torch.device("cpu"))
    skipped_images = score_all(test, runnable, scores, prof.image_size,
                                batch_size or max(EVAL_BATCH_SIZE, prof.batch_size),
                                prof.num_workers, clock, progress)
    records = scores.records
    sketch_cache = _sketch_cache_record(counts_before, inpainter, test, records)
    if not records:
        raise ValueError(f"No image of {test.data} could be read; nothing was evaluated (see the skipped list).")
    # records in table order (methods, then buckets), whatever the compute order was
    records.sort(key=lambda r: (METHOD_ORDER.index(r["method"]), TABLE1_BUCKETS.index(r["bucket"])))
    clock.lap()
    summary, by_border = _summaries(records)
    extra_scores = {"fid": scores.fid.scores()} if scores.fid is not None else {}
    clock.add("bootstrap")
    result = {
        "protocol": protocol,
        "protocol_note": PROTOCOL_NOTES[protocol] + "; output rounded to 8 bits first",
        "profile": prof.name,
        "image_size": prof.image_size,
        "per_bucket": per_bucket,
        "data": test.data,
        "masks": {"root": str(test.mask_root), "seed": mask_seed if masks is None else None,
                  "ratios": {b: [ratio for _, ratio, _ in v] for b, v in test.mask_sets.items()}},
        "model": model_info(inpainter, source) if inpainter is not None else None,
        "methods": [n for n in METHOD_ORDER if n in runnable],
        "method_labels": {n: n.label for n in METHOD_ORDER if n in runnable or n in skipped_methods},
        "skipped_methods": skipped_methods,
        "skipped_images": skipped_images,
        "notes": test.notes + sorted(scores.ssim_warnings),
        "memory": scores.memory,
        "sketch_cache": sketch_cache,
        "seconds": dict(clock.wall),
        "cpu_seconds": dict(clock.cpu),
        "summary": summary,
        "summary_by_border": by_border,
        "extra_metrics": scores.extra,
        "extra_scores": extra_scores,
        "records": records,
    }
    if write:
        _atomic_write(out_dir / "metrics.json", json.dumps(result, indent=1, default=_json_default))
        _atomic_write(out_dir / "table1.md", format_table1(result))
    return result



def paired_differences(metrics: dict, method, reference, bucket: str, metric: str = "psnr") -> list[tuple[float, dict]]:
    """``(metric(method) - metric(reference), method's record)`` for every test pair of ``bucket`` both methods
    scored, largest first: where ``method`` gains most over ``reference``, and (the end) where it loses most."""
    ref = {(r["image"], r["mask_id"]): r[metric] for r in metrics["records"]
           if r["method"] == reference and r["bucket"] == bucket}
    pairs = [(r[metric] - ref[(r["image"], r["mask_id"])], r) for r in metrics["records"]
             if r["method"] == method and r["bucket"] == bucket and (r["image"], r["mask_id"]) in ref]
    return sorted(pairs, key=lambda t: -t[0])


def gap_closed(summary: dict, method, bucket: str = "20-30") -> float:
    """The share of the PSNR gap between "emptied sketch" and "oracle sketch" that ``method`` closes at ``bucket``
    (``summary``: ``evaluate(...)["summary"]``): 0 = no better than no sketch in the hole, 1 = as the true sketch.
    NaN where the true sketch is worth nothing over the emptied one."""
    ps = {m: summary[m][bucket]["psnr"]["mean"] for m in (Method.EMPTIED_SKETCH, Method.ORACLE_SKETCH, method)}
    gap = ps[Method.ORACLE_SKETCH] - ps[Method.EMPTIED_SKETCH]
    return (ps[method] - ps[Method.EMPTIED_SKETCH]) / gap if gap > 0 else float("nan")


def correction_gain(inpainter, data, *, profile: str | Profile, per_bucket: int | None = None,
                    device: str = "auto", progress: bool = False) -> dict:
    """Gi's learned correction against its own fill, scored like Table 1 on ``data`` (the val split: the choice
    must not look at the test photographs): {"gain_db": {bucket: mean PSNR(with) - PSNR(without)}, "mean_db",
    "apply": mean >= :data:`CORRECTION_MIN_GAIN_DB`, "why"}. ``inpainter``: an Inpainter whose Gi corrects a
    fill; it is scored both ways, whatever it serves now (its ``correction`` is left as it was)."""
    if not inpainter.gi.prefill:
        raise ValueError("correction_gain: this Gi paints the hole from zeros (prefill=False): it has no fill.")
    on = evaluate(inpainter.variant(correction=True), data=data, methods=["ours", "fill_only"], profile=profile,
                  per_bucket=per_bucket, device=device, progress=progress, write=False)["summary"]
    gain = {b: on[Method.OURS][b]["psnr"]["mean"] - on[Method.FILL_ONLY][b]["psnr"]["mean"] for b in TABLE1_BUCKETS}
    mean = float(np.mean(list(gain.values())))
    apply = mean >= CORRECTION_MIN_GAIN_DB
    verb = f"gains {mean:.2f} dB over" if mean > 0 else f"costs {-mean:.2f} dB against"
    why = (f"Gi's correction {verb} its own fill, on average over Table 1's buckets of {Path(str(data)).name} "
           f"(+{CORRECTION_MIN_GAIN_DB} dB needed to apply it): "
           + ("applied" if apply else "switched off, the fill alone serves"))
    return {"gain_db": gain, "mean_db": mean, "apply": apply, "why": why, "data": str(data),
            "per_bucket": per_bucket}


def choose_strength(inpainter, data, *, profile: str | Profile, per_bucket: int | None = None,
                    strengths=SKETCH_STRENGTHS, device: str = "auto", progress: bool = False) -> dict:
    """The sketch strength (:attr:`~inpaintkit.pipeline.Inpainter.sketch_strength`) whose **worst** bucket gains most
    over the same model given no sketch, scored like Table 1 on ``data`` (the val split, never the test photographs);
    ties (within 0.005 dB) go to the larger mean gain. The rule asks the sketch to cost nowhere before it gains on
    average: a strength that wins one bucket by a lot and loses another is not chosen over one that gains in all.
    Returns {"strength", "gain_db": {strength: {bucket: PSNR(ours) - PSNR(no sketch)}}, "why", "data",
    "per_bucket"}; ``inpainter`` is left as it was."""
    gains, none = {}, None
    for k, a in enumerate(strengths):
        methods = ["ours"] if none is not None else ["no_sketch", "ours"]
        res = evaluate(inpainter.variant(sketch_strength=float(a)), data=data, methods=methods, profile=profile,
                       per_bucket=per_bucket, device=device, progress=progress, write=False)["summary"]
        none = none or {b: res[Method.NO_SKETCH][b]["psnr"]["mean"] for b in TABLE1_BUCKETS}
        gains[float(a)] = {b: res[Method.OURS][b]["psnr"]["mean"] - none[b] for b in TABLE1_BUCKETS}
    worst = {a: min(g.values()) for a, g in gains.items()}
    mean = {a: float(np.mean(list(g.values()))) for a, g in gains.items()}
    best_worst = max(worst.values())
    chosen = max((a for a in gains if worst[a] >= best_worst - 0.005), key=lambda a: mean[a])
    why = (f"sketch strength {chosen:g}: its worst bucket gains {worst[chosen]:+.2f} dB over no sketch on "
           f"{Path(str(data)).name} (mean {mean[chosen]:+.2f} dB; tried "
           + ", ".join(f"{a:g}: worst {worst[a]:+.2f}, mean {mean[a]:+.2f}" for a in gains) + ")")
    return {"strength": chosen, "gain_db": gains, "why": why, "data": str(data), "per_bucket": per_bucket}


def _sketch_cache_counts() -> dict | None:
    """``inpaintkit.sketches.cache_counts()`` (sketches read from / computed into the on-disk cache by this
    process so far), or None where the kit has no such counter."""
    from . import sketches

    counts = getattr(sketches, "cache_counts", None)
    return dict(counts()) if counts is not None else None


def _sketch_cache_record(before: dict | None, inpainter, test, records: list[dict]) -> dict:
    """metrics.json's "sketch_cache": what this evaluation read from / computed into the sketch cache (the
    pipeline runs HED itself on exactly the images it scores, so both stay 0 unless a method reads the cache),
    the sketch spec's key, the distinct images scored and their source."""
    after = _sketch_cache_counts()
    delta = ({k: after.get(k, 0) - before.get(k, 0) for k in ("read", "computed")}
             if before is not None and after is not None else {"read": None, "computed": None})
    spec = getattr(inpainter, "sketch_spec", None)
    return delta | {"spec_key": spec.key() if spec is not None else None,
                    "images": len({r["image"] for r in records}), "data": test.data}


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


_atomic_write = atomic_write_text



# ---------------------------------------------------------------------------------------------- CLI

def _choose_serving(args, profile: Profile) -> int:
    """``--choose-correction`` / ``--choose-strength``: on the val split, Gi's correction against its own fill
    (first: Gi trained on binary sketches can lose so much to its fill that it would decide every strength), then the
    sketch strength, served as serving.json now says; both into serving.json."""
    from .data import demo_patch_size, ensure_demo_dataset
    from .pipeline import write_serving, write_strength

    val = args.data or ensure_demo_dataset(patch_size=demo_patch_size(profile.image_size),
                                           stride=profile.demo_patch_stride) / "val.flist"

    def inpainter():
        inp, _ = load_inpainter(args.weights, Path(args.run_dir), args.device)
        inp.work_size = profile.image_size            # scored at the size asked for (--image-size: the serving size)
        return inp

    if args.choose_correction:
        r = correction_gain(inpainter(), val, profile=profile, per_bucket=args.per_bucket, device=args.device,
                            progress=True)
        path = write_serving(args.run_dir, r["apply"], r["why"], gain_db=r["gain_db"], data=str(val),
                             image_size=profile.image_size, per_bucket=r["per_bucket"])
        print(r["why"], f"\nwrote {path}")
    if args.choose_strength:
        r = choose_strength(inpainter(), val, profile=profile, per_bucket=args.per_bucket, device=args.device,
                            progress=True)
        print(r["why"], f"\nwrote {write_strength(args.run_dir, r['strength'], r['why'], r['gain_db'])}")
    return 0


@command
def main(argv=None) -> int:
    """The command line: any failure is one ``error:`` line and exit code 2 (``--debug``: the traceback)."""
    ap = argparse.ArgumentParser(prog="python -m inpaintkit.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", required=True,
                    help="where metrics.json and table1.md go (and trained stages for --weights run)")
    ap.add_argument("--data", default=None,
                    help="image folder, .flist or Places365 root (default: the demo test split)")
    ap.add_argument("--photos", default=None, help="a folder of extra photographs for the demo set (split by "
                                                   "photograph; sets $INPAINTKIT_PHOTOS), e.g. data/photos")
    ap.add_argument("--test-masks", "--masks", dest="test_masks", default=None,
                    help="Table 1's test masks: a folder, ours or Liu et al.'s test set (default: our fixed seeded "
                         "set); --masks is the older name of the same option")
    ap.add_argument("--weights", default="auto", choices=("demo", "run", "auto"),
                    help="demo: shipped weights; run: the run dir's stages; auto: run if trained, else demo")
    ap.add_argument("--per-bucket", type=int, default=None,
                    help="images per bucket (default: the profile's eval_images)")
    ap.add_argument("--protocol", default="edgeconnect", choices=PROTOCOLS)
    ap.add_argument("--profile", default=None, help="smoke, quick or full (default: $INPAINTKIT_PROFILE or quick)")
    ap.add_argument("--methods", nargs="+", default=None, type=Method.parse, choices=METHOD_ORDER, metavar="METHOD",
                    help=f"subset of {', '.join(METHOD_ORDER)} (keys; their labels are taken too)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--image-size", type=int, default=None,
                    help="square test size instead of the profile's (e.g. a model's serving size)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--choose-correction", action="store_true",
                    help="instead of Table 1: score Gi's correction against its own fill on the val split (the demo "
                         "set's, or --data) and write the choice into RUN_DIR/serving.json (Inpainter.from_run)")
    ap.add_argument("--choose-strength", action="store_true",
                    help="instead of Table 1: choose the sketch strength (Inpainter.sketch_strength, one of "
                         f"{', '.join(map(str, SKETCH_STRENGTHS))}) on the val split whose worst bucket gains most "
                         "over no sketch, into RUN_DIR/serving.json; with --choose-correction, after it")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    if args.photos is not None:                # the demo set reads it wherever it is built (data.demo_photos)
        if not Path(args.photos).is_dir():
            raise ValueError(f"--photos {args.photos}: no such folder of photographs")
        os.environ["INPAINTKIT_PHOTOS"] = str(Path(args.photos).resolve())
    profile = get_profile(args.profile)
    if args.image_size is not None:
        profile = replace(profile, image_size=args.image_size)   # Profile checks the multiple of 16
    if args.choose_correction or args.choose_strength:
        return _choose_serving(args, profile)
    res = evaluate(run_dir=args.run_dir, data=args.data, masks=args.test_masks, methods=args.methods,
                   protocol=args.protocol, per_bucket=args.per_bucket, profile=profile,
                   weights=args.weights, device=args.device, batch_size=args.batch_size)
    print(format_table1(res))
    for note in res["notes"]:                  # masks resized, images reused, ...: said, not only stored
        print(f"note: {note}")
    print(f"wrote {Path(args.run_dir) / 'metrics.json'} and {Path(args.run_dir) / 'table1.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
