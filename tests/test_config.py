"""Profiles are data: valid, complete, round-trippable, and the paper's numbers are where they belong."""

import dataclasses

import pytest
import torch

from inpaintkit.config import PROFILES, Profile, get_profile, resolve_device


@pytest.mark.parametrize("name", PROFILES)
def test_profiles_are_valid_and_round_trip(name):
    p = get_profile(name)
    assert p.name == name and p.image_size % 16 == 0
    assert Profile.from_dict(p.to_dict()) == p
    assert p.checkpoint_every <= max(p.stage1_steps, p.stage2_steps)


def test_full_profile_is_the_paper():
    p = get_profile("full")
    assert (p.image_size, p.gs_channels, p.gi_channels, p.batch_size) == (256, 64, 64, 6)    # Sec. 4
    assert (p.lr, p.betas, p.d_lr_ratio) == (1e-4, (0.0, 0.9), 0.1)                        # EdgeConnect's Adam
    assert dataclasses.astuple(p.stage1_loss) == (0.1, 10.0, 0.0)                           # Eq. 11, nothing added
    assert dataclasses.astuple(p.stage2_loss) == (1.0, 0.1, 300.0, 300.0, 10.0)             # Eq. 14


def test_profiles_grow_from_smoke_to_full():
    s, q, f = (get_profile(n) for n in ("smoke", "quick", "full"))
    assert s.image_size < q.image_size < f.image_size
    assert s.stage1_steps < q.stage1_steps < f.stage1_steps


def test_gpu_profile_is_the_full_networks_for_a_few_hundred_steps():
    g, f = get_profile("gpu"), get_profile("full")
    same = ("image_size", "gs_channels", "gi_channels", "d_channels", "batch_size", "lr", "stage1_loss", "stage2_loss",
            "needs_real_data", "vgg")
    assert {k: getattr(g, k) for k in same} == {k: getattr(f, k) for k in same}
    assert 100 <= g.stage1_steps <= 1000 and 100 <= g.stage2_steps <= 1000
    assert (f.needs_real_data, f.vgg) == (True, "imagenet")              # Places2 and torchvision's VGG19
    assert not get_profile("quick").needs_real_data


def test_env_var_picks_the_profile(monkeypatch):
    monkeypatch.setenv("INPAINTKIT_PROFILE", "smoke")
    assert get_profile().name == "smoke"
    monkeypatch.delenv("INPAINTKIT_PROFILE")
    assert get_profile().name == "quick"


def test_bad_profile_and_size_name_the_fix():
    with pytest.raises(ValueError, match="smoke, quick, demo, full"):
        get_profile("huge")
    with pytest.raises(ValueError, match="multiple of 16"):
        dataclasses.replace(get_profile("smoke"), image_size=40)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error():
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


# ---- departures(profile): the paper's value beside the profile's, read from the live code ------------

from inpaintkit.config import Stage2LossWeights, departures, departures_table  # noqa: E402


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
    assert "HED's VGG16" in rows["VGG of the perceptual / style losses"].profile
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
    assert "prefill=True" in on["what Gi starts from in the hole"].profile and "what Gi starts from in the hole" not in off
