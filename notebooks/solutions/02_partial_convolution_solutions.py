"""Solutions to the exercises of notebooks/02_partial_convolution.ipynb.

Try the exercises first. Run from the repository root:

    .venv/bin/python notebooks/solutions/02_partial_convolution_solutions.py

Every answer is worked out by hand in the comments and then checked with an assert.
Conventions: mask 1 = known pixel, 0 = hole.
"""

import numpy as np
import torch
import torch.nn.functional as F

from inpaintkit.layers import PartialConv2d
from inpaintkit.networks import sketch_generator
from inpaintkit.teaching import mask_trace, partial_conv2d_steps, square_hole_mask

# The hand example of the notebook.
x = np.array([[4, 4, 5, 5, 6],
              [4, 4, 5, 5, 6],
              [3, 4, 4, 5, 5],
              [3, 3, 4, 4, 5],
              [2, 3, 3, 4, 4]], dtype=float)
m = np.ones((5, 5))
m[:3, :3] = 0
W, b = np.ones((3, 3)), 1.0


# ---------------------------------------------------------------------------------------------
# Exercise 1: a border window by hand.
# The window centred on (0, 4) covers rows -1..1 and columns 3..5: its in-image taps are rows 0-1,
# columns 3-4 (4 taps), holding 5, 6, 5, 6, all known, so W^T(x*m) = 22.
#   outside: scale = 4 / 4 = 1              -> x' = 22 * 1 + 1    = 23
#   known:   sum(m) = 4 + 5 padded = 9      -> x' = 22 * 9/9 + 1  = 23
#   hole:    sum(m) = 4, scale = 9 / 4      -> x' = 22 * 2.25 + 1 = 50.5  (brightens an image border)
# With pixel (0, 4) a hole, 3 known taps remain, holding 5, 5, 6: W^T(x*m) = 16.
#   outside: 4 / 3     -> 16 * 4/3 + 1 = 22.333
#   known:   9 / 8     -> 16 * 9/8 + 1 = 19
#   hole:    9 / 3 = 3 -> 16 * 3 + 1   = 49
# ---------------------------------------------------------------------------------------------
def exercise1():
    m2 = np.ones((5, 5))
    m2[0, 4] = 0
    expected = {"outside": (23, 22 + 1 / 3), "known": (23, 19), "hole": (50.5, 49)}
    for border, (no_hole, with_hole) in expected.items():
        a = partial_conv2d_steps(x, m, W, b, padding=1, border=border)["out"][0, 4]
        c = partial_conv2d_steps(x, m2, W, b, padding=1, border=border)["out"][0, 4]
        print(f"exercise 1, border={border!r}: x'(0, 4) = {a:.3f} without, {c:.3f} with a hole on (0, 4)")
        assert np.isclose(a, no_hole) and np.isclose(c, with_hole)


# ---------------------------------------------------------------------------------------------
# Exercise 2: a 1x1 kernel.
# The window is one pixel: taps = 1 and sum(m) = m, so scale = m (1 where known, 0 in the hole)
# and m' = m. Eq. 1 becomes x' = (conv1x1(x * m) + b) * m: a 1x1 partial convolution never
# fills anything and the hole never shrinks. A Gs built only of 1x1 layers would carry the
# hole, unchanged (only subsampled by the strides), to its output, which would be 0 there.
# ---------------------------------------------------------------------------------------------
def exercise2():
    torch.manual_seed(0)
    layer = PartialConv2d(3, 4, 1)
    xt = torch.rand(2, 3, 8, 8)
    mt = (torch.rand(2, 1, 8, 8) > 0.4).float()
    scale, new_mask = layer.mask_update(mt)
    assert torch.equal(scale, mt) and torch.equal(new_mask, mt)
    with torch.no_grad():
        out, _ = layer(xt, mt)
        expected = (F.conv2d(xt * mt, layer.weight) + layer.bias.view(1, -1, 1, 1)) * mt
    assert torch.allclose(out, expected, atol=1e-6)
    print("exercise 2: 1x1 partial conv == (conv1x1(x * m) + b) * m, and m' == m")


# ---------------------------------------------------------------------------------------------
# Exercise 3: padding as hole (Liu et al.'s partial-convolution-based padding).
# Count sum(m) with the mask zero-padded (padding = hole) and keep Kx*Ky as the numerator.
# For the box blur of section 4 the border frame disappears: a border window now outputs the
# mean of its in-image pixels instead of (in-image sum) / 25.
# ---------------------------------------------------------------------------------------------
class PaddingAsHolePartialConv2d(PartialConv2d):
    """PartialConv2d whose zero padding counts as hole: scale = Kx*Ky / sum(m over the padded window)."""

    def mask_update(self, mask):
        with torch.no_grad():
            ones = self._ones.to(mask.dtype)
            known = F.conv2d(mask, ones, None, self.stride, self.padding, self.dilation)  # padding = 0 = hole
            new_mask = (known > 0.5).to(mask.dtype)
            scale = ones.numel() / known.clamp(min=1.0) * new_mask
        return scale, new_mask


def exercise3():
    layer = PaddingAsHolePartialConv2d(1, 1, 3, padding=1).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.fill_(b)
        out, new_mask = layer(torch.from_numpy(x)[None, None], torch.from_numpy(m)[None, None])
    ref = partial_conv2d_steps(x, m, W, b, padding=1, border="hole")
    assert np.allclose(out[0, 0].numpy(), ref["out"]) and (new_mask[0, 0].numpy() == ref["new_mask"]).all()

    # The blur of section 4 at 64x64: error on the outermost ring of pixels (no hole involved).
    S = 64
    u = np.linspace(0, 1, S)
    img = torch.tensor(0.35 + 0.3 * u[None, :] + 0.15 * np.sin(2 * np.pi * u)[:, None], dtype=torch.float32)[None, None]
    full = torch.ones_like(img)
    ours, liu = PartialConv2d(1, 1, 5, padding=2, bias=False), PaddingAsHolePartialConv2d(1, 1, 5, padding=2, bias=False)
    with torch.no_grad():
        for layer in (ours, liu):
            layer.weight.fill_(1 / 25)
        border = torch.ones(S, S, dtype=torch.bool)
        border[2:-2, 2:-2] = False
        e_ours = float((ours(img, full)[0][0, 0] - img[0, 0]).abs()[border].mean())
        e_liu = float((liu(img, full)[0][0, 0] - img[0, 0]).abs()[border].mean())
    print(f"exercise 3: mean |blur - image| on the 2-px image border: ours {e_ours:.3f}, padding-as-hole {e_liu:.3f}")
    assert e_liu < e_ours / 3


# ---------------------------------------------------------------------------------------------
# Exercise 4: dilation.
# A hole pixel i stays a hole only if every tap of its window is a hole. With dilation d the
# 3x3 taps along one axis are i-d, i, i+d: a 1-D hole of width w survives iff w >= 2d + 1 and
# then has width w - 2d. Dilation 1: the narrowest surviving hole is 3 px; dilation 2: 5 px.
# ---------------------------------------------------------------------------------------------
def exercise4():
    for d, narrowest in [(1, 3), (2, 5)]:
        layer = PartialConv2d(1, 1, 3, padding=d, dilation=d)
        survives = [w for w in range(1, 12) if (layer.mask_update(square_hole_mask(16, w))[1] == 0).any()]
        print(f"exercise 4: dilation {d}: narrowest surviving hole {survives[0]} px (hand: {narrowest})")
        assert survives[0] == narrowest
        remaining = int((layer.mask_update(square_hole_mask(16, 9))[1][0, 0, 8] == 0).sum())
        assert remaining == 9 - 2 * d


# ---------------------------------------------------------------------------------------------
# Exercise 5: thickness, not area.
# Along one axis, a hole w pixels wide leaves the number of windows that fit entirely inside it:
# at best alignment floor((w - 5) / 2) + 1 after encoder1 (5x5, stride 2), then
# floor((w_k - 3) / 2) + 1 after each 3x3 stride-2 layer. One cell after encoder4 needs
# w3 >= 3, w2 >= 7, w1 >= 15, w >= 33 (34 when the hole's position is unlucky with the stride).
# A full-width stripe of that height is 13 % of a 256x256 image, a square of that side under 2 %:
# area does not decide, the narrowest direction does.
# ---------------------------------------------------------------------------------------------
def exercise5():
    size, gs = 256, sketch_generator(1)

    def survives_encoder4(mask):
        return bool((mask_trace(gs, mask)[3][1] == 0).any())

    def stripe(h):
        mk = torch.ones(1, 1, size, size)
        top = (size - h) // 2
        mk[..., top:top + h, :] = 0
        return mk

    h = next(h for h in range(1, size) if survives_encoder4(stripe(h)))
    s = next(s for s in range(1, size) if survives_encoder4(square_hole_mask(size, s)))
    print(f"exercise 5: thinnest stripe surviving encoder4: {h} px ({h / size:.1%} of the image); "
          f"smallest square: {s} px ({s * s / size**2:.1%})")
    assert 33 <= h <= 34 and h == s


# ---------------------------------------------------------------------------------------------
# Exercise 6: taps, not weights.
# Eq. 1 scales by (number of taps) / (number of known taps): it assumes every tap weighs the
# same. With a Gaussian, a window whose missing taps sit at its rim (small weights) is scaled
# up as much as one missing central tap, so just outside the hole the partial conv OVERshoots;
# inside the hole, where the few known taps sit at the rim, it UNDERshoots. For a flat image
# the exact factor is sum(W) / sum(W * m) (a second, weighted mask convolution per output
# channel: the cost Eq. 1 avoids). A learned layer lives with Eq. 1 because its weights are
# trained with that scaling, and the following layers see and correct the result.
# ---------------------------------------------------------------------------------------------
def exercise6():
    S = 64
    img = torch.full((1, 1, S, S), 0.5)
    hole = square_hole_mask(S, 16)                     # rows/cols 24..39
    g = np.exp(-0.5 * (np.arange(-2, 3) / 1.2) ** 2)
    gauss = torch.tensor(np.outer(g, g) / np.outer(g, g).sum(), dtype=torch.float32)[None, None]
    layer = PartialConv2d(1, 1, 5, padding=2, bias=False)
    with torch.no_grad():
        layer.weight.copy_(gauss)
        out, new_mask = layer(img * hole, hole)
        exact = F.conv2d(img * hole, gauss, padding=2) / F.conv2d(hole, gauss, padding=2).clamp(min=1e-8)
    outside, inside = float(out[0, 0, 32, 22]), float(out[0, 0, 32, 25])
    print(f"exercise 6: flat image 0.5, Gaussian: Eq. 1 gives {outside:.3f} 2 px outside the hole, {inside:.3f} "
          f"1 px inside; the weighted factor gives {float(exact[0, 0, 32, 22]):.3f} and {float(exact[0, 0, 32, 25]):.3f}")
    assert outside > 0.5 + 1e-3 and inside < 0.5 - 1e-3
    assert torch.allclose(exact[new_mask > 0], torch.tensor(0.5), atol=1e-5)


if __name__ == "__main__":
    for ex in (exercise1, exercise2, exercise3, exercise4, exercise5, exercise6):
        ex()
