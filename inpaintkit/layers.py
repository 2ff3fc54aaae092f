"""The paper's two layers and the residual blocks built from them (Section 3.1-3.2).

* :class:`PartialConv2d` -- Eq. 1 (renormalised masked convolution) and Eq. 2 (mask update).
* :class:`CFSBlock` -- Comprehensive Feature Selection: Eq. 3-5 (input gate g, output gate G,
  gated features f) followed by squeeze-and-excitation, Eq. 6-8 (:class:`SqueezeExcitation`).
* :func:`make_block` / :class:`DilatedResBlock` -- the layers and dilated residual blocks the
  generators are built from, one uniform ``(x, mask) -> (y, mask')`` interface for every kind
  (``partial`` in Gs, ``cfs`` in Gi, and the ablation kinds of notebook 03).

Conventions: tensors are NCHW float; ``mask`` is the paper's M, shape (N, 1, H, W),
1 = known pixel, 0 = hole.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LEAKY_SLOPE", "check_mask", "check_input", "PartialConv2d", "SqueezeExcitation", "CFSBlock", "BLOCK_KINDS",
    "PartialConvBlock", "MaskFreeBlock", "make_block", "DilatedResBlock",
]

LEAKY_SLOPE = 0.2  # phi in Eq. 5 and every hidden layer (Section 3.1)


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def check_mask(mask: torch.Tensor, like: torch.Tensor, check_values: bool = True) -> None:
    """Raise a ValueError naming the problem if ``mask`` is not a binary (N, 1, H, W) mask for ``like``."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a torch.Tensor of shape (N, 1, H, W), got {type(mask).__name__}.")
    n, _, h, w = like.shape
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != n or mask.shape[2:] != (h, w):
        raise ValueError(
            f"mask has shape {tuple(mask.shape)}; expected ({n}, 1, {h}, {w}) to match the input "
            f"{tuple(like.shape)}. Pass one single-channel mask per image (1 = known, 0 = hole)."
        )
    if check_values and bool(((mask != 0) & (mask != 1)).any()):
        raise ValueError(
            "mask must be binary (1 = known pixel, 0 = hole); it holds other values. "
            "Threshold it first, e.g. mask = (mask > 0.5).float()."
        )


def check_input(x: torch.Tensor, channels: int, what: str = "input") -> None:
    """Raise a ValueError if ``x`` is not an (N, channels, H, W) tensor."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != channels:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{what} must be a tensor of shape (N, {channels}, H, W); got {shape}.")


class PartialConv2d(nn.Conv2d):
    """Partial convolution, Eq. 1 (output) and Eq. 2 (mask update), after Liu et al. [9].

    For every sliding window with filter weights W, bias b, features x and mask window m::

        x' = W^T (x * m) * (Kx*Ky / sum(m)) + b    if sum(m) > 0        (Eq. 1)
        x' = 0                                     otherwise
        m' = 1 if sum(m) > 0 else 0                                     (Eq. 2)

    Our reading (docs/paper_reading.md): one single-channel mask shared by all input channels; the bias is
    added after the scaling. At the image border the zero padding is *outside the image*,
    neither known nor hole: Kx*Ky and sum(m) both count only the window's in-image taps. In the
    interior that is exactly Eq. 1; at the border it makes an all-ones mask give exactly the
    plain ``nn.Conv2d`` and an all-zeros mask give zero output and a zero mask. (Liu et al.'s
    later "partial convolution based padding" instead renormalises border windows of an
    all-ones mask too.) The mask convolutions have one channel, run once per call and carry no
    gradient.

    ``forward(x, mask) -> (out, new_mask)`` with x (N, C_in, H, W), mask (N, 1, H, W).
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, bias=True):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, bias=bias)
        kh, kw = self.kernel_size
        self.register_buffer("_ones", torch.ones(1, 1, kh, kw), persistent=False)

    def mask_update(self, mask: torch.Tensor):
        """Return ``(scale, new_mask)``: Kx*Ky/sum(m) where sum(m) > 0 else 0 (Eq. 1), and Eq. 2.

        Both counts are over the window's in-image taps (see the class docstring).
        """
        with torch.no_grad():
            ones = self._ones.to(mask.dtype)
            conv = lambda t: F.conv2d(t, ones, None, self.stride, self.padding, self.dilation)  # noqa: E731
            taps = conv(torch.ones_like(mask[:1]))                   # (1, 1, H', W') Kx*Ky in the image
            known = conv(mask)                                       # (N, 1, H', W') sum(m)
            new_mask = (known > 0.5).to(mask.dtype)                  # Eq. 2
            scale = taps / known.clamp(min=1.0) * new_mask           # Eq. 1's factor, 0 if empty
        return scale, new_mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor, check: bool = True):
        if check:
            check_input(x, self.in_channels, "PartialConv2d input")
            check_mask(mask, x)
        scale, new_mask = self.mask_update(mask)
        out = F.conv2d(x * mask, self.weight, None, self.stride, self.padding, self.dilation)  # W^T (x * m)
        if self.bias is None:
            return out * scale, new_mask                                 # (N, C_out, H', W')
        # bias after scaling, 0 in empty windows; addcmul fuses the multiply and the add
        return torch.addcmul(self.bias.view(1, -1, 1, 1) * new_mask, out, scale), new_mask


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation [4], Eq. 6-8, with reduction ratio r (16 in the paper).

    z_c = mean over H x W of i_c                      (Eq. 6)
    s   = sigmoid(W2 relu(W1 z))                      (Eq. 7), W1: C/r x C, W2: C x C/r
    o_c = s_c * i_c                                   (Eq. 8)
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.fc1 = nn.Linear(channels, hidden)   # W1
        self.fc2 = nn.Linear(hidden, channels)   # W2

    def weights(self, i: torch.Tensor) -> torch.Tensor:
        """The channel weights s of Eq. 7, shape (N, C)."""
        z = i.mean(dim=(2, 3))                              # (N, C)   Eq. 6
        return torch.sigmoid(self.fc2(F.relu(self.fc1(z))))  # (N, C)   Eq. 7

    def forward(self, i: torch.Tensor) -> torch.Tensor:
        s = self.weights(i)
        return i * s[:, :, None, None]                      # (N, C, H, W)   Eq. 8


class CFSBlock(nn.Module):
    """Comprehensive Feature Selection block, Eq. 3-8 (Section 3.2, Fig. 3).

        g = sigmoid(conv_g(x))                 (Eq. 3)  input gate: x's channels and size
        G = sigmoid(conv_G(x))                 (Eq. 4)  output gate: the output's channels and stride
        f = G * LeakyReLU_0.2(conv_f(g * x))   (Eq. 5)
        o = SE_r(f)                            (Eq. 6-8)

    ``input_gate`` and ``squeeze_excitation`` switch parts off for the ablation of notebook 03:
    both off is Yu et al.'s gated convolution; ``activation=False`` drops phi (output layers).

    Initialisation (not in the paper): the biases of conv_g, conv_G and the SE's W2 start at
    ``GATE_BIAS_INIT`` = 2, so every gate starts open (sigmoid(2) = 0.88) as highway networks'
    gates do. With zero biases each gate starts at 0.5 and Gi's 20+ stacked, spectral-normed layers
    pass almost nothing (docs/paper_reading.md, "The layers", has the measurement).
    """

    GATE_BIAS_INIT = 2.0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 reduction=16, input_gate=True, squeeze_excitation=True, activation=True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        k, p, d = _pair(kernel_size), _pair(padding), _pair(dilation)
        # The input gate keeps x's size: "same" padding for its own (stride-1) window.
        same = tuple(di * (ki - 1) // 2 for ki, di in zip(k, d))
        self.conv_g = (nn.Conv2d(in_channels, in_channels, kernel_size=k, stride=1, padding=same, dilation=d)
                       if input_gate else None)
        self.conv_G = nn.Conv2d(in_channels, out_channels, kernel_size=k, stride=stride, padding=p, dilation=d)
        self.conv_f = nn.Conv2d(in_channels, out_channels, kernel_size=k, stride=stride, padding=p, dilation=d)
        self.se = SqueezeExcitation(out_channels, reduction) if squeeze_excitation else None
        self.activation = activation
        for gate in (self.conv_g, self.conv_G, self.se.fc2 if self.se is not None else None):
            if gate is not None:
                nn.init.constant_(gate.bias, self.GATE_BIAS_INIT)

    def forward_with_gates(self, x: torch.Tensor):
        """Return ``(o, gates)`` with gates = {"g": (N,C_in,H,W), "G": (N,C_out,H',W'), "s": (N,C_out)}."""
        gates = {}
        G = torch.sigmoid(self.conv_G(x))                      # (N, C_out, H', W')  Eq. 4
        gates["G"] = G
        if self.conv_g is not None:
            g = torch.sigmoid(self.conv_g(x))                  # (N, C_in, H, W)     Eq. 3
            gates["g"] = g
            x = g * x
        f = self.conv_f(x)                                     # (N, C_out, H', W')
        if self.activation:
            f = F.leaky_relu(f, LEAKY_SLOPE)
        f = G * f                                              # Eq. 5
        if self.se is not None:
            s = self.se.weights(f)                             # (N, C_out)          Eq. 6-7
            gates["s"] = s
            f = f * s[:, :, None, None]                        # Eq. 8
        return f, gates

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_gates(x)[0]


# --------------------------------------------------------------------------------------------
# Generator building blocks: every kind takes and returns (x, mask) so that one generator
# class serves Gs (PartialConv), Gi (CFS) and the ablation variants of notebook 03.
# --------------------------------------------------------------------------------------------

BLOCK_KINDS = ("partial", "cfs", "gated_input", "gated", "conv")
"""partial: PartialConv2d; cfs: full CFS (Eq. 3-8); gated_input: CFS without SE (Eq. 3-5);
gated: Yu et al.'s gated convolution (Eq. 4-5 without g); conv: plain convolution."""


class PartialConvBlock(nn.Module):
    """PartialConv2d followed by LeakyReLU(0.2) (no activation for an output layer)."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 activation=True):
        super().__init__()
        self.conv = PartialConv2d(in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=padding,
                                  dilation=dilation)
        self.activation = activation

    def forward(self, x, mask):
        # Shapes and values are checked once at the generator's entry; inner masks are ours.
        y, mask = self.conv(x, mask, check=False)
        return (F.leaky_relu(y, LEAKY_SLOPE) if self.activation else y), mask


class MaskFreeBlock(nn.Module):
    """A block that ignores the mask (plain conv or any CFS variant); the mask passes through as None."""

    def __init__(self, kind, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 activation=True, reduction=16):
        super().__init__()
        self.kind = kind
        if kind == "conv":
            self.layer = nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=stride,
                                   padding=padding, dilation=dilation)
        else:
            self.layer = CFSBlock(in_channels, out_channels, kernel_size=kernel_size, stride=stride,
                                  padding=padding, dilation=dilation, reduction=reduction,
                                  input_gate=kind in ("cfs", "gated_input"),
                                  squeeze_excitation=kind == "cfs" and activation,
                                  activation=activation)
        self.activation = activation

    def forward(self, x, mask=None):
        y = self.layer(x)
        if self.kind == "conv" and self.activation:
            y = F.leaky_relu(y, LEAKY_SLOPE)
        return y, None


def make_block(kind: str, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
               padding: int = 0, dilation: int = 1, activation: bool = True) -> nn.Module:
    """Build one generator layer of the given kind (see :data:`BLOCK_KINDS`)."""
    if kind == "partial":
        return PartialConvBlock(in_channels, out_channels, kernel_size=kernel_size, stride=stride, padding=padding,
                                dilation=dilation, activation=activation)
    if kind in BLOCK_KINDS:
        return MaskFreeBlock(kind, in_channels, out_channels, kernel_size=kernel_size, stride=stride,
                             padding=padding, dilation=dilation, activation=activation)
    raise ValueError(f"Unknown block kind {kind!r}; choose one of {', '.join(BLOCK_KINDS)}.")


class DilatedResBlock(nn.Module):
    """Dilated residual block: y = x + B2(B1(x)), B1 a 3x3 layer with dilation d and LeakyReLU,
    B2 a 3x3 layer with dilation 1 and no activation (as EdgeConnect's, without its norm).

    Gs uses 4 of these with PartialConv (``kind="partial"``), Gi 8 with CFS (``kind="cfs"``).
    With partial convolutions the updated mask of B2 is returned.
    """

    def __init__(self, kind: str, channels: int, dilation: int = 2):
        super().__init__()
        self.block1 = make_block(kind, channels, channels, kernel_size=3, padding=dilation, dilation=dilation)
        self.block2 = make_block(kind, channels, channels, kernel_size=3, padding=1, activation=False)

    def forward(self, x, mask=None):
        y, m = self.block1(x, mask)
        y, m = self.block2(y, m)
        return x + y, m
