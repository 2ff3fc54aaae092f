"""What each of the two training stages (Section 3.3) trains: the generator's inputs, what the
discriminator sees, the generator's losses and the rows of the sample grid.

    Stage 1 (Eq. 9, 11, 12):  S_pred = Gs(I_gray, S_gt, M)             Ds sees cat[S, I_gray]
    Stage 2 (Eq. 10, 12, 14): I_pred = Gi(I_gt, S_comp, M)             Di sees the RGB image
                              S_comp = S_pred * (1 - M) + S_gt * M      (S_pred = S_gt by default)
    Joint (not in the paper): stage 1 from its weights, + w * |fill(I, M, S_comp) - I| in the hole

:class:`SketchStage` and :class:`ImageStage` hold no network, optimiser, step counter or file: the loop of
:class:`inpaintkit.train.Trainer` calls them with its generator and batches. The networks come from
:func:`inpaintkit.checkpoints.build_generator` (the checkpoint format rebuilds them with it) and
:func:`build_discriminator`. ``b`` below is a batch dict {"image" (N, 3, H, W), "gray" (N, 1, H, W),
"sketch" (N, 1, H, W), "mask" (N, 1, H, W), 1 = known, 0 = hole}.

Choices where the paper is silent (EdgeConnect's where it has one):

* The discriminators see the **raw** prediction (S_pred, I_pred), not the composite, as EdgeConnect's
  edge and inpainting models do; Ds gets the *real* gray image with either sketch (Eq. 12:
  D(S_gt, I_gray) vs D(S_pred, I_gray)).
* Stage 2 trains on the composite of the **ground-truth** sketch (S_comp = S_gt), as EdgeConnect trains
  its inpainting model; a trained Gs (``sketch_generator``) makes S_comp instead when given.
* Eq. 14's L1 term is divided by the hole ratio (EdgeConnect's convention); its perceptual and style terms
  compare the whole images, as Johnson et al. [7], whom Eq. 14 cites, do:
  :func:`inpaintkit.losses.stage2_generator_loss` with ``mask`` and its default ``style_on_hole=False``.
"""

from __future__ import annotations

import torch
from torch import nn

from . import losses, networks
from .checkpoints import load_generator, trains_sketch
from .config import Profile
from .sketches import binarize

__all__ = ["SketchStage", "JointStage", "ImageStage", "make_stage", "build_discriminator"]


class SketchStage:
    """Stage 1: Gs repairs the sketch in the hole (Eq. 9) against Ds (Eq. 12), generator loss Eq. 11."""

    number = 1
    block = "partial"           # Gs is made of partial convolutions
    vgg = vgg_source = None
    sketch_from = None

    def __init__(self, profile: Profile):
        self.profile = profile

    def to(self, device, memory_format=torch.contiguous_format) -> "SketchStage":
        return self

    def predict(self, generator: nn.Module, b: dict) -> torch.Tensor:
        """Eq. 9: S_pred = Gs(I_gray, S_gt, M), (N, 1, H, W)."""
        return generator(b["gray"], b["sketch"], b["mask"])

    def real(self, b: dict) -> torch.Tensor:
        """The ground truth the prediction is judged against: S_gt."""
        return b["sketch"]

    def d_input(self, b: dict, sketch: torch.Tensor) -> torch.Tensor:
        """What Ds sees: cat[sketch, I_gray], (N, 2, H, W): the real gray image with either sketch."""
        return torch.cat([sketch, b["gray"]], dim=1)

    def generator_loss(self, pred, b, fake_logits, real_feats, fake_feats):
        """Eq. 11: (total, terms) of :func:`inpaintkit.losses.stage1_generator_loss`."""
        return losses.stage1_generator_loss(fake_logits, real_feats, fake_feats, self.profile.stage1_loss,
                                            pred=pred, target=b["sketch"], mask=b["mask"])

    def sample_rows(self, b: dict, pred: torch.Tensor) -> list[torch.Tensor]:
        """The grid's rows: input I_gray * M, mask, sketch S_gt * M, prediction S_pred, ground truth S_gt."""
        m = b["mask"]
        return [b["gray"] * m, m, b["sketch"] * m, pred, b["sketch"]]


class JointStage(SketchStage):
    """The joint stage (not in the paper): Gs, starting from stage 1's weights, trained through the fill it guides.

    The same Gs against the same Ds as stage 1, and Eq. 11's terms with the profile's ``joint_loss`` weights,
    whose ``fill`` term scores the fill of S_comp (Gs's probabilities in the hole as soft barriers) against the
    photograph (:func:`inpaintkit.losses.fill_l1`): Gs learns to draw the lines that keep the wrong colour out of
    a region, and to leave out those that wall off the right one. EdgeConnect fine-tunes its edge and inpainting
    models end to end in a last phase; here the second model is the fill, which has an exact gradient.
    """

    number = "joint"

    def generator_loss(self, pred, b, fake_logits, real_feats, fake_feats):
        """Eq. 11 + the fill's L1: (total, terms) of :func:`inpaintkit.losses.stage1_generator_loss`."""
        return losses.stage1_generator_loss(fake_logits, real_feats, fake_feats, self.profile.joint_loss,
                                            pred=pred, target=b["sketch"], mask=b["mask"], image=b["image"])

    def sample_rows(self, b: dict, pred: torch.Tensor) -> list[torch.Tensor]:
        """Stage 1's rows, then the fill of S_comp (gray) and the photograph's gray."""
        with torch.no_grad():
            s_comp = networks.composite(pred.float(), b["sketch"], b["mask"])
            filled = networks.smooth_fill(b["image"].float(), b["mask"], s_comp)
        return super().sample_rows(b, pred) + [filled.mean(1, keepdim=True), b["gray"]]


class ImageStage:
    """Stage 2: Gi paints the hole (Eq. 10) against Di (Eq. 12), generator loss Eq. 14.

    ``block``: Gi's conv block. ``vgg``: the :class:`~inpaintkit.losses.VGGFeatures` of the perceptual and
    style terms. ``sketch_generator``: a trained Gs whose prediction, binarised like the training sketches,
    makes S_comp; None: S_comp = S_gt. ``sketch_from``: where that Gs came from, for config.json.
    """

    number = 2

    def __init__(self, profile: Profile, block: str = "cfs", vgg: nn.Module | None = None,
                 sketch_generator: nn.Module | None = None, sketch_from: str | None = None):
        self.profile, self.block, self.vgg = profile, block, vgg
        self.sketch_generator = None if sketch_generator is None else sketch_generator.eval().requires_grad_(False)
        self.sketch_from = sketch_from
        self.vgg_source = getattr(vgg, "source", None)

    def to(self, device, memory_format=torch.contiguous_format) -> "ImageStage":
        """Move the VGG and the Gs of S_comp to ``device``."""
        if self.vgg is not None:
            self.vgg = self.vgg.to(device, memory_format=memory_format)
        if self.sketch_generator is not None:
            self.sketch_generator = self.sketch_generator.to(device, memory_format=memory_format)
        return self

    @torch.no_grad()
    def composite_sketch(self, b: dict) -> torch.Tensor:
        """S_comp: the ground-truth sketch, or Gs's prediction in the hole (Section 3.3)."""
        if self.sketch_generator is None:
            return b["sketch"]
        s_pred = self.sketch_generator(b["gray"], b["sketch"], b["mask"])
        spec = self.profile.sketch_spec()
        s_pred = binarize(s_pred, spec.threshold, spec.thin)        # in the form of S_gt, as the Inpainter does
        return networks.composite(s_pred, b["sketch"], b["mask"])

    def predict(self, generator: nn.Module, b: dict) -> torch.Tensor:
        """Eq. 10: I_pred = Gi(I_gt, S_comp, M), (N, 3, H, W) (Gi blanks the hole itself)."""
        return generator(b["image"], self.composite_sketch(b), b["mask"])

    def real(self, b: dict) -> torch.Tensor:
        """The ground truth the prediction is judged against: I_gt."""
        return b["image"]

    def d_input(self, b: dict, image: torch.Tensor) -> torch.Tensor:
        """What Di sees: the image itself, (N, 3, H, W)."""
        return image

    def generator_loss(self, pred, b, fake_logits, real_feats, fake_feats):
        """Eq. 14: (total, terms) of :func:`inpaintkit.losses.stage2_generator_loss` (whole-image style)."""
        mask = b["mask"] if bool((b["mask"] < 1).any()) else None          # Eq. 14's hole terms need a hole
        return losses.stage2_generator_loss(pred, b["image"], fake_logits, real_feats, fake_feats, self.vgg,
                                            self.profile.stage2_loss, mask=mask)

    def sample_rows(self, b: dict, pred: torch.Tensor) -> list[torch.Tensor]:
        """The grid's rows: input I * M, mask, sketch S_comp, prediction composited into I, ground truth I."""
        m = b["mask"]
        return [b["image"] * m, m, self.composite_sketch(b).float(), networks.composite(pred, b["image"], m),
                b["image"]]


def make_stage(stage: int, profile: Profile, block: str = "cfs", vgg: nn.Module | None = None,
               sketch_from_generator=None):
    """:class:`SketchStage` for stage 1, :class:`JointStage` for "joint"; :class:`ImageStage` for stage 2, its
    S_comp from ``sketch_from_generator`` when given: a Gs module or a stage-1 run dir (loaded with
    :func:`~inpaintkit.checkpoints.load_generator`)."""
    if trains_sketch(stage):
        if sketch_from_generator is not None:
            raise ValueError("sketch_from_generator is for stage 2 (it makes S_comp from a trained Gs).")
        return JointStage(profile) if stage == "joint" else SketchStage(profile)
    gs, source = sketch_from_generator, None
    if isinstance(gs, nn.Module):
        source = "module"
    elif gs is not None:
        gs, source = load_generator(gs, 1), str(gs)
    return ImageStage(profile, block, vgg, gs, source)


def build_discriminator(stage: int | str, profile: Profile) -> networks.PatchDiscriminator:
    """Ds (2 channels: sketch, gray; stage 1 and joint) or Di (3 channels: RGB) at the profile's width."""
    build = networks.sketch_discriminator if trains_sketch(stage) else networks.image_discriminator
    return build(profile.d_channels)
