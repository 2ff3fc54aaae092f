#!/usr/bin/env python
"""The training ladder: find out why a trained model does not inpaint before tuning it.

    python benchmarks/training_ladder.py --out runs/ladder                     # all rungs, ~30 min on 2 cores
    python benchmarks/training_ladder.py --out runs/ladder --rungs a           # one rung
    INPAINTKIT_PHOTOS=data/photos python benchmarks/training_ladder.py ...     # with the wallpaper photographs

Each rung adds one thing to the one before, so the rung where the fill goes wrong names the cause:

a. Overfit one fixed batch (8 demo crops): Gi with L1 alone must reach >= 35 dB on it, Gs with its
   class-balanced BCE an F1 >= 0.9 in the hole; if not, there is a bug to fix first. Run for the paper's
   architecture and for the kit's (U-Net skips, Gi correcting a smooth fill).
b. Gi trained on the demo train split with L1 alone (paper architecture, then the kit's).
c. + the perceptual and style terms (EdgeConnect's weights 0.1 / 250, HED's VGG16 features).
d. + the adversarial and feature-matching terms: EdgeConnect's full stage-2 recipe (the first shipped weights').
   Rungs b-d run for both architectures; each run's sample grids are in its stage2/samples/.
k. the kit's recipe (``--recipe``, default the quick profile's), the one the shipped weights use.
e. rung k's Gi fed Gs's prediction (Gs trained here too): the soft sigmoid output as the pipeline used to,
   against the prediction binarised and thinned like the training sketches.

Trained rungs are scored on the validation split at Table 1's buckets with :func:`inpaintkit.evaluate.evaluate`
(the protocol of notebook 06: composited, 8-bit, EdgeConnect's gray PSNR / SSIM), beside scikit-image's
biharmonic fill on the same images and masks; "guidance" is the oracle sketch's PSNR minus the emptied
sketch's (the sketch in the hole removed): what Gi takes from the sketch. Writes ``OUT/ladder.json`` and
``OUT/ladder.md``; each rung's run dir is kept (``--resume``-safe: a finished rung is read back, not retrained).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a plain clone, too

from inpaintkit import losses  # noqa: E402
from inpaintkit.baselines import Method  # noqa: E402
from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.config import Stage2LossWeights, get_profile  # noqa: E402
from inpaintkit.data import demo_dataset, demo_patch_size, ensure_demo_dataset  # noqa: E402
from inpaintkit.evaluate import evaluate  # noqa: E402
from inpaintkit.files import atomic_write_text  # noqa: E402
from inpaintkit.masks import TABLE1_BUCKETS  # noqa: E402
from inpaintkit.metrics import psnr, sketch_scores  # noqa: E402
from inpaintkit.networks import composite, image_generator, sketch_generator  # noqa: E402
from inpaintkit.pipeline import Inpainter  # noqa: E402
from inpaintkit.train import Trainer, load_generator  # noqa: E402

L1_ONLY = Stage2LossWeights(l1=1.0, adversarial=0.0, perceptual=0.0, style=0.0, feature_matching=0.0)
PERC_STYLE = Stage2LossWeights(l1=1.0, adversarial=0.0, perceptual=0.1, style=250.0, feature_matching=0.0)
EDGECONNECT = Stage2LossWeights(l1=1.0, adversarial=0.1, perceptual=0.1, style=250.0, feature_matching=10.0)


def fixed_batch(profile, n: int = 8) -> dict:
    ds = demo_dataset("train", profile.image_size, stride=profile.demo_patch_stride,
                      sketch=profile.sketch_spec(), progress=False, deterministic_masks=True, hole_range=(0.2, 0.5))
    step = max(len(ds) // n, 1)
    return torch.utils.data.default_collate([ds[i * step] for i in range(n)])


def overfit(profile, kit: bool, steps: int, lr: float) -> dict:
    """Rung a: fit Gi (L1) and Gs (balanced BCE) to one fixed batch; scores on that batch."""
    torch.manual_seed(0)
    b = fixed_batch(profile)
    x, s, g, m = b["image"], b["sketch"], b["gray"], b["mask"]
    gi = image_generator(profile.gi_channels, skips=kit, prefill=kit)
    gs = sketch_generator(profile.gs_channels, skips=kit)
    out, t0 = {}, time.perf_counter()
    for name, net, loss_fn in (("gi", gi, lambda: losses.l1_loss(gi(x, s, m), x, m)),
                               ("gs", gs, lambda: losses.balanced_bce(gs(g, s, m), s))):
        opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.0, 0.9))
        for _ in range(steps):
            loss = loss_fn()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        out["gi_psnr"] = float(psnr(composite(gi(x, s, m), x, m), x, "rgb").mean())
        spec = profile.sketch_spec()
        from inpaintkit.sketches import binarize

        pred = binarize(gs(g, s, m), spec.threshold, spec.thin)
        out["gs_f1"] = sketch_scores(pred, s, m)["f1"]
        out["gs_f1_soft"] = sketch_scores(gs(g, s, m), s, m)["f1"]
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def train_stage(profile, stage: int, run_dir: Path, steps: int) -> float:
    t0 = time.perf_counter()
    trainer = Trainer(stage, profile, run_dir, device="cpu", steps=steps, resume=True, progress=False,
                      vgg="hed" if stage == 2 else "auto")
    if trainer.step < steps:
        trainer.fit()
    return time.perf_counter() - t0


def score(profile, run_dir: Path, gs_dir: Path | None, per_bucket: int, methods, finish_sketch: bool = True) -> dict:
    """Table-1 protocol on the validation split: per method and bucket, mean PSNR / SSIM."""
    gi = load_generator(run_dir, 2)
    gs = load_generator(gs_dir, 1) if gs_dir is not None else sketch_generator(profile.gs_channels,
                                                                             skips=profile.skips)
    inp = Inpainter(gs, gi, sketch_spec=profile.sketch_spec(), device="cpu")
    inp.finish_sketch = finish_sketch
    val = ensure_demo_dataset(patch_size=demo_patch_size(profile.image_size), stride=profile.demo_patch_stride)
    res = evaluate(inp, data=val / "val.flist", methods=methods, per_bucket=per_bucket, profile=profile,
                   run_dir=run_dir, write=False, progress=False)
    table = {}
    for method, buckets in res["summary"].items():
        table[method] = {b: {k: round(buckets[b][k]["mean"], 3) for k in ("psnr", "ssim")}
                         for b in TABLE1_BUCKETS if b in buckets}
    return table


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/ladder"))
    ap.add_argument("--profile", default="quick", help="sizes and widths (default quick: 64 px, width 16)")
    ap.add_argument("--rungs", default="abcdke")
    ap.add_argument("--steps", type=int, default=400, help="training steps of rungs b-k")
    ap.add_argument("--stage1-steps", type=int, default=1200, help="Gs's steps for rung e")
    ap.add_argument("--fit-steps", type=int, default=1500, help="steps of rung a")
    ap.add_argument("--fit-lr", type=float, default=1e-3)
    ap.add_argument("--per-bucket", type=int, default=24, help="validation images per bucket")
    ap.add_argument("--stride", type=int, default=64,
                    help="demo patch grid stride (default 64: a quarter of "
                         "the quick profile's patches, whose HED sketches take long)")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    base = replace(get_profile(args.profile), demo_patch_stride=args.stride)
    paper_arch = replace(base, skips=False, prefill=False)
    kit_arch = replace(base, skips=True, prefill=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "ladder.json"
    results = json.loads(path.read_text()) if path.exists() else {}

    def save():
        atomic_write_text(path, json.dumps(results, indent=1))
        atomic_write_text(args.out / "ladder.md", format_ladder(results))

    stage2 = [Method.BIHARMONIC, Method.EMPTIED_SKETCH, Method.ORACLE_SKETCH]
    rungs = {
        "b (paper arch.)": (paper_arch, L1_ONLY), "c (paper arch.)": (paper_arch, PERC_STYLE),
        "d (paper arch.)": (paper_arch, EDGECONNECT),
        "b": (kit_arch, L1_ONLY), "c": (kit_arch, PERC_STYLE), "d": (kit_arch, EDGECONNECT),
        "k": (kit_arch, kit_arch.stage2_loss),
    }
    if "a" in args.rungs:
        for label, kit in (("a (paper arch.)", False), ("a", True)):
            if label not in results:
                results[label] = {"overfit": overfit(base, kit, args.fit_steps, args.fit_lr)}
                print(label, results[label], flush=True)
                save()
    for label, (prof, weights) in rungs.items():
        if label[0] not in args.rungs or "table" in results.get(label, {}):
            continue
        prof = replace(prof, stage2_loss=weights)
        run = args.out / label.replace(" ", "_").replace("(", "").replace(")", "").replace(".", "")
        secs = train_stage(prof, 2, run, args.steps)
        results[label] = {"weights": asdict(weights),
                          "steps": args.steps, "train_seconds": round(secs, 1),
                          "table": score(prof, run, None, args.per_bucket, stage2)}
        print(label, results[label]["table"], flush=True)
        save()
    if "e" in args.rungs and "k" in results and "table" not in results.get("e", {}):
        prof = replace(kit_arch, stage2_loss=kit_arch.stage2_loss)
        gs_run = args.out / "e_gs"
        secs = train_stage(prof, 1, gs_run, args.stage1_steps)
        run = args.out / "k"
        results["e"] = {"stage1_steps": args.stage1_steps, "train_seconds": round(secs, 1),
                        "table": {"soft": score(prof, run, gs_run, args.per_bucket, [Method.OURS],
                                                finish_sketch=False)[Method.OURS],
                                  "binarised": score(prof, run, gs_run, args.per_bucket, [Method.OURS])[Method.OURS]}}
        print("e", results["e"]["table"], flush=True)
        save()
    print(format_ladder(results))
    return 0


def _method(name: str) -> Method | None:
    """The Method a table row names, by key (or by label, as older ladders stored them); None for rung e's rows."""
    try:
        return Method.parse(name)
    except ValueError:
        return None


def format_ladder(results: dict) -> str:
    """The ladder as a markdown table: PSNR (dB) per bucket for each rung and method."""
    lines = ["| rung | method | " + " | ".join(TABLE1_BUCKETS) + " | guidance at 20-30 |", "|---|---|" +
             "---:|" * (len(TABLE1_BUCKETS) + 1)]
    for label, r in results.items():
        if "overfit" in r:
            o = r["overfit"]
            lines.append(f"| {label} | one batch: Gi {o['gi_psnr']:.2f} dB, Gs F1 {o['gs_f1']:.3f} "
                         f"(soft {o['gs_f1_soft']:.3f}) | " + " | ".join("" for _ in TABLE1_BUCKETS) + " | |")
            continue
        table = r.get("table", {})
        rows = table.items() if label != "e" else (("ours, soft Gs output", table.get("soft", {})),
                                                   ("ours, binarised Gs output", table.get("binarised", {})))
        by_method = {_method(name): buckets for name, buckets in table.items()}
        for name, buckets in rows:
            method, gain = _method(name), ""
            if method is Method.ORACLE_SKETCH and Method.EMPTIED_SKETCH in by_method:
                gain = f"{buckets['20-30']['psnr'] - by_method[Method.EMPTIED_SKETCH]['20-30']['psnr']:+.2f} dB"
            cells = " | ".join(f"{buckets[b]['psnr']:.2f}" if b in buckets else "" for b in TABLE1_BUCKETS)
            lines.append(f"| {label} | {method.label if method else name} | {cells} | {gain} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
