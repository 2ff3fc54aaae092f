"""Losses of Section 3.3: hinge adversarial (Eq. 12), feature matching (Eq. 13), L1, perceptual, style.

The two generator objectives combine them with the weights of :mod:`inpaintkit.config`:

* Eq. 11, sketch generator Gs: ``L_Gs = 0.1 * L_adv + 10 * L_FM``          -> :func:`stage1_generator_loss`
* Eq. 14, image generator Gi:  ``L_Gi = L_l1 + 0.1 * L_adv + 300 * L_perc + 300 * L_style + 10 * L_FM``
  -> :func:`stage2_generator_loss`

Discriminators (:class:`inpaintkit.networks.PatchDiscriminator`) return ``(logits, features)``;
``features`` is the list of hidden activations used by the feature-matching loss.

Perceptual and style losses read VGG features (:class:`VGGFeatures`): torchvision's ImageNet VGG19
where its weights can be had, else the HED backbone (a VGG16 fine-tuned from ImageNet,
:mod:`inpaintkit.hed`). Which one was used is never silent: ``VGGFeatures.source`` says so and a
warning is logged when the fallback is taken.
"""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import NO_VGG, Stage1LossWeights, Stage2LossWeights
from .fill import smooth_fill

__all__ = [
    "hinge_d_loss", "hinge_g_loss", "feature_matching_loss", "l1_loss", "gram_matrix", "perceptual_loss",
    "style_loss", "balanced_bce", "fill_l1", "stage1_generator_loss", "stage2_generator_loss", "VGGFeatures",
    "imagenet_vgg19_status", "IMAGENET_VGG19_FILE", "VGG_SOURCES", "RANDOM_VGG19", "DOWNLOAD_PROBE_TIMEOUT_S",
    "VGG19_PERCEPTUAL", "VGG19_STYLE",
    "VGG16_PERCEPTUAL", "VGG16_STYLE", "HED_FEATURE_SCALE", "NO_VGG",
]

log = logging.getLogger(__name__)

# ---- adversarial (Eq. 12) --------------------------------------------------------------------


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 12, the discriminator's hinge loss: ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``.

    ``real_logits`` = D(S_gt, I_gray) (stage 1) or D(I_gt) (stage 2); ``fake_logits`` the same on the
    prediction, which the caller detaches so that only D is trained by this loss.
    """
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """The generator's side of the hinge game of Eq. 12: ``-mean(D(fake))``.

    Eq. 11 and 14 write the adversarial term as L_Ds / L_Di; the generator minimises the
    discriminator's score on its output (the usual hinge-GAN generator loss, as in EdgeConnect).
    """
    return -fake_logits.mean()


# ---- feature matching (Eq. 13) ---------------------------------------------------------------


def feature_matching_loss(real_features: Sequence[torch.Tensor], fake_features: Sequence[torch.Tensor]) -> torch.Tensor:
    """Eq. 13: ``sum_i 1/N_i * ||D_i(real) - D_i(fake)||_1`` over the discriminator's hidden layers.

    N_i is the number of activations in layer i, so each term is the mean absolute difference of
    that layer; the terms are summed. The real features are detached (they are targets).
    """
    if len(real_features) != len(fake_features) or not real_features:
        raise ValueError(
            f"feature_matching_loss needs the same non-zero number of layers for real and fake, got "
            f"{len(real_features)} and {len(fake_features)}; pass the discriminator's features for both."
        )
    return sum(F.l1_loss(fake, real.detach()) for real, fake in zip(real_features, fake_features))


# ---- reconstruction --------------------------------------------------------------------------


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """L1 term of Eq. 14: mean ``|pred - target|`` over the whole image.

    ``mask``: the paper's M, (N, 1, H, W), 1 = known, 0 = hole. When given, the mean is divided by
    the hole ratio ``mean(1 - M)``, as EdgeConnect does (its L1 divided by the mean of its hole
    mask): small holes then weigh as much as large ones. Default (``None``): the plain mean.
    """
    loss = F.l1_loss(pred, target)
    if mask is None:
        return loss
    hole_ratio = (1.0 - mask).mean()
    if hole_ratio <= 0:
        raise ValueError(
            "l1_loss(mask=...) divides by the hole ratio mean(1 - M), but this mask has no hole "
            "(all ones; 1 = known, 0 = hole). Pass mask=None for the plain mean, or check the mask's convention."
        )
    return loss / hole_ratio


def gram_matrix(f: torch.Tensor) -> torch.Tensor:
    """Gram matrix of a feature map, normalised as EdgeConnect / Johnson et al.: ``F F^T / (C*H*W)``.

    f: (N, C, H, W) -> (N, C, C). Computed in float32 even under bf16 autocast (the sums are long).
    """
    n, c, h, w = f.shape
    f = f.float().reshape(n, c, h * w)                             # (N, C, HW)
    with torch.autocast(device_type=f.device.type, enabled=False):
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)       # (N, C, C)


def perceptual_loss(feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]) -> torch.Tensor:
    """L_perc of Eq. 14: the mean L1 distance of each VGG layer's activations, summed over the layers.

    EdgeConnect's reading (per-layer ``L1Loss`` with weight 1, added up), on relu1_1..relu5_1.
    ``feats_b`` is the target side; pass it computed without gradient.
    """
    if len(feats_a) != len(feats_b) or not feats_a:
        raise ValueError(f"perceptual_loss: got {len(feats_a)} and {len(feats_b)} layers; "
                         "both sides need the same layers.")
    return sum(F.l1_loss(a, b) for a, b in zip(feats_a, feats_b))


def style_loss(feats_a: Sequence[torch.Tensor], feats_b: Sequence[torch.Tensor]) -> torch.Tensor:
    """L_style of Eq. 14: L1 distance between Gram matrices (:func:`gram_matrix`), summed over the layers."""
    if len(feats_a) != len(feats_b) or not feats_a:
        raise ValueError(f"style_loss: got {len(feats_a)} and {len(feats_b)} layers; both sides need the same layers.")
    return sum(F.l1_loss(gram_matrix(a), gram_matrix(b)) for a, b in zip(feats_a, feats_b))


# ---- VGG features ----------------------------------------------------------------------------

# torchvision's file name for VGG19_Weights.IMAGENET1K_V1 in torch hub's cache.
IMAGENET_VGG19_FILE = "vgg19-dcbb9e9d.pth"
# An offline machine must learn in seconds, not minutes, that the download fails.
DOWNLOAD_PROBE_TIMEOUT_S = 5.0

# torchvision vgg19().features indices (EdgeConnect's layers).
VGG19_PERCEPTUAL = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 20, "relu5_1": 29}
VGG19_STYLE = {"relu2_2": 8, "relu3_4": 17, "relu4_4": 26, "relu5_2": 31}
# HED's VGG16 (laid out like vgg16().features[:30]). Same perceptual layers; VGG16 has no
# relu3_4 / relu4_4, so style uses the last ReLU of blocks 3 and 4 instead (relu3_3, relu4_3).
VGG16_PERCEPTUAL = {"relu1_1": 1, "relu2_1": 6, "relu3_1": 11, "relu4_1": 18, "relu5_1": 25}
VGG16_STYLE = {"relu2_2": 8, "relu3_3": 15, "relu4_3": 22, "relu5_2": 27}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
# HED's Caffe input is 0-255 where torchvision's is (x - mean) / std: ~57.6 times larger, and so are
# its activations (ReLU nets are close to scale-equivariant). Eq. 14's weights (300, 300) are set
# for ImageNet-scale features, so HED's tapped activations are multiplied by this factor; without
# it the perceptual term is ~58x and the style term ~3300x too large (docs/paper_reading.md, "The
# losses"). An input-scale match, not a calibration against VGG19.
HED_FEATURE_SCALE = 1.0 / (255.0 * sum(_IMAGENET_STD) / 3)

VGG_SOURCES = ("auto", "imagenet", "hed", "vgg19-random")
RANDOM_VGG19 = "vgg19-random: VGG19 with random weights (a rehearsal of the code path; not Eq. 14's losses)"


def _imagenet_normalize(rgb: torch.Tensor) -> torch.Tensor:
    mean = rgb.new_tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
    std = rgb.new_tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    return (rgb - mean) / std


def imagenet_vgg19_status() -> tuple[bool, str]:
    """Can torchvision's ImageNet VGG19 weights be had? ``(True, how)`` or ``(False, why not)``.

    Cached in torch hub's checkpoints folder -> yes. Else one HTTP request to the download URL with
    a short timeout (:data:`DOWNLOAD_PROBE_TIMEOUT_S`), so an offline machine answers in seconds.
    """
    cached = Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_VGG19_FILE
    if cached.is_file():
        return True, f"cached at {cached}"
    return _probe_download()


def _probe_download() -> tuple[bool, str]:
    from torchvision.models import VGG19_Weights

    url = VGG19_Weights.IMAGENET1K_V1.url
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=DOWNLOAD_PROBE_TIMEOUT_S):
            pass
    except Exception as e:  # no network, DNS failure, proxy refusal, timeout: all mean "not available"
        return False, f"not in {Path(torch.hub.get_dir()) / 'checkpoints'} and download failed: {type(e).__name__}: {e}"
    return True, f"downloadable from {url}"


def _imagenet_backbone() -> nn.Sequential:
    from torchvision.models import VGG19_Weights, vgg19

    return vgg19(weights=VGG19_Weights.IMAGENET1K_V1).features


def _hed_backbone() -> tuple[nn.Sequential, Callable[[torch.Tensor], torch.Tensor]]:
    from .hed import load_hed

    hed = load_hed()
    return hed.features, hed.preprocess


class VGGFeatures(nn.Module):
    """Frozen VGG feature extractor for the perceptual and style losses of Eq. 14.

    ``VGGFeatures(source="auto" | "imagenet" | "hed", device=...)``; ``forward(rgb)`` takes RGB
    (N, 3, H, W) in [0, 1] and returns ``(perceptual_feats, style_feats)``, two lists of activations.

    * ``"imagenet"``: torchvision VGG19 (IMAGENET1K_V1), ImageNet normalisation; perceptual
      relu1_1..relu5_1, style relu2_2, relu3_4, relu4_4, relu5_2 (EdgeConnect's layers).
      Raises if the weights are neither cached nor downloadable.
    * ``"hed"``: the HED backbone of :func:`inpaintkit.hed.load_hed` (VGG16 fine-tuned from
      ImageNet) with HED's Caffe preprocessing; perceptual relu1_1..relu5_1, style relu2_2,
      relu3_3, relu4_3, relu5_2 (the VGG16 counterparts); activations times
      :data:`HED_FEATURE_SCALE` (~1/57.6) to bring Caffe's 0-255 scale to ImageNet's.
    * ``"auto"``: ImageNet when cached or downloadable, else HED, with a logged warning.
    * ``"vgg19-random"``: torchvision's VGG19 architecture, layers and normalisation with **random** weights
      (``vgg19(weights=None)``): the full profile's code path without the download, for tests and rehearsals;
      its losses mean nothing, and ``.source`` (:data:`RANDOM_VGG19`) says so.

    ``.source`` says which was used and why (``"imagenet"`` or ``"hed: ImageNet VGG19 weights
    unavailable (<reason>)"``); ``.layer_names`` names the layers. Parameters are frozen and the
    module stays in eval mode, but gradients flow to the input.
    """

    def __init__(self, source: str = "auto", device: str | torch.device | None = None):
        super().__init__()
        if source not in VGG_SOURCES:
            raise ValueError(f"VGGFeatures(source={source!r}): choose one of {', '.join(VGG_SOURCES)}.")
        ok, why = False, ""
        if source in ("auto", "imagenet"):
            ok, why = imagenet_vgg19_status()
            if not ok and source == "imagenet":
                from torchvision.models import VGG19_Weights

                raise FileNotFoundError(
                    f"ImageNet VGG19 weights unavailable ({why}). Eq. 14's perceptual and style terms (and the full "
                    f"profile) need torchvision's VGG19: put {IMAGENET_VGG19_FILE} (from "
                    f"{VGG19_Weights.IMAGENET1K_V1.url}) into {Path(torch.hub.get_dir()) / 'checkpoints'}, or choose "
                    "HED's VGG16 explicitly with --vgg hed (vgg='hed'; recorded in config.json and the report as a "
                    "departure from the paper)."
                )
        if source == "vgg19-random":
            from torchvision.models import vgg19

            self._setup(vgg19(weights=None).features, _imagenet_normalize, VGG19_PERCEPTUAL, VGG19_STYLE, RANDOM_VGG19)
        elif source == "imagenet" or (source == "auto" and ok):
            self._setup(_imagenet_backbone(), _imagenet_normalize, VGG19_PERCEPTUAL, VGG19_STYLE, "imagenet")
        else:
            reason = "source='hed' asked for" if source == "hed" else f"ImageNet VGG19 weights unavailable ({why})"
            try:
                features, preprocess = _hed_backbone()
            except Exception as e:
                raise FileNotFoundError(
                    f"No VGG for the perceptual/style losses: {reason}, and the HED backbone failed to load "
                    f"({type(e).__name__}: {e}). Fetch the HED weights (inpaintkit.hed.fetch_hed_weights()) "
                    "or put torchvision's VGG19 weights into torch hub's cache."
                ) from e
            self._setup(features, preprocess, VGG16_PERCEPTUAL, VGG16_STYLE, f"hed: {reason}", HED_FEATURE_SCALE)
            if source == "auto":
                log.warning("VGGFeatures: using the HED backbone (VGG16) for the perceptual and style losses: %s",
                            reason)
        if device is not None:
            self.to(device)

    @classmethod
    def from_backbone(
        cls,
        features: nn.Sequential,
        preprocess: Callable[[torch.Tensor], torch.Tensor],
        perceptual_idx: dict[str, int] | Sequence[int],
        style_idx: dict[str, int] | Sequence[int],
        name: str,
        feature_scale: float = 1.0,
    ) -> "VGGFeatures":
        """Any sequential backbone: the activations after ``features[i]`` (times ``feature_scale``)."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(features, preprocess, perceptual_idx, style_idx, name, feature_scale)
        return self

    def _setup(self, features, preprocess, perceptual_idx, style_idx, source: str, feature_scale: float = 1.0) -> None:
        def as_dict(idx):
            return dict(idx) if isinstance(idx, dict) else {f"layer{i}": i for i in idx}

        perceptual_idx, style_idx = as_dict(perceptual_idx), as_dict(style_idx)
        last = max(*perceptual_idx.values(), *style_idx.values())
        if last >= len(features):
            raise ValueError(f"VGGFeatures: layer index {last} but the backbone has only {len(features)} modules.")
        self.features = nn.Sequential(*list(features)[: last + 1])  # drop the layers no loss reads
        for m in self.features:
            if isinstance(m, nn.ReLU):
                m.inplace = False  # the tapped activations must not be overwritten by a later op
        self.preprocess = preprocess
        self.perceptual_layers = list(perceptual_idx)
        self.style_layers = list(style_idx)
        self._perceptual_idx = list(perceptual_idx.values())
        self._style_idx = list(style_idx.values())
        self.source = source
        self.feature_scale = feature_scale
        self.requires_grad_(False)
        super().train(False)

    @property
    def layer_names(self) -> dict[str, list[str]]:
        return {"perceptual": self.perceptual_layers, "style": self.style_layers}

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)  # always frozen: a fixed feature extractor

    def forward(self, rgb: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"VGGFeatures expects RGB (N, 3, H, W) in [0, 1], got shape {tuple(rgb.shape)}.")
        x = self.preprocess(rgb)
        taps = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            taps[i] = x
        def tap(i):
            return taps[i] * self.feature_scale if self.feature_scale != 1.0 else taps[i]

        return [tap(i) for i in self._perceptual_idx], [tap(i) for i in self._style_idx]


# ---- generator objectives (Eq. 11, Eq. 14) ---------------------------------------------------


def balanced_bce(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Class-balanced binary cross-entropy (HED's loss, Xie & Tu [16]): edge pixels weighted by the
    fraction of non-edge pixels and vice versa, so a sparse sketch cannot be matched by predicting
    nothing. ``pred`` probabilities in (0, 1), ``target`` in {0, 1}, both (N, 1, H, W).

    ``mask``: the paper's M (1 = known, 0 = hole), or None for the whole image. Given, only hole pixels
    count, balanced by the hole's own edge fraction: the known part of S_pred is replaced by S_gt in S_comp
    anyway, and with U-Net skips copying it is so easy that a whole-image loss barely asks for the hole.
    """
    # float32 with autocast off: on CUDA, autocast refuses F.binary_cross_entropy outright ("unsafe to
    # autocast"), even on float32 inputs, and the trainer's step runs under bf16 autocast there.
    with torch.autocast(device_type=pred.device.type, enabled=False):
        pred, target = pred.float(), target.float()
        region = torch.ones_like(target) if mask is None else 1.0 - mask.float()     # (N, 1, H, W) pixels scored
        area = region.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1.0)
        pos = (target * region).sum(dim=(1, 2, 3), keepdim=True) / area              # (N, 1, 1, 1) edge fraction
        weight = torch.where(target > 0.5, 1.0 - pos, pos) * region
        bce = F.binary_cross_entropy(pred, target, reduction="none")
        return (weight * bce).sum() / region.sum().clamp_min(1.0)


def fill_l1(pred: torch.Tensor, target: torch.Tensor, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The joint stage's term (not in the paper): the mean absolute error, over the hole's pixels and channels,
    between ``image`` and its fill (:func:`inpaintkit.fill.smooth_fill`) guided by S_comp = ``pred`` in the hole
    and ``target`` (S_gt) outside it, Gs's probabilities taken as soft barriers. Differentiable in ``pred``: the
    gradient says where a line would have kept the wrong colour out, and where it walls off the right one.
    ``pred``, ``target`` (N, 1, H, W) in [0, 1]; ``image`` (N, 3, H, W); ``mask`` M, 1 = known."""
    with torch.autocast(device_type=pred.device.type, enabled=False):
        hole = 1.0 - mask.float()
        s_comp = pred.float() * hole + target.float() * mask.float()                 # (N, 1, H, W) S_comp
        filled = smooth_fill(image.float(), mask.float(), s_comp)                    # (N, 3, H, W)
        return ((filled - image.float()).abs() * hole).sum() / (hole.sum() * image.shape[1]).clamp_min(1.0)


def stage1_generator_loss(
    fake_logits: torch.Tensor,
    real_features: Sequence[torch.Tensor],
    fake_features: Sequence[torch.Tensor],
    weights: Stage1LossWeights = Stage1LossWeights(),
    pred: torch.Tensor | None = None,
    target: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    image: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 11: ``L_Gs = 0.1 * L_adv + 10 * L_FM`` for the sketch generator.

    ``fake_logits`` / ``fake_features``: Ds on (S_pred, I_gray); ``real_features``: Ds on (S_gt, I_gray).
    With ``weights.reconstruction > 0`` (not in the paper) ``+ w * balanced_bce(pred, target, mask)`` for
    S_pred and S_gt, which must then be given (``mask``: M, the BCE then scores the hole only). With
    ``weights.fill > 0`` (the joint stage, not in the paper) ``+ w * fill_l1(pred, target, image, mask)``.
    Returns ``(total, terms)``; ``terms`` holds detached 0-dim tensors (``float(v)`` for logging):
    the unweighted ``adversarial`` and ``feature_matching`` (and ``reconstruction``, ``fill``) and the weighted
    ``total``.
    """
    adv = hinge_g_loss(fake_logits)
    fm = feature_matching_loss(real_features, fake_features)
    total = weights.adversarial * adv + weights.feature_matching * fm
    terms = {"adversarial": adv.detach(), "feature_matching": fm.detach()}
    if weights.reconstruction:
        if pred is None or target is None:
            raise ValueError("Stage1LossWeights.reconstruction > 0 needs pred (S_pred) and target (S_gt).")
        rec = balanced_bce(pred, target, mask)
        total = total + weights.reconstruction * rec
        terms["reconstruction"] = rec.detach()
    if weights.fill:
        if pred is None or target is None or image is None or mask is None:
            raise ValueError("Stage1LossWeights.fill > 0 needs pred (S_pred), target (S_gt), image and mask.")
        fill = fill_l1(pred, target, image, mask)
        total = total + weights.fill * fill
        terms["fill"] = fill.detach()
    terms["total"] = total.detach()
    return total, terms


def stage2_generator_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    fake_logits: torch.Tensor,
    real_features: Sequence[torch.Tensor],
    fake_features: Sequence[torch.Tensor],
    vgg: VGGFeatures,
    weights: Stage2LossWeights = Stage2LossWeights(),
    mask: torch.Tensor | None = None,
    style_on_hole: bool = False,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. 14: ``L_Gi = L_l1 + 0.1 * L_adv + 300 * L_perc + 300 * L_style + 10 * L_FM``.

    ``pred``: Gi's raw output, ``target``: I_gt, both RGB (N, 3, H, W) in [0, 1]. ``fake_logits`` /
    ``fake_features``: Di on pred; ``real_features``: Di on I_gt.
    ``mask``: the paper's M, (N, 1, H, W), 1 = known, 0 = hole, or ``None``. When given, the L1 term
    is divided by the hole ratio (EdgeConnect's convention, :func:`l1_loss`).
    Style: Eq. 14 cites Johnson et al. [7], whose style loss compares whole images, and so do we by
    default: the perceptual and style terms share one VGG pass of pred (with gradient) and one of
    I_gt (without). ``style_on_hole=True`` is EdgeConnect's variant, the style of ``pred * (1 - M)``
    against ``I_gt * (1 - M)``; it costs two more VGG passes per step (about twice the loss's time).
    Returns ``(total, terms)``, ``terms`` as in :func:`stage1_generator_loss` (unweighted terms + total).
    """
    l1 = l1_loss(pred, target, mask)
    adv = hinge_g_loss(fake_logits)
    fm = feature_matching_loss(real_features, fake_features)

    if not (weights.perceptual or weights.style):      # no VGG pass for terms weighted 0 (most of a CPU step)
        perc = style = torch.zeros((), device=pred.device)
    elif style_on_hole and mask is not None:
        n, hole = pred.shape[0], 1.0 - mask
        perc_pred, style_pred = vgg(torch.cat([pred, pred * hole]))            # (2N, 3, H, W): one batched pass
        with torch.no_grad():
            perc_gt, style_gt = vgg(torch.cat([target, target * hole]))
        perc_pred, perc_gt = [f[:n] for f in perc_pred], [f[:n] for f in perc_gt]
        style_pred, style_gt = [f[n:] for f in style_pred], [f[n:] for f in style_gt]
    else:
        perc_pred, style_pred = vgg(pred)
        with torch.no_grad():
            perc_gt, style_gt = vgg(target)
    if weights.perceptual or weights.style:
        perc = perceptual_loss(perc_pred, perc_gt)
        style = style_loss(style_pred, style_gt)

    total = (weights.l1 * l1 + weights.adversarial * adv + weights.perceptual * perc
             + weights.style * style + weights.feature_matching * fm)
    terms = {"l1": l1, "adversarial": adv, "perceptual": perc, "style": style, "feature_matching": fm, "total": total}
    return total, {k: v.detach() for k, v in terms.items()}
