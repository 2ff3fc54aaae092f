"""Losses of Section 3.3 against hand computations on small tensors."""

import logging
import math
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
import torch.nn as nn

from inpaintkit import losses
from inpaintkit.config import Stage1LossWeights, Stage2LossWeights
from inpaintkit.losses import (
    VGGFeatures,
    balanced_bce,
    feature_matching_loss,
    gram_matrix,
    hinge_d_loss,
    hinge_g_loss,
    l1_loss,
    perceptual_loss,
    stage1_generator_loss,
    stage2_generator_loss,
    style_loss,
)
from inpaintkit.networks import image_discriminator


def test_hinge_by_hand():
    real = torch.tensor([[2.0, -0.5]])
    fake = torch.tensor([[0.5, -2.0]])
    # real: relu(1-2)=0, relu(1+0.5)=1.5 -> 0.75 ; fake: relu(1+0.5)=1.5, relu(1-2)=0 -> 0.75
    assert hinge_d_loss(real, fake).item() == pytest.approx(1.5)
    # generator: -mean(0.5, -2) = 0.75
    assert hinge_g_loss(fake).item() == pytest.approx(0.75)
    # a confident discriminator (real >= 1, fake <= -1) has zero loss
    assert hinge_d_loss(torch.tensor([1.0, 3.0]), torch.tensor([-1.0, -4.0])).item() == 0.0


def test_gram_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2): rows F = [[1, 2], [3, 4]]
    # F F^T = [[5, 11], [11, 25]], divided by C*H*W = 4
    expected = torch.tensor([[[1.25, 2.75], [2.75, 6.25]]])
    assert torch.allclose(gram_matrix(f), expected)


def test_feature_matching_two_layers():
    real = [torch.zeros(2, 4, 3, 3, requires_grad=True), torch.full((2, 1, 5, 5), 1.0, requires_grad=True)]
    fake = [torch.ones(2, 4, 3, 3, requires_grad=True), torch.full((2, 1, 5, 5), -2.0, requires_grad=True)]
    loss = feature_matching_loss(real, fake)
    assert loss.item() == pytest.approx(1.0 + 3.0)  # mean |diff| per layer, summed
    loss.backward()
    assert real[0].grad is None and real[1].grad is None  # real features are targets (detached)
    assert fake[0].grad is not None
    with pytest.raises(ValueError, match="same non-zero number of layers"):
        feature_matching_loss(real, fake[:1])


def test_l1_plain_and_edgeconnect_normalised():
    pred, target = torch.ones(1, 3, 4, 4), torch.zeros(1, 3, 4, 4)
    pred[0, 0, 0, 0] = 3.0  # |diff| sums to 47 + 3 = 50 over 48 values
    assert l1_loss(pred, target).item() == pytest.approx(50 / 48)
    mask = torch.ones(1, 1, 4, 4)
    mask[..., :2, :2] = 0  # 4 hole pixels of 16: hole ratio 0.25
    assert l1_loss(pred, target, mask).item() == pytest.approx(50 / 48 / 0.25)
    with pytest.raises(ValueError, match="no hole"):
        l1_loss(pred, target, torch.ones(1, 1, 4, 4))


def _tiny_backbone():
    """Layer 0 = identity, layer 1 = a fixed 1x1 conv (3 -> 2 channels), layer 2 = ReLU."""
    conv = nn.Conv2d(3, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, -1.0]]).view(2, 3, 1, 1))
    return nn.Sequential(nn.Identity(), conv, nn.ReLU()), conv.weight.detach().view(2, 3).numpy()


def _np_gram(x):  # x (N, C, H, W) numpy -> (N, C, C), naive loops
    n, c, h, w = x.shape
    g = np.zeros((n, c, c))
    for b in range(n):
        for i in range(c):
            for j in range(c):
                g[b, i, j] = (x[b, i] * x[b, j]).sum() / (c * h * w)
    return g


def test_perceptual_and_style_with_tiny_backbone():
    backbone, w = _tiny_backbone()
    vgg = VGGFeatures.from_backbone(backbone, lambda x: x, [0, 2], [2], "tiny")
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    pa, sa = vgg(a)
    pb, sb = vgg(b)
    an, bn = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
    relu_a = np.maximum(np.einsum("oc,nchw->nohw", w, an), 0)
    relu_b = np.maximum(np.einsum("oc,nchw->nohw", w, bn), 0)
    expected_perc = np.abs(an - bn).mean() + np.abs(relu_a - relu_b).mean()
    expected_style = np.abs(_np_gram(relu_a) - _np_gram(relu_b)).mean()
    assert perceptual_loss(pa, pb).item() == pytest.approx(expected_perc, rel=1e-5)
    assert style_loss(sa, sb).item() == pytest.approx(expected_style, rel=1e-5)
    assert style_loss(sa, sa).item() == 0.0


def test_vggfeatures_frozen_but_gradients_reach_input():
    backbone, _ = _tiny_backbone()
    vgg = VGGFeatures.from_backbone(backbone, lambda x: x * 2 - 1, [1, 2], [2], "tiny").train()
    assert not vgg.training  # .train() keeps it frozen
    assert all(not p.requires_grad for p in vgg.parameters())
    x = torch.rand(1, 3, 8, 8, requires_grad=True)
    perc, _ = vgg(x)
    perc[-1].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        vgg(torch.rand(1, 1, 8, 8))


def test_stage1_total_is_eq11():
    fake_logits = torch.tensor([[0.5, -2.0]])  # adversarial = 0.75
    real = [torch.zeros(1, 2, 2, 2)]
    fake = [torch.full((1, 2, 2, 2), 0.5)]     # FM = 0.5
    total, terms = stage1_generator_loss(fake_logits, real, fake, Stage1LossWeights())
    assert total.item() == pytest.approx(0.1 * 0.75 + 10 * 0.5)
    assert float(terms["adversarial"]) == pytest.approx(0.75)
    assert float(terms["feature_matching"]) == pytest.approx(0.5)
    total, _ = stage1_generator_loss(fake_logits, real, fake, Stage1LossWeights(adversarial=1.0, feature_matching=0.0))
    assert total.item() == pytest.approx(0.75)
    assert set(terms) == {"adversarial", "feature_matching", "total"}       # the paper's terms only


def test_balanced_bce_by_hand_and_the_optional_reconstruction_term():
    # one image, 4 pixels, 1 edge: edges weighted 3/4, non-edges 1/4
    pred = torch.tensor([0.5, 0.25, 0.5, 0.9]).view(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.0, 0.0, 0.0]).view(1, 1, 2, 2)
    by_hand = (0.75 * -math.log(0.5) + 0.25 * (-math.log(0.75) - math.log(0.5) - math.log(0.1))) / 4
    assert balanced_bce(pred, target).item() == pytest.approx(by_hand, rel=1e-6)
    # predicting nothing is no longer nearly free: all-zero pred costs the weighted edge term
    zeros = torch.full_like(pred, 1e-4)
    assert balanced_bce(zeros, target).item() > 10 * balanced_bce(target * 0.98 + 0.01, target).item()
    w = Stage1LossWeights(adversarial=0.1, feature_matching=10.0, reconstruction=2.0)
    fake_logits, real, fake = torch.tensor([[0.5, -2.0]]), [torch.zeros(1, 2, 2, 2)], [torch.full((1, 2, 2, 2), 0.5)]
    total, terms = stage1_generator_loss(fake_logits, real, fake, w, pred=pred, target=target)
    assert total.item() == pytest.approx(0.1 * 0.75 + 10 * 0.5 + 2.0 * by_hand, rel=1e-6)
    assert float(terms["reconstruction"]) == pytest.approx(by_hand, rel=1e-6)
    with pytest.raises(ValueError, match="needs pred"):
        stage1_generator_loss(fake_logits, real, fake, w)


def test_stage2_total_is_eq14_and_gradients_reach_generator_input():
    torch.manual_seed(0)
    backbone, _ = _tiny_backbone()
    vgg = VGGFeatures.from_backbone(backbone, lambda x: x, [0, 2], [2], "tiny")
    disc = image_discriminator(4)
    gen = nn.Conv2d(3, 3, 3, padding=1)                      # a stand-in generator
    x = torch.rand(2, 3, 32, 32, requires_grad=True)         # its input
    target = torch.rand(2, 3, 32, 32)
    mask = torch.ones(2, 1, 32, 32)
    mask[..., 8:20, 8:20] = 0
    pred = torch.sigmoid(gen(x))
    _, real_feats = disc(target)
    fake_logits, fake_feats = disc(pred)
    w = Stage2LossWeights()
    total, terms = stage2_generator_loss(pred, target, fake_logits, real_feats, fake_feats, vgg, w, mask=mask)

    hole = 1 - mask
    expected = {
        "l1": (pred - target).abs().mean() / hole.mean(),
        "adversarial": -fake_logits.mean(),
        "perceptual": perceptual_loss(vgg(pred)[0], vgg(target)[0]),
        "style": style_loss(vgg(pred)[1], vgg(target)[1]),        # whole images, as Johnson et al. [7]
        "feature_matching": sum((r - f).abs().mean() for r, f in zip(real_feats, fake_feats)),
    }
    for k, v in expected.items():
        assert float(terms[k]) == pytest.approx(v.item(), rel=1e-5), k
        assert not terms[k].requires_grad
    weighted = (w.l1 * expected["l1"] + w.adversarial * expected["adversarial"] + w.perceptual * expected["perceptual"]
                + w.style * expected["style"] + w.feature_matching * expected["feature_matching"])
    assert total.item() == pytest.approx(weighted.item(), rel=1e-5)

    total.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert gen.weight.grad is not None and gen.weight.grad.abs().sum() > 0

    # EdgeConnect's variant: the style of the hole regions only (one batched VGG pass per side)
    _, terms = stage2_generator_loss(pred, target, fake_logits, real_feats, fake_feats, vgg, w, mask=mask,
                                     style_on_hole=True)
    assert float(terms["style"]) == pytest.approx(style_loss(vgg(pred * hole)[1], vgg(target * hole)[1]).item(),
                                                  rel=1e-5)
    assert float(terms["perceptual"]) == pytest.approx(expected["perceptual"].item(), rel=1e-5)
    assert float(terms["style"]) != pytest.approx(expected["style"].item(), rel=1e-3)

    # without a mask: plain L1 and whole-image style
    _, terms = stage2_generator_loss(pred, target, fake_logits, real_feats, fake_feats, vgg, w)
    assert float(terms["l1"]) == pytest.approx((pred - target).abs().mean().item(), rel=1e-5)
    assert float(terms["style"]) == pytest.approx(style_loss(vgg(pred)[1], vgg(target)[1]).item(), rel=1e-5)


# ---- which VGG: never a silent fallback ------------------------------------------------------


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """An empty torch hub cache and a blocked network."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def blocked(*args, **kwargs):
        raise urllib.error.URLError("blocked by the test")

    monkeypatch.setattr(urllib.request, "urlopen", blocked)
    backbone, _ = _tiny_backbone()
    fake_hed = nn.Sequential(*[nn.ReLU() for _ in range(30)])  # laid out like vgg16().features[:30]
    monkeypatch.setattr(losses, "_hed_backbone", lambda: (fake_hed, lambda x: x * 255))
    return tmp_path / "hub"


def test_auto_falls_back_to_hed_and_says_why(offline, caplog):
    ok, why = losses.imagenet_vgg19_status()
    assert not ok and "blocked by the test" in why
    with caplog.at_level(logging.WARNING, logger="inpaintkit.losses"):
        vgg = VGGFeatures("auto")
    assert vgg.source.startswith("hed: ImageNet VGG19 weights unavailable (")
    assert "blocked by the test" in vgg.source
    assert any("HED backbone" in r.message for r in caplog.records)
    assert vgg.layer_names["style"] == ["relu2_2", "relu3_3", "relu4_3", "relu5_2"]
    x = torch.rand(1, 3, 16, 16)
    perc, style = vgg(x)
    assert len(perc) == 5 and len(style) == 4
    # the fake HED is ReLUs on x * 255: taps come back at ImageNet's input scale
    assert vgg.feature_scale == pytest.approx(1 / 57.63, rel=1e-3)
    assert torch.allclose(perc[0], x * 255 * vgg.feature_scale)


def test_imagenet_requested_but_unavailable_raises(offline):
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth"):
        VGGFeatures("imagenet")
    assert VGGFeatures("hed").source == "hed: source='hed' asked for"
    with pytest.raises(ValueError, match="choose"):
        VGGFeatures("alexnet")


def test_cached_imagenet_weights_are_detected(offline):
    (offline / "checkpoints").mkdir(parents=True)
    (offline / "checkpoints" / "vgg19-dcbb9e9d.pth").write_bytes(b"")
    ok, why = losses.imagenet_vgg19_status()
    assert ok and "cached" in why


def test_hed_loader_failure_is_reported(offline, monkeypatch):
    def broken():
        raise FileNotFoundError("no HED weights here")

    monkeypatch.setattr(losses, "_hed_backbone", broken)
    with pytest.raises(FileNotFoundError, match="no HED weights here"):
        VGGFeatures("auto")


def test_real_hed_backbone_layers_when_cached():
    hed = pytest.importorskip("inpaintkit.hed")
    if not hed.weights_path().exists():
        pytest.skip("HED weights not cached (python data_scripts/fetch_hed_weights.py)")
    vgg = VGGFeatures("hed")
    perc, style = vgg(torch.rand(1, 3, 32, 32))
    assert [p.shape[1] for p in perc] == [64, 128, 256, 512, 512]
    assert [s.shape[1] for s in style] == [128, 256, 512, 512]
    assert [p.shape[-1] for p in perc] == [32, 16, 8, 4, 2]


def test_balanced_bce_on_the_hole_by_hand():
    """Two hole pixels (one edge, one not) and a known pixel that must not count: the sum by hand."""
    pred = torch.tensor([0.8, 0.3, 0.01, 0.5]).view(1, 1, 2, 2)
    target = torch.tensor([1.0, 0.0, 1.0, 0.0]).view(1, 1, 2, 2)
    mask = torch.tensor([0.0, 0.0, 1.0, 1.0]).view(1, 1, 2, 2)        # the first two are the hole
    pos = 0.5                                                          # one edge among two hole pixels
    want = ((1 - pos) * -math.log(0.8) + pos * -math.log(1 - 0.3)) / 2
    assert balanced_bce(pred, target, mask).item() == pytest.approx(want, rel=1e-6)
    # without a mask the known pixels count, and the badly predicted known edge dominates
    assert balanced_bce(pred, target).item() > 2 * want
