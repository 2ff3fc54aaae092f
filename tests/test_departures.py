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
