"""inpaintkit.teaching: the numpy step-by-step Eq. 1-2 and the hole-tracing helpers of notebook 02.

Expected values are worked out by hand in the comments; the numpy steps are compared with the
library's PartialConv2d (two independent implementations: sliding windows vs F.conv2d).
"""

import numpy as np
import pytest
import torch

from inpaintkit.layers import PartialConv2d
from inpaintkit.networks import image_generator, sketch_generator
from inpaintkit.teaching import (
    conv_cost_table,
    hole_fraction,
    mask_trace,
    partial_conv2d_steps,
    square_hole_mask,
    vanishing_layer,
)


def test_steps_by_hand_one_window():
    # 3x3 image 1..9, the centre pixel is a hole, all-ones 3x3 filter, bias 0.5, no padding:
    # sum(m) = 8, scale = 9/8, W^T(x*m) = 45 - 5 = 40, x' = 40 * 9/8 + 0.5 = 45.5, m' = 1.
    x = np.arange(1, 10).reshape(3, 3)
    m = np.ones((3, 3))
    m[1, 1] = 0
    s = partial_conv2d_steps(x, m, np.ones((3, 3)), bias=0.5)
    assert s["window_sum"].tolist() == [[8.0]]
    assert s["scale"].tolist() == [[9 / 8]]
    assert s["conv"].tolist() == [[40.0]]
    assert s["out"].tolist() == [[45.5]]
    assert s["new_mask"].tolist() == [[1.0]]
    assert s["x_masked"][1, 1] == 0 and s["x_masked"].sum() == 40


def test_border_readings_by_hand():
    # 2x2 image of ones, no hole, 3x3 ones filter, padding 1: each window holds the 4 pixels.
    x, m, w = np.ones((2, 2)), np.ones((2, 2)), np.ones((3, 3))
    outside = partial_conv2d_steps(x, m, w, padding=1)
    # Padding outside the image: 4 in-image taps, sum(m) = 4, scale 1, output = plain conv = 4.
    assert outside["taps"].tolist() == [[4, 4], [4, 4]]
    assert outside["scale"].tolist() == [[1, 1], [1, 1]]
    assert outside["out"].tolist() == [[4, 4], [4, 4]]
    known = partial_conv2d_steps(x, m, w, padding=1, border="known")
    # Padding known: sum(m) = 9, scale 9/9 = 1, also the plain conv.
    assert known["window_sum"].tolist() == [[9, 9], [9, 9]]
    assert known["out"].tolist() == [[4, 4], [4, 4]]
    hole = partial_conv2d_steps(x, m, w, padding=1, border="hole")
    # Padding as hole (Liu et al.): sum(m) = 4, scale 9/4, output 9 = what an endless image of ones gives.
    assert hole["window_sum"].tolist() == [[4, 4], [4, 4]]
    assert hole["scale"].tolist() == [[2.25, 2.25], [2.25, 2.25]]
    assert hole["out"].tolist() == [[9, 9], [9, 9]]
    # An all-hole 2x2 image with bias 1: outside/hole give an empty window everywhere (0, m' = 0);
    # "known" sees 5 padded known taps in every window and outputs the bias.
    zeros = np.zeros((2, 2))
    assert partial_conv2d_steps(x, zeros, w, 1.0, padding=1)["out"].tolist() == [[0, 0], [0, 0]]
    assert partial_conv2d_steps(x, zeros, w, 1.0, padding=1, border="hole")["new_mask"].sum() == 0
    k = partial_conv2d_steps(x, zeros, w, 1.0, padding=1, border="known")
    assert k["window_sum"].tolist() == [[5, 5], [5, 5]] and k["out"].tolist() == [[1, 1], [1, 1]]


def test_empty_window_gives_zero_even_with_bias():
    s = partial_conv2d_steps(np.full((3, 3), 7.0), np.zeros((3, 3)), np.ones((3, 3)), bias=2.0)
    assert s["out"].tolist() == [[0.0]] and s["new_mask"].tolist() == [[0.0]] and s["scale"].tolist() == [[0.0]]


@pytest.mark.parametrize("stride,padding,k", [(1, 1, 3), (2, 1, 3), (1, 2, 5), (2, 0, 3)])
def test_steps_match_partialconv2d(stride, padding, k):
    rng = np.random.default_rng(stride * 10 + padding)
    x = rng.integers(0, 5, (7, 7)).astype(float)
    m = (rng.random((7, 7)) > 0.5).astype(float)
    m[:3, :3] = 0  # a corner hole large enough to empty some windows
    w = rng.integers(-2, 3, (k, k)).astype(float)
    s = partial_conv2d_steps(x, m, w, bias=0.25, padding=padding, stride=stride)

    layer = PartialConv2d(1, 1, k, stride=stride, padding=padding).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w)[None, None])
        layer.bias.fill_(0.25)
        out, new_mask = layer(torch.from_numpy(x)[None, None], torch.from_numpy(m)[None, None])
        scale, _ = layer.mask_update(torch.from_numpy(m)[None, None])
    np.testing.assert_allclose(out[0, 0].numpy(), s["out"], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(new_mask[0, 0].numpy(), s["new_mask"])
    np.testing.assert_allclose(scale[0, 0].numpy(), s["scale"], rtol=1e-12)
    assert (s["new_mask"] == 0).any(), "the test case should contain an empty window"


def test_steps_reject_bad_input():
    with pytest.raises(ValueError, match="binary"):
        partial_conv2d_steps(np.ones((3, 3)), np.full((3, 3), 0.5), np.ones((3, 3)))
    with pytest.raises(ValueError, match="border"):
        partial_conv2d_steps(np.ones((3, 3)), np.ones((3, 3)), np.ones((3, 3)), border="reflect")
    with pytest.raises(ValueError, match="one channel"):
        partial_conv2d_steps(np.ones((1, 3, 3)), np.ones((1, 3, 3)), np.ones((3, 3)))


def test_square_hole_mask():
    m = square_hole_mask(10, 4)
    assert m.shape == (1, 1, 10, 10)
    assert hole_fraction(m) == pytest.approx(16 / 100)
    assert m[0, 0, 3:7, 3:7].sum() == 0 and m.sum() == 84
    assert hole_fraction(square_hole_mask(8, 0)) == 0.0
    with pytest.raises(ValueError, match="between"):
        square_hole_mask(8, 9)


def test_mask_trace_through_gs_by_hand():
    gs = sketch_generator(2)  # the mask path does not depend on the width
    trace = mask_trace(gs, square_hole_mask(64, 8))
    names = [n for n, _ in trace]
    assert names == [f"encoder{i}" for i in range(1, 5)] + [f"res{i}" for i in range(1, 5)] + \
        [f"decoder{i}" for i in range(1, 5)]
    assert [m.shape[-1] for _, m in trace] == [32, 16, 8, 4, 4, 4, 4, 4, 8, 16, 32, 64]
    # Hole rows/cols 28..35. encoder1 (k5, s2, p2) reads 2i-2..2i+2: all-hole for i = 15, 16 -> a 2x2 hole.
    assert hole_fraction(trace[0][1]) == pytest.approx(4 / 32 ** 2)
    assert trace[0][1][0, 0, 15:17, 15:17].sum() == 0
    # encoder2 (k3, s2, p1) needs 3 hole pixels in a row: none left.
    assert vanishing_layer(trace) == 1


@pytest.mark.parametrize("hole,expected", [(1, 0), (8, 1), (48, 4)])
def test_vanishing_layer_by_hand(hole, expected):
    # hole 48 in 64 (rows 8..55): encoder1 -> rows 5..26 (22), encoder2 -> 3..12 (10),
    # encoder3 -> 2..5 (4), encoder4 -> row 2 (1); res1's dilated 3x3 reads i-2, i, i+2 -> gone (index 4).
    assert vanishing_layer(mask_trace(sketch_generator(2), square_hole_mask(64, hole))) == expected


def test_vanishing_layer_none_when_hole_survives():
    trace = [("a", torch.zeros(1, 1, 2, 2)), ("b", torch.tensor([[[[1.0, 0.0]]]]))]
    assert vanishing_layer(trace) is None


def test_mask_trace_needs_partial_generator():
    with pytest.raises(ValueError, match="partial"):
        mask_trace(image_generator(2), square_hole_mask(32, 8))


def test_conv_cost_table_rows():
    rows = conv_cost_table(sizes=(8, 16), channels=2, batch=1, min_run_time=0.01)
    assert [r["size"] for r in rows] == [8, 16]
    for r in rows:
        assert r["conv_ms"] > 0 and r["partial_ms"] > 0
        assert r["ratio"] == pytest.approx(r["partial_ms"] / r["conv_ms"])
