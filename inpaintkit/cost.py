"""What a profile's run costs: FLOPs measured with ``torch.utils.flop_counter`` and the GPU-hours they imply.

    python -m inpaintkit.cost --profile full                                  # H100 at 30 % and 10 % MFU
    python -m inpaintkit.cost --profile full --gpu-check runs/gpu_check/gpu_check.json   # at the MFU measured
    python -m inpaintkit.cost --profile full --measure-size 64                # measured at 64 px, scaled to 256

Per stage, one training step on one image is run on the CPU under :class:`~torch.utils.flop_counter.FlopCounterMode`
exactly as :class:`inpaintkit.train.Trainer` runs it (:meth:`~inpaintkit.train.Networks.losses` and
:meth:`~inpaintkit.train.Networks.step`): the generator forward and backward, the discriminator on real and fake
for G's loss and again for D's (Eq. 12), and for stage 2 the VGG19 of Eq. 14's perceptual and style terms
(random weights: FLOPs do not depend on them) on the prediction and the target, forward and backward. The
counter counts matrix products and convolutions (2 FLOPs a multiply-add), not element-wise work. The profile's
total is that x ``batch_size`` x ``stage{1,2}_steps``; beside it HED over Places2's 1,803,460 training images
(the sketches ``prepare_places2.py`` makes) and the Table 1 evaluation (HED + Gs + Gi forward on
``eval_images`` test images in each of Table 1's 4 buckets). GPU-hours = FLOPs / (peak x MFU) / 3600 with an
H100's dense bf16 peak (:data:`H100_BF16_PEAK`). Not counted: notebook 03's CFS ablation, data loading,
checkpoints, and anything a GPU does besides these products.

``--measure-size`` measures at a smaller size and scales by the pixel count (the networks are fully
convolutional: every convolution's FLOPs are proportional to it; only the squeeze-excitation's small linear
layers are not), which the output says.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import PROFILES, Profile, get_profile

__all__ = ["H100_BF16_PEAK", "DEFAULT_MFU", "PLACES2_TRAIN_IMAGES", "PLACES2_TEST_IMAGES", "TABLE1_BUCKETS",
           "count_flops", "StageCost", "step_flops", "inference_flops", "hed_flops", "gpu_hours", "read_mfu",
           "run_cost", "format_cost", "main"]

H100_BF16_PEAK = 989.4e12           # FLOP/s, dense bf16 tensor cores (NVIDIA H100 SXM data sheet)
DEFAULT_MFU = (0.30, 0.10)
PLACES2_TRAIN_IMAGES = 1_803_460    # Section 4: "training dataset contains 1803460 images"
PLACES2_TEST_IMAGES = 328_500       # Places365-Standard's test set (Section 4: "328000 images")
TABLE1_BUCKETS = 4                  # 10-20, 20-30, 30-40, >= 40 %


def count_flops(fn) -> int:
    """FLOPs of the matrix products and convolutions ``fn()`` runs (FlopCounterMode's count)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


@dataclass(frozen=True)
class StageCost:
    """FLOPs of one training step on one image: ``total`` and its forward parts (by module) and backward."""

    stage: int
    total: int
    generator_forward: int
    discriminator_forward: int
    vgg_forward: int
    backward: int
    other: int                      # forward products outside the three modules (the style loss's Gram matrices)


def _batch(size: int, n: int = 1) -> dict[str, torch.Tensor]:
    """A synthetic batch with a 25 % hole (FLOPs do not depend on the values)."""
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(n, 1, size, size)
    mask[..., : size // 2, : size // 2] = 0
    return {"image": torch.rand(n, 3, size, size, generator=g), "gray": torch.rand(n, 1, size, size, generator=g),
            "sketch": (torch.rand(n, 1, size, size, generator=g) > 0.9).float(), "mask": mask}


def step_flops(stage: int, profile: Profile, vgg: torch.nn.Module | None = None, block: str = "cfs") -> StageCost:
    """Measured FLOPs of one training step of ``stage`` on one image at ``profile``'s size and widths (fp32, CPU).

    ``vgg``: the VGGFeatures of Eq. 14 (default a randomly initialised VGG19 when the profile's stage-2 loss uses
    one); a module whose class is not named ``VGGFeatures`` is counted under "other"."""
    from .losses import VGGFeatures
    from .stages import make_stage
    from .train import Networks, Processes

    torch.manual_seed(0)
    procs = Processes("cpu", "fp32")
    nets = Networks(stage, profile, block, procs)
    if stage == 2 and vgg is None and profile.stage2_loss.uses_vgg:
        vgg = VGGFeatures(source="vgg19-random")
    task = make_stage(stage, profile, block, vgg if stage == 2 else None)
    b = _batch(profile.image_size)
    with FlopCounterMode(display=False) as counter:
        g_loss, d_loss, _ = nets.losses(task, b)
        nets.step(g_loss, d_loss)
    counts = counter.get_flop_counts()

    def forward_of(name: str) -> int:
        return int(sum(n for op, n in counts.get(name, {}).items() if "backward" not in str(op)))

    total = int(counter.get_total_flops())
    backward = int(sum(n for op, n in counts["Global"].items() if "backward" in str(op)))
    parts = {"generator_forward": forward_of(type(nets.generator).__name__),
             "discriminator_forward": forward_of(type(nets.discriminator).__name__),
             "vgg_forward": forward_of("VGGFeatures") if vgg is not None else 0}
    return StageCost(stage, total, backward=backward, other=total - backward - sum(parts.values()), **parts)


@torch.no_grad()
def inference_flops(profile: Profile, block: str = "cfs") -> dict[str, int]:
    """FLOPs of one image through Gs and Gi (forward only), as Table 1's evaluation runs them."""
    from .checkpoints import build_generator

    b = _batch(profile.image_size)
    gs, gi = build_generator(1, profile).eval(), build_generator(2, profile, block).eval()
    return {"gs": count_flops(lambda: gs(b["gray"], b["sketch"], b["mask"])),
            "gi": count_flops(lambda: gi(b["image"], b["sketch"], b["mask"]))}


@torch.no_grad()
def hed_flops(profile: Profile) -> int:
    """FLOPs of HED's forward on one image at the profile's size (at HED's working size, :func:`hed_scale`)."""
    from .hed import HED
    from .sketches import hed_scale

    s = profile.image_size
    side = round(s * hed_scale(s, s, profile.sketch_spec()))
    hed = HED().eval()
    return count_flops(lambda: hed(torch.rand(1, 3, side, side)))


def gpu_hours(flops: float, mfu: float, peak: float = H100_BF16_PEAK) -> float:
    """Hours of one GPU doing ``flops`` at ``mfu`` of ``peak`` FLOP/s."""
    if not 0 < mfu <= 1:
        raise ValueError(f"MFU {mfu} must be in (0, 1].")
    return flops / (peak * mfu) / 3600.0


def read_mfu(path) -> dict[int, float]:
    """{stage: MFU} measured by ``benchmarks/gpu_check.sh``: its gpu_check.json, or the table of its gpu_check.md
    (``| 1 (bf16) | 6 | ... | 31.2% | ... |``). ValueError when the file holds none."""
    path = Path(path)
    text = path.read_text()
    if path.suffix == ".json":
        found = {int(s["stage"]): float(s["mfu"]) for s in json.loads(text).get("stages", []) if s.get("mfu")}
    else:
        rows = re.findall(r"^\|\s*([12]) \((\w+)\)\s*\|[^|]*\|[^|]*\|[^|]*\|\s*([\d.]+)%\s*\|", text, re.M)
        found = {int(stage): float(pct) / 100 for stage, _, pct in rows}
    if not found:
        raise ValueError(f"{path} holds no measured MFU (a run of benchmarks/gpu_check.sh on a GPU writes one); "
                         "leave --gpu-check out to use 30 % and 10 %.")
    return found


def run_cost(profile: Profile, measure_size: int | None = None) -> dict:
    """Every figure :func:`format_cost` prints, as a dict (FLOPs per image per step, totals, image counts)."""
    size = profile.image_size
    measured = profile if measure_size in (None, size) else replace(profile, image_size=measure_size)
    scale = (size / measured.image_size) ** 2
    stages = [step_flops(s, measured) for s in (1, 2)]
    per_image = {f"stage{c.stage}": round(c.total * scale) for c in stages}
    # HED always at the profile's own size: its working size is not proportional to the image's (hed_min_side)
    inference = {"hed": hed_flops(profile), **{k: round(v * scale) for k, v in inference_flops(measured).items()}}
    eval_images = profile.eval_images * TABLE1_BUCKETS
    totals = {"stage1": per_image["stage1"] * profile.batch_size * profile.stage1_steps,
              "stage2": per_image["stage2"] * profile.batch_size * profile.stage2_steps,
              "hed_places2_train": inference["hed"] * PLACES2_TRAIN_IMAGES,
              "table1_evaluation": sum(inference.values()) * eval_images}
    return {"profile": profile.name, "image_size": size, "measured_at": measured.image_size, "scale": scale,
            "batch_size": profile.batch_size, "steps": {"stage1": profile.stage1_steps, "stage2": profile.stage2_steps},
            "per_image_step": per_image, "parts": [{k: round(v * scale) if k != "stage" else v
                                                   for k, v in c.__dict__.items()} for c in stages],
            "inference_per_image": inference, "eval_images": eval_images, "totals": totals,
            "whole_test_set": sum(inference.values()) * PLACES2_TEST_IMAGES}     # not in totals: an alternative


def _fmt(flops: float) -> str:
    for unit, f in (("EFLOP", 1e18), ("PFLOP", 1e15), ("TFLOP", 1e12), ("GFLOP", 1e9), ("MFLOP", 1e6)):
        if flops >= f:
            return f"{flops / f:.3g} {unit}"
    return f"{flops:.3g} FLOP"


def format_cost(cost: dict, mfu: dict[int, float] | None = None) -> str:
    """The report: per stage FLOPs per image per step and its parts, the profile's totals, and GPU-hours on an
    H100 at 30 % and 10 % MFU, or at ``mfu`` ({stage: measured MFU}; HED and the evaluation at their mean)."""
    scaled = "" if cost["scale"] == 1 else f", measured at {cost['measured_at']} px and scaled x{cost['scale']:g}"
    lines = [f"profile {cost['profile']}: {cost['image_size']} px, batch {cost['batch_size']}{scaled}", "",
             "FLOPs per image per training step (forward parts; backward of all):"]
    for p in cost["parts"]:
        lines.append(f"  stage {p['stage']}: {_fmt(p['total'])}  (G fwd {_fmt(p['generator_forward'])}, D fwd "
                     f"{_fmt(p['discriminator_forward'])}, VGG fwd {_fmt(p['vgg_forward'])}, other fwd "
                     f"{_fmt(p['other'])}, backward {_fmt(p['backward'])})")
    inf = cost["inference_per_image"]
    lines.append(f"  inference per image: HED {_fmt(inf['hed'])}, Gs {_fmt(inf['gs'])}, Gi {_fmt(inf['gi'])}")
    steps, t = cost["steps"], cost["totals"]
    what = {"stage1": f"stage 1: {steps['stage1']:,} steps x {cost['batch_size']}",
            "stage2": f"stage 2: {steps['stage2']:,} steps x {cost['batch_size']}",
            "hed_places2_train": f"HED over Places2's {PLACES2_TRAIN_IMAGES:,} training images",
            "table1_evaluation": f"Table 1: HED + Gs + Gi on {cost['eval_images']:,} test images"}
    if mfu:                     # one column at the measured MFU: per stage its own, elsewhere their mean
        mean = sum(mfu.values()) / len(mfu)
        columns = ["H100 hours at gpu_check's MFU"]
        rates = [{k: mfu.get(int(k[-1]), mean) if k.startswith("stage") else mean for k in t}]
    else:
        columns = [f"H100 hours at {m:.0%} MFU" for m in DEFAULT_MFU]
        rates = [dict.fromkeys(t, m) for m in DEFAULT_MFU]
    lines += ["", "| | FLOPs | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    for key, label in what.items():
        cells = [f"{gpu_hours(t[key], r[key]):.3g}" + (f" ({r[key]:.1%})" if mfu else "") for r in rates]
        lines.append(f"| {label} | {_fmt(t[key])} | " + " | ".join(cells) + " |")
    cells = [f"{sum(gpu_hours(t[k], r[k]) for k in t):.3g}" for r in rates]
    lines.append(f"| **all of it** | {_fmt(sum(t.values()))} | " + " | ".join(cells) + " |")
    whole = cost["whole_test_set"]
    hours = " / ".join(f"{gpu_hours(whole, r['table1_evaluation']):.3g}" for r in rates)
    lines += ["", f"Table 1 on all {PLACES2_TEST_IMAGES:,} Places365 test images instead: {_fmt(whole)}, "
              f"{hours} H100-hours."]
    lines += ["", f"(H100 dense bf16 peak {H100_BF16_PEAK / 1e12:.1f} TFLOP/s; notebook 03's ablation, data loading "
              "and element-wise work not counted)"]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inpaintkit.cost", description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="full", choices=PROFILES)
    ap.add_argument("--gpu-check", default=None, help="gpu_check.json or gpu_check.md with a measured MFU per stage")
    ap.add_argument("--measure-size", type=int, default=None,
                    help="measure at this size and scale by the pixel count (default: the profile's size)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    try:
        mfu = read_mfu(args.gpu_check) if args.gpu_check else None
        profile = get_profile(args.profile)
        if args.measure_size is not None and (args.measure_size % 16 or args.measure_size < 16):
            raise ValueError(f"--measure-size {args.measure_size}: use a multiple of 16 (e.g. 64).")
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    cost = run_cost(profile, args.measure_size)
    print(format_cost(cost, mfu), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(cost, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
