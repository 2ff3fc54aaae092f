"""inpaintkit.cost: FLOPs counted on modules small enough to count by hand, and the arithmetic from FLOPs per
image per step to a profile's total and GPU-hours."""

import json
from dataclasses import replace

import pytest
import torch
from torch import nn

from inpaintkit import cost
from inpaintkit.config import get_profile

TINY = replace(get_profile("full"), image_size=32, gs_channels=8, gi_channels=8, d_channels=8, batch_size=6,
               stage1_steps=10, stage2_steps=20, eval_images=5)


def test_count_flops_of_a_convolution_forward_and_backward_by_hand():
    conv = nn.Conv2d(2, 3, kernel_size=3, padding=1, bias=False)
    x = torch.rand(1, 2, 8, 8, requires_grad=True)
    forward = 2 * (8 * 8) * 3 * (2 * 3 * 3)                # 2 FLOPs x output pixels x C_out x (C_in x k x k) = 6912
    assert cost.count_flops(lambda: conv(x)) == forward == 6912
    assert cost.count_flops(lambda: conv(x).sum().backward()) == 3 * forward   # + grad of the input + of the weight
    lin = nn.Linear(5, 4)
    assert cost.count_flops(lambda: lin(torch.rand(3, 5))) == 2 * 3 * 5 * 4


def test_gpu_hours_and_mfu_by_hand(tmp_path):
    assert cost.gpu_hours(cost.H100_BF16_PEAK * 0.3 * 3600, 0.3) == pytest.approx(1.0)
    assert cost.gpu_hours(1e18, 0.1) == pytest.approx(1e18 / (989.4e12 * 0.1) / 3600)
    with pytest.raises(ValueError, match="MFU"):
        cost.gpu_hours(1e18, 0.0)
    md = tmp_path / "gpu_check.md"
    md.write_text("| stage (train_step, resident batch) | batch | images/s | TFLOP/s | MFU (bf16 dense peak) "
                  "| peak memory |\n|---|---:|---:|---:|---:|---:|\n| 1 (bf16) | 6 | 900.0 | 90.00 | 9.1% | 3.0 GiB |\n"
                  "| 2 (bf16) | 6 | 600.0 | 300.00 | 30.3% | 20.0 GiB |\n")
    assert cost.read_mfu(md) == pytest.approx({1: 0.091, 2: 0.303})
    js = tmp_path / "gpu_check.json"
    js.write_text(json.dumps({"stages": [{"stage": 1, "mfu": 0.2}, {"stage": 2, "mfu": None}]}))
    assert cost.read_mfu(js) == {1: 0.2}
    js.write_text(json.dumps({"stages": [{"stage": 1, "mfu": None}]}))       # a CPU run measures none
    with pytest.raises(ValueError, match="no measured MFU"):
        cost.read_mfu(js)


def test_profile_totals_are_flops_per_image_times_batch_times_steps(monkeypatch):
    """Stand-in per-image figures (measured at 32 px, scaled to 64 px: x4; HED always at the profile's size)."""
    parts = dict(generator_forward=1, discriminator_forward=2, vgg_forward=0, backward=3, other=0)
    monkeypatch.setattr(cost, "step_flops", lambda stage, p: cost.StageCost(stage, 100 * stage, **parts))
    monkeypatch.setattr(cost, "inference_flops", lambda p: {"gs": 7, "gi": 11})
    monkeypatch.setattr(cost, "hed_flops", lambda p: 13 * p.image_size)
    c = cost.run_cost(replace(TINY, image_size=64), measure_size=32)
    assert c["scale"] == 4 and c["per_image_step"] == {"stage1": 400, "stage2": 800}
    assert c["totals"] == {"stage1": 400 * 6 * 10, "stage2": 800 * 6 * 20, "hed_places2_train": 13 * 64 * 1_803_460,
                           "table1_evaluation": (13 * 64 + 4 * 7 + 4 * 11) * 5 * 4}
    assert c["whole_test_set"] == (13 * 64 + 4 * 7 + 4 * 11) * 328_500          # beside the totals, not in them
    text = cost.format_cost(c)
    whole = c["whole_test_set"] / (989.4e12 * 0.3) / 3600
    assert f"Table 1 on all 328,500 Places365 test images instead: {cost._fmt(c['whole_test_set'])}, {whole:.3g} / " \
        in text
    assert "| stage 1: 10 steps x 6 | 2.4e+04 FLOP |" in text
    hours = sum(c["totals"].values()) / (989.4e12 * 0.3) / 3600
    assert f"| **all of it** | {cost._fmt(sum(c['totals'].values()))} | {hours:.3g} |" in text
    measured = cost.format_cost(c, {1: 0.5, 2: 0.25})
    assert f"| stage 2: 20 steps x 6 | 9.6e+04 FLOP | {96000 / (989.4e12 * 0.25) / 3600:.3g} (25.0%) |" in measured


@pytest.mark.slow
def test_step_flops_of_a_tiny_full_architecture_scale_with_the_pixels():
    """Measured, not assumed: a training step's FLOPs at 64 px are 4x those at 32 px (the squeeze-excitation's
    linear layers aside), stage 2 counts its VGG19, and the parts add up to the total."""
    small, big = (cost.step_flops(2, replace(TINY, image_size=s)) for s in (32, 64))
    assert big.total / small.total == pytest.approx(4, rel=1e-3)
    assert small.vgg_forward > 0 and small.generator_forward > 0 and small.discriminator_forward > 0
    assert small.backward + small.generator_forward + small.discriminator_forward + small.vgg_forward + small.other \
        == small.total
    s1 = cost.step_flops(1, TINY)
    assert s1.vgg_forward == 0 and s1.other == 0 and s1.total < small.total


def test_cli_refuses_a_bad_measure_size(capsys):
    assert cost.main(["--profile", "full", "--measure-size", "50"]) == 2
    assert "multiple of 16" in capsys.readouterr().err
