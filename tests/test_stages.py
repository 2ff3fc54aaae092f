"""The stage objects: what each generator gets, what each discriminator sees, their losses and sample rows."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from inpaintkit import losses, networks
from inpaintkit.config import get_profile
from inpaintkit.stages import ImageStage, SketchStage, build_discriminator, make_stage

SMOKE = get_profile("smoke")


def batch(n=2, size=8):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(n, 3, size, size, generator=g)
    mask = torch.ones(n, 1, size, size)
    mask[:, :, 2:5, 3:7] = 0                                             # 1 = known, 0 = hole
    return {"image": image, "gray": image.mean(1, keepdim=True),
            "sketch": (torch.rand(n, 1, size, size, generator=g) > 0.7).float(), "mask": mask}


class Recorder(nn.Module):
    """A generator that records its inputs and returns a constant map of ``channels`` channels."""

    def __init__(self, channels, value=0.8):
        super().__init__()
        self.channels, self.value, self.calls = channels, value, []

    def forward(self, *inputs):
        self.calls.append(inputs)
        x = inputs[0]
        return torch.full((x.shape[0], self.channels, *x.shape[2:]), self.value)


def test_sketch_stage_inputs_d_input_and_rows():
    b, stage, g = batch(), SketchStage(SMOKE), Recorder(1)
    pred = stage.predict(g, b)
    assert [x is b[k] for x, k in zip(g.calls[0], ("gray", "sketch", "mask"))] == [True, True, True]   # Eq. 9
    assert stage.real(b) is b["sketch"] and stage.block == "partial" and stage.vgg is None
    d_in = stage.d_input(b, pred)                                       # Ds: cat[sketch, I_gray]
    assert d_in.shape == (2, 2, 8, 8)
    assert torch.equal(d_in[:, :1], pred) and torch.equal(d_in[:, 1:], b["gray"])
    rows = stage.sample_rows(b, pred)
    m = b["mask"]
    for got, want in zip(rows, [b["gray"] * m, m, b["sketch"] * m, pred, b["sketch"]]):
        assert torch.equal(got, want)
    assert rows[0][0, 0, 3, 4] == 0 and rows[0][0, 0, 0, 0] == b["gray"][0, 0, 0, 0]     # blanked in the hole only


def test_sketch_stage_loss_is_eq_11():
    b, stage = batch(), SketchStage(SMOKE)
    d = build_discriminator(1, SMOKE)
    pred = torch.rand(2, 1, 8, 8)
    real_logits, real_feats = d(stage.d_input(b, stage.real(b)))
    fake_logits, fake_feats = d(stage.d_input(b, pred))
    total, terms = stage.generator_loss(pred, b, fake_logits, real_feats, fake_feats)
    adv = -fake_logits.mean()
    fm = sum((r - f).abs().mean() for r, f in zip(real_feats, fake_feats))
    assert terms["adversarial"].item() == pytest.approx(adv.item(), rel=1e-6)
    assert total.item() == pytest.approx((0.1 * adv + 10 * fm).item(), rel=1e-5)


def test_image_stage_inputs_with_the_ground_truth_sketch_and_with_a_trained_gs():
    b, g = batch(), Recorder(3, value=0.25)
    stage = ImageStage(SMOKE, block="cfs")
    pred = stage.predict(g, b)                                          # Eq. 10 with S_comp = S_gt
    assert g.calls[0][0] is b["image"] and g.calls[0][1] is b["sketch"] and g.calls[0][2] is b["mask"]
    assert stage.real(b) is b["image"] and stage.d_input(b, pred) is pred      # Di sees the image
    assert stage.sketch_from is None and stage.vgg_source is None

    gs = Recorder(1, value=0.8)                                         # Gs says "edge" everywhere
    unthinned = replace(SMOKE, sketch_threshold=0.5, sketch_thin=False)
    with_gs = make_stage(2, unthinned, "cfs", sketch_from_generator=gs)
    assert with_gs.sketch_from == "module"
    s_comp = with_gs.composite_sketch(b)
    hole = b["mask"] == 0
    assert torch.equal(s_comp[hole], torch.ones(int(hole.sum())))       # 0.8 binarised at 0.5 in the hole
    assert torch.equal(s_comp[~hole], b["sketch"][~hole])               # S_gt where known
    assert not gs.training and not any(p.requires_grad for p in gs.parameters())
    rows = with_gs.sample_rows(b, pred)
    assert torch.equal(rows[2], s_comp)
    hole3 = hole.expand_as(pred)
    assert torch.equal(rows[3][hole3], torch.full((int(hole3.sum()),), 0.25))   # the prediction in the hole
    assert torch.equal(rows[3][~hole3], b["image"][~hole3])                     # I where known


def test_image_stage_loss_is_eq_14_with_the_hole_terms_only_when_there_is_a_hole():
    from conftest import tiny_vgg

    vgg = tiny_vgg()
    stage, b = ImageStage(SMOKE, vgg=vgg), batch()
    d = build_discriminator(2, SMOKE)
    pred = torch.rand(2, 3, 8, 8)
    _, real_feats = d(b["image"])
    fake_logits, fake_feats = d(pred)
    args = (pred, b["image"], fake_logits, real_feats, fake_feats, vgg, SMOKE.stage2_loss)
    _, terms = stage.generator_loss(pred, b, fake_logits, real_feats, fake_feats)
    _, want = losses.stage2_generator_loss(*args, mask=b["mask"])
    assert {k: v.item() for k, v in terms.items()} == pytest.approx({k: v.item() for k, v in want.items()}, rel=1e-6)
    full = dict(b, mask=torch.ones_like(b["mask"]))                     # no hole: L1 over the whole image
    _, terms = stage.generator_loss(pred, full, fake_logits, real_feats, fake_feats)
    assert terms["l1"].item() == pytest.approx((pred - b["image"]).abs().mean().item(), rel=1e-6)
    assert stage.vgg_source == "tiny-test-vgg"


def test_make_stage_and_discriminators():
    assert isinstance(make_stage(1, SMOKE), SketchStage) and isinstance(make_stage(2, SMOKE), ImageStage)
    with pytest.raises(ValueError, match="for stage 2"):
        make_stage(1, SMOKE, sketch_from_generator=Recorder(1))
    ds, di = build_discriminator(1, SMOKE), build_discriminator(2, SMOKE)
    assert isinstance(ds, networks.PatchDiscriminator) and isinstance(di, networks.PatchDiscriminator)
    assert ds(torch.zeros(1, 2, 32, 32))[0].shape == di(torch.zeros(1, 3, 32, 32))[0].shape == (1, 1, 4, 4)
    with pytest.raises(ValueError, match="stage must be 1"):
        build_discriminator(3, SMOKE)
