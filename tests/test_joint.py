"""The joint stage (Gs trained through the fill it guides) and the serving choices it brings: Gs served soft,
Gi's correction on or off, the ladder's columns."""

import copy
import json
from dataclasses import replace

import pytest
import torch

from inpaintkit import losses
from inpaintkit.baselines import Method, available_methods
from inpaintkit.checkpoints import read_checkpoint
from inpaintkit.config import KIT_JOINT, Stage1LossWeights, get_profile
from inpaintkit.fill import smooth_fill
from inpaintkit.networks import composite, image_generator, sketch_generator
from inpaintkit.pipeline import Inpainter, read_serving, write_serving
from inpaintkit.train import Trainer, main, read_losses

from conftest import TinyData, tiny_vgg

SMOKE = get_profile("smoke")


def _trainer(stage, run_dir, **kw):
    kw.setdefault("data", TinyData())
    return Trainer(stage, kw.pop("profile", SMOKE), run_dir, device="cpu", progress=False, **kw)


def test_fill_l1_is_the_hole_error_of_the_fill_of_s_comp():
    """By hand: S_comp from the prediction in the hole and the true sketch outside, filled, |. - I| averaged over
    the hole's pixels and the 3 channels."""
    torch.manual_seed(0)
    image, target = torch.rand(2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.8).float()
    pred = torch.rand(2, 1, 16, 16, requires_grad=True)
    mask = torch.ones(2, 1, 16, 16)
    mask[..., 4:12, 3:13] = 0
    filled = smooth_fill(image, mask, pred.detach() * (1 - mask) + target * mask)
    expected = ((filled - image).abs() * (1 - mask)).sum() / ((1 - mask).sum() * 3)
    got = losses.fill_l1(pred, target, image, mask)
    torch.testing.assert_close(got, expected)
    got.backward()
    assert pred.grad[..., 4:12, 3:13].abs().sum() > 0                          # the hole's lines get a gradient
    assert pred.grad * mask == pytest.approx(0)                                # known pixels are S_gt's, not Gs's


def test_stage1_loss_adds_the_fill_term_only_when_weighted():
    torch.manual_seed(0)
    logits, feats = torch.randn(2, 1, 4, 4), [torch.randn(2, 4, 8, 8)]
    image, target, mask = torch.rand(2, 3, 16, 16), (torch.rand(2, 1, 16, 16) > 0.8).float(), torch.ones(2, 1, 16, 16)
    mask[..., 4:12, 4:12] = 0
    pred = torch.rand(2, 1, 16, 16)
    base, terms = losses.stage1_generator_loss(logits, feats, feats, Stage1LossWeights(reconstruction=1.0),
                                               pred=pred, target=target, mask=mask)
    assert "fill" not in terms
    total, terms = losses.stage1_generator_loss(logits, feats, feats, Stage1LossWeights(reconstruction=1.0, fill=3.0),
                                                pred=pred, target=target, mask=mask, image=image)
    torch.testing.assert_close(total, base + 3.0 * losses.fill_l1(pred, target, image, mask))
    with pytest.raises(ValueError, match="needs pred"):
        losses.stage1_generator_loss(logits, feats, feats, KIT_JOINT, pred=pred, target=target, mask=mask)


def test_joint_stage_starts_from_stage1_trains_through_the_fill_and_resumes(tmp_path):
    s1 = _trainer(1, tmp_path)
    s1.fit()
    joint = _trainer("joint", tmp_path)
    assert joint.stage_dir == tmp_path / "joint" and joint.total_steps == SMOKE.joint_steps
    stage1 = read_checkpoint(tmp_path / "stage1" / "checkpoint.pt")
    for k, v in joint.generator.state_dict().items():                           # Gs and Ds start where stage 1 ended
        torch.testing.assert_close(v, stage1["generator"][k])
    assert joint.step == 0 and "stage1/checkpoint.pt (step 6)" in joint.config()["init_from"]
    before = copy.deepcopy(joint.generator.state_dict())
    joint.fit(2)
    rows = read_losses(tmp_path, "joint")
    assert rows["step"] == [2] and rows["g_fill"][0] > 0                          # the fill's L1 is logged
    moved = [k for k, v in joint.generator.state_dict().items() if not torch.equal(v, before[k])]
    assert moved                                                                 # and trains Gs
    resumed = _trainer("joint", tmp_path, resume=True)
    assert resumed.step == 2                                                     # from its own checkpoint
    resumed.fit()
    assert read_losses(tmp_path, "joint")["step"] == [2, 4]


def test_joint_stage_continues_another_runs_joint_stage_at_another_size(tmp_path):
    _trainer(1, tmp_path / "a").fit()
    first = _trainer("joint", tmp_path / "a")
    first.fit(2)
    bigger = _trainer("joint", tmp_path / "b", profile=replace(SMOKE, image_size=64), data=TinyData(size=64),
                      init_from=str(tmp_path / "a" / "joint"))
    for k, v in bigger.generator.state_dict().items():                          # from the joint Gs, not stage 1's
        torch.testing.assert_close(v, first.generator.state_dict()[k])
    for k, v in bigger.discriminator.state_dict().items():                      # and its Ds
        torch.testing.assert_close(v, first.discriminator.state_dict()[k])
    assert "a/joint/checkpoint.pt (step 2)" in bigger.config()["init_from"]
    bigger.fit(1)
    assert bigger._sample_batch["image"].shape[-1] == 64 and read_losses(tmp_path / "b", "joint")["step"] == [1]
    with pytest.raises(ValueError, match="gs_channels=8, this profile has 16"):     # another network is refused
        _trainer("joint", tmp_path / "c", profile=replace(SMOKE, gs_channels=16),
                 init_from=str(tmp_path / "a" / "joint"))
    _trainer(2, tmp_path / "d", vgg=tiny_vgg()).fit(1)
    with pytest.raises(ValueError, match="stage-2 checkpoint"):
        _trainer("joint", tmp_path / "e", init_from=str(tmp_path / "d" / "stage2"))


def test_cli_trains_at_another_image_size(tmp_path, capsys, monkeypatch):
    import inpaintkit.train as train_module

    made = []

    class Recorder:                    # the CLI's Trainer, recorded instead of trained (no demo set at 64 px here)
        def __init__(self, stage, profile, run_dir, **kw):
            made.append(profile)
            self.is_main, self.step, self.stage_dir = True, 0, tmp_path

        def fit(self):
            pass

    monkeypatch.setattr(train_module, "Trainer", Recorder)
    assert main(["--stage", "joint", "--profile", "smoke", "--run-dir", str(tmp_path), "--image-size", "64"]) == 0
    assert made[-1] == replace(SMOKE, image_size=64)
    assert main(["--stage", "1", "--profile", "smoke", "--run-dir", str(tmp_path)]) == 0
    assert made[-1] == SMOKE
    assert main(["--stage", "1", "--profile", "smoke", "--run-dir", str(tmp_path / "x"), "--image-size", "40"]) == 2
    assert "image_size=40 is not a multiple of 16" in capsys.readouterr().err


def test_joint_stage_refuses_without_a_stage1_or_a_fill(tmp_path):
    with pytest.raises(FileNotFoundError, match="train stage 1 first"):
        _trainer("joint", tmp_path / "empty")
    with pytest.raises(ValueError, match="prefill=False"):
        _trainer("joint", tmp_path / "x", profile=replace(SMOKE, prefill=False))
    with pytest.raises(ValueError, match="init_from is for the joint stage"):
        _trainer(1, tmp_path / "y", init_from="demo")


def test_cli_takes_stage_joint(tmp_path, capsys):
    assert main(["--stage", "1", "--profile", "smoke", "--run-dir", str(tmp_path), "--no-progress",
                 "--steps", "2"]) == 0
    assert main(["--stage", "joint", "--profile", "smoke", "--run-dir", str(tmp_path), "--no-progress",
                 "--steps", "2"]) == 0
    assert (tmp_path / "joint" / "generator.pt").is_file()
    assert json.loads((tmp_path / "joint" / "config.json").read_text())["stage"] == "joint"
    assert main(["--stage", "joint", "--profile", "smoke", "--run-dir", str(tmp_path / "none"), "--no-progress"]) == 2
    assert "train stage 1 first" in capsys.readouterr().err


def test_correction_off_serves_the_fill_exactly(tiny_inpainter):
    torch.manual_seed(0)
    x, m = torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32)
    m[..., 8:24, 8:20] = 0
    s = (torch.rand(2, 1, 32, 32) > 0.8).float()
    gi = image_generator(4, prefill=True)
    with torch.no_grad():                                                    # a correction that is not zero
        gi.decoder[-1].layer.weight.normal_(0, 0.5)
    served = Inpainter(sketch_generator(4), gi, sketch_spec=tiny_inpainter.sketch_spec, hed=tiny_inpainter.hed,
                       device="cpu")
    inp = served.variant(correction=False)
    assert served.correction and not inp.correction and inp.gi is served.gi
    fill = composite(smooth_fill(x, m, s), x, m)
    torch.testing.assert_close(inp.complete(x, s, m).image, fill)
    assert (served.complete(x, s, m).image - fill).abs().max() > 0.01


def test_serving_json_sets_gi_correction_and_the_joint_gs_serves_soft(tmp_path):
    _trainer(1, tmp_path, steps=2).fit()
    _trainer(2, tmp_path, steps=2, vgg=tiny_vgg()).fit()
    inp = Inpainter.from_run(tmp_path, device="cpu")
    assert inp.correction and inp.finish_sketch and inp.stage1_gs is None
    _, skipped = available_methods(inp)
    assert Method.STAGE1_SKETCH in skipped and Method.GI_CORRECTED in skipped and Method.FILL_ONLY not in skipped
    write_serving(tmp_path, False, "lost to its fill", gain_db={"10-20": -0.2})
    _trainer("joint", tmp_path, steps=2).fit()
    inp = Inpainter.from_run(tmp_path, device="cpu")
    assert read_serving(tmp_path)["why"] == "lost to its fill"
    assert not inp.correction and not inp.finish_sketch and inp.stage1_gs is not None
    joint = read_checkpoint(tmp_path / "joint" / "generator.pt")["generator"]
    assert all(torch.equal(v, joint[k]) for k, v in inp.gs.state_dict().items())
    methods, skipped = available_methods(inp)
    assert {Method.STAGE1_SKETCH, Method.GI_CORRECTED} <= set(methods) and Method.FILL_ONLY in skipped


def _summary(rows: dict) -> dict:
    """evaluate's summary, {method: {bucket: {"psnr": {"mean": v, "n": 4}}}}, from {method: [four PSNRs]}."""
    buckets = ("10-20", "20-30", "30-40", "40-50")
    return {m: {b: {"psnr": {"mean": v, "n": 4}} for b, v in zip(buckets, vals)} for m, vals in rows.items()}


def test_ladder_verdicts_read_the_targets_from_the_table():
    from inpaintkit.table1 import ladder_verdicts

    s = _summary({Method.BIHARMONIC: [30.0, 27.0, 25.0, 23.0], Method.NO_SKETCH: [30.0, 27.0, 25.0, 23.0],
                  Method.EMPTIED_SKETCH: [29.8, 26.8, 24.8, 22.8], Method.STAGE1_SKETCH: [29.9, 27.0, 25.0, 23.0],
                  Method.OURS: [30.2, 27.3, 25.1, 22.9], Method.ORACLE_SKETCH: [30.8, 27.8, 25.8, 23.8],
                  Method.GI_CORRECTED: [30.1, 27.2, 25.2, 22.9]})
    lines = ladder_verdicts({"summary": s})
    # ours - no sketch: +0.2, +0.3, +0.1, -0.1 -> not met (40-50 % below)
    assert lines[0].endswith("NOT met") and ">=40% -0.10 dB" in lines[0]
    # gap at 20-30: 27.8 - 26.8 = 1.0; stage 1 closes 0.2 / 1.0, ours 0.5 / 1.0 -> met
    assert "+1.00 dB" in lines[1] and "Gs of stage 1 20%" in lines[1] and "ours 50%" in lines[1]
    assert lines[1].endswith("met") and "NOT" not in lines[1]
    # served without the correction: correction - fill = gi_corrected - ours = -0.1, -0.1, +0.1, 0.0
    assert "served without it" in lines[2] and "10-20% -0.10" in lines[2] and lines[2].endswith("NOT met")
    assert lines[3] == "ours minus biharmonic: 10-20% +0.20 dB, 20-30% +0.30 dB; at or above at 10-30 %: met"


def test_sketch_strength_scales_gs_lines_in_the_hole_only(tiny_inpainter):
    """Strength 0 leaves no line of Gs in the hole: with known pixels conducting, the fill is then exactly the fill
    given no sketch; strength a scales Gs's soft output in the hole, the known sketch is kept as given."""
    torch.manual_seed(1)
    x, m = torch.rand(1, 3, 32, 32), torch.ones(1, 1, 32, 32)
    m[..., 6:26, 4:22] = 0
    s = (torch.rand(1, 1, 32, 32) > 0.7).float()                            # the full image's (true) sketch
    gs = sketch_generator(4)
    gs.forward = lambda gray, sketch, mask: torch.full_like(mask, 0.8)      # a Gs that draws 0.8 everywhere
    inp = Inpainter(gs, image_generator(4, prefill=True), sketch_spec=tiny_inpainter.sketch_spec,
                    hed=tiny_inpainter.hed, device="cpu").variant(correction=False, finish_sketch=False)
    full, half, off = (inp.variant(sketch_strength=a)(x, m, sketch=s) for a in (1.0, 0.5, 0.0))
    hole = (m[0, 0] == 0).numpy()
    assert (full.sketch[0][hole] == 0.8).all() and (half.sketch[0][hole] == 0.4).all()
    assert (off.sketch[0][hole] == 0).all() and (half.sketch[0][~hole] == s[0, 0].numpy()[~hole]).all()
    no_sketch = composite(smooth_fill(x, m, torch.zeros_like(m)), x, m)
    torch.testing.assert_close(off.image, no_sketch, atol=1e-6, rtol=0)
    assert (full.image - off.image).abs().max() > 0.01


def test_choose_strength_takes_the_best_worst_bucket_then_the_best_mean(monkeypatch):
    """The rule on hand-made tables: gains over no sketch per strength, 1.0: +0.6/+0.5/-0.1/+0.4 (worst -0.1),
    0.75: +0.3/+0.3/+0.2/+0.2 (worst +0.2, mean +0.25), 0.5: +0.2/+0.25/+0.2/+0.2 (worst +0.2, mean +0.2125)."""
    from inpaintkit import evaluate as ev

    none = [30.0, 27.0, 25.0, 23.0]
    ours = {1.0: [30.6, 27.5, 24.9, 23.4], 0.75: [30.3, 27.3, 25.2, 23.2], 0.5: [30.2, 27.25, 25.2, 23.2]}

    def fake_evaluate(inpainter, *, methods, **kw):
        rows = {Method.OURS: ours[inpainter.sketch_strength]}
        if "no_sketch" in methods:
            rows[Method.NO_SKETCH] = none
        return {"summary": _summary(rows)}

    monkeypatch.setattr(ev, "evaluate", fake_evaluate)
    inp = Inpainter(sketch_generator(4), image_generator(4, prefill=True), device="cpu")
    r = ev.choose_strength(inp, "val.flist", profile="smoke")
    assert r["strength"] == 0.75 and inp.sketch_strength == 1.0
    assert r["gain_db"][1.0]["30-40"] == pytest.approx(-0.1)
    assert "worst +0.20 dB" not in r["why"] and "sketch strength 0.75: its worst bucket gains +0.20 dB" in r["why"]
    ours[0.5] = [30.3, 27.3, 25.25, 23.25]                                  # worst +0.25: now 0.5 wins on the worst
    assert ev.choose_strength(inp, "val.flist", profile="smoke")["strength"] == 0.5


def test_serving_choices_keep_each_other_and_from_run_reads_the_strength(tmp_path):
    from inpaintkit.pipeline import write_strength

    write_strength(tmp_path, 0.75, "worst bucket best", {"0.75": {"10-20": 0.1}})
    write_serving(tmp_path, False, "lost to its fill")
    write_strength(tmp_path, 0.5, "again", {})
    d = read_serving(tmp_path)
    assert d["sketch_strength"] == 0.5 and d["gi_correction"] is False and d["why"] == "lost to its fill"
    _trainer(1, tmp_path, steps=2).fit()
    _trainer(2, tmp_path, steps=2, vgg=tiny_vgg()).fit()
    inp = Inpainter.from_run(tmp_path, device="cpu")
    assert inp.sketch_strength == 0.5 and not inp.correction
