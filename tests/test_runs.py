"""A run's files (RunFiles, read_losses) and the checkpoint format (checkpoints.py) without a trainer."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit import checkpoints
from inpaintkit.checkpoints import (
    CHECKPOINT_FORMAT,
    build_generator,
    generator_files,
    load_generator,
    read_checkpoint,
    stage_dir,
)
from inpaintkit.config import get_profile
from inpaintkit.runs import RunFiles, read_losses

SMOKE = get_profile("smoke")


def generator_file(stage=1, step=0, seed=0):
    torch.manual_seed(seed)
    g = build_generator(stage, SMOKE)
    return g, {"format": CHECKPOINT_FORMAT, "stage": stage, "step": step, "profile": SMOKE.to_dict(),
               "block": "partial" if stage == 1 else "cfs", "generator": g.state_dict()}


def test_paths_of_a_run(tmp_path):
    files = RunFiles(tmp_path / "run", 2)
    assert files.folder == stage_dir(tmp_path / "run", 2) == tmp_path / "run" / "stage2"
    assert generator_files(tmp_path / "run", 2) == [files.generator, files.checkpoint]
    assert [p.name for p in (files.checkpoint, files.generator, files.losses, files.config, files.samples)] == \
        ["checkpoint.pt", "generator.pt", "losses.csv", "config.json", "samples"]
    with pytest.raises(ValueError, match="stage must be 1"):
        RunFiles(tmp_path, 0)


def test_save_keeps_the_previous_files_of_the_same_run_only(tmp_path):
    files = RunFiles(tmp_path, 1)
    files.folder.mkdir(parents=True)
    torch.save({"another": "run"}, files.folder / "checkpoint.prev.pt")           # left by an older run
    _, gen = generator_file(step=3)
    files.save({**gen, "extra": torch.arange(3)}, gen)
    assert not (files.folder / "checkpoint.prev.pt").exists()                   # not this run's: removed
    assert files.has_checkpoint()
    _, gen6 = generator_file(step=6, seed=1)
    files.save(gen6, gen6)
    assert read_checkpoint(files.checkpoint)["step"] == 6
    assert read_checkpoint(files.folder / "checkpoint.prev.pt")["step"] == 3
    assert torch.equal(read_checkpoint(files.folder / "checkpoint.prev.pt")["extra"], torch.arange(3))
    assert read_checkpoint(files.folder / "generator.prev.pt")["step"] == 3

    files.checkpoint.write_bytes(b"")                                          # corrupt latest: the previous
    again = RunFiles(tmp_path, 1)
    with pytest.warns(UserWarning, match="falling back to the previous one"):
        ckpt, path = again.read_checkpoint()
    assert ckpt["step"] == 3 and path.name == "checkpoint.prev.pt"


def test_losses_csv_append_truncate_and_read_back(tmp_path):
    files = RunFiles(tmp_path, 2)
    files.folder.mkdir(parents=True)
    for step in (2, 4, 6):
        files.append_losses({"step": step, "g_total": step / 10, "d_hinge": 1.5, "seconds_per_step": 0.25})
    cols = read_losses(tmp_path, 2)
    assert cols == {"step": [2, 4, 6], "g_total": [0.2, 0.4, 0.6], "d_hinge": [1.5] * 3, "seconds_per_step": [0.25] * 3}
    files.truncate_losses(5)                                                   # a run resumed at step 5
    assert read_losses(tmp_path, 2)["step"] == [2, 4]
    assert files.losses.read_text().splitlines()[0] == "step,g_total,d_hinge,seconds_per_step"
    files.truncate_losses(1)
    assert not files.losses.exists()
    with pytest.raises(FileNotFoundError, match="train stage 2"):
        read_losses(tmp_path, 2)


def test_prepare_writes_config_and_clears_what_a_killed_run_left(tmp_path):
    files = RunFiles(tmp_path, 1)
    files.folder.mkdir(parents=True)
    (files.folder / ".checkpoint.pt.abc.tmp").write_bytes(b"half")
    for step in (2, 4):
        files.append_losses({"step": step, "g_total": 1.0})
    files.prepare(2, {"stage": 1, "sketch": {"method": "canny"}})
    assert json.loads(files.config.read_text()) == {"stage": 1, "sketch": {"method": "canny"}}
    assert files.samples.is_dir() and not list(files.folder.glob(".*.tmp"))
    assert read_losses(tmp_path, 1)["step"] == [2]
    assert not (files.folder / "run.lock").exists()                            # released


def test_save_samples_writes_the_grid(tmp_path):
    files = RunFiles(tmp_path, 1)
    grid = torch.zeros(3, 4, 6)
    grid[0, 1, 2] = 1.0
    path = files.save_samples(grid, 12)
    assert path == files.samples / "step_000012.png"
    png = np.asarray(Image.open(path))
    assert png.shape == (4, 6, 3) and png[1, 2].tolist() == [255, 0, 0] and png.sum() == 255


def test_load_generator_from_a_run_folder_or_a_file(tmp_path):
    g, gen = generator_file(stage=1, step=4)
    files = RunFiles(tmp_path, 1)
    files.save(gen, gen)
    x = (torch.rand(1, 1, 32, 32), torch.zeros(1, 1, 32, 32), torch.ones(1, 1, 32, 32))
    g.eval()
    with torch.no_grad():
        want = g(*x)
        assert torch.equal(load_generator(tmp_path, 1)(*x), want)
        assert torch.equal(load_generator(files.checkpoint)(*x), want)
    with pytest.raises(ValueError, match="stage-1 generator, not stage 2"):
        load_generator(files.checkpoint, 2)
    with pytest.raises(ValueError, match="give stage=1"):
        load_generator(tmp_path)
    obj, found = checkpoints.read_generator_file(generator_files(tmp_path, 1))
    assert found == files.generator and obj["step"] == 4
    with torch.no_grad():                           # the stage folder itself, as a user might pass it
        assert torch.equal(load_generator(tmp_path / "stage1")(*x), want)
        assert torch.equal(load_generator(tmp_path / "stage1", 1)(*x), want)
    with pytest.raises(ValueError, match="stage-1 folder; stage 2"):
        load_generator(tmp_path / "stage1", 2)
    with pytest.raises(FileNotFoundError, match=re.escape(f"--run-dir {tmp_path / 'empty'}") + "$"):
        load_generator(tmp_path / "empty" / "stage2")
