"""Where a profile departs from the paper: every such setting, with the paper's value beside the profile's.

The rows are read from the live code, not written down twice: the profile's fields, the loss weights of
Eq. 11 / 14 (:class:`~inpaintkit.config.Stage1LossWeights`, :class:`~inpaintkit.config.Stage2LossWeights`
defaults), ``CFSBlock``'s gate bias (measured on a freshly built block), Gi's output layer and the residual
blocks' layers (a small generator of the profile's kind, built), what ``losses.l1_loss`` computes on a known
mask, the VGG the perceptual / style losses use, and what the stage-2 object of the profile does with the
sketch (S_comp while Gi trains, Gs's output before Gi) and with the style term (called on a stand-in VGG).
docs/paper_reading.md explains each reading; notebooks 00 and 03-05 print :func:`departures_table`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import nn

from .config import EDGECONNECT_STAGE2, KIT_STAGE2, Profile, Stage1LossWeights, Stage2LossWeights, get_profile
from .layers import CFSBlock, DilatedResBlock, PartialConv2d
from .losses import IMAGENET_VGG19_FILE, VGGFeatures, l1_loss
from .networks import image_generator, sketch_generator

__all__ = ["Departure", "DEPARTURE_TOPICS", "PAPER_IMAGE_SIZE", "PAPER_BATCH_SIZE", "PAPER_WIDTH",
           "departures", "departures_table"]

PAPER_IMAGE_SIZE = 256       # Section 4: Places2 at 256x256
PAPER_BATCH_SIZE = 6         # Section 4: "a batch size of 6" on one GTX 1080 Ti
PAPER_WIDTH = 64             # not in the paper: our reading (encoder 64-128-256-512, docs/paper_reading.md)

DEPARTURE_TOPICS = ("data", "networks", "stage1", "stage2", "training")


class Departure(tuple):
    """One row of :func:`departures`: ``(setting, paper, profile, why)``, a plain 4-tuple with names."""

    __slots__ = ()
    _fields = ("setting", "paper", "profile", "why")

    def __new__(cls, setting: str, paper: str, profile: str, why: str):
        return super().__new__(cls, (setting, paper, profile, why))

    setting = property(lambda self: self[0])
    paper = property(lambda self: self[1])
    profile = property(lambda self: self[2])
    why = property(lambda self: self[3])

    def __repr__(self) -> str:
        return f"Departure(setting={self[0]!r}, paper={self[1]!r}, profile={self[2]!r}, why={self[3]!r})"


def _num(v) -> str:
    return f"{v:g}"


def _vgg_in_use(profile: Profile, vgg_source: str | None) -> str:
    """Which VGG the perceptual / style losses use: the given ``VGGFeatures.source``, else the profile's
    ``vgg`` setting, with ``"auto"`` answered by what torch hub has cached here (no download is tried)."""
    if vgg_source is not None:
        return vgg_source
    choice = getattr(profile, "vgg", "auto")
    if choice != "auto":
        return choice
    cached = Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_VGG19_FILE
    return "imagenet" if cached.is_file() else "hed: ImageNet VGG19 weights not cached on this machine"


def _size_rows(p: Profile) -> list[Departure]:
    if p.image_size == PAPER_IMAGE_SIZE:
        return []
    return [Departure("image size", f"{PAPER_IMAGE_SIZE} px (Places2)", f"{p.image_size} px",
                      "the cost of every layer grows with the pixel count: a CPU profile works on small patches")]


def _sketch_rows(p: Profile) -> list[Departure]:
    return [Departure(
        "binary sketch from HED", "binary, method not given (scored as binary classification)",
        f"HED >= {p.sketch_threshold:g}" + (", thinned to 1 px" if p.sketch_thin else ""),
        ("the kit's choice: unthinned, HED at small sizes marks 30-50 % of pixels as edge (notebook 01)"
         if p.sketch_thin else
         "the kit's reading: HED's lines as they come, near the dense sketch the paper's 77 % accuracy implies; "
         "better barriers for the fill and a target Gs can hit (docs/training_recipe.md, 'Unthinned sketches')"))]


def _network_rows(p: Profile) -> list[Departure]:
    rows = []
    widths = (p.gs_channels, p.gi_channels, p.d_channels)
    if widths != (PAPER_WIDTH,) * 3:
        rows.append(Departure(
            "base width Gs / Gi / D", f"not given (our reading: {PAPER_WIDTH})", " / ".join(map(str, widths)),
            f"at width {PAPER_WIDTH} Gi alone has ~124 M parameters; parameters and FLOPs fall with the width squared"))
    skips = [f.name for f in p.__dataclass_fields__.values() if "skip" in f.name and getattr(p, f.name)]
    if skips:
        rows.append(Departure(
            "U-Net skip connections", "none", ", ".join(f"{s}={getattr(p, s)}" for s in skips),
            "not in the paper (nor in EdgeConnect): a CPU-sized run of the deep encoder-decoder learns more with "
            "them; see the comment on these fields in config.py"))
    if getattr(p, "prefill", False):
        rows.append(Departure(
            "what Gi starts from in the hole", "I * M: zeros in the hole (Eq. 10)",
            "a smooth fill of the hole, which Gi corrects (prefill=True)",
            "not in the paper: painting a hole from zeros is slow to learn in a CPU-sized run; see the comment "
            "on these fields in config.py"))
    # CFS gate bias, measured on a block, not read from a constant that could drift from the init
    bias = float(CFSBlock(4, 4, kernel_size=3, padding=1).conv_G.bias.detach().mean())
    if abs(bias) > 1e-6:
        rows.append(Departure(
            "CFS gate bias at initialisation (g, G, SE)", "not given (PyTorch's default: ~0)",
            _num(round(bias, 4)) + f" (gates start at sigmoid = {torch.sigmoid(torch.tensor(bias)):.2f})",
            "with gates at 0.5 every CFS layer scales its signal by ~1/8 and Gi's 20+ spectral-normed layers "
            "pass almost nothing; open gates train (docs/paper_reading.md has the measurement)"))
    res = DilatedResBlock("cfs", 16)
    se1, se2 = (getattr(getattr(b, "layer", b), "se", None) is not None for b in (res.block1, res.block2))
    if se1 != se2:
        rows.append(Departure(
            "SE in Gi's residual blocks", "every CFS layer (Eq. 3-8)",
            f"first layer {'with' if se1 else 'without'} SE, second {'with' if se2 else 'without'}",
            "the second layer of a residual block has no activation; the kit puts SE after an activated "
            "layer only, as Eq. 5-8 chain it (the paper does not describe its residual blocks)"))
    acts = [bool(b.activation) for b in (res.block1, res.block2)]
    if not all(acts):
        rows.append(Departure(
            "activation in the residual blocks (Gs, Gi)", "LeakyReLU in each layer except the output layer (3.1)",
            "y = x + B2(B1(x)): " + ", ".join(f"B{i + 1} {'LeakyReLU(0.2)' if a else 'no activation'}"
                                              for i, a in enumerate(acts)),
            "the paper does not describe its dilated residual blocks; EdgeConnect's (which it follows) leave the "
            "second layer linear so that the block adds a signed correction to x"))
    return rows + _gi_output_rows(p)


@functools.lru_cache(maxsize=None)
def _small_generators(skips: bool, prefill: bool):
    """(Gs, Gi) of a profile's kind at width 4 (the width changes no layer's kind), built once per kind."""
    return sketch_generator(4, skips=skips), image_generator(4, skips=skips, prefill=prefill)


def _gi_output_rows(p: Profile) -> list[Departure]:
    """Gi's output layer, read from a small Gi of the profile's kind (the width does not change the kind)."""
    out = _small_generators(p.skips, p.prefill)[1].decoder[-1]
    layer = getattr(out, "layer", getattr(out, "conv", out))
    if isinstance(layer, CFSBlock):
        return []
    kind = ("plain convolution" if isinstance(layer, nn.Conv2d) and not isinstance(layer, PartialConv2d)
            else type(layer).__name__)
    act = "LeakyReLU" if out.activation else "no activation"
    then = "added to the smooth fill (prefill)" if p.prefill else "then (tanh + 1) / 2"
    return [Departure(
        "Gi's output layer", "a CFS block like every layer of Gi (3.1: 'a new generator built by CFS Blocks')",
        f"{kind} (no gates, no SE), {act}, {then}",
        "an output gate and squeeze-excitation on 3 channels would only rescale the colours; EdgeConnect's "
        "output layer is a plain convolution too (networks.Generator)")]


def _stage1_rows(p: Profile) -> list[Departure]:
    rows = []
    if p.stage1_loss.reconstruction:
        rows.append(Departure(
            "Eq. 11: class-balanced BCE on S_pred", "no such term (0.1 L_adv + 10 L_FM)",
            f"+ {_num(p.stage1_loss.reconstruction)} x balanced BCE",
            "trained for minutes on a CPU, Gs under Eq. 11 alone collapses to drawing nothing; HED's own "
            "loss keeps it drawing (Stage1LossWeights)"))
    paper = Stage1LossWeights()
    for name in ("adversarial", "feature_matching"):
        if getattr(p.stage1_loss, name) != getattr(paper, name):
            rows.append(Departure(f"Eq. 11 weight: {name}", _num(getattr(paper, name)),
                                  _num(getattr(p.stage1_loss, name)), "changed in this profile (config.py)"))
    if p.joint_steps:
        j = p.joint_loss
        rows.append(Departure(
            "the joint stage: Gs trained through the fill", "no such stage (Gs trained by Eq. 11 alone)",
            f"{p.joint_steps:,} more steps from stage 1's Gs: {_num(j.fill)} x L1 of the fill of S_comp in the hole "
            f"+ {_num(j.reconstruction)} x balanced BCE + {_num(j.adversarial)} x adv + {_num(j.feature_matching)} x FM"
            "; Gs's probabilities serve as soft lines",
            "Gi starts from a fill that the sketch shapes; Eq. 11 never sees that fill, so a false line that walls "
            "off the right colour costs Gs nothing (train --stage joint; docs/training_recipe.md)"))
    return rows


def _stage2_rows(p: Profile, vgg_source: str | None) -> list[Departure]:
    rows = []
    paper, s2 = Stage2LossWeights(), p.stage2_loss
    changed = [n for n in paper.__dataclass_fields__ if getattr(s2, n) != getattr(paper, n)]
    if changed:
        ec, kit = s2 == EDGECONNECT_STAGE2, s2 == KIT_STAGE2
        why = ("with HED's backbone standing in for ImageNet VGG, Eq. 14's 300 makes the perceptual term ~99 % "
               "of the loss and Gi learns flat fills in a CPU-sized run (Stage2LossWeights)" if ec
               else "L1 leads; in a CPU-sized run the VGG and feature-matching terms cost PSNR and the style term "
                    "painted colour streaks (the training ladder, docs/training_recipe.md)" if kit
               else "changed in this profile (config.py)")
        rows.append(Departure(
            "Eq. 14 weights: " + ", ".join(changed), ", ".join(_num(getattr(paper, n)) for n in changed),
            ", ".join(_num(getattr(s2, n)) for n in changed)
            + (" (EdgeConnect's)" if ec else " (the kit's CPU recipe)" if kit else ""), why))
    hole = torch.ones(1, 1, 4, 4)
    hole[..., :2, :2] = 0                                        # hole ratio 1/4
    l1 = float(l1_loss(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), hole))
    if abs(l1 - 1.0) > 1e-6:
        rows.append(Departure(
            "L1 term of Eq. 14", "L_l1 (normalisation not given)",
            f"mean |I_pred - I| / hole ratio (x{l1:g} at a 25 % hole)",
            "EdgeConnect's convention: a small hole weighs as much as a large one"))
    rows += _sketch_for_gi_rows(p) + _style_rows(p)
    vgg = _vgg_in_use(p, vgg_source)
    if p.stage2_loss.uses_vgg and vgg.startswith("vgg19-random"):
        rows.append(Departure(
            "VGG of the perceptual / style losses", "ImageNet VGG19 (Johnson et al. [7])", "VGG19 with random weights",
            "a rehearsal of the code path (tests, the CPU rehearsal): the architecture and layers of Eq. 14's VGG19 "
            "without its download; its perceptual and style terms mean nothing"))
    elif p.stage2_loss.uses_vgg and not vgg.startswith("imagenet"):      # no VGG is loaded when both weights are 0
        reason = vgg.partition(":")[2].strip()
        rows.append(Departure(
            "VGG of the perceptual / style losses", "ImageNet VGG19 (Johnson et al. [7])",
            "HED's VGG16 backbone" + (f" ({reason})" if reason else ""),
            "ImageNet VGG19 weights are a download; where they cannot be had, HED's VGG16 (itself fine-tuned "
            "from ImageNet) serves and the run says so in config.json"))
    return rows


class _ConstantGs(nn.Module):
    """A stand-in Gs that predicts ``value`` everywhere (to see what stage 2 does with Gs's output)."""

    def __init__(self, value: float):
        super().__init__()
        self.value = value

    def forward(self, gray, sketch, mask):
        return torch.full_like(sketch, self.value)


class _PassThroughGi(nn.Module):
    """A stand-in Gi that returns the image (what stage 1 hands it is under test, not its output)."""

    prefill = False

    def forward(self, image, sketch, mask):
        return image


def _batch(n: int = 16) -> dict:
    mask = torch.ones(1, 1, n, n)
    mask[..., : n // 2, :] = 0                                          # the top half is the hole
    return {"image": torch.rand(1, 3, n, n, generator=torch.Generator().manual_seed(0)),
            "gray": torch.zeros(1, 1, n, n), "sketch": torch.zeros(1, 1, n, n), "mask": mask}


def _sketch_for_gi_rows(p: Profile) -> list[Departure]:
    """What the profile's stage-2 object gives Gi as S_comp while it trains, and Gs's output in it."""
    from .stages import make_stage

    b = _batch()
    rows = []
    if make_stage(2, p).composite_sketch(b) is b["sketch"]:
        rows.append(Departure(
            "S_comp while Gi trains (stage 2)", "S_comp = S_pred (1 - M) + S_gt M, Gs's prediction in the hole "
            "(Section 3.3)", "S_gt: the true sketch everywhere (trained Gs: Trainer(2, ..., sketch_from_generator="
            "stage-1 run), --sketch-from)",
            "EdgeConnect trains its inpainting model on true edges; Gi learns to follow whatever sketch it is "
            "given (which lets a user edit the sketch), and at test time Gs's sketch takes its place"))
    spec = p.sketch_spec()
    where = [name for name, s_pred in (("in training on a Gs's sketch", _s_pred_in_training(p, b)),
                                       ("in the Inpainter", _s_pred_in_inpainter(p, b)))
             if not torch.equal(s_pred, torch.full_like(s_pred, 0.75))]          # Gs said 0.75 everywhere
    if where:
        rows.append(Departure(
            "Gs's output before Gi", "S_pred as Gs gives it (a sigmoid map; Eq. 9-10)",
            f"binarised at {spec.threshold:g}" + (" and thinned to 1 px" if spec.thin else "") + " (the training "
            "sketches' form), " + " and ".join(where),
            "Gi is trained on binary sketches S_gt: a soft map would be a train/test mismatch "
            "(docs/training_recipe.md, rung e)"))
    return rows


def _s_pred_in_training(p: Profile, b: dict) -> torch.Tensor:
    """Gs's prediction in the hole as the profile's stage-2 object hands it to Gi (Gs says 0.75 everywhere)."""
    from .stages import make_stage

    s_comp = make_stage(2, p, sketch_from_generator=_ConstantGs(0.75)).composite_sketch(b)
    return s_comp[b["mask"].expand_as(s_comp) < 1]


def _s_pred_in_inpainter(p: Profile, b: dict) -> torch.Tensor:
    """Gs's prediction as :class:`~inpaintkit.pipeline.Inpainter` hands it to Gi (Gs says 0.75 everywhere)."""
    from .pipeline import Inpainter

    gs, gi = _small_generators(p.skips, p.prefill)
    inp = Inpainter(gs, gi, p.sketch_spec(), device="cpu")
    inp.gs = _ConstantGs(0.75)
    inp.gi = _PassThroughGi()                                      # Gi's output is not looked at: skip its cost
    _, _, s_pred = inp._run_at(b["image"], b["sketch"], b["mask"], stage1=True)
    return s_pred


def _style_rows(p: Profile) -> list[Departure]:
    """Eq. 14's style term as the profile's stage-2 object calls it: does it see the known region?"""
    from .stages import make_stage

    if not p.stage2_loss.style:
        return []
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 4, kernel_size=3, padding=1), nn.ReLU())
    vgg = VGGFeatures.from_backbone(body, lambda x: x, [1], [1], "stand-in")
    b = _batch()
    pred = b["image"].clone()
    pred[..., -2:, :] = 1 - pred[..., -2:, :]                           # differs from I_gt in the known region only
    logits, feats = torch.zeros(1, 1, 1, 1), [torch.zeros(1, 1, 1, 1)]
    _, terms = make_stage(2, p, vgg=vgg).generator_loss(pred, b, logits, feats, feats)
    if float(terms["style"]) == 0:
        return []
    return [Departure(
        "Eq. 14's style term", "L_style (region not given; Johnson et al. [7], whom it cites: whole images)",
        "the whole images I_pred and I_gt (style_on_hole=False)",
        "Johnson et al.'s style loss compares whole images; EdgeConnect's hole-only variant "
        "(style_on_hole=True) costs two more VGG passes per step")]


def _training_rows(p: Profile) -> list[Departure]:
    rows = [Departure(
        "training steps (stage 1 / stage 2)", "until the generators converge",
        f"{p.stage1_steps:,} / {p.stage2_steps:,}",
        "the paper gives no number; a profile needs one" + (
            f" ({p.stage1_steps:,} is our budget for a full run, not the paper's)" if p.stage1_steps >= 100_000
            else ": a short run that fits this profile's time budget"))]
    if p.batch_size != PAPER_BATCH_SIZE:
        rows.append(Departure(
            "batch size", str(PAPER_BATCH_SIZE), str(p.batch_size),
            "the paper's batch fitted 256 px images on one GTX 1080 Ti; small patches on a CPU take another"))
    ec_lr = (1e-4, (0.0, 0.9), 0.1)
    rows.append(Departure(
        "Adam: lr, betas, D lr", "not given (Adam [8])", f"{p.lr:g}, {tuple(p.betas)}, {p.d_lr_ratio:g} x lr",
        "EdgeConnect's settings, which the paper builds on: 1e-4, (0, 0.9), 0.1 x lr" + (
            "" if (p.lr, tuple(p.betas), p.d_lr_ratio) == ec_lr
            else f"; this profile changes them (lr x{p.lr / ec_lr[0]:g}) for a run of a few hundred to a few "
                 "thousand steps")))
    return rows


def _profile(profile: Profile | str | None) -> Profile:
    return get_profile(profile) if profile is None or isinstance(profile, str) else profile


def departures(profile: Profile | str | None = None, vgg_source: str | None = None,
               topics=DEPARTURE_TOPICS) -> list[Departure]:
    """Every setting where ``profile`` trains or builds differently from the paper, or where the paper is
    silent and the kit had to choose: ``[(setting, paper value, profile value, why), ...]``.

    ``vgg_source``: a ``VGGFeatures.source`` or a trainer's ``vgg_source``; ``None`` looks at what is cached
    here. ``topics``: any of :data:`DEPARTURE_TOPICS` to keep only those rows. Render with
    :func:`departures_table`.
    """
    p = _profile(profile)
    unknown = set(topics) - set(DEPARTURE_TOPICS)
    if unknown:
        raise ValueError(f"unknown topics {sorted(unknown)}; choose from {', '.join(DEPARTURE_TOPICS)}.")
    sections = [("data", _size_rows(p)), ("networks", _network_rows(p)), ("stage1", _stage1_rows(p)),
                ("stage2", _stage2_rows(p, vgg_source)), ("training", _training_rows(p)), ("data", _sketch_rows(p))]
    return [row for topic, rows in sections if topic in topics for row in rows]


def departures_table(profile: Profile | str | None = None, vgg_source: str | None = None,
                     topics=DEPARTURE_TOPICS) -> str:
    """:func:`departures` as a Markdown table (``IPython.display.Markdown`` renders it in a notebook)."""
    p = _profile(profile)
    rows = departures(p, vgg_source, topics)
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = [f"| setting | paper | `{p.name}` profile | why |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
