"""Gs, Gi and the discriminators (Section 3.1): shapes, ranges, spectral norm, bad input."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from inpaintkit import networks
from inpaintkit.layers import BLOCK_KINDS, PartialConv2d
from inpaintkit.networks import (
    composite,
    count_parameters,
    image_discriminator,
    image_generator,
    sketch_discriminator,
    sketch_generator,
)


def _batch(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=g)
    gray = image.mean(1, keepdim=True)
    sketch = (torch.rand(n, 1, size, size, generator=g) > 0.8).float()
    mask = torch.ones(n, 1, size, size)
    mask[..., size // 4: size // 2, size // 3: 3 * size // 4] = 0
    return image, gray, sketch, mask


@pytest.mark.parametrize("size", [64, 256])
def test_generators_forward_backward(size):
    torch.manual_seed(0)
    gs, gi = sketch_generator(4), image_generator(4)
    image, gray, sketch, mask = _batch(2, size)
    s = gs(gray, sketch, mask)
    assert s.shape == (2, 1, size, size)
    assert bool(((s > 0) & (s < 1)).all())
    s_comp = composite(s, sketch, mask)
    out = gi(image, s_comp, mask)
    assert out.shape == (2, 3, size, size)
    assert bool(((out >= 0) & (out <= 1)).all())
    (s.mean() + out.mean()).backward()
    for net in (gs, gi):
        grads = [p.grad for p in net.parameters()]
        assert all(g is not None for g in grads)
        assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("size", [64, 256])
def test_discriminators_forward_backward(size):
    image, gray, sketch, _ = _batch(2, size)
    for d, x in ((sketch_discriminator(4), torch.cat([sketch, gray], 1)), (image_discriminator(4), image)):
        logits, feats = d(x.requires_grad_())
        assert logits.shape == (2, 1, size // 8, size // 8)
        assert [f.shape[1] for f in feats] == [4, 8, 16, 32]
        assert [f.shape[-1] for f in feats] == [size // 2, size // 4, size // 8, size // 8]
        logits.mean().backward()
        assert x.grad is not None and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("build", [
    lambda: sketch_generator(4), lambda: image_generator(4),
    lambda: sketch_discriminator(4), lambda: image_discriminator(4),
    *[(lambda k=k: image_generator(4, block=k)) for k in BLOCK_KINDS],
])
def test_spectral_norm_on_every_conv_and_no_batchnorm(build):
    net = build()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs
    for m in convs:
        assert parametrize.is_parametrized(m, "weight"), m
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in net.modules())


def test_spectral_norm_bounds_the_weight():
    torch.manual_seed(0)
    net = image_discriminator(4)
    net.train()
    x = torch.rand(1, 3, 32, 32)
    for _ in range(20):          # power iterations converge while training
        net(x)
    w = net.convs[1].weight.reshape(net.convs[1].weight.shape[0], -1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=0.05)


def test_generator_structure_matches_the_paper_reading():
    gs, gi = sketch_generator(64), image_generator(64)
    assert len(gs.encoder) == 4 and len(gs.middle) == 4 and len(gs.decoder) == 4
    assert len(gi.encoder) == 4 and len(gi.middle) == 8 and len(gi.decoder) == 4
    assert all(isinstance(m, PartialConv2d) for m in gs.modules() if isinstance(m, nn.Conv2d))
    widths = [layer.conv.out_channels for layer in gs.encoder]
    assert widths == [64, 128, 256, 512]
    # parameter counts at the paper's width (printed by notebook 00)
    assert count_parameters(gs) == 21_980_225
    assert count_parameters(gi) == 123_679_441
    assert count_parameters(image_discriminator(64)) == 1_843_649


def test_hole_values_never_reach_the_generators():
    torch.manual_seed(0)
    gs, gi = sketch_generator(4).eval(), image_generator(4).eval()
    image, gray, sketch, mask = _batch(1, 64)
    noisy = lambda t: t * mask + (1 - mask) * torch.rand_like(t)   # noqa: E731
    with torch.no_grad():
        torch.testing.assert_close(gs(gray, sketch, mask), gs(noisy(gray), noisy(sketch), mask))
        s = gs(gray, sketch, mask)
        torch.testing.assert_close(gi(image, s, mask), gi(noisy(image), s, mask))


def test_composite():
    pred, known = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    mask = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    assert composite(pred, known, mask).flatten().tolist() == [1.0, 0.0, 0.0, 1.0]


def test_bad_inputs_name_the_fix():
    gs, gi, d = sketch_generator(4), image_generator(4), image_discriminator(4)
    image, gray, sketch, mask = _batch(1, 64)
    with pytest.raises(ValueError, match=r"not divisible by 16.*e\.g\. 80x64"):
        gs(torch.rand(1, 1, 70, 64), torch.rand(1, 1, 70, 64), torch.ones(1, 1, 70, 64))
    with pytest.raises(ValueError, match=r"gray must be a tensor of shape \(N, 1, H, W\)"):
        gs(image, sketch, mask)
    with pytest.raises(ValueError, match=r"image must be a tensor of shape \(N, 3, H, W\)"):
        gi(gray, sketch, mask)
    with pytest.raises(ValueError, match="binary"):
        gi(image, sketch, mask * 0.5)
    with pytest.raises(ValueError, match=r"expected \(1, 1, 64, 64\)"):
        gi(image, sketch, mask[:, :, :32])
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        d(gray)
    with pytest.raises(ValueError, match="Unknown block kind"):
        image_generator(4, block="transformer")


# ---- the kit's architecture switches (U-Net skips, Gi correcting a smooth fill) -----------------------------

def test_skips_and_prefill_keep_shapes_and_start_near_the_fill():
    torch.manual_seed(0)
    x, s = torch.rand(2, 3, 32, 32), (torch.rand(2, 1, 32, 32) > 0.9).float()
    m = torch.ones(2, 1, 32, 32)
    m[:, :, 8:24, 8:24] = 0
    gs = networks.sketch_generator(8, skips=True)
    gi = networks.image_generator(8, skips=True, prefill=True)
    assert gs(x[:, :1], s, m).shape == (2, 1, 32, 32)
    y = gi(x, s, m)
    assert y.shape == (2, 3, 32, 32) and y.min() >= 0 and y.max() <= 1
    # the decoder's inputs grow by the skipped widths: 8b + 4b, 4b + 2b, 2b + b, b + the 5 input channels
    widths = [layer.layer.conv_f.in_channels for layer in list(gi.decoder)[:3]] + [gi.decoder[3].layer.in_channels]
    assert widths == [64 + 32, 32 + 16, 16 + 8, 8 + 5]
    with torch.no_grad():                                                      # untrained: the fill itself
        torch.testing.assert_close(gi(x, s, m), networks.smooth_fill(x, m, s).clamp(0, 1))
    out_conv = gi.decoder[-1].layer                                            # zero-initialised, no spectral norm
    assert not parametrize.is_parametrized(out_conv, "weight") and not out_conv.weight.any()
    assert parametrize.is_parametrized(gi.decoder[-2].layer.conv_f, "weight")  # every other conv keeps it
    y.mean().backward()
    assert out_conv.weight.grad.abs().sum() > 0                                # it learns from the first step
    assert networks.count_parameters(gi) > networks.count_parameters(networks.image_generator(8))


def test_prefill_works_with_every_block_kind():
    x, s = torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    m = torch.ones(1, 1, 32, 32)
    m[..., 8:20, 8:20] = 0
    for kind in BLOCK_KINDS:                                                   # notebook 03's ablation too
        gi = networks.image_generator(4, block=kind, skips=True, prefill=True)
        with torch.no_grad():
            torch.testing.assert_close(gi(x, s, m), networks.smooth_fill(x, m, s).clamp(0, 1))
