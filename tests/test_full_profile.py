"""The full profile's training path on the CPU (issue 22): one bf16-autocast step per stage of the full
architecture (widths 64, no skips, no prefill, CFS blocks, Eq. 11 and Eq. 14 at the paper's weights) with a
VGG19 (torchvision's architecture, random weights) behind Eq. 14's perceptual and style terms. 64 px instead of
256 keeps a step in seconds; everything else is the full profile's."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from inpaintkit.config import Stage1LossWeights, Stage2LossWeights, get_profile
from inpaintkit.train import Trainer

from conftest import TinyData

SIZE = 64


@pytest.mark.slow
@pytest.mark.parametrize("stage", [1, 2])
def test_one_bf16_step_of_the_full_architecture(tmp_path, monkeypatch, stage):
    full = get_profile("full")
    p = replace(full, image_size=SIZE, batch_size=2, num_workers=0, stage1_steps=1, stage2_steps=1)
    t = Trainer(stage, p, tmp_path, device="cpu", data=TinyData(n=4, size=SIZE, holes="irregular"), progress=False,
                precision="bf16", vgg="vgg19-random")
    g = t.generator
    assert (g.base_channels, g.skips, getattr(g, "prefill", False)) == (64, False, False)
    assert g.block == ("partial" if stage == 1 else "cfs")
    assert p.stage1_loss == Stage1LossWeights() and p.stage2_loss == Stage2LossWeights()     # Eq. 11, Eq. 14
    if stage == 2:
        convs = [m for m in t.vgg.features if isinstance(m, nn.Conv2d)]
        # VGG19 up to relu5_2 (its last style layer): 2 + 2 + 4 + 4 + 2 convolutions
        assert [c.out_channels for c in convs] == [64] * 2 + [128] * 2 + [256] * 4 + [512] * 6
        assert t.vgg_source.startswith("vgg19-random")
    dtypes, conv2d = [], torch.nn.functional.conv2d      # every convolution (G, D, VGG, partial convs' masks)

    def recording_conv2d(*args, **kw):
        out = conv2d(*args, **kw)
        dtypes.append(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.functional, "conv2d", recording_conv2d)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    batch = torch.utils.data.default_collate([t.dataset[(1, i, i)] for i in range(2)])
    terms = t.train_step(batch)
    assert t.precision == "bf16" and len(dtypes) >= 16 + 5 * 2         # G's 16 or more convs, D's 5 on real + fake
    assert set(dtypes) == {torch.bfloat16}                                  # each ran under bf16 autocast
    assert all(torch.isfinite(v) for v in terms.values())
    if stage == 2:
        assert terms["g_perceptual"] > 0 and terms["g_l1"] > 0                 # Eq. 14's VGG terms were computed
    changed = [k for k, v in g.state_dict().items() if "original" in k and not torch.equal(v, before[k])]
    assert changed and all(v.dtype == torch.float32 for v in g.state_dict().values() if v.is_floating_point())
