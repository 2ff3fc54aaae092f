"""The student's functions trained for real (notebooks 02-05): a right answer gives the library's loss curve, a
wrong one does not, and the layers swapped in are the ones named."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from inpaintkit import practice as P
from inpaintkit.layers import CFSBlock, PartialConv2d
from inpaintkit.losses import gram_matrix, style_loss
from inpaintkit.networks import image_generator, sketch_generator

TINY = {"size": 32, "width": 4, "steps": 3}


def pconv(bias_first=False):
    def fn(x, mask, weight, bias, stride=1, padding=1):
        ones = torch.ones(1, 1, *weight.shape[2:], dtype=x.dtype)
        with torch.no_grad():
            taps = F.conv2d(torch.ones_like(mask), ones, None, stride, padding)
            known = F.conv2d(mask, ones, None, stride, padding)
            new = (known > 0).to(x.dtype)
            scale = taps / known.clamp(min=1) * new
        conv = F.conv2d(x * mask, weight, None, stride, padding)
        if bias_first:
            return (conv + bias.view(1, -1, 1, 1)) * scale, new
        return conv * scale + bias.view(1, -1, 1, 1) * new, new
    return fn


def test_practice_batch():
    b = P.practice_batch(32, n=3, seed=1)
    assert b["image"].shape == (3, 3, 32, 32)
    assert b["mask"].shape == b["sketch"].shape == b["gray"].shape == (3, 1, 32, 32)
    assert all(t.dtype == torch.float64 for t in b.values())
    hole = 1 - b["mask"].mean((1, 2, 3))
    assert ((hole >= 0.1) & (hole <= 0.3)).all() and set(b["mask"].unique().tolist()) == {0.0, 1.0}
    assert torch.equal(b["mask"], P.practice_batch(32, n=3, seed=1)["mask"])       # seeded


def test_the_student_layers_are_the_non_dilated_ones():
    gs = sketch_generator(4)
    expected = sum(1 for m in gs.modules() if isinstance(m, PartialConv2d) and tuple(m.dilation) == (1, 1))
    assert 0 < expected < sum(1 for m in gs.modules() if isinstance(m, PartialConv2d))
    calls = []

    def spy(x, mask, weight, bias, stride, padding):
        calls.append((weight.shape[-1], stride, padding))
        return pconv()(x, mask, weight, bias, stride, padding)

    assert P.use_student_partial_conv(gs, spy) == expected
    gs(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32), torch.ones(1, 1, 32, 32))
    assert len(calls) == expected and calls[0] == (5, 2, 2)                       # encoder1: the paper's 5x5 / 2
    gi = image_generator(4)
    full = [m for m in gi.modules() if isinstance(m, CFSBlock) and m.se is not None and m.conv_g is not None]
    assert P.use_student_cfs(gi, lambda block, x: CFSBlock.forward(block, x)) == len(full) > 0


def test_a_right_partial_conv_trains_gs_like_the_library_and_a_wrong_one_does_not():
    right = P.train_gs_with(pconv(), **TINY)
    assert P.curves_agree(right["yours"], right["library"]) and len(right["yours"]) == 3
    wrong = P.train_gs_with(pconv(bias_first=True), **TINY)
    assert not P.curves_agree(wrong["yours"], wrong["library"])
    assert "curves part at step 0" in P.summary(wrong["yours"], wrong["library"], "L1")
    assert "the same curve" in P.summary(right["yours"], right["library"], "L1")


def test_cfs_in_gi():
    right = P.train_gi_with(lambda block, x: CFSBlock.forward(block, x), **TINY)
    assert P.curves_agree(right["yours"], right["library"])

    def no_se(block, x):
        g = torch.sigmoid(block.conv_g(x))
        return torch.sigmoid(block.conv_G(x)) * F.leaky_relu(block.conv_f(g * x), 0.2)
    wrong = P.train_gi_with(no_se, **TINY)
    assert not P.curves_agree(wrong["yours"], wrong["library"])


def test_gan_step_and_style_in_training():
    from inpaintkit.exercises import reference_gan_step

    gan = P.train_stage1_with(reference_gan_step, **TINY)
    assert P.curves_agree(gan["yours"], gan["library"]) and set(gan["yours"]) == {"g", "d"}
    style = P.train_gi_with_style(style_loss, **TINY)
    assert P.curves_agree(style["yours"], style["library"])
    squared = P.train_gi_with_style(lambda a, b: sum(F.mse_loss(gram_matrix(x), gram_matrix(y)) for x, y in zip(a, b)),
                                    **TINY)
    assert not P.curves_agree(squared["yours"], squared["library"])


@pytest.mark.parametrize("a, b, same", [([1.0, 0.5], [1.0, 0.5 + 1e-9], True), ([1.0, 0.5], [1.0, 0.6], False),
                                        ([1.0], [1.0, 0.5], False), ([np.nan], [np.nan], False)])
def test_curves_agree(a, b, same):
    assert P.curves_agree(a, b) is same
