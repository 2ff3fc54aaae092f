"""The student's code used for real: after each fill-in of notebooks 02-05, a network is built (or a training
step taken) with the student's function and trained briefly, beside the same network with the library's code.

Both runs start from the same weights, see the same batch in the same order and take the same number of Adam
steps (``Profile.practice_steps``), so a right answer gives the library's loss curve to float precision and a
wrong one shows where the curves part. The check cells (:mod:`inpaintkit.exercises`) compare a function on
fixed inputs; these runs show it working inside Gs, Gi or a GAN step.

| function | notebook | the student's code inside |
|---|---|---|
| :func:`train_gs_with` | 02 | ``partial_conv2d`` as every non-dilated layer of Gs (encoder and decoder) |
| :func:`train_gi_with` | 03 | ``cfs_forward`` as every CFS block of Gi |
| :func:`train_stage1_with` | 04 | ``gan_step`` (with the student's hinge and feature-matching losses) on Gs / Ds |
| :func:`train_gi_with_style` | 05 | ``style`` (with the student's Gram matrix) as Eq. 14's style term of Gi's loss |

The batch (:func:`practice_batch`) is built here, without the data set's HED sketches: scikit-image's photos,
Canny sketches and seeded irregular masks, so a run costs seconds; ``device`` puts the two runs where the notebook
runs (float64 on a GPU too). Conventions: mask 1 = known, 0 = hole.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "PRACTICE_PHOTOS", "practice_batch", "use_student_partial_conv", "use_student_cfs", "train_gs_with",
    "train_gi_with", "train_stage1_with", "train_gi_with_style", "curves_agree", "summary", "plot",
]

PRACTICE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def practice_batch(size: int, n: int = 2, seed: int = 0, dtype=torch.float64, device="cpu") -> dict:
    """``n`` crops of scikit-image's photos at ``size`` px: image (N, 3, S, S), gray (N, 1, S, S), a Canny
    sketch (N, 1, S, S) and an irregular mask (N, 1, S, S), 1 = known, with 10-30 % hole; in [0, 1].

    float64 by default, and the practice runs train in float64: the student's code and the library's do the
    same sums in another order, and in float32 Adam turns those 1e-7 differences into curves that part after
    a dozen steps; in float64 a right answer gives the library's curve to 1e-6."""
    from skimage import data, feature, transform
    from skimage.color import rgb2gray

    from .masks import irregular_mask

    rng = np.random.default_rng(seed)
    images, grays, sketches, masks = [], [], [], []
    for i in range(n):
        photo = getattr(data, PRACTICE_PHOTOS[i % len(PRACTICE_PHOTOS)])()
        side = min(photo.shape[:2])
        img = transform.resize(photo[:side, :side], (size, size), anti_aliasing=True).astype(np.float32)
        gray = rgb2gray(img).astype(np.float32)
        images.append(img.transpose(2, 0, 1))
        grays.append(gray[None])
        sketches.append(feature.canny(gray, sigma=1.5).astype(np.float32)[None])
        masks.append(irregular_mask(size, size, hole_range=(0.1, 0.3), rng=rng).astype(np.float32)[None])
    as_t = lambda a: torch.from_numpy(np.stack(a)).to(device=device, dtype=dtype)  # noqa: E731
    return {"image": as_t(images), "gray": as_t(grays), "sketch": as_t(sketches), "mask": as_t(masks)}


# ---- the student's function inside a network ------------------------------------------------------------

def _pconv_forward(layer, fn, x, mask, check=True):
    stride, padding = layer.stride[0], layer.padding[0]
    bias = layer.bias if layer.bias is not None else x.new_zeros(layer.out_channels)
    return fn(x, mask, layer.weight, bias, stride, padding)


def use_student_partial_conv(net: nn.Module, fn) -> int:
    """Make every non-dilated :class:`~inpaintkit.layers.PartialConv2d` of ``net`` call ``fn(x, mask, weight,
    bias, stride, padding)`` (notebook 02's ``partial_conv2d``) in its forward pass; returns how many. Dilated
    layers (Gs's residual blocks) keep the library's forward: the exercise's function takes no dilation."""
    from .layers import PartialConv2d

    n = 0
    for layer in net.modules():
        if isinstance(layer, PartialConv2d) and tuple(layer.dilation) == (1, 1):
            layer.forward = functools.partial(_pconv_forward, layer, fn)
            n += 1
    return n


def use_student_cfs(net: nn.Module, fn) -> int:
    """Make every full :class:`~inpaintkit.layers.CFSBlock` of ``net`` (input gate, phi and SE all present)
    compute ``fn(block, x)`` (notebook 03's ``cfs_forward``); returns how many. Gi's output layer, which has
    no phi and no SE, keeps the library's forward."""
    from .layers import CFSBlock

    n = 0
    for block in net.modules():
        if isinstance(block, CFSBlock) and block.conv_g is not None and block.se is not None and block.activation:
            block.forward = functools.partial(fn, block)
            n += 1
    return n


# ---- brief training, the student's run beside the library's ---------------------------------------------

def _fit(net: nn.Module, loss_fn, steps: int, lr: float) -> list[float]:
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=(0.0, 0.9))
    losses = []
    for _ in range(steps):
        loss = loss_fn(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _twice(build, patch, loss_fn, steps: int, lr: float, seed: int, device="cpu") -> dict:
    """Train ``build()`` twice from the same seed: once patched with the student's code, once as it is."""
    torch.manual_seed(seed)
    yours = build().double().to(device)
    torch.manual_seed(seed)
    library = build().double().to(device)
    n = patch(yours)
    return {"yours": _fit(yours, loss_fn, steps, lr), "library": _fit(library, loss_fn, steps, lr), "patched": n}


def train_gs_with(partial_conv2d, size: int = 64, width: int = 16, steps: int = 40, lr: float = 1e-3,
                  seed: int = 0, device="cpu") -> dict:
    """Gs (``sketch_generator(width)``) with ``partial_conv2d`` in its non-dilated layers, trained ``steps``
    Adam steps on :func:`practice_batch` to draw the Canny sketch inside the hole, beside the library's Gs.
    The loss is a class-balanced BCE on the hole (edge pixels weighted by the share of non-edge ones, as
    :func:`inpaintkit.losses.balanced_bce`, written here in float64 because that one computes in float32): an
    L1 loss is met within two steps by drawing nothing. Returns ``{"yours": [loss per step], "library": [...],
    "patched": layers}``."""
    from .networks import sketch_generator

    b = practice_batch(size, seed=seed, device=device)
    hole, target = 1 - b["mask"], b["sketch"]
    pos = (target * hole).sum() / hole.sum()                                 # edge share in the hole
    weight = torch.where(target > 0.5, 1 - pos, pos) * hole                  # (N, 1, S, S)

    def loss_fn(gs):
        pred = gs(b["gray"], b["sketch"], b["mask"]).clamp(1e-6, 1 - 1e-6)   # (N, 1, S, S)
        bce = -(target * pred.log() + (1 - target) * (1 - pred).log())
        return (weight * bce).sum() / hole.sum()

    return _twice(lambda: sketch_generator(width), lambda gs: use_student_partial_conv(gs, partial_conv2d),
                  loss_fn, steps, lr, seed, device)


def train_gi_with(cfs_forward, size: int = 64, width: int = 16, steps: int = 40, lr: float = 1e-3,
                  seed: int = 0, device="cpu") -> dict:
    """Gi (``image_generator(width)``, CFS blocks) with ``cfs_forward`` in every CFS block, trained ``steps``
    Adam steps to paint the hole of :func:`practice_batch` (L1 on the hole), beside the library's Gi."""
    from .networks import image_generator

    b = practice_batch(size, seed=seed, device=device)
    hole = 1 - b["mask"]

    def loss_fn(gi):
        pred = gi(b["image"], b["sketch"], b["mask"])                      # (N, 3, S, S)
        return (hole * (pred - b["image"]).abs()).sum() / (3 * hole.sum())

    return _twice(lambda: image_generator(width), lambda gi: use_student_cfs(gi, cfs_forward),
                  loss_fn, steps, lr, seed, device)


def train_stage1_with(gan_step, size: int = 64, width: int = 16, steps: int = 40, lr: float = 1e-3,
                      seed: int = 0, weights=None, device="cpu") -> dict:
    """Stage 1's GAN (Gs, Ds at ``width``) trained ``steps`` steps with the student's ``gan_step`` (and so
    with the student's hinge and feature-matching losses), beside :func:`~inpaintkit.exercises.reference_gan_step`
    with the library's losses. Returns ``{"yours": {"g": [...], "d": [...]}, "library": {...}}``."""
    from .config import Stage1LossWeights
    from .exercises import reference_gan_step
    from .networks import sketch_discriminator, sketch_generator

    b = practice_batch(size, seed=seed, device=device)
    weights = weights or Stage1LossWeights()
    runs = {}
    for who, step in (("yours", gan_step), ("library", reference_gan_step)):
        torch.manual_seed(seed)
        gs, ds = sketch_generator(width).double().to(device), sketch_discriminator(width).double().to(device)
        g_opt = torch.optim.Adam(gs.parameters(), lr=lr, betas=(0.0, 0.9))
        d_opt = torch.optim.Adam(ds.parameters(), lr=lr * 0.1, betas=(0.0, 0.9))
        g_losses, d_losses = [], []
        for _ in range(steps):
            g_loss, d_loss = step(gs, ds, g_opt, d_opt, b["gray"], b["sketch"], b["mask"], weights)
            g_losses.append(float(g_loss))
            d_losses.append(float(d_loss))
        runs[who] = {"g": g_losses, "d": d_losses}
    return runs


class _RandomFeatures(nn.Module):
    """Two frozen random convolutions: features enough for a style loss to act on (random networks carry
    texture statistics; Ulyanov et al. 2016), without loading a VGG."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1234)
        self.w1 = nn.Parameter(torch.randn(16, 3, 3, 3, generator=g) * 0.3, requires_grad=False)
        self.w2 = nn.Parameter(torch.randn(32, 16, 3, 3, generator=g) * 0.1, requires_grad=False)

    def forward(self, x):
        f1 = F.relu(F.conv2d(x, self.w1, padding=1))                         # (N, 16, S, S)
        f2 = F.relu(F.conv2d(F.avg_pool2d(f1, 2), self.w2, padding=1))       # (N, 32, S/2, S/2)
        return [f1, f2]


def train_gi_with_style(style, size: int = 64, width: int = 16, steps: int = 40, lr: float = 1e-3,
                        seed: int = 0, style_weight: float = 50.0, features=None, device="cpu") -> dict:
    """Gi trained ``steps`` Adam steps with L1 + ``style_weight`` x the student's ``style(feats(pred),
    feats(target))`` (Eq. 14's style term; ``features``: a callable image -> list of feature maps, default
    two frozen random convolutions), beside the same with the library's ``style_loss``."""
    from .losses import style_loss
    from .networks import image_generator

    b = practice_batch(size, seed=seed, device=device)
    hole = 1 - b["mask"]
    feats = features or _RandomFeatures().double().to(device)
    runs = {}
    for who, fn in (("yours", style), ("library", style_loss)):
        def loss_fn(gi, fn=fn):
            pred = gi(b["image"], b["sketch"], b["mask"])
            comp = pred * hole + b["image"] * b["mask"]
            l1 = (hole * (pred - b["image"]).abs()).sum() / (3 * hole.sum())
            return l1 + style_weight * fn(feats(comp), feats(b["image"]))

        torch.manual_seed(seed)
        runs[who] = _fit(image_generator(width).double().to(device), loss_fn, steps, lr)
    return runs


def curves_agree(yours, library, rtol: float = 1e-6) -> bool:
    """Whether two loss curves (lists, or dicts of lists) agree step by step within ``rtol``."""
    if isinstance(yours, dict):
        return all(curves_agree(yours[k], library[k], rtol) for k in library)
    a, b = np.asarray(yours, np.float64), np.asarray(library, np.float64)
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and bool(np.allclose(a, b, rtol=rtol, atol=1e-9))


def summary(yours, library, what: str) -> str:
    """One line saying how the student's run went against the library's: first and last loss, and whether the
    two curves agree; where they part, the first step at which they do."""
    a, b = np.asarray(yours, np.float64), np.asarray(library, np.float64)
    line = (f"{what}: yours {a[0]:.4f} -> {a[-1]:.4f}, the library's {b[0]:.4f} -> {b[-1]:.4f} "
            f"over {len(b)} steps")
    if curves_agree(a, b):
        return line + ": the same curve, so your code trains the network exactly as the library's does."
    bad = ~np.isclose(a, b, rtol=1e-6, atol=1e-9) if a.shape == b.shape else np.ones(1, bool)
    return line + f": the curves part at step {int(np.argmax(bad))}. Go back to the check cell above."


def plot(yours, library, ylabel: str, ax=None):
    """The two loss curves on one axis: the library's wide and pale, the student's dashed on top of it."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 2.8))
    ax.plot(library, lw=5, alpha=0.35, color="tab:blue", label="the library's code")
    ax.plot(yours, "k--", lw=1.5, label="your code")
    ax.set_xlabel("Adam step")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax.figure
