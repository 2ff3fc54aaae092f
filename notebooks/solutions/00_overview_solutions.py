"""Solutions to the exercises of notebooks/00_overview.ipynb.

Try the exercises first. Run from the repository root (a few seconds on a CPU):

    .venv/bin/python notebooks/solutions/00_overview_solutions.py

Every answer is computed, then checked with an assert. Conventions: mask 1 = known pixel, 0 = hole.
"""

from dataclasses import replace

import numpy as np
import torch

from inpaintkit.config import get_profile
from inpaintkit.layers import CFSBlock, DilatedResBlock
from inpaintkit.metrics import psnr
from inpaintkit.networks import composite, count_parameters, image_generator, sketch_generator

EDGECONNECT_G = 10.8e6


# ---------------------------------------------------------------------------------------------
# Exercise 1: sizes that are not a multiple of 16.
# The four stride-2 encoder layers halve the map four times and the decoder doubles it four times; a size that
# is not divisible by 16 would come back at another size (60 -> 30 -> 15 -> 8 -> 4 -> 64), so the generator
# refuses it at its entry and says what to do (pad or crop; Inpainter does it for you). A profile is checked when
# it is made (Profile.__post_init__), so a wrong size fails at once, not after minutes of data preparation.
# ---------------------------------------------------------------------------------------------
def exercise1():
    gs = sketch_generator(8)
    try:
        gs(torch.zeros(1, 1, 60, 60), torch.zeros(1, 1, 60, 60), torch.ones(1, 1, 60, 60))
    except ValueError as e:
        print("exercise 1, the generator:", e)
        assert "divisible by 16" in str(e)
    try:
        replace(get_profile("quick"), image_size=60)
    except ValueError as e:
        print("exercise 1, the profile:  ", e)
        assert "multiple of 16" in str(e)


# ---------------------------------------------------------------------------------------------
# Exercise 2: the width at which Gi is EdgeConnect-sized.
# The parameters grow with the square of the width (every convolution is width x width); at 64 Gi has about
# 124 M, so the width for 10.8 M is near 64 * sqrt(10.8 / 124) = 19. Counting confirms it.
# ---------------------------------------------------------------------------------------------
def exercise2():
    counts = {w: count_parameters(image_generator(w)) for w in range(12, 25)}
    best = min(counts, key=lambda w: abs(counts[w] - EDGECONNECT_G))
    print(f"exercise 2: width {best}: {counts[best] / 1e6:.2f} M parameters (EdgeConnect's G: 10.8 M)")
    assert best == 19


# ---------------------------------------------------------------------------------------------
# Exercise 3: Gi's layers that are not CFS blocks.
# Gi's encoder, residual blocks (two CFS layers each) and the first three decoder layers are CFS blocks; the
# last decoder layer, which produces the 3 output channels, is a plain convolution (networks.py: "an output gate
# and SE on 1-3 channels would only rescale the prediction"): a gate per output colour channel adds nothing a
# convolution's weights cannot do, and SE over 3 channels would only rescale R, G, B by image-wide factors.
# ---------------------------------------------------------------------------------------------
def exercise3():
    gi = image_generator(8)
    kinds = {}
    for name, layer, _ in gi.named_layers():
        inner = layer if isinstance(layer, DilatedResBlock) else getattr(layer, "layer", layer)
        kinds[name] = ("residual block of CFS layers" if isinstance(inner, DilatedResBlock)
                       else "CFS" if isinstance(inner, CFSBlock) else type(inner).__name__)
    not_cfs = {k: v for k, v in kinds.items() if "CFS" not in v}
    print("exercise 3: not CFS:", not_cfs)
    assert list(not_cfs) == ["decoder4"]


# ---------------------------------------------------------------------------------------------
# Exercise 4: the composite's PSNR.
# If Gi predicted the ground truth, the composite is the ground truth: MSE 0, PSNR infinite. If it predicted
# zeros, the error is the image itself inside the hole: MSE = (hole share) x mean(I^2 over the hole), so the PSNR
# depends on the hole's size and brightness: 10 log10(1 / MSE). For a mid-grey image (0.5) and a 20 % hole:
# MSE = 0.2 * 0.25 = 0.05, PSNR = 13.0 dB.
# ---------------------------------------------------------------------------------------------
def exercise4():
    image = torch.full((1, 3, 64, 64), 0.5)
    mask = torch.ones(1, 1, 64, 64)
    mask[..., :, : int(64 * 0.2)] = 0                        # 12 of 64 columns: 18.75 % hole
    share = float((mask == 0).float().mean())
    exact = psnr(composite(image, image, mask), image)
    zeros = psnr(composite(torch.zeros_like(image), image, mask), image)
    expected = 10 * np.log10(1 / (share * 0.25))
    print(f"exercise 4: exact prediction -> {float(exact)} dB; zeros in a {share:.1%} hole -> {float(zeros):.2f} dB "
          f"(hand: {expected:.2f})")
    assert torch.isinf(exact).all() and abs(float(zeros) - expected) < 1e-6


if __name__ == "__main__":
    for ex in (exercise1, exercise2, exercise3, exercise4):
        ex()
