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

PROFILES = ("smoke", "quick", "full", "gpu")


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
    ),
    "quick": Profile(
        name="quick", image_size=64, demo_patch_stride=32, num_workers=0,
        gs_channels=16, gi_channels=16, d_channels=16,
        # stage 2 is ~10x a stage-1 step on a CPU (the VGG of Eq. 14): 300 steps fit notebook 05's 10 min
        batch_size=8, stage1_steps=1200, stage2_steps=300, lr=2e-4,
        log_every=10, sample_every=100, checkpoint_every=100,
        eval_images=50, ablation_steps=80, ablation_seeds=(0, 1, 2),
        # not the paper's weights: see Stage1LossWeights.reconstruction and Stage2LossWeights
        stage1_loss=Stage1LossWeights(reconstruction=1.0), stage2_loss=EDGECONNECT_STAGE2,
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
        eval_images=100, ablation_steps=50, ablation_seeds=(0,),
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
            "(smoke: tests, quick: laptop tutorial, full: the paper on a GPU, gpu: a short check of the full chain)."
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
