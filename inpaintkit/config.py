"""Profiles: the one place for sizes, widths, step counts, batch sizes and loss weights.

Four profiles, as data (docs/paper_reading.md, "Conventions"):

* ``smoke``  -- tests and nbval: seconds per notebook on 2 CPU cores.
* ``quick``  -- the tutorial default on a laptop CPU: minutes per notebook.
* ``full``   -- the paper: 256x256 Places2 images, full widths (64), batch 6, a GPU.
* ``gpu``    -- the full profile's networks, size and batch for a few hundred steps: proves the chain on
  one GPU in minutes (``benchmarks/gpu_check.sh``); its numbers are not Table 1's.
* ``rehearse`` -- ``full`` with only its counts shrunk (:func:`rehearsal_profile`): ``make rehearse`` runs the
  paper's code path on a CPU (:mod:`inpaintkit.rehearsal`).

``batch_size`` is the batch of one optimiser step over **all** processes: under
``torchrun --nproc_per_node=N`` each process takes ``batch_size / N`` (the paper's 6 on 1, 2, 3 or 6 GPUs).

Every notebook starts from ``profile = os.environ.get("INPAINTKIT_PROFILE", "quick")``
and reads everything else from :func:`get_profile`. Change a profile with
:func:`dataclasses.replace`, never by hard-coding a second number elsewhere::

    from dataclasses import replace
    p = replace(get_profile("quick"), stage1_steps=50)

The settings of a sketch (:class:`SketchSpec`) live here too, so that a profile can hand one out without
importing the sketch code; this module imports no other inpaintkit module (the bottom layer). Where a
profile departs from the paper is listed by :mod:`inpaintkit.departures`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = [
    "PROFILES", "Profile", "get_profile", "default_run_dir", "repo_root", "cache_dir", "resolve_device",
    "Stage1LossWeights", "Stage2LossWeights", "EDGECONNECT_STAGE2", "KIT_STAGE1", "KIT_STAGE2", "KIT_JOINT", "NO_VGG",
    "SketchSpec", "SKETCH_METHODS", "CANNY_SIGMA", "HED_WEIGHTS_SHA256", "REHEARSAL_COUNTS", "rehearsal_profile",
]

PROFILES = ("smoke", "quick", "demo", "full", "gpu", "rehearse")


@dataclass(frozen=True)
class Stage1LossWeights:
    """Eq. 11: L_Gs = 0.1 * L_adv + 10 * L_FM.

    ``reconstruction`` is not in the paper (0 = Eq. 11 exactly): the weight of a class-balanced
    binary cross-entropy between S_pred and S_gt (HED's own loss), which the CPU profiles turn on because
    Gs under Eq. 11 alone collapses to drawing nothing (docs/training_recipe.md, "Gs under Eq. 11 alone").

    ``fill`` is not in the paper either (0 = Eq. 11): the weight of the L1 between the photograph and the fill of
    S_comp (:func:`inpaintkit.fill.smooth_fill`, Gs's probabilities as soft barriers) in the hole: the joint
    stage trains Gs through the fill it guides (:func:`inpaintkit.losses.fill_l1`).
    """

    adversarial: float = 0.1
    feature_matching: float = 10.0
    reconstruction: float = 0.0
    fill: float = 0.0


@dataclass(frozen=True)
class Stage2LossWeights:
    """Eq. 14: L_Gi = L_l1 + 0.1 * L_adv + 300 * L_perc + 300 * L_style + 10 * L_FM.

    :data:`EDGECONNECT_STAGE2` holds EdgeConnect's weights (perceptual 0.1, style 250); :data:`KIT_STAGE2`
    the kit's CPU recipe. Why Eq. 14's weights fail in a CPU-sized run: docs/training_recipe.md.
    """

    l1: float = 1.0
    adversarial: float = 0.1
    perceptual: float = 300.0
    style: float = 300.0
    feature_matching: float = 10.0

    @property
    def uses_vgg(self) -> bool:
        """Whether a VGG is needed at all: only the perceptual and style terms look through one."""
        return bool(self.perceptual or self.style)


# What a run records as its VGG when its perceptual and style weights are 0 and none is loaded.
NO_VGG = "none: the perceptual and style weights are 0"

EDGECONNECT_STAGE2 = Stage2LossWeights(l1=1.0, adversarial=0.1, perceptual=0.1, style=250.0, feature_matching=10.0)

# The kit's recipes for CPU-sized runs (quick and demo profiles). Stage 2: L1 leads, the adversarial term is a
# nudge, no perceptual, style or feature-matching term. Stage 1: Eq. 11 plus the class-balanced BCE on the hole,
# weighted so that it, not feature matching, leads. The training ladder in docs/training_recipe.md measures why.
KIT_STAGE1 = Stage1LossWeights(reconstruction=10.0)
KIT_STAGE2 = Stage2LossWeights(l1=1.0, adversarial=0.01, perceptual=0.0, style=0.0, feature_matching=0.0)
# The joint stage (train --stage joint): Gs fine-tuned from stage 1 through the fill it guides. The fill's L1
# leads; the balanced BCE stays, at a tenth of stage 1's weight, so that Gs still draws a sketch; Eq. 11's
# adversarial and feature-matching terms are off (a Ds started afresh, as from the shipped Gs, would steer Gs
# with noise; with them on it was not tried). docs/training_recipe.md, "The joint stage".
KIT_JOINT = Stage1LossWeights(adversarial=0.0, feature_matching=0.0, reconstruction=1.0, fill=10.0)


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
    # the student's functions trained for real after each fill-in (notebooks 02-05, inpaintkit.practice): steps, and
    # the crop size and network width of those runs. They train in float64 (a right answer draws the library's curve
    # to 1e-6), where the paper's Gi (width 64, 124 M parameters) takes ~9 GB with its Adam state and ~40 s a step at
    # 256 px on 2 CPU cores; a right answer is just as right at a smaller scale
    practice_steps: int = 20
    practice_size: int = 64
    practice_width: int = 16
    # sketch binarisation: HED probability >= threshold, then (sketch_thin) thinned to one-pixel lines (notebook 01
    # shows why the small CPU profiles thin; demo, full and gpu keep HED's lines as they come)
    sketch_threshold: float = 0.5
    sketch_thin: bool = True
    stage1_loss: Stage1LossWeights = field(default_factory=Stage1LossWeights)
    stage2_loss: Stage2LossWeights = field(default_factory=Stage2LossWeights)
    # the joint stage (not in the paper; profiles whose Gi starts from the fill): Gs fine-tuned from stage 1 through
    # the fill, ``joint_steps`` steps (0: no joint stage), with the stage-1 loss weights ``joint_loss``
    joint_steps: int = 0
    joint_loss: Stage1LossWeights = field(default_factory=lambda: KIT_JOINT)
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
        for what in ("image_size", "practice_size"):
            if getattr(self, what) % 16:
                raise ValueError(
                    f"Profile {self.name!r}: {what}={getattr(self, what)} is not a multiple of 16; "
                    "the generators halve the size four times. Use e.g. 64, 128 or 256."
                )

    def sketch_spec(self, method: str = "hed") -> "SketchSpec":
        """The :class:`SketchSpec` every stage of this profile uses."""
        return SketchSpec(method=method, threshold=self.sketch_threshold, thin=self.sketch_thin)

    def to_dict(self) -> dict:
        """Plain-Python view, safe to store in a checkpoint read with ``weights_only=True``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Profile":
        d = dict(d)
        d["stage1_loss"] = Stage1LossWeights(**d.get("stage1_loss", {}))
        d["stage2_loss"] = Stage2LossWeights(**d.get("stage2_loss", {}))
        d["joint_loss"] = Stage1LossWeights(**d.get("joint_loss", asdict(KIT_JOINT)))
        d["betas"] = tuple(d.get("betas", (0.0, 0.9)))
        d["ablation_seeds"] = tuple(d.get("ablation_seeds", (0,)))
        return cls(**d)


SKETCH_METHODS = ("hed", "canny")
CANNY_SIGMA = 2.0  # EdgeConnect's default
# sha256 over the converted BSDS500 HED state dict (hed.state_dict_sha256): what hed.load_hed verifies and
# what a HED sketch's cache key includes.
HED_WEIGHTS_SHA256 = "d659d028728a9ac52fdcdcbd2ead7d1539e4c70dac6f3fcc39e249e895f4ff6c"


@dataclass(frozen=True)
class SketchSpec:
    """How a sketch is made (:mod:`inpaintkit.sketches` makes it): ``method`` "hed" or "canny"; HED's
    probability ``threshold`` (None = keep it soft) and ``thin`` (thin the binary map to 1 px); ``canny_sigma``
    for Canny (EdgeConnect: 2); ``hed_min_side``: images whose short side is smaller are upsampled (bilinear)
    to it for HED and the probability map is averaged back down. HED was trained on ~400 px photographs: run
    on a 64 px image its side outputs are blurred blobs; at 128 px and back down the outlines are clean. The
    long side of HED's working size is capped (:func:`inpaintkit.sketches.hed_sketch`).
    """

    method: str = "hed"
    threshold: float | None = 0.5
    thin: bool = False
    canny_sigma: float = CANNY_SIGMA
    hed_min_side: int = 128

    def __post_init__(self) -> None:
        if self.method not in SKETCH_METHODS:
            raise ValueError(f"SketchSpec(method={self.method!r}): choose one of {SKETCH_METHODS}.")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError(f"SketchSpec(threshold={self.threshold}): use a probability in (0, 1), "
                             "or None to keep HED's soft map.")
        if self.thin and self.threshold is None and self.method == "hed":
            raise ValueError("SketchSpec(thin=True) thins a binary map: give a threshold too.")
        if self.canny_sigma <= 0:
            raise ValueError(f"SketchSpec(canny_sigma={self.canny_sigma}) must be > 0.")

    def key(self, weights_sha: str | None = None) -> str:
        """A short stable hash of every field (and, for HED, the weights' checksum; default the BSDS500 one)."""
        fields = asdict(self)
        if self.method == "hed":
            fields["weights_sha256"] = weights_sha or HED_WEIGHTS_SHA256
        blob = json.dumps(fields, sort_keys=True)
        return f"{self.method}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


_PROFILES = {
    "smoke": Profile(
        name="smoke", image_size=32, demo_patch_stride=96, num_workers=0,
        gs_channels=8, gi_channels=8, d_channels=8,
        batch_size=4, stage1_steps=6, stage2_steps=6,
        log_every=2, sample_every=3, checkpoint_every=3,
        eval_images=4, ablation_steps=4, ablation_seeds=(0,), practice_steps=3, practice_size=32, practice_width=8,
        skips=True, prefill=True, joint_steps=4,
    ),
    "quick": Profile(
        name="quick", image_size=64, demo_patch_stride=32, num_workers=0,
        gs_channels=16, gi_channels=16, d_channels=16,
        # a stage-2 step costs several stage-1 steps: 300 keep notebook 05 within its time budget
        batch_size=8, stage1_steps=1200, stage2_steps=300, lr=2e-4,
        log_every=10, sample_every=100, checkpoint_every=100,
        # the live ablation of notebook 03: 5 blocks x 2 seeds x 60 steps keeps it under 10 minutes with another job
        # on the 2 cores (5 x 3 x 80 took 780 s); the longer, conclusive run ships: docs/ablation_without_prefill.json
        eval_images=50, ablation_steps=60, ablation_seeds=(0, 1),
        # not the paper's weights: see Stage1LossWeights.reconstruction and Stage2LossWeights
        stage1_loss=KIT_STAGE1, stage2_loss=KIT_STAGE2,
        skips=True, prefill=True, joint_steps=200,
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
        skips=True, prefill=True, joint_steps=1500,
        # HED's lines as they come (2-4 px), not thinned: closer to the paper's 77 % binary accuracy, and the
        # fill's barriers and Gs's target (docs/training_recipe.md, "Unthinned sketches")
        sketch_thin=False,
    ),
    "full": Profile(
        name="full", image_size=256, demo_patch_stride=128, num_workers=8,
        gs_channels=64, gi_channels=64, d_channels=64,
        batch_size=6, stage1_steps=500_000, stage2_steps=500_000,
        log_every=100, sample_every=2000, checkpoint_every=2000,
        eval_images=2000, ablation_steps=50_000, ablation_seeds=(0, 1, 2),
        practice_size=128, practice_width=32,           # the student's runs: 2.8 GB in float64, not 9 (Profile)
        needs_real_data=True, vgg="imagenet",
        # HED's lines as HED draws them (2-4 px at 256 px), binarised, not thinned: the paper trains Gs on "the
        # sketch generated by HED" and scores it as a binary classification at 77 % (docs/paper_reading.md, "Sketches")
        sketch_thin=False,
    ),
    "gpu": Profile(
        name="gpu", image_size=256, demo_patch_stride=128, num_workers=8,
        gs_channels=64, gi_channels=64, d_channels=64,
        batch_size=6, stage1_steps=300, stage2_steps=300,
        log_every=20, sample_every=100, checkpoint_every=100,
        eval_images=25, ablation_steps=50, ablation_seeds=(0,), practice_size=128, practice_width=32,
        needs_real_data=True, vgg="imagenet", sketch_thin=False,      # full's sketches
    ),
}


# What the rehearsal shrinks, and nothing else: step counts, the intervals counted in steps, test images per
# bucket, the ablation's steps and seeds, the student's practice steps. Widths, size, batch, workers, losses,
# sketch and VGG stay full's.
REHEARSAL_COUNTS = dict(stage1_steps=2, stage2_steps=2, log_every=1, sample_every=1, checkpoint_every=1,
                        eval_images=2, ablation_steps=1, ablation_seeds=(0,), practice_steps=2)


def rehearsal_profile() -> Profile:
    """The ``full`` profile with only :data:`REHEARSAL_COUNTS` changed (and its name): the paper's code path,
    counts small enough for a CPU in CI (``make rehearse``)."""
    return replace(_PROFILES["full"], name="rehearse", **REHEARSAL_COUNTS)


_PROFILES["rehearse"] = rehearsal_profile()


def get_profile(name: str | None = None) -> Profile:
    """Return the named profile; ``None`` reads ``$INPAINTKIT_PROFILE`` (default ``quick``)."""
    name = name or os.environ.get("INPAINTKIT_PROFILE", "quick")
    try:
        return _PROFILES[name]
    except KeyError:
        raise ValueError(
            f"Unknown profile {name!r}. Choose one of {', '.join(PROFILES)} "
            "(smoke: tests, quick: laptop tutorial, demo: the shipped weights, full: the paper on a GPU, "
            "gpu: a short check of the full chain, rehearse: full's code path with tiny counts, on a CPU)."
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
