"""departures(profile): the paper's value beside the profile's, read from the live code."""

import dataclasses

import pytest

from inpaintkit.config import EDGECONNECT_STAGE2, PROFILES, Stage2LossWeights, get_profile
from inpaintkit.departures import departures, departures_table


def _rows(profile, **kw):
    return {d.setting: d for d in departures(profile, **kw)}


def test_departures_are_four_tuples_with_a_reason():
    for name in PROFILES:
        for row in departures(name, vgg_source="imagenet"):
            setting, paper, value, why = row
            assert all(isinstance(v, str) and v for v in row), row
            assert (row.setting, row.paper, row.profile, row.why) == (setting, paper, value, why)


def test_quick_lists_its_loss_and_training_departures_with_the_live_values():
    q = get_profile("quick")
    rows = _rows(q, vgg_source="hed: ImageNet VGG19 weights unavailable (offline)")
    assert "balanced BCE" in rows["Eq. 11: class-balanced BCE on S_pred"].profile
    w = rows["Eq. 14 weights: adversarial, perceptual, style, feature_matching"]
    assert (w.paper, w.profile) == ("0.1, 300, 300, 10", "0.01, 0, 0, 0 (the kit's CPU recipe)")
    assert "streaks" in w.why
    assert (rows["batch size"].paper, rows["batch size"].profile) == ("6", str(q.batch_size))
    assert rows["Adam: lr, betas, D lr"].profile.startswith(f"{q.lr:g}")
    assert rows["training steps (stage 1 / stage 2)"].paper == "until the generators converge"
    assert "VGG of the perceptual / style losses" not in rows            # weights 0: no VGG is loaded at all
    with_vgg = _rows(dataclasses.replace(q, stage2_loss=EDGECONNECT_STAGE2),
                     vgg_source="hed: ImageNet VGG19 weights unavailable (offline)")
    assert "HED's VGG16" in with_vgg["VGG of the perceptual / style losses"].profile
    assert "x4 at a 25 % hole" in rows["L1 term of Eq. 14"].profile       # l1_loss measured, not assumed
    assert rows["CFS gate bias at initialisation (g, G, SE)"].profile.startswith("2 ")
    assert rows["SE in Gi's residual blocks"].profile == "first layer with SE, second without"


def test_full_profile_departs_only_where_the_code_reads_the_paper():
    rows = _rows("full", vgg_source="imagenet")
    assert not {"image size", "batch size", "base width Gs / Gi / D"} & set(rows)
    assert not any(s.startswith(("Eq. 11", "Eq. 14 weights", "VGG")) for s in rows)
    assert "500,000" in rows["training steps (stage 1 / stage 2)"].profile


def test_departures_follow_the_code_when_it_changes(monkeypatch):
    q = get_profile("quick")
    paperlike = dataclasses.replace(q, batch_size=6, stage2_loss=Stage2LossWeights(),
                                    stage1_loss=dataclasses.replace(q.stage1_loss, reconstruction=0.0))
    rows = _rows(paperlike, vgg_source="imagenet")
    assert "batch size" not in rows and "Eq. 11: class-balanced BCE on S_pred" not in rows
    assert not any(s.startswith("Eq. 14 weights") for s in rows)
    from inpaintkit.layers import CFSBlock
    monkeypatch.setattr(CFSBlock, "GATE_BIAS_INIT", 0.0)
    assert "CFS gate bias at initialisation (g, G, SE)" not in _rows(paperlike, vgg_source="imagenet")


def test_departures_table_is_markdown_and_topics_filter():
    table = departures_table("quick", vgg_source="imagenet", topics=("stage1",))
    lines = table.splitlines()
    assert lines[0] == "| setting | paper | `quick` profile | why |" and lines[1] == "|---|---|---|---|"
    assert len(lines) == 2 + len(departures("quick", vgg_source="imagenet", topics=("stage1",)))
    assert all(line.count(" | ") - line.count("\\|") >= 3 for line in lines[2:])
    with pytest.raises(ValueError, match="unknown topics"):
        departures("quick", topics=("losses",))


def test_departures_list_architecture_switches_of_the_profile():
    q = get_profile("quick")
    names = {f.name for f in dataclasses.fields(q)}
    if not {"skips", "prefill"} <= names:
        pytest.skip("this Profile has no skips / prefill switches")
    on = _rows(dataclasses.replace(q, skips=True, prefill=True), vgg_source="imagenet")
    off = _rows(dataclasses.replace(q, skips=False, prefill=False), vgg_source="imagenet")
    assert on["U-Net skip connections"].profile == "skips=True" and "U-Net skip connections" not in off
    start = "what Gi starts from in the hole"
    assert "prefill=True" in on[start].profile and start not in off


def test_the_sketch_row_says_whether_the_profile_thins():
    """quick thins HED's lines to 1 px; demo (the shipped weights) keeps them as HED draws them, and says why."""
    quick = _rows("quick", vgg_source="imagenet")["binary sketch from HED"]
    demo = _rows("demo", vgg_source="imagenet")["binary sketch from HED"]
    assert quick.profile == "HED >= 0.5, thinned to 1 px" and "30-50 %" in quick.why
    assert demo.profile == "HED >= 0.5" and "77 %" in demo.why


FULL_SETTINGS = {
    "CFS gate bias at initialisation (g, G, SE)", "SE in Gi's residual blocks",
    "activation in the residual blocks (Gs, Gi)", "Gi's output layer", "L1 term of Eq. 14",
    "S_comp while Gi trains (stage 2)", "Gs's output before Gi", "Eq. 14's style term",
    "training steps (stage 1 / stage 2)", "Adam: lr, betas, D lr", "binary sketch from HED"}


@pytest.mark.slow
def test_the_full_profiles_objects_are_what_its_table_says():
    """Build what Trainer(1 / 2, "full") builds -- Gs, Gi, Ds, Di at width 64, the stage objects, the loss
    weights, the sketch spec -- and hold each row of departures("full") against them (issue 22)."""
    import torch
    from torch import nn

    from inpaintkit.checkpoints import build_generator
    from inpaintkit.config import Stage1LossWeights
    from inpaintkit.layers import CFSBlock, PartialConv2d
    from inpaintkit.stages import build_discriminator, make_stage

    from conftest import tiny_vgg

    p = get_profile("full")
    rows = _rows(p, vgg_source="imagenet")
    assert set(rows) == FULL_SETTINGS                         # no row missing, none unexpected
    gs, gi = build_generator(1, p), build_generator(2, p)
    ds, di = build_discriminator(1, p), build_discriminator(2, p)
    # sizes, widths, batch, loss weights: the paper's (so no row for them)
    assert (p.image_size, p.batch_size, gs.base_channels, gi.base_channels) == (256, 6, 64, 64)
    assert ds.convs[0].in_channels == 2 and di.convs[0].in_channels == 3
    assert p.stage1_loss == Stage1LossWeights() and p.stage2_loss == Stage2LossWeights()
    assert not gs.skips and not gi.skips and not gi.prefill and gi.block == "cfs" and gs.block == "partial"
    # Gi's output layer: a plain convolution, no activation, squashed by (tanh + 1) / 2; CFS everywhere else
    out = gi.decoder[-1]
    assert isinstance(out.layer, nn.Conv2d) and not isinstance(out.layer, (CFSBlock, PartialConv2d))
    assert not out.activation
    assert rows["Gi's output layer"].profile == \
        "plain convolution (no gates, no SE), no activation, then (tanh + 1) / 2"
    layers = [*gi.encoder, *gi.decoder[:-1], *(b for r in gi.middle for b in (r.block1, r.block2))]
    assert all(isinstance(b.layer, CFSBlock) for b in layers)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        y = gi(x, torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16))
    assert 0 <= float(y.min()) and float(y.max()) <= 1                      # (tanh + 1) / 2
    # residual blocks: B1 activated (with SE in Gi), B2 linear (without SE), in Gs and Gi
    for g in (gs, gi):
        assert all(r.block1.activation and not r.block2.activation for r in g.middle)
    assert all(r.block1.layer.se is not None and r.block2.layer.se is None for r in gi.middle)
    assert rows["activation in the residual blocks (Gs, Gi)"].profile == \
        "y = x + B2(B1(x)): B1 LeakyReLU(0.2), B2 no activation"
    assert rows["SE in Gi's residual blocks"].profile == "first layer with SE, second without"
    # stage 2 trains on the true sketch; with a trained Gs its output is binarised (not thinned) first
    b = {"image": torch.rand(1, 3, 16, 16), "gray": torch.rand(1, 1, 16, 16),
         "sketch": (torch.rand(1, 1, 16, 16) > 0.8).float(), "mask": torch.ones(1, 1, 16, 16)}
    b["mask"][..., :8, :] = 0
    assert make_stage(2, p).composite_sketch(b) is b["sketch"]
    assert rows["S_comp while Gi trains (stage 2)"].profile.startswith("S_gt: the true sketch")
    s_comp = make_stage(2, p, sketch_from_generator=gs).composite_sketch(b)
    with torch.no_grad():
        soft = gs(b["gray"], b["sketch"], b["mask"])
    assert torch.equal(s_comp[..., :8, :], (soft >= p.sketch_threshold).float()[..., :8, :])   # binarised, unthinned
    assert rows["Gs's output before Gi"].profile.startswith("binarised at 0.5 (")
    assert "thinned" not in rows["Gs's output before Gi"].profile and not p.sketch_spec().thin
    assert rows["binary sketch from HED"].profile == "HED >= 0.5"
    # Eq. 14's style term compares the whole images: a change in the known region alone changes it
    stage = make_stage(2, p, vgg=tiny_vgg())
    pred = b["image"].clone()
    pred[..., -4:, :] = 1 - pred[..., -4:, :]                               # rows 12-15: known pixels only
    feats = [torch.zeros(1, 1, 2, 2)]
    _, terms = stage.generator_loss(pred, b, torch.zeros(1, 1, 2, 2), feats, feats)
    assert float(terms["style"]) > 0 and "whole images" in rows["Eq. 14's style term"].profile
