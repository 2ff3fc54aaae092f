"""Export a trained run's two generators as the shipped demo weights, with their metadata and test metrics.

    python data_scripts/export_demo_weights.py --run-dir runs/demo --out inpaintkit/weights \
        --commands-file runs/demo/commands.txt --wall-seconds-file runs/demo/wall_seconds.txt

Reads ``<run-dir>/stage{1,2}/generator.pt`` (:func:`inpaintkit.train.load_generator`), scores Gs on the demo
test split (sketch accuracy / precision / recall / F1 in the hole, next to the all-zeros predictor, as notebook
04 does), takes the stage-2 PSNR/SSIM per hole bucket from ``<run-dir>/metrics.json`` (written before by
``python -m inpaintkit.evaluate --run-dir <run-dir> --weights run``), writes ``demo_gs.pt``, ``demo_gi.pt``
(float16 state dicts) and ``demo.json`` (:class:`inpaintkit.pipeline.WeightsInfo`) into ``--out``, then loads
them back with checksum verification and reports how far float16 storage moves the outputs.
``data_scripts/train_demo_weights.sh`` runs the whole chain.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inpaintkit.config import Profile  # noqa: E402
from inpaintkit.data import DEMO_SPLITS, demo_dataset  # noqa: E402
from inpaintkit.metrics import psnr, sketch_scores  # noqa: E402
from inpaintkit.pipeline import Inpainter, WeightsInfo, export_weights  # noqa: E402
from inpaintkit.train import load_generator  # noqa: E402


def stage1_scores(gs, profile: Profile) -> dict:
    """Gs on the demo test split (evenly spaced ``eval_images`` items, their fixed masks): scores in the hole."""
    spec = profile.sketch_spec()
    test = demo_dataset("test", profile.image_size, stride=profile.demo_patch_stride, sketch=spec, progress=False)
    idx = np.linspace(0, len(test) - 1, min(profile.eval_images, len(test))).round().astype(int)
    b = torch.utils.data.default_collate([test[int(i)] for i in idx])
    with torch.no_grad():
        pred = gs(b["gray"], b["sketch"], b["mask"])                                    # (N, 1, S, S)
    ours = sketch_scores(pred, b["sketch"], b["mask"])
    zeros = sketch_scores(torch.zeros_like(pred), b["sketch"], b["mask"])
    hole = b["mask"] == 0
    return {"split": "test", "images": len(idx), "hole_pixels": int(hole.sum()),
            "edge_fraction_in_hole": float(b["sketch"][hole].gt(0.5).float().mean()),
            "threshold": 0.5, **{k: round(v, 4) for k, v in ours.items()},
            "all_zeros_predictor": {k: round(v, 4) for k, v in zeros.items()}}


def stage2_scores(metrics_json: Path) -> dict:
    """Per-bucket means (with bootstrap 95 % intervals) of PSNR / SSIM for every method in ``metrics.json``."""
    m = json.loads(metrics_json.read_text())
    table = {}
    for method, buckets in m["summary"].items():
        table[method] = {b: {k: [round(v["mean"], 4), round(v["lo"], 4), round(v["hi"], 4)]
                             for k, v in metrics.items() if k in ("psnr", "ssim", "sketch_accuracy", "sketch_f1")}
                         for b, metrics in buckets.items()}
    return {"protocol": m["protocol_note"], "per_bucket": m["per_bucket"], "image_size": m["image_size"],
            "data": m["data"], "format": "metric: [mean, 95% CI low, 95% CI high]", "by_method": table}


def fp16_effect(info: WeightsInfo, gs, gi, profile: Profile) -> dict:
    """Largest change float16 storage makes to the composited outputs on a few test images (8-bit levels, PSNR)."""
    spec = profile.sketch_spec()
    test = demo_dataset("test", profile.image_size, stride=profile.demo_patch_stride, sketch=spec, progress=False)
    b = torch.utils.data.default_collate([test[i] for i in range(0, len(test), max(1, len(test) // 8))])
    a = Inpainter(gs, gi, spec, device="cpu")
    gs16, gi16 = info.load_generators(verify=True)
    c = Inpainter(gs16, gi16, spec, device="cpu", hed=a._hed())
    out_a, out_c = a(b["image"], b["mask"]).image, c(b["image"], b["mask"]).image
    return {"images": int(b["image"].shape[0]), "max_abs_diff_8bit": float((out_a - out_c).abs().max() * 255),
            "psnr_fp32_vs_fp16_min_db": float(psnr(out_c.clamp(0, 1), out_a.clamp(0, 1)).min())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run-dir", default="runs/demo")
    ap.add_argument("--out", default="inpaintkit/weights")
    ap.add_argument("--commands-file", default=None, help="the exact commands that trained and evaluated the run")
    ap.add_argument("--wall-seconds-file", default=None, help="lines 'stageN to STEPS: SECONDS s'")
    ap.add_argument("--note", action="append", default=[], help="KEY=TEXT, stored under notes")
    args = ap.parse_args(argv)
    run = Path(args.run_dir)

    metas = [torch.load(run / f"stage{s}" / "generator.pt", map_location="cpu", weights_only=True) for s in (1, 2)]
    gs, gi = load_generator(run, 1), load_generator(run, 2)
    profile = Profile.from_dict(metas[0]["profile"])
    if Profile.from_dict(metas[1]["profile"]) != profile:
        raise ValueError("stage 1 and stage 2 were trained with different profiles; export a consistent run.")

    commands = Path(args.commands_file).read_text().strip().splitlines() if args.commands_file else []
    notes = dict(n.split("=", 1) for n in args.note)
    if args.wall_seconds_file:
        lines = Path(args.wall_seconds_file).read_text().strip().splitlines()
        notes["wall_seconds"] = lines
        for s in (1, 2):
            timed = [l.split(":")[1].split()[0] for l in lines if l.startswith(f"stage{s}")]
            notes[f"stage{s}_wall_seconds_total_of_timed_segments"] = sum(int(t) for t in timed if t.isdigit())
    notes["machine"] = f"{platform.machine()} CPU, torch {torch.__version__}, {torch.get_num_threads()} threads"

    metrics = {"stage1_sketch": stage1_scores(gs, profile)}
    if (run / "metrics.json").is_file():
        metrics["stage2_table1"] = stage2_scores(run / "metrics.json")
    else:
        print(f"warning: {run / 'metrics.json'} missing: run python -m inpaintkit.evaluate first", file=sys.stderr)

    data = (f"inpaintkit demo set, train split: photographs {', '.join(DEMO_SPLITS['train'])} bundled with "
            f"scikit-image, cut into 128-px crops on a {profile.demo_patch_stride}-px grid, resized to "
            f"{profile.image_size} px; free-form training masks (hole ratio 0-60 %); test split: "
            f"{', '.join(DEMO_SPLITS['test'])}")
    info = export_weights(
        gs, gi, args.out, name=f"inpaintkit-demo-{profile.name}", profile=profile.to_dict(), block=metas[1]["block"],
        sketch=asdict(profile.sketch_spec()), commands=commands, data=data,
        steps={"stage1": int(metas[0]["step"]), "stage2": int(metas[1]["step"])}, metrics=metrics,
        vgg_source=str(metas[1].get("vgg_source")), notes=notes)
    # verify the shipped files load back, and say what float16 costs
    info = WeightsInfo.from_json(Path(args.out) / "demo.json")
    extra = fp16_effect(info, gs, gi, profile)
    info = export_weights(gs, gi, args.out, **{k: v for k, v in asdict(info).items() if k in (
        "name", "profile", "block", "sketch", "commands", "data", "steps", "metrics", "vgg_source")},
        notes={**info.notes, "fp16_storage_effect": extra})
    print(json.dumps({k: v for k, v in asdict(info).items() if k != "root"}, indent=1))
    sizes = {k: (Path(args.out) / f).stat().st_size for k, f in info.files.items()}
    print(f"wrote {args.out}: {sizes} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
