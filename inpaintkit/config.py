"""Profiles: the one place for sizes, widths, step counts, batch sizes and loss weights.

Four profiles, as data (docs/paper_reading.md, "Conventions"):

* ``smoke``  -- tests and nbval: seconds per notebook on 2 CPU cores.
* ``quick``  -- the tutorial default on a laptop CPU: minutes per notebook.
* ``full``   -- the paper: 256x256 Places2 images, full widths (64), batch 6, a GPU.
* ``gpu``    -- the full profile's networks, size and batch for a few hundred steps: proves the chain on
  one GPU in minutes (``benchmarks/gpu_check.sh``); its numbers are not Table 1's.

``batch_size`` is the batch of one optimiser step over **all** processes: under
``torchrun --nproc_per_node=N`` each process takes ``batch_size / N`` (the paper's 6 on 1, 2, 3 or 6 GPUs).

Every notebook starts from ``profile = os.environ.get("INPAINTKIT_PROFILE", "quick")``
and reads everything else from :func:`get_profile`. Change a profile with
:func:`dataclasses.replace`, never by hard-coding a second number elsewhere::

    from dataclasses import replace
    p = replace(get_profile("quick"), stage1_steps=50)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

PROFILES = ("smoke", "quick", "demo", "full", "gpu")


@dataclass(frozen=True)
class Stage1LossWeights:
    """Eq. 11: L_Gs = 0.1 * L_adv + 10 * L_FM.

    ``reconstruction`` is not in the paper (0 = Eq. 11 exactly): the weight of a class-balanced
    binary cross-entropy between S_pred and S_gt (HED's own loss). Trained on a CPU for minutes,
    Gs under Eq. 11 alone collapses to drawing nothing (its sigmoid saturates by step ~100; four
    variants tried: thinned or not, lr 1e-4, adversarial weight 1); the quick profile turns it on.
    """

    adversarial: float = 0.1
    feature_matching: float = 10.0
    reconstruction: float = 0.0


@dataclass(frozen=True)
class Stage2LossWeights:
    """Eq. 14: L_Gi = L_l1 + 0.1 * L_adv + 300 * L_perc + 300 * L_style + 10 * L_FM.

    :data:`EDGECONNECT_STAGE2` holds EdgeConnect's weights (perceptual 0.1, style 250), which the
    quick profile uses: with the HED backbone standing in for ImageNet VGG, Eq. 14's 300 makes the
    perceptual term ~99 % of the loss (L1 ~0.2 %) and Gi learns flat fills in a CPU-sized run.
    """

    l1: float = 1.0
    adversarial: float = 0.1
    perceptual: float = 300.0
    style: float = 300.0
    feature_matching: float = 10.0


EDGECONNECT_STAGE2 = Stage2LossWeights(l1=1.0, adversarial=0.1, perceptual=0.1, style=250.0, feature_matching=10.0)

# The kit's stage-2 recipe for CPU-sized runs (quick and demo profiles): L1 leads and the adversarial term is a
# nudge; no perceptual, style or feature-matching term: in a CPU-sized run they cost PSNR, the style term painted
# the colour streaks of the first shipped weights, and the VGG pass is half a CPU step (the ladder in
# docs/training_recipe.md measures each term).
# ... and its stage-1 recipe: Eq. 11 plus the class-balanced BCE on the hole, weighted so that it, not feature
# matching, leads (at weight 1 Gs drew 2 % of the hole's edges after 6,000 steps at 128 px).
KIT_STAGE1 = Stage1LossWeights(reconstruction=10.0)
KIT_STAGE2 = Stage2LossWeights(l1=1.0, adversarial=0.01, perceptual=0.0, style=0.0, feature_matching=0.0)


@dataclass(frozen=True)
class Profile:
    """Everything that differs between a smoke test, a laptop tutorial and the paper."""

    name: str
    # data
    image_size: int                 # square working size; a multiple of 16 (4 stride-2 layers)
    demo_patch_stride: int          # stride of the patch grid cut from scikit-image's photos
    num_workers: int                # DataLoader workers
    # networks (base widths; the paper's width is 64: encoder 64-128-256-512)
    gs_channels: int                # sketch generator Gs
    gi_channels: int                # image generator Gi
    d_channels: int                 # discriminators Ds and Di
    # optimisation (EdgeConnect's defaults: Adam lr 1e-4, betas (0, 0.9), D lr = 0.1 x G lr)
    batch_size: int
    stage1_steps: int
    stage2_steps: int
    lr: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    d_lr_ratio: float = 0.1
    # bookkeeping
    log_every: int = 10
    sample_every: int = 100
    checkpoint_every: int = 100
    # evaluation
    eval_images: int = 64           # test images per hole-ratio bucket
    # CFS ablation (notebook 03)
    ablation_steps: int = 100
    ablation_seeds: tuple[int, ...] = (0,)
    # sketch binarisation: HED probability >= threshold, then thinned to one-pixel lines
    # (unthinned, HED at 64 px marks 30-50 % of pixels as edge; thinned, 5-9 %: notebook 01)
    sketch_threshold: float = 0.5
    sketch_thin: bool = True
    stage1_loss: Stage1LossWeights = field(default_factory=Stage1LossWeights)
    stage2_loss: Stage2LossWeights = field(default_factory=Stage2LossWeights)
    seed: int = 0
    # architecture departures for CPU-sized runs (networks.Generator): U-Net skips in Gs and Gi, and Gi
    # correcting a smooth fill of the hole instead of painting it from zeros (docs/training_recipe.md)
    skips: bool = False
    prefill: bool = False
    # the paper's experiment: no demo photographs (Places2 from data_scripts/prepare_places2.py), and the
    # VGG of Eq. 14's perceptual/style terms ("imagenet": torchvision's VGG19, no silent fallback to HED's VGG16)
    needs_real_data: bool = False
    vgg: str = "auto"

    def __post_init__(self) -> None:
        if self.image_size % 16:
            raise ValueError(
                f"Profile {self.name!r}: image_size={self.image_size} is not a multiple of 16; "
                "the generators halve the size four times. Use e.g. 64, 128 or 256."
            )

    def sketch_spec(self, method: str = "hed"):
        """The :class:`~inpaintkit.sketches.SketchSpec` every stage of this profile uses."""
        from .sketches import SketchSpec

        return SketchSpec(method=method, threshold=self.sketch_threshold, thin=self.sketch_thin)

    def to_dict(self) -> dict:
        """Plain-Python view, safe to store in a checkpoint read with ``weights_only=True``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Profile":
        d = dict(d)
        d["stage1_loss"] = Stage1LossWeights(**d.get("stage1_loss", {}))
        d["stage2_loss"] = Stage2LossWeights(**d.get("stage2_loss", {}))
        d["betas"] = tuple(d.get("betas", (0.0, 0.9)))
        d["ablation_seeds"] = tuple(d.get("ablation_seeds", (0,)))
        return cls(**d)


_PROFILES = {
    "smoke": Profile(
        name="smoke", image_size=32, demo_patch_stride=96, num_workers=0,
        gs_channels=8, gi_channels=8, d_channels=8,
        batch_size=4, stage1_steps=6, stage2_steps=6,
        log_every=2, sample_every=3, checkpoint_every=3,
        eval_images=4, ablation_steps=4, ablation_seeds=(0,),
        skips=True, prefill=True,
    ),
    "quick": Profile(
        name="quick", image_size=64, demo_patch_stride=32, num_workers=0,
        gs_channels=16, gi_channels=16, d_channels=16,
        # stage 2 is ~10x a stage-1 step on a CPU (the VGG of Eq. 14): 300 steps fit notebook 05's 10 min
        batch_size=8, stage1_steps=1200, stage2_steps=300, lr=2e-4,
        log_every=10, sample_every=100, checkpoint_every=100,
        eval_images=50, ablation_steps=80, ablation_seeds=(0, 1, 2),
        # not the paper's weights: see Stage1LossWeights.reconstruction and Stage2LossWeights
        stage1_loss=KIT_STAGE1, stage2_loss=KIT_STAGE2,
        skips=True, prefill=True,
    ),
    # the shipped demo weights (inpaintkit/weights/, data_scripts/train_demo_weights.sh): the quick recipe at
    # 128 px on the demo photographs plus the wallpaper collection, trained for an hour or two on a CPU
    "demo": Profile(
        name="demo", image_size=128, demo_patch_stride=64, num_workers=0,
        gs_channels=16, gi_channels=16, d_channels=16,
        batch_size=8, stage1_steps=4000, stage2_steps=6000, lr=1e-4,
        log_every=25, sample_every=500, checkpoint_every=250,
        eval_images=48, ablation_steps=80, ablation_seeds=(0,),
        stage1_loss=KIT_STAGE1, stage2_loss=KIT_STAGE2,
        skips=True, prefill=True,
    ),
    "full": Profile(
        name="full", image_size=256, demo_patch_stride=128, num_workers=8,
        gs_channels=64, gi_channels=64, d_channels=64,
        batch_size=6, stage1_steps=500_000, stage2_steps=500_000,
        log_every=100, sample_every=2000, checkpoint_every=2000,
        eval_images=2000, ablation_steps=50_000, ablation_seeds=(0, 1, 2),
        needs_real_data=True, vgg="imagenet",
    ),
    "gpu": Profile(
        name="gpu", image_size=256, demo_patch_stride=128, num_workers=8,
        gs_channels=64, gi_channels=64, d_channels=64,
        batch_size=6, stage1_steps=300, stage2_steps=300,
        log_every=20, sample_every=100, checkpoint_every=100,
        eval_images=25, ablation_steps=50, ablation_seeds=(0,),
        needs_real_data=True, vgg="imagenet",
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """Return the named profile; ``None`` reads ``$INPAINTKIT_PROFILE`` (default ``quick``)."""
    name = name or os.environ.get("INPAINTKIT_PROFILE", "quick")
    try:
        return _PROFILES[name]
    except KeyError:
        raise ValueError(
            f"Unknown profile {name!r}. Choose one of {', '.join(PROFILES)} "
            "(smoke: tests, quick: laptop tutorial, demo: the shipped weights, full: the paper on a GPU, gpu: a short check of the full chain)."
        ) from None


def default_run_dir(profile: str | Profile) -> Path:
    """``runs/<profile>/`` under the current directory's repository root (or the cwd)."""
    name = profile.name if isinstance(profile, Profile) else profile
    return repo_root() / "runs" / name


def repo_root() -> Path:
    """The checkout's root when running from a clone (notebooks/ sits there), else the cwd."""
    here = Path.cwd().resolve()
    for p in (here, *here.parents):
        if (p / "pyproject.toml").exists() and (p / "inpaintkit").is_dir():
            return p
    return here


def cache_dir() -> Path:
    """User cache (HED weights, demo data set): ``$INPAINTKIT_CACHE`` or ``~/.cache/inpaintkit``."""
    d = Path(os.environ.get("INPAINTKIT_CACHE", Path.home() / ".cache" / "inpaintkit"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def resolve_device(device: str | None = None) -> "torch.device":
    """``None`` or ``"auto"`` picks CUDA when present, else the CPU; anything else is passed to torch."""
    import torch

    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but this machine has no CUDA GPU; use device='cpu'.")
    return dev


# ---- where a profile departs from the paper ------------------------------------------------------

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


def _vgg_in_use(profile: "Profile", vgg_source: str | None) -> str:
    """Which VGG the perceptual / style losses use: the given ``VGGFeatures.source``, else the profile's
    ``vgg`` setting, with ``"auto"`` answered by what torch hub has cached here (no download is tried)."""
    if vgg_source is not None:
        return vgg_source
    choice = getattr(profile, "vgg", "auto")
    if choice != "auto":
        return choice
    import torch

    from .losses import IMAGENET_VGG19_FILE

    cached = Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_VGG19_FILE
    return "imagenet" if cached.is_file() else "hed: ImageNet VGG19 weights not cached on this machine"


def departures(profile: "Profile | str | None" = None, vgg_source: str | None = None,
               topics=DEPARTURE_TOPICS) -> list[Departure]:
    """Every setting where ``profile`` trains or builds differently from the paper, or where the paper is
    silent and the kit had to choose: ``[(setting, paper value, profile value, why), ...]``.

    The values are read from the live code, not written down twice: the profile's fields, the loss weights
    of Eq. 11 / 14 (:class:`Stage1LossWeights`, :class:`Stage2LossWeights` defaults), ``CFSBlock``'s gate
    bias (measured on a freshly built block), the residual blocks' layers, what ``losses.l1_loss`` computes
    on a known mask, and the VGG the perceptual / style losses use (``vgg_source``: a
    ``VGGFeatures.source`` or a trainer's ``vgg_source``; ``None`` looks at what is cached here).
    ``topics``: any of :data:`DEPARTURE_TOPICS` to keep only those rows. Render with
    :func:`departures_table`. docs/paper_reading.md explains each reading.
    """
    import torch

    from .layers import CFSBlock, DilatedResBlock
    from .losses import l1_loss

    p = get_profile(profile) if profile is None or isinstance(profile, str) else profile
    unknown = set(topics) - set(DEPARTURE_TOPICS)
    if unknown:
        raise ValueError(f"unknown topics {sorted(unknown)}; choose from {', '.join(DEPARTURE_TOPICS)}.")
    rows: list[tuple[str, Departure]] = []
    add = lambda topic, *row: rows.append((topic, Departure(*row)))  # noqa: E731

    # data and size
    if p.image_size != PAPER_IMAGE_SIZE:
        add("data", "image size", f"{PAPER_IMAGE_SIZE} px (Places2)", f"{p.image_size} px",
            "the cost of every layer grows with the pixel count: a CPU profile works on small patches")
    widths = (p.gs_channels, p.gi_channels, p.d_channels)
    if widths != (PAPER_WIDTH,) * 3:
        add("networks", "base width Gs / Gi / D", f"not given (our reading: {PAPER_WIDTH})",
            " / ".join(map(str, widths)),
            f"at width {PAPER_WIDTH} Gi alone has ~124 M parameters; parameters and FLOPs fall with the width squared")
    skips = [f.name for f in p.__dataclass_fields__.values() if "skip" in f.name and getattr(p, f.name)]
    if skips:
        add("networks", "U-Net skip connections", "none", ", ".join(f"{s}={getattr(p, s)}" for s in skips),
            "not in the paper (nor in EdgeConnect): a CPU-sized run of the deep encoder-decoder learns more with "
            "them; see the comment on these fields in config.py")
    if getattr(p, "prefill", False):
        add("networks", "what Gi starts from in the hole", "I * M: zeros in the hole (Eq. 10)",
            "a smooth fill of the hole, which Gi corrects (prefill=True)",
            "not in the paper: painting a hole from zeros is slow to learn in a CPU-sized run; see the comment "
            "on these fields in config.py")

    # CFS gate bias, measured on a block, not read from a constant that could drift from the init
    block = CFSBlock(4, 4, 3, padding=1)
    bias = float(block.conv_G.bias.detach().mean())
    if abs(bias) > 1e-6:
        add("networks", "CFS gate bias at initialisation (g, G, SE)", "not given (PyTorch's default: ~0)",
            _num(round(bias, 4)) + f" (gates start at sigmoid = {torch.sigmoid(torch.tensor(bias)):.2f})",
            "with gates at 0.5 every CFS layer scales its signal by ~1/8 and Gi's 20+ spectral-normed layers "
            "pass almost nothing; open gates train (CFSBlock's docstring has the measurement)")
    res = DilatedResBlock("cfs", 16)
    se1, se2 = (getattr(getattr(b, "layer", b), "se", None) is not None for b in (res.block1, res.block2))
    if se1 != se2:
        add("networks", "SE in Gi's residual blocks", "every CFS layer (Eq. 3-8)",
            f"first layer {'with' if se1 else 'without'} SE, second {'with' if se2 else 'without'}",
            "the second layer of a residual block has no activation; the kit puts SE after an activated "
            "layer only, as Eq. 5-8 chain it (the paper does not describe its residual blocks)")

    # stage 1
    if p.stage1_loss.reconstruction:
        add("stage1", "Eq. 11: class-balanced BCE on S_pred", "no such term (0.1 L_adv + 10 L_FM)",
            f"+ {_num(p.stage1_loss.reconstruction)} x balanced BCE",
            "trained for minutes on a CPU, Gs under Eq. 11 alone collapses to drawing nothing; HED's own "
            "loss keeps it drawing (Stage1LossWeights)")
    s1_paper = Stage1LossWeights()
    for name in ("adversarial", "feature_matching"):
        if getattr(p.stage1_loss, name) != getattr(s1_paper, name):
            add("stage1", f"Eq. 11 weight: {name}", _num(getattr(s1_paper, name)), _num(getattr(p.stage1_loss, name)),
                "changed in this profile (config.py)")

    # stage 2
    s2_paper, s2 = Stage2LossWeights(), p.stage2_loss
    changed = [n for n in s2_paper.__dataclass_fields__ if getattr(s2, n) != getattr(s2_paper, n)]
    if changed:
        ec, kit = s2 == EDGECONNECT_STAGE2, s2 == KIT_STAGE2
        add("stage2", "Eq. 14 weights: " + ", ".join(changed),
            ", ".join(_num(getattr(s2_paper, n)) for n in changed),
            ", ".join(_num(getattr(s2, n)) for n in changed) + (" (EdgeConnect's)" if ec else
                                                                 " (the kit's CPU recipe)" if kit else ""),
            "with HED's backbone standing in for ImageNet VGG, Eq. 14's 300 makes the perceptual term ~99 % "
            "of the loss and Gi learns flat fills in a CPU-sized run (Stage2LossWeights)" if ec
            else "L1 leads; in a CPU-sized run the VGG and feature-matching terms cost PSNR and the style term "
                 "painted colour streaks (the training ladder, docs/training_recipe.md)" if kit
            else "changed in this profile (config.py)")
    hole = torch.ones(1, 1, 4, 4)
    hole[..., :2, :2] = 0                                        # hole ratio 1/4
    l1 = float(l1_loss(torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4), hole))
    if abs(l1 - 1.0) > 1e-6:
        add("stage2", "L1 term of Eq. 14", "L_l1 (normalisation not given)",
            f"mean |I_pred - I| / hole ratio (x{l1:g} at a 25 % hole)",
            "EdgeConnect's convention: a small hole weighs as much as a large one")
    vgg = _vgg_in_use(p, vgg_source)
    if not vgg.startswith("imagenet"):
        reason = vgg.partition(":")[2].strip()
        add("stage2", "VGG of the perceptual / style losses", "ImageNet VGG19 (Johnson et al. [7])",
            "HED's VGG16 backbone" + (f" ({reason})" if reason else ""),
            "ImageNet VGG19 weights are a download; where they cannot be had, HED's VGG16 (itself fine-tuned "
            "from ImageNet) serves and the run says so in config.json")

    # training
    add("training", "training steps (stage 1 / stage 2)", "until the generators converge",
        f"{p.stage1_steps:,} / {p.stage2_steps:,}",
        "the paper gives no number; a profile needs one" + (
            f" ({p.stage1_steps:,} is our budget for a full run, not the paper's)" if p.stage1_steps >= 100_000
            else ": a short run that fits this profile's time budget"))
    if p.batch_size != PAPER_BATCH_SIZE:
        add("training", "batch size", str(PAPER_BATCH_SIZE), str(p.batch_size),
            "the paper's batch fitted 256 px images on one GTX 1080 Ti; small patches on a CPU take another")
    ec_lr = (1e-4, (0.0, 0.9), 0.1)
    add("training", "Adam: lr, betas, D lr", "not given (Adam [8])",
        f"{p.lr:g}, {tuple(p.betas)}, {p.d_lr_ratio:g} x lr",
        "EdgeConnect's settings, which the paper builds on: 1e-4, (0, 0.9), 0.1 x lr" + (
            "" if (p.lr, tuple(p.betas), p.d_lr_ratio) == ec_lr
            else f"; this profile changes them (lr x{p.lr / ec_lr[0]:g}) for a run of a few hundred to a few "
                 "thousand steps"))
    add("data", "binary sketch from HED", "binary, method not given (scored as binary classification)",
        f"HED >= {p.sketch_threshold:g}" + (", thinned to 1 px" if p.sketch_thin else ""),
        "the kit's choice: unthinned, HED at small sizes marks 30-50 % of pixels as edge (notebook 01)")
    return [row for topic, row in rows if topic in topics]


def departures_table(profile: "Profile | str | None" = None, vgg_source: str | None = None,
                     topics=DEPARTURE_TOPICS) -> str:
    """:func:`departures` as a Markdown table (``IPython.display.Markdown`` renders it in a notebook)."""
    p = get_profile(profile) if profile is None or isinstance(profile, str) else profile
    rows = departures(p, vgg_source, topics)
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = [f"| setting | paper | `{p.name}` profile | why |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(esc(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
