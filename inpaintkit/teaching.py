"""Small helpers for notebook 02 (partial convolution, Eq. 1-2), kept here so they are tested.

* :func:`partial_conv2d_steps` -- Eq. 1 and Eq. 2 on one single-channel image, in plain numpy,
  returning every intermediate step (x * m, window sums, scale, W^T(x * m), output, new mask),
  so a student can check each number by hand against :class:`inpaintkit.layers.PartialConv2d`.
* :func:`square_hole_mask`, :func:`hole_fraction`, :func:`mask_trace`, :func:`vanishing_layer` --
  follow a hole through the layers of a generator (how it shrinks, where it disappears).
* :func:`conv_cost_table` -- a few ``torch.utils.benchmark`` timings of PartialConv2d against
  nn.Conv2d (forward + backward); ``benchmarks/bench_layers.py`` is the full measurement.

Conventions: ``mask`` is the paper's M, 1 = known pixel, 0 = hole.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .layers import PartialConv2d

__all__ = [
    "BORDERS", "partial_conv2d_steps", "square_hole_mask", "hole_fraction", "mask_trace", "vanishing_layer",
    "conv_cost_table",
]


BORDERS = ("outside", "known", "hole")
"""How the zero padding around the image enters Eq. 1 (see :func:`partial_conv2d_steps`)."""


def partial_conv2d_steps(x, mask, weight, bias: float = 0.0, padding: int = 0, stride: int = 1,
                         border: str = "outside") -> dict:
    """Eq. 1 and Eq. 2 for one channel, one filter, written out step by step in numpy.

    x (H, W) features, mask (H, W) with 1 = known and 0 = hole, weight (Kx, Ky), bias a number.
    The image is zero-padded by ``padding`` on every side. ``border`` says what a padded tap is:

    * ``"outside"`` -- neither known nor hole (``PartialConv2d``'s reading): Kx*Ky and sum(m) both
      count only the window's in-image taps. An all-ones mask gives the plain convolution, an
      all-zeros mask gives zeros.
    * ``"known"`` -- padding counts as known pixels (sum(m) includes them, Kx*Ky stays).
    * ``"hole"`` -- padding counts as hole (Liu et al.'s partial-convolution-based padding):
      border windows of an all-ones mask are scaled up too.

    Returns a dict of numpy arrays, one per step of Eq. 1-2 (output size H' x W')::

        x_masked    (H+2p, W+2p)  x * m, padded
        mask_padded (H+2p, W+2p)  m, padded with 1 (known) or 0 (hole, outside)
        taps        (H', W')      Kx*Ky, or the in-image taps per window with border="outside"
        window_sum  (H', W')      sum(m) over every window
        scale       (H', W')      taps / sum(m), 0 where sum(m) = 0
        conv        (H', W')      W^T (x * m)  (cross-correlation, as torch)
        out         (H', W')      conv * scale + b where sum(m) > 0, else 0     (Eq. 1)
        new_mask    (H', W')      1 where sum(m) > 0, else 0                    (Eq. 2)

    This is the slow, obvious version (sliding windows over a padded array); the library's layer
    computes the same with two ``F.conv2d`` calls.
    """
    x = np.asarray(x, dtype=np.float64)
    mask = np.asarray(mask, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if x.ndim != 2 or mask.shape != x.shape or weight.ndim != 2:
        raise ValueError(
            f"expected x (H, W), mask of the same shape and weight (Kx, Ky); got x {x.shape}, "
            f"mask {mask.shape}, weight {weight.shape}. Pass one channel (e.g. x[0, 0]) at a time."
        )
    if not np.isin(mask, (0.0, 1.0)).all():
        raise ValueError("mask must be binary (1 = known, 0 = hole); threshold it first, e.g. (mask > 0.5).")
    if border not in BORDERS:
        raise ValueError(f"border={border!r}; choose one of {', '.join(BORDERS)}.")
    kx, ky = weight.shape

    def windows(a):  # every Kx x Ky window of a padded array, then every stride-th one
        return np.lib.stride_tricks.sliding_window_view(a, (kx, ky))[::stride, ::stride]  # (H', W', Kx, Ky)

    x_masked = np.pad(x * mask, padding, constant_values=0.0)
    mask_padded = np.pad(mask, padding, constant_values=1.0 if border == "known" else 0.0)
    if border == "outside":
        taps = windows(np.pad(np.ones_like(mask), padding)).sum(axis=(2, 3))    # in-image taps, (H', W')
    else:
        taps = np.full(windows(mask_padded).shape[:2], float(kx * ky))          # Kx*Ky everywhere
    window_sum = windows(mask_padded).sum(axis=(2, 3))                           # sum(m), (H', W')
    has_known = window_sum > 0
    scale = np.where(has_known, taps / np.maximum(window_sum, 1), 0.0)          # Kx*Ky / sum(m), 0 if empty
    conv = (windows(x_masked) * weight).sum(axis=(2, 3))                         # W^T (x * m)
    out = np.where(has_known, conv * scale + bias, 0.0)                          # Eq. 1
    new_mask = has_known.astype(np.float64)                                      # Eq. 2
    return {"x_masked": x_masked, "mask_padded": mask_padded, "taps": taps, "window_sum": window_sum,
            "scale": scale, "conv": conv, "out": out, "new_mask": new_mask}


def square_hole_mask(size: int, hole: int) -> torch.Tensor:
    """A (1, 1, size, size) mask, 1 = known, with a centred square hole of side ``hole`` (0 = no hole)."""
    if not 0 <= hole <= size:
        raise ValueError(f"hole side {hole} must lie between 0 and the image size {size}.")
    mask = torch.ones(1, 1, size, size)
    top = (size - hole) // 2
    mask[..., top:top + hole, top:top + hole] = 0.0
    return mask


def hole_fraction(mask) -> float:
    """Share of hole pixels (mask == 0) in a mask, 1 = known."""
    mask = torch.as_tensor(mask)
    return float((mask == 0).float().mean())


@torch.no_grad()
def mask_trace(generator: nn.Module, mask: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """``(layer name, updated mask)`` after every layer of a PartialConv generator, in forward order.

    mask (N, 1, H, W), 1 = known. The mask path of Eq. 2 does not depend on the weights or on the
    features, so the generator is fed zeros; any width gives the same trace.
    """
    if getattr(generator, "block", None) != "partial":
        raise ValueError("mask_trace needs a generator built from partial convolutions (e.g. sketch_generator()); "
                         f"this one uses {getattr(generator, 'block', type(generator).__name__)!r} blocks.")
    n, _, h, w = mask.shape
    x = torch.zeros(n, generator.in_channels, h, w)
    trace: list = []
    generator.features(x, mask, trace=trace)
    return trace


def vanishing_layer(trace: list[tuple[str, torch.Tensor]]) -> int | None:
    """Index (into ``trace``) of the first layer whose updated mask has no hole left, or None."""
    for i, (_, m) in enumerate(trace):
        if bool((m > 0).all()):
            return i
    return None


def conv_cost_table(sizes=(32, 64), channels: int = 16, kernel_size: int = 3, batch: int = 4,
                    hole: float = 0.25, min_run_time: float = 0.2, device: str = "cpu") -> list[dict]:
    """Forward + backward time of PartialConv2d and of nn.Conv2d with the same shape, per image size.

    Returns one dict per size: ``size``, ``conv_ms``, ``partial_ms`` (medians from
    ``torch.utils.benchmark.Timer.blocked_autorange``) and ``ratio`` = partial / conv. The mask has a
    centred square hole covering about ``hole`` of the image. Numbers depend on the machine: report
    them, never assert them.
    """
    from torch.utils.benchmark import Timer

    rows = []
    torch.manual_seed(0)
    for size in sizes:
        partial = PartialConv2d(channels, channels, kernel_size=kernel_size, padding=kernel_size // 2).to(device)
        conv = nn.Conv2d(channels, channels, kernel_size=kernel_size, padding=kernel_size // 2).to(device)
        x = torch.rand(batch, channels, size, size, device=device, requires_grad=True)
        mask = square_hole_mask(size, round(size * hole ** 0.5)).expand(batch, 1, size, size).to(device)
        env = {"conv": conv, "partial": partial, "x": x, "mask": mask}
        t_conv = Timer("conv(x).sum().backward()", globals=env).blocked_autorange(min_run_time=min_run_time)
        t_part = Timer("partial(x, mask)[0].sum().backward()", globals=env).blocked_autorange(
            min_run_time=min_run_time)
        rows.append({"size": size, "conv_ms": t_conv.median * 1e3, "partial_ms": t_part.median * 1e3,
                     "ratio": t_part.median / t_conv.median})
    return rows
