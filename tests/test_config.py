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
    assert dataclasses.astuple(p.stage1_loss) == (0.1, 10.0, 0.0, 0.0)                      # Eq. 11, nothing added
    assert p.joint_steps == 0 and not p.prefill                                             # no joint stage, no fill
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
    with pytest.raises(ValueError, match="practice_size=40 is not a multiple of 16"):
        dataclasses.replace(get_profile("smoke"), practice_size=40)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error():
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


def test_the_rehearsal_is_full_with_only_counts_shrunk():
    r, f = get_profile("rehearse"), get_profile("full")
    counts = {"stage1_steps", "stage2_steps", "log_every", "sample_every", "checkpoint_every", "eval_images",
              "ablation_steps", "ablation_seeds", "practice_steps"}
    differ = {fl.name for fl in dataclasses.fields(f) if getattr(r, fl.name) != getattr(f, fl.name)}
    assert differ == counts | {"name"}, f"the rehearsal changes {sorted(differ - counts - {'name'})} too"
    for name in counts - {"ablation_seeds"}:
        assert 0 < getattr(r, name) < getattr(f, name), name                 # shrunk, not grown or zeroed
    assert 0 < len(r.ablation_seeds) < len(f.ablation_seeds)
    # the parts a first run fails on: widths, size, batch, workers, sketch, VGG, data
    assert (r.image_size, r.gs_channels, r.gi_channels, r.d_channels, r.batch_size) == (256, 64, 64, 64, 6)
    assert r.num_workers == f.num_workers and r.sketch_spec() == f.sketch_spec()
    assert (r.needs_real_data, r.vgg, r.stage2_loss) == (True, "imagenet", f.stage2_loss)


def test_the_practice_runs_stay_small_where_the_profile_is_the_papers():
    # the student's float64 runs (inpaintkit.practice): at the paper's width Gi alone is 124 M parameters, ~9 GB with
    # Adam's state in float64; the practice scale keeps every profile's run under a laptop's memory
    for name in PROFILES:
        p = get_profile(name)
        assert p.practice_size <= min(p.image_size, 128) and p.practice_width <= min(p.gi_channels, 32), name
    # the tutorial's profiles practise at their own scale, as before the fields existed
    for name in ("smoke", "quick"):
        p = get_profile(name)
        assert (p.practice_size, p.practice_width) == (p.image_size, p.gi_channels), name
