"""PartialConv2d (Eq. 1-2) against a naive sliding-window evaluation; CFSBlock (Eq. 3-8)."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inpaintkit.layers import CFSBlock, DilatedResBlock, PartialConv2d, SqueezeExcitation, make_block


def naive_partial_conv(x, m, weight, bias, stride, padding, dilation):
    """Eq. 1-2 evaluated window by window in float64 numpy.

    x (C_in, H, W), m (H, W) binary, weight (C_out, C_in, kh, kw). The zero padding lies
    outside the image: Kx*Ky and sum(m) count only the window's in-image taps.
    """
    c_out, c_in, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    mp = np.pad(m, padding)                                # padding: not known
    inside = np.pad(np.ones_like(m), padding)              # padding: not in the image
    h_out = (xp.shape[1] - dilation * (kh - 1) - 1) // stride + 1
    w_out = (xp.shape[2] - dilation * (kw - 1) - 1) // stride + 1
    out = np.zeros((c_out, h_out, w_out))
    new_m = np.zeros((h_out, w_out))
    for i in range(h_out):
        for j in range(w_out):
            rows = i * stride + dilation * np.arange(kh)
            cols = j * stride + dilation * np.arange(kw)
            xw = xp[:, rows][:, :, cols]             # (C_in, kh, kw)
            mw = mp[rows][:, cols]                   # (kh, kw)
            taps = inside[rows][:, cols].sum()       # Kx*Ky, less any padding taps
            s = mw.sum()
            if s > 0:
                for o in range(c_out):
                    out[o, i, j] = (weight[o] * xw * mw).sum() * taps / s + (bias[o] if bias is not None else 0.0)
                new_m[i, j] = 1.0
    return out, new_m


def _hole_mask(h, w, rng):
    m = np.ones((h, w))
    m[2:9, 3:11] = 0                      # a hole larger than any window below (7x8)
    m[rng.random((h, w)) < 0.15] = 0      # plus scattered missing pixels
    return m


@pytest.mark.parametrize("k,stride,dilation,bias", [
    (k, s, d, b) for k, s, d, b in itertools.product((3, 5, 7), (1, 2), (1, 2), (True, False))
])
def test_partial_conv_matches_naive_eq1_eq2(k, stride, dilation, bias):
    rng = np.random.default_rng(k * 100 + stride * 10 + dilation)
    h, w = 13, 15
    padding = dilation * (k - 1) // 2
    layer = PartialConv2d(3, 4, k, stride, padding, dilation, bias=bias).double()
    x = rng.standard_normal((2, 3, h, w))
    m = np.stack([_hole_mask(h, w, rng), np.ones((h, w))])
    m[1, :, :] = 0.0
    m[1, 0, 0] = 1.0                      # second image: a single known pixel
    out, new_m = layer(torch.from_numpy(x), torch.from_numpy(m)[:, None])
    wt = layer.weight.detach().numpy()
    b = layer.bias.detach().numpy() if bias else None
    for n in range(2):
        ref, ref_m = naive_partial_conv(x[n], m[n], wt, b, stride, padding, dilation)
        np.testing.assert_allclose(out[n].detach().numpy(), ref, rtol=1e-10, atol=1e-10)
        np.testing.assert_array_equal(new_m[n, 0].numpy(), ref_m)
    # the reference really exercises empty windows and renormalised ones
    assert (new_m[1] == 0).any() and (new_m == 1).any()


def test_partial_conv_hand_example():
    """A 3x3 window holding 6 known pixels of value 1 and a kernel of ones: 6 * 9/6 + b = 9 + b."""
    layer = PartialConv2d(1, 1, 3, bias=True).double()
    with torch.no_grad():
        layer.weight.fill_(1.0)
        layer.bias.fill_(0.5)
    x = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    m = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    m[0, 0, 0, :] = 0
    out, new_m = layer(x * 7 * (1 - m) + x, m)   # hole values (8) must not matter
    assert out.item() == pytest.approx(9.5)
    assert new_m.item() == 1.0
    scale, _ = layer.mask_update(m)
    assert scale.item() == pytest.approx(1.5)


@pytest.mark.parametrize("stride,dilation", [(1, 1), (2, 1), (1, 2)])
def test_all_ones_mask_is_plain_conv(stride, dilation):
    torch.manual_seed(0)
    pc = PartialConv2d(4, 6, 3, stride, dilation, dilation).double()
    conv = nn.Conv2d(4, 6, 3, stride, dilation, dilation).double()
    conv.load_state_dict(pc.state_dict())
    x = torch.randn(2, 4, 16, 20, dtype=torch.float64)
    out, new_m = pc(x, torch.ones(2, 1, 16, 20, dtype=torch.float64))
    torch.testing.assert_close(out, conv(x), rtol=1e-12, atol=1e-12)
    assert bool((new_m == 1).all())


def test_all_zero_mask_gives_zero_output_and_mask():
    pc = PartialConv2d(3, 5, 3, 1, 1)
    out, new_m = pc(torch.randn(2, 3, 8, 8), torch.zeros(2, 1, 8, 8))
    assert bool((out == 0).all()) and bool((new_m == 0).all())


def test_hole_values_never_influence_output():
    torch.manual_seed(1)
    pc = PartialConv2d(3, 8, 5, 2, 2)
    m = torch.ones(1, 1, 32, 32)
    m[..., 8:24, 10:20] = 0
    x = torch.randn(1, 3, 32, 32, requires_grad=True)
    out, _ = pc(x, m)
    out.square().sum().backward()
    assert bool((x.grad[:, :, m[0, 0] == 0] == 0).all())              # exactly zero in the hole
    assert bool((x.grad[:, :, m[0, 0] == 1] != 0).any())
    x2 = x.detach().clone()
    x2[:, :, m[0, 0] == 0] = 1e6                                       # garbage in the hole
    torch.testing.assert_close(pc(x2, m)[0], out.detach(), rtol=0, atol=0)
    # the mask path itself carries no gradient
    assert pc.mask_update(m)[0].requires_grad is False


def test_partial_conv_bad_inputs():
    pc = PartialConv2d(3, 4, 3, 1, 1)
    x = torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        pc(torch.randn(2, 4, 8, 8), torch.ones(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"expected \(2, 1, 8, 8\)"):
        pc(x, torch.ones(2, 3, 8, 8))
    with pytest.raises(ValueError, match=r"expected \(2, 1, 8, 8\)"):
        pc(x, torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match="binary"):
        pc(x, torch.full((2, 1, 8, 8), 0.5))


def test_partial_conv_is_a_conv2d_subclass():
    pc = PartialConv2d(2, 3, 3)
    assert isinstance(pc, nn.Conv2d)
    assert pc.weight.shape == (3, 2, 3, 3) and pc.bias.shape == (3,)
    assert "_ones" not in pc.state_dict()      # the mask kernel is not a parameter to save


# ---- CFS block ------------------------------------------------------------------------------

@pytest.mark.parametrize("stride,hw_out", [(1, 16), (2, 8)])
def test_cfs_shapes_and_gates(stride, hw_out):
    torch.manual_seed(0)
    blk = CFSBlock(8, 32, 3, stride, 1)
    x = torch.randn(2, 8, 16, 16)
    o, gates = blk.forward_with_gates(x)
    assert o.shape == (2, 32, hw_out, hw_out)
    assert gates["g"].shape == x.shape                       # g gates the input: its channels and size
    assert gates["G"].shape == (2, 32, hw_out, hw_out)       # G: the output's channels and stride
    assert gates["s"].shape == (2, 32)
    for name in ("g", "G", "s"):
        assert bool(((gates[name] > 0) & (gates[name] < 1)).all()), name
    torch.testing.assert_close(blk(x), o)


def test_cfs_matches_equations_3_to_8():
    """Recompute Eq. 3-8 by hand from the block's own weights."""
    torch.manual_seed(2)
    blk = CFSBlock(4, 32, 3, 2, 1, reduction=16)
    x = torch.randn(3, 4, 10, 10)
    g = torch.sigmoid(F.conv2d(x, blk.conv_g.weight, blk.conv_g.bias, 1, 1))            # Eq. 3
    G = torch.sigmoid(F.conv2d(x, blk.conv_G.weight, blk.conv_G.bias, 2, 1))            # Eq. 4
    f = G * F.leaky_relu(F.conv2d(g * x, blk.conv_f.weight, blk.conv_f.bias, 2, 1), 0.2)  # Eq. 5
    z = f.mean(dim=(2, 3))                                                              # Eq. 6
    # Eq. 7
    s = torch.sigmoid(torch.relu(z @ blk.se.fc1.weight.T + blk.se.fc1.bias) @ blk.se.fc2.weight.T + blk.se.fc2.bias)
    torch.testing.assert_close(blk(x), f * s[:, :, None, None])                         # Eq. 8


def test_se_reduction():
    se = SqueezeExcitation(64, reduction=16)
    assert se.fc1.weight.shape == (4, 64) and se.fc2.weight.shape == (64, 4)   # W1: C/r x C, W2: C x C/r
    assert SqueezeExcitation(8, 16).fc1.out_features == 1                     # never below one unit
    assert CFSBlock(8, 64, 3, padding=1).se.fc1.out_features == 4


def test_dilated_res_blocks_keep_shape_and_mask():
    x = torch.randn(1, 16, 8, 8)
    m = torch.ones(1, 1, 8, 8)
    m[..., 2:6, 2:6] = 0
    y, m2 = DilatedResBlock("partial", 16, 2)(x * m, m)
    assert y.shape == x.shape and m2.shape == m.shape
    assert m2.sum() > m.sum()                                # the hole shrinks (Eq. 2)
    y, m3 = DilatedResBlock("cfs", 16, 2)(x)
    assert y.shape == x.shape and m3 is None
    with pytest.raises(ValueError, match="Unknown block kind"):
        make_block("deformable", 3, 3, 3)


def test_cfs_gates_start_open():
    torch.manual_seed(0)
    blk = CFSBlock(8, 32, 3, 1, 1)
    _, gates = blk.forward_with_gates(torch.zeros(2, 8, 8, 8))   # zero input: each gate is sigmoid(bias)
    open_ = torch.sigmoid(torch.tensor(2.0)).item()                # 0.881
    for name in ("g", "G"):
        torch.testing.assert_close(gates[name], torch.full_like(gates[name], open_))
    assert bool((gates["s"] - open_).abs().max() < 0.05)          # W2's bias, plus a small W2 relu(W1 z)
    assert bool((CFSBlock(8, 32, 3, 1, 1, squeeze_excitation=False).conv_G.bias == 2.0).all())
