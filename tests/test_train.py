"""Trainers: one step against a hand-written reference, the data schedule, checkpoints, exact resume
after SIGKILL, the NaN guard, the CLI and the 2-process gloo DDP path."""

import copy
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from inpaintkit import masks, networks, train
from inpaintkit.checkpoints import read_checkpoint
from inpaintkit.config import get_profile
from inpaintkit.sketches import binarize
from inpaintkit.train import NonFiniteLossError, Trainer, load_generator, read_losses

from conftest import TinyData, tiny_vgg, write_photos

REPO = Path(__file__).resolve().parents[1]
SMOKE = get_profile("smoke")   # 32 px, widths 8, batch 4, 6 steps, log 2, samples/checkpoints every 3
LOSS_COLUMNS = {1: ["g_adversarial", "g_feature_matching", "g_total", "d_hinge"],
                2: ["g_l1", "g_adversarial", "g_perceptual", "g_style", "g_feature_matching", "g_total", "d_hinge"]}


def trainer(stage, run_dir, **kw):
    kw.setdefault("data", TinyData())
    kw.setdefault("device", "cpu")
    kw.setdefault("progress", False)
    if stage == 2:
        kw.setdefault("vgg", tiny_vgg())
    return Trainer(stage, kw.pop("profile", SMOKE), run_dir, **kw)


def freeze_power_iteration(*modules):
    """Spectral norm's power iteration off, so the reference may call D twice (real, fake) where the
    trainer calls it once on both: the normalised weights are then the same in both."""
    for m in modules:
        for mod in m.modules():
            if hasattr(mod, "n_power_iterations"):
                mod.n_power_iterations = 0


# ------------------------------------------------------------------------------------- one step

def test_stage1_step_matches_hand_written_reference(tmp_path):
    t = trainer(1, tmp_path)
    freeze_power_iteration(t.generator, t.discriminator)
    G, D = copy.deepcopy(t.generator), copy.deepcopy(t.discriminator)
    batch = torch.utils.data.default_collate([TinyData()[i] for i in range(4)])
    terms = t.train_step(batch)

    # reference: Eq. 9, Eq. 11 (0.1 adversarial + 10 FM, written out here), Eq. 12; D sees the real gray
    gray, sketch, mask = batch["gray"], batch["sketch"], batch["mask"]
    pred = G(gray, sketch, mask)
    real_logits, real_feats = D(torch.cat([sketch, gray], 1))
    fake_logits, fake_feats = D(torch.cat([pred, gray], 1))
    adv = -fake_logits.mean()
    fm = sum((r.detach() - f).abs().mean() for r, f in zip(real_feats, fake_feats))
    g_loss = 0.1 * adv + 10 * fm
    d_loss = F.relu(1 - real_logits).mean() + F.relu(1 + D(torch.cat([pred.detach(), gray], 1))[0]).mean()
    g_grads = torch.autograd.grad(g_loss, list(G.parameters()))
    d_grads = torch.autograd.grad(d_loss, list(D.parameters()))
    for params, grads, lr in ((G.parameters(), g_grads, 1e-4), (D.parameters(), d_grads, 1e-5)):  # D lr = 0.1 x
        params = list(params)
        for p, g in zip(params, grads):
            p.grad = g
        torch.optim.Adam(params, lr=lr, betas=(0.0, 0.9)).step()

    assert terms["g_adversarial"].item() == pytest.approx(adv.item(), abs=1e-6)
    assert terms["g_feature_matching"].item() == pytest.approx(fm.item(), rel=1e-5)
    assert terms["g_total"].item() == pytest.approx(g_loss.item(), rel=1e-5)
    assert terms["d_hinge"].item() == pytest.approx(d_loss.item(), rel=1e-5)
    for ours, ref, grads in ((t.generator, G, g_grads), (t.discriminator, D, d_grads)):
        for (name, a), b, g in zip(ours.named_parameters(), ref.parameters(), grads):
            # G got only the G loss's gradient, D only the D loss's (D frozen in the G step)
            torch.testing.assert_close(a.grad, g, atol=1e-7, rtol=1e-4, msg=name)
            # the first Adam step is lr * g / (|g| + eps): float noise in near-zero gradients (1e-9)
            # flips its sign, so compare the updated weights where the gradient is clearly non-zero
            big = g.abs() > 1e-6
            torch.testing.assert_close(a[big], b[big], atol=1e-7, rtol=0, msg=name)
    # and the step did move every network (first Adam step: |change| = lr for non-zero gradients)
    d0 = dict(copy.deepcopy(trainer(1, tmp_path / "fresh").discriminator).named_parameters())
    moved = max((a - d0[n]).abs().max().item() for n, a in t.discriminator.named_parameters())
    assert moved == pytest.approx(1e-5, rel=1e-3)


def test_stage2_step_matches_reference(tmp_path):
    from inpaintkit import losses

    t = trainer(2, tmp_path)
    freeze_power_iteration(t.generator, t.discriminator)
    G, D = copy.deepcopy(t.generator), copy.deepcopy(t.discriminator)
    batch = torch.utils.data.default_collate([TinyData()[i] for i in range(4)])
    terms = t.train_step(batch)

    image, sketch, mask = batch["image"], batch["sketch"], batch["mask"]
    pred = G(image, sketch, mask)                     # S_comp = S_gt by default
    _, real_feats = D(image)
    fake_logits, fake_feats = D(pred)                 # raw prediction, not the composite
    _, ref = losses.stage2_generator_loss(pred, image, fake_logits, real_feats, fake_feats, t.vgg,
                                          SMOKE.stage2_loss, mask=mask)
    for k, v in ref.items():
        assert terms[f"g_{k}"].item() == pytest.approx(v.item(), rel=1e-5), k
    # Eq. 14's weights by hand
    w = (1 * ref["l1"] + 0.1 * ref["adversarial"] + 300 * ref["perceptual"] + 300 * ref["style"]
         + 10 * ref["feature_matching"])
    assert terms["g_total"].item() == pytest.approx(w.item(), rel=1e-5)


def test_stage2_composite_sketch_default_and_from_stage1(tmp_path):
    t1 = trainer(1, tmp_path)
    t1.fit(3)
    b = torch.utils.data.default_collate([TinyData()[i] for i in range(2)])
    plain = trainer(2, tmp_path / "a")
    assert torch.equal(plain.task.composite_sketch(b), b["sketch"])
    t2 = trainer(2, tmp_path / "b", sketch_from_generator=tmp_path)
    s_comp = t2.task.composite_sketch(b)
    spec = t2.profile.sketch_spec()
    with torch.no_grad():   # Gs's prediction binarised and thinned like the training sketches (S_gt's form)
        s_pred = binarize(load_generator(tmp_path, 1)(b["gray"], b["sketch"], b["mask"]), spec.threshold, spec.thin)
    assert set(s_pred.unique().tolist()) <= {0.0, 1.0}
    known, hole = b["mask"].bool(), ~b["mask"].bool()
    assert torch.equal(s_comp[known], b["sketch"][known])       # composite keeps S_gt where M = 1
    torch.testing.assert_close(s_comp[hole], s_pred[hole])       # and Gs's prediction in the hole
    assert not torch.equal(s_comp[hole], b["sketch"][hole])
    assert json.loads((tmp_path / "b/stage2/config.json").read_text())["sketch_from_generator"] == str(tmp_path)


# ------------------------------------------------------------------------------------- data schedule

def _keys(batches, n):
    it = iter(batches)
    return [next(it) for _ in range(n)]


def test_step_batches_resume_at_any_step_and_cover_each_epoch():
    ds = _IndexData(10)
    def sampler():
        return torch.utils.data.distributed.DistributedSampler(ds, num_replicas=1, rank=0, seed=5, drop_last=True)

    full = _keys(train._StepBatches(sampler(), 3, 0, 0), 9)          # 3 batches of 3 per epoch (1 image dropped)
    for start in (1, 3, 4, 7):
        assert _keys(train._StepBatches(sampler(), 3, 0, start), 9 - start) == full[start:]
    for epoch in range(3):
        idx = [k[2] for b in full[3 * epoch:3 * epoch + 3] for k in b]
        assert len(set(idx)) == 9                                     # no image twice within an epoch
    assert [k[1] for b in full for k in b] == list(range(27))         # sample numbers run on
    # two ranks: disjoint shards, and every batch is keyed by its rank's stream
    r0 = torch.utils.data.distributed.DistributedSampler(ds, num_replicas=2, rank=0, seed=5, drop_last=True)
    r1 = torch.utils.data.distributed.DistributedSampler(ds, num_replicas=2, rank=1, seed=5, drop_last=True)
    b0, b1 = _keys(train._StepBatches(r0, 5, 0, 0), 1)[0], _keys(train._StepBatches(r1, 5, 1, 0), 1)[0]
    assert not {k[2] for k in b0} & {k[2] for k in b1}
    assert {k[0] for k in b0} == {1} and {k[0] for k in b1} == {2}
    with pytest.raises(ValueError, match="too few"):
        train._StepBatches(sampler(), 11, 0, 0)


class _IndexData(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def test_training_masks_are_drawn_per_sample_from_the_seed(tmp_path, monkeypatch):
    from inpaintkit.data import InpaintingDataset
    from inpaintkit.sketches import SketchSpec

    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    ds = InpaintingDataset(write_photos(tmp_path / "img"), 32, sketch=SketchSpec("canny"), hole_range=(0.1, 0.3),
                           progress=False)
    t = trainer(1, tmp_path / "run", data=ds, seed=7)
    batches = iter(t._loader())
    first, second = next(batches), next(batches)
    for step, b in ((0, first), (1, second)):
        for j in range(SMOKE.batch_size):
            position = step * SMOKE.batch_size + j
            expect = masks.irregular_mask(32, 32, (0.1, 0.3), np.random.default_rng([7, 1, position]))
            assert torch.equal(b["mask"][j, 0], torch.from_numpy(expect.astype(np.float32)))
            # the data set's own training-mask draw, which the trainer calls with that generator
            assert np.array_equal(ds.draw_mask(np.random.default_rng([7, 1, position])), expect)
    assert 0.1 <= 1 - first["mask"].mean().item() < 0.3


def test_dataloader_workers_do_not_change_the_numbers(tmp_path, monkeypatch):
    from inpaintkit.data import InpaintingDataset
    from inpaintkit.sketches import SketchSpec

    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    ds = InpaintingDataset(write_photos(tmp_path / "img"), 32, sketch=SketchSpec("canny"), progress=False)
    rows = {}
    for workers in (0, 2):
        p = replace(SMOKE, num_workers=workers, stage1_steps=2, sample_every=100)
        rows[workers] = trainer(1, tmp_path / f"w{workers}", data=ds, profile=p).fit()
    assert [r["g_total"] for r in rows[0]] == [r["g_total"] for r in rows[2]]
    assert [r["d_hinge"] for r in rows[0]] == [r["d_hinge"] for r in rows[2]]


# ------------------------------------------------------------------------------------- runs and files

def test_same_seed_same_numbers_and_checkpoint_round_trip(tmp_path):
    a = trainer(1, tmp_path / "a", seed=3)
    rows_a = a.fit()
    rows_b = trainer(1, tmp_path / "b", seed=3).fit()
    rows_c = trainer(1, tmp_path / "c", seed=4).fit(2)
    assert [r["step"] for r in rows_a] == [2, 4, 6]
    for c in LOSS_COLUMNS[1]:
        assert [r[c] for r in rows_a] == [r[c] for r in rows_b]
    assert rows_a[0]["g_total"] != rows_c[0]["g_total"]

    # losses.csv holds the same rows; columns for plotting
    cols = read_losses(tmp_path / "a", 1)
    assert cols["step"] == [2, 4, 6]
    assert cols["g_total"] == pytest.approx([r["g_total"] for r in rows_a], rel=1e-12)
    assert set(LOSS_COLUMNS[1]) | {"step", "seconds_per_step"} == set(cols)

    sd = tmp_path / "a" / "stage1"
    ckpt = torch.load(sd / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 6 and ckpt["stage"] == 1 and ckpt["block"] == "partial"
    assert ckpt["profile"] == SMOKE.to_dict()
    for k in ("generator", "discriminator", "g_optimizer", "d_optimizer", "rng"):
        assert k in ckpt
    assert ckpt["d_optimizer"]["param_groups"][0]["lr"] == pytest.approx(SMOKE.lr * SMOKE.d_lr_ratio)
    for key, v in a.generator.state_dict().items():
        assert torch.equal(ckpt["generator"][key], v), key
    # load_generator rebuilds it from generator.pt and from checkpoint.pt alone
    x = TinyData()[0]
    args = (x["gray"][None], x["sketch"][None], x["mask"][None])
    a.generator.eval()
    with torch.no_grad():
        want = a.generator(*args)
        assert torch.equal(load_generator(tmp_path / "a", 1)(*args), want)
        (sd / "generator.pt").unlink()
        assert torch.equal(load_generator(tmp_path / "a", 1)(*args), want)
        assert torch.equal(load_generator(sd / "checkpoint.pt")(*args), want)
    assert sorted(p.name for p in (sd / "samples").iterdir()) == ["step_000003.png", "step_000006.png"]
    grid = np.asarray(Image.open(sd / "samples" / "step_000006.png"))
    assert grid.shape == (2 + 5 * 34, 2 + 6 * 34, 3)             # 5 rows x 6 samples of 32 px, 2 px padding
    with pytest.raises(FileNotFoundError, match="Train it first"):
        load_generator(tmp_path / "nothing", 2)


def test_steps_is_where_training_stops_and_fit_n_records_step_n(tmp_path):
    """One step count: Trainer(steps=N) / --steps N is the run's length and fit()'s default; fit(n) stops at n
    with a losses.csv row, a sample grid and a checkpoint there, and a resumed run goes on to N on the
    numbers of an uninterrupted one."""
    whole = trainer(1, tmp_path / "whole", seed=3, steps=5)
    assert whole.total_steps == 5 and [r["step"] for r in whole.fit()] == [2, 4, 5]   # log_every 2, and the end
    paused = trainer(1, tmp_path / "paused", seed=3, steps=5)
    assert [r["step"] for r in paused.fit(3)] == [2, 3]
    sd = paused.stage_dir
    assert read_checkpoint(sd / "checkpoint.pt")["step"] == 3
    assert sorted(p.name for p in (sd / "samples").iterdir()) == ["step_000003.png"]
    resumed = trainer(1, tmp_path / "paused", seed=3, steps=5, resume=True)
    assert resumed.step == 3 and [r["step"] for r in resumed.fit()] == [4, 5]
    assert read_losses(tmp_path / "paused", 1)["step"] == [2, 3, 4, 5]
    got, want = read_losses(tmp_path / "paused", 1), read_losses(tmp_path / "whole", 1)
    assert got["g_total"][0] == want["g_total"][0] and got["g_total"][-1] == want["g_total"][-1]  # steps 1-2, 5
    for k, v in whole.generator.state_dict().items():
        assert torch.equal(resumed.generator.state_dict()[k], v), k
    assert train.parse_args(["--stage", "1", "--run-dir", "r", "--steps", "7"]).steps == 7
    with pytest.raises(SystemExit):                                       # one flag: --max-steps is gone
        train.parse_args(["--stage", "1", "--run-dir", "r", "--max-steps", "7"])


def test_rng_state_round_trip():
    import random

    state = train.rng_state(torch.device("cpu"))
    want = (torch.rand(3), np.random.rand(3), random.random())
    train.set_rng_state(state, torch.device("cpu"))
    got = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(want[0], got[0]) and np.array_equal(want[1], got[1]) and want[2] == got[2]


def test_existing_checkpoint_needs_resume_or_overwrite(tmp_path):
    trainer(1, tmp_path).fit(3)
    with pytest.raises(FileExistsError, match="resume=True"):
        trainer(1, tmp_path)
    t = trainer(1, tmp_path, resume=True)
    assert t.step == 3
    assert trainer(1, tmp_path, overwrite=True).step == 0
    with pytest.raises(ValueError, match="gs_channels"):
        trainer(1, tmp_path, resume=True, profile=replace(SMOKE, gs_channels=16))


def test_a_second_trainer_is_refused_while_a_run_writes_its_folder(tmp_path, monkeypatch):
    from inpaintkit.files import RunLockedError

    first = trainer(1, tmp_path)
    live_tmp = first.stage_dir / ".checkpoint.pt.live.tmp"             # the live run's half-written checkpoint
    seen = {}
    orig = Trainer.train_step

    def step(self, batch):
        if self is first and self.step == 2:
            live_tmp.write_bytes(b"being written")
            with pytest.raises(RunLockedError, match=f"in use by another run: process {os.getpid()} on "):
                trainer(1, tmp_path, resume=True)                       # would delete live_tmp as stale
            seen["refused"] = live_tmp.exists()
        return orig(self, batch)

    monkeypatch.setattr(Trainer, "train_step", step)
    first.fit(3)
    assert seen == {"refused": True}
    assert not (first.stage_dir / "run.lock").exists()                 # released after fit
    assert trainer(1, tmp_path, resume=True).step == 3                 # and the folder is free again
    assert not live_tmp.exists()                                       # now it is a stale temporary, removed


def test_corrupt_latest_checkpoint_falls_back_to_the_previous_with_a_warning(tmp_path, capsys):
    t = trainer(1, tmp_path)
    t.fit(6)                                                           # checkpoints at steps 3 and 6
    sd = t.stage_dir
    assert read_checkpoint(sd / "checkpoint.prev.pt")["step"] == 3
    assert read_checkpoint(sd / "generator.prev.pt")["step"] == 3
    good = (sd / "checkpoint.pt").read_bytes()
    (sd / "checkpoint.pt").write_bytes(good[: len(good) // 2])         # truncated
    with pytest.warns(UserWarning, match="falling back to the previous one, checkpoint.prev.pt"):
        resumed = trainer(1, tmp_path, resume=True)
    assert resumed.step == 3
    (sd / "checkpoint.pt").write_bytes(good)
    (sd / "generator.pt").write_bytes(b"")                             # empty
    with pytest.warns(UserWarning, match=r"generator.pt cannot be read.*Using .*checkpoint.pt"):
        g = load_generator(tmp_path, 1)
    assert isinstance(g, networks.SketchGenerator)
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        torch.save({"not": "ours"}, sd / name)                         # foreign
    with pytest.raises(ValueError, match="checkpoint.pt is not a checkpoint written by inpaintkit.train"):
        trainer(1, tmp_path, resume=True)
    capsys.readouterr()
    (sd / "checkpoint.pt").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(ValueError, match="cannot be read as an inpaintkit checkpoint: it is truncated, empty") as e:
        read_checkpoint(sd / "checkpoint.pt")
    assert "weights_only=False" not in str(e.value)


def test_a_fresh_run_does_not_keep_another_runs_checkpoint_as_previous(tmp_path):
    trainer(1, tmp_path).fit(3)
    t = trainer(1, tmp_path, overwrite=True)
    t.fit(3)
    assert not (t.stage_dir / "checkpoint.prev.pt").exists()          # the old run's step 3 is not "previous"
    t.fit(6)
    assert read_checkpoint(t.stage_dir / "checkpoint.prev.pt")["step"] == 3


def test_resume_after_crash_continues_on_the_same_numbers_stage2(tmp_path, monkeypatch):
    profile = replace(SMOKE, stage2_steps=4, log_every=1, checkpoint_every=2, sample_every=100)
    whole = trainer(2, tmp_path / "whole", profile=profile).fit()
    t = trainer(2, tmp_path / "crash", profile=profile)
    orig = Trainer.train_step

    def crash_at_4(self, batch):
        if self.step + 1 == 4:
            raise KeyboardInterrupt("simulated crash")
        return orig(self, batch)

    monkeypatch.setattr(Trainer, "train_step", crash_at_4)
    with pytest.raises(KeyboardInterrupt):
        t.fit()
    monkeypatch.setattr(Trainer, "train_step", orig)
    assert read_losses(tmp_path / "crash", 2)["step"] == [1, 2, 3]     # row 3 is after the checkpoint (2)
    resumed = trainer(2, tmp_path / "crash", resume=True, profile=profile)
    assert resumed.step == 2
    resumed.fit()
    got = read_losses(tmp_path / "crash", 2)
    assert got["step"] == [1, 2, 3, 4]
    for c in LOSS_COLUMNS[2]:
        assert got[c] == [r[c] for r in whole], c


# ------------------------------------------------------------------------------------- NaN guard

def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    t = trainer(1, tmp_path)
    real = train.losses.stage1_generator_loss

    def nan_at_step_5(*a, **k):
        total, terms = real(*a, **k)
        if t.step + 1 == 5:
            terms = dict(terms, feature_matching=torch.tensor(float("nan")))
            total = total * float("nan")
        return total, terms

    monkeypatch.setattr(train.losses, "stage1_generator_loss", nan_at_step_5)
    ckpt = tmp_path / "stage1" / "checkpoint.pt"
    before = {}

    orig = Trainer.train_step

    def remember(self, batch):
        if self.step == 4:
            before.update({k: v.clone() for k, v in self.generator.state_dict().items()})
            before["bytes"] = ckpt.read_bytes()
        return orig(self, batch)

    monkeypatch.setattr(Trainer, "train_step", remember)
    with pytest.raises(FloatingPointError, match=r"step 5.*g_feature_matching = nan") as e:
        t.fit()
    assert isinstance(e.value, NonFiniteLossError)
    assert t.step == 4
    assert ckpt.read_bytes() == before.pop("bytes")                   # the step-3 checkpoint, untouched
    assert torch.load(ckpt, weights_only=True)["step"] == 3
    for k, v in t.generator.named_parameters():                       # no optimiser step on the NaN
        assert torch.equal(v, before[k]), k


# ------------------------------------------------------------------------------------- CLI, SIGKILL, DDP

def _env(tmp_path):
    env = dict(os.environ, INPAINTKIT_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return env


CLI_ARGS = ["--stage", "1", "--profile", "smoke", "--sketch", "canny", "--device", "cpu", "--no-progress"]

KILLER = textwrap.dedent("""
    import os, signal, sys
    from inpaintkit import train
    mode, at = sys.argv[1], int(sys.argv[2])
    if mode == "step":                       # die at the start of step `at`
        orig = train.Trainer.train_step
        def step(self, batch):
            if self.step + 1 == at:
                os.kill(os.getpid(), signal.SIGKILL)
            return orig(self, batch)
        train.Trainer.train_step = step
    else:                                    # die while writing checkpoint number `at`: temp file written, not renamed
        real_replace, calls = os.replace, []
        def replace(src, dst):
            if str(dst).endswith("checkpoint.pt"):
                calls.append(dst)
                if len(calls) == at:
                    os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst)
        os.replace = replace
    sys.exit(train.main(sys.argv[3:]))
""")


def _rows(run_dir):
    with open(Path(run_dir) / "stage1" / "losses.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    data = write_photos(tmp / "img")
    out = subprocess.run([sys.executable, "-m", "inpaintkit.train", *CLI_ARGS, "--data", str(data),
                          "--run-dir", str(tmp / "whole")], env=_env(tmp), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return tmp, data, _rows(tmp / "whole")


@pytest.mark.slow
@pytest.mark.parametrize("mode,at", [("step", 5), ("checkpoint", 2)])
def test_sigkill_then_resume_gives_the_same_losses(uninterrupted, mode, at):
    tmp, data, whole = uninterrupted
    run = tmp / f"killed_{mode}"
    args = [*CLI_ARGS, "--data", str(data), "--run-dir", str(run)]
    killed = subprocess.run([sys.executable, "-c", KILLER, mode, str(at), *args], env=_env(tmp),
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert torch.load(run / "stage1" / "checkpoint.pt", weights_only=True)["step"] == 3
    if mode == "checkpoint":
        assert list((run / "stage1").glob(".checkpoint.pt.*.tmp"))    # the half-done write is there
        assert [r["step"] for r in _rows(run)] == ["2", "4", "6"]
    resumed = subprocess.run([sys.executable, "-m", "inpaintkit.train", *args, "--resume"], env=_env(tmp),
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed stage 1" in resumed.stdout and "at step 3" in resumed.stdout
    rows = _rows(run)
    assert [r["step"] for r in rows] == [r["step"] for r in whole] == ["2", "4", "6"]
    for r, w in zip(rows, whole):
        for c in LOSS_COLUMNS[1]:
            assert float(r[c]) == pytest.approx(float(w[c]), rel=1e-6, abs=1e-7), (r["step"], c)
    assert not list((run / "stage1").glob(".*.tmp"))


def test_cli_refuses_a_second_run_without_resume(uninterrupted):
    tmp, data, _ = uninterrupted
    out = subprocess.run([sys.executable, "-m", "inpaintkit.train", *CLI_ARGS, "--data", str(data),
                          "--run-dir", str(tmp / "whole")], env=_env(tmp), capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "--resume" in out.stderr


@pytest.mark.slow
def test_cli_input_errors_are_one_line_and_exit_2(tmp_path):
    photo = tmp_path / "one.png"
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(photo)
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    (tmp_path / "run" / "stage1").mkdir(parents=True)
    (tmp_path / "run" / "stage1" / "checkpoint.pt").write_bytes(b"")
    cases = [(["--data", str(tmp_path / "missing")], "no such folder"),
             (["--photos", str(tmp_path / "no_photos")], "--photos"),
             (["--data", str(tmp_path / "blob.bin")], "is not a text .flist"),
             (["--data", str(photo)], "too few for one batch"),             # one image: read, then refused clearly
             (["--data", str(photo), "--run-dir", str(tmp_path / "run")], "holds checkpoint.pt (a previous run)"),
             (["--data", str(photo), "--run-dir", str(tmp_path / "run"), "--resume"],
              "checkpoint.pt cannot be read as an inpaintkit checkpoint: it is truncated, empty or not one")]
    for extra, message in cases:
        out = subprocess.run([sys.executable, "-m", "inpaintkit.train", *CLI_ARGS, "--run-dir", str(tmp_path / "new"),
                              *extra], env=_env(tmp_path), capture_output=True, text=True, timeout=300)
        assert out.returncode == 2, (extra, out.stderr[-2000:])
        assert "Traceback" not in out.stderr and out.stderr.startswith("error: ") and message in out.stderr, \
            (extra, out.stderr[-2000:])


DDP_SCRIPT = textwrap.dedent("""
    import os, sys, torch
    from inpaintkit import train
    orig = train.Trainer.fit
    def fit(self, *a, **k):
        rows = orig(self, *a, **k)
        state = {"g": self.generator.state_dict(), "d": self.discriminator.state_dict()}
        torch.save(state, os.path.join(os.environ["DDP_OUT"], f"rank{self.rank}.pt"))
        return rows
    train.Trainer.fit = fit
    sys.exit(train.main(sys.argv[1:]))
""")


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path):
    data = write_photos(tmp_path / "img", n=10)
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    env = dict(_env(tmp_path), DDP_OUT=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script), *CLI_ARGS, "--steps", "3", "--data", str(data),
                          "--run-dir", str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ckpt = torch.load(tmp_path / "run" / "stage1" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 3 and ckpt["world_size"] == 2
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    init = Trainer(1, SMOKE, tmp_path / "init", device="cpu", data=TinyData(), progress=False).generator.state_dict()
    for net in ("g", "d"):
        for k, v in r0[net].items():        # parameters and spectral norm's u, v buffers agree on both ranks
            assert torch.equal(v, r1[net][k]), (net, k)
    for k, v in r0["g"].items():
        assert torch.equal(v, ckpt["generator"][k]), k
    assert any(not torch.equal(v, init[k]) for k, v in r0["g"].items() if "original" in k)  # it trained
    assert _rows(tmp_path / "run")[0]["step"] == "2"
    assert "resumed" not in out.stdout
    # the 10 sketches were computed once, 5 by each process (train.shard_sketches), then only read: each rank
    # its fixed sample batch (6) and 3 steps x 2 images
    counts = json.loads((tmp_path / "run" / "stage1" / "sketch_cache.json").read_text())
    assert (counts["computed"], counts["read"]) == (10, 2 * (6 + 3 * 2)) and counts["images"] <= 10
    assert "each of 2 processes computes ~5" in out.stdout
