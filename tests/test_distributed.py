"""Multi-process safety (issue 22): the process group's explicit timeout, and the sketch pass that every process
shares under torchrun instead of rank 0 computing it while the others wait at a barrier."""

import contextlib
import datetime
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from inpaintkit import train
from inpaintkit.config import get_profile
from inpaintkit.sketches import SketchCache, cache_counts

from conftest import write_photos
from test_data import make_fake_places

REPO = Path(__file__).resolve().parents[1]


def test_dist_timeout_default_env_and_argument(monkeypatch):
    monkeypatch.delenv(train.DIST_TIMEOUT_ENV, raising=False)
    assert train.dist_timeout() == train.DIST_TIMEOUT_S == 1800.0
    monkeypatch.setenv(train.DIST_TIMEOUT_ENV, "7200")
    assert train.dist_timeout() == 7200.0
    assert train.dist_timeout(90) == 90.0                              # the CLI flag wins over the variable
    for bad in ("soon", "0", "-5"):
        monkeypatch.setenv(train.DIST_TIMEOUT_ENV, bad)
        with pytest.raises(ValueError, match="--dist-timeout or \\$INPAINTKIT_DIST_TIMEOUT"):
            train.dist_timeout()


def test_init_distributed_passes_the_timeout_to_the_process_group(monkeypatch):
    seen = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv(train.DIST_TIMEOUT_ENV, "600")
    monkeypatch.setattr(train.dist, "is_initialized", lambda: False)
    monkeypatch.setattr(train.dist, "init_process_group", lambda backend, **kw: seen.update(backend=backend, **kw))
    assert train.init_distributed(torch.device("cpu")) == torch.device("cpu")
    assert seen == {"backend": "gloo", "timeout": datetime.timedelta(seconds=600)}
    train.init_distributed(torch.device("cpu"), timeout=45)
    assert seen["timeout"] == datetime.timedelta(seconds=45)


def _procs(rank, world, barriers):
    return SimpleNamespace(distributed=True, rank=rank, world_size=world, is_main=rank == 0,
                           device=torch.device("cpu"), barrier=lambda: barriers.append(rank),
                           rank0_first=contextlib.nullcontext)


def test_each_process_sketches_only_its_share_of_the_missing_images(tmp_path, monkeypatch):
    """7 images, 1 cached: rank 1 of 2 computes every second of the 6 missing ones, rank 0 (on a cache in the same
    state) the other 3, each then waits at one barrier; a second pass computes nothing."""
    folder = write_photos(tmp_path / "img", n=7, size=40)
    paths = sorted(folder.iterdir())
    profile = get_profile("smoke")
    spec = profile.sketch_spec("canny")
    done = {}
    for rank in (1, 0):
        monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / f"cache{rank}"))   # both start from one cached image
        cache = SketchCache(tmp_path / f"cache{rank}" / "sketches", spec)
        cache.save(paths[0], profile.image_size, torch.zeros(32, 32).numpy())
        barriers, before = [], cache_counts()["computed"]
        assert train.shard_sketches(folder, profile, "canny", _procs(rank, 2, barriers), progress=False) == 3
        assert cache_counts()["computed"] - before == 3 and barriers == [rank, rank]   # after listing, at the end
        done[rank] = [p for p in paths[1:] if cache.path_for(p, 32).exists()]
    assert done == {0: [paths[i] for i in (1, 3, 5)], 1: [paths[i] for i in (2, 4, 6)]}
    assert train.shard_sketches(folder, profile, "canny", _procs(0, 1, []), progress=False) == 3   # the rest
    barriers = []
    assert train.shard_sketches(folder, profile, "canny", _procs(0, 2, barriers), progress=False) == 0  # all cached
    assert barriers == [0]                                           # the listing's barrier only
    one = SimpleNamespace(distributed=False)
    assert train.shard_sketches(folder, profile, "canny", one) == 0      # one process: the data set's own pass


# ------------------------------------------------------------------------------ the full architecture, 2 processes

FULL_SIZE = 64        # the full profile's networks at their full widths; 64 px instead of 256 keeps a step in seconds

TORCHRUN_SCRIPT = textwrap.dedent("""
    import hashlib, json, os, sys, torch
    from dataclasses import replace
    from inpaintkit.config import get_profile
    from inpaintkit.sketches import cache_counts
    from inpaintkit.train import Trainer
    out, data, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(1)
    # counts only: one step per stage, every file written at it, one loader worker per process (full: 8)
    p = replace(get_profile("full"), image_size=size, stage1_steps=1, stage2_steps=1, log_every=1, sample_every=1,
                checkpoint_every=1, num_workers=1)
    def digests(module):      # sha256 of every parameter and buffer (spectral norm's u, v too): exact, and small
        return {k: hashlib.sha256(v.detach().contiguous().numpy().tobytes()).hexdigest()
                for k, v in module.state_dict().items()}
    for stage in (1, 2):
        t = Trainer(stage, p, os.path.join(out, "run"), device="cpu", data=data, sketch="canny", vgg="vgg19-random",
                    progress=False, dist_timeout=300)
        init = digests(t.generator)
        t.fit()
        with open(os.path.join(out, f"stage{stage}_rank{t.rank}.json"), "w") as f:
            json.dump({"g": digests(t.generator), "d": digests(t.discriminator), "g0": init, "vgg": t.vgg_source}, f)
    with open(os.path.join(out, f"counts_rank{t.rank}.json"), "w") as f:
        json.dump(cache_counts(), f)
""")


@pytest.mark.slow
def test_both_stages_of_the_full_architecture_under_torchrun_on_a_prepared_cache(tmp_path):
    """prepare_places2.py --profile full, then torchrun --nproc_per_node=2 (gloo) trains one step of stage 1 and of
    stage 2 at the full profile's widths, losses (Eq. 11, Eq. 14 with a VGG19), batch 6 (3 per process) and sketch
    settings: both ranks hold identical weights after the step, and no sketch is computed again (12 prepared)."""
    env = dict(os.environ, INPAINTKIT_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    root = make_fake_places(tmp_path / "places", n_train_per_class=4, n_val=2, n_test=2, size=FULL_SIZE)
    prep = subprocess.run([sys.executable, str(REPO / "data_scripts" / "prepare_places2.py"), "--root", str(root),
                           "--out", str(tmp_path / "p2"), "--sketches", "canny", "--size", str(FULL_SIZE),
                           "--num-workers", "0"], env=env, capture_output=True, text=True, timeout=300)
    assert prep.returncode == 0, prep.stderr[-3000:]
    prepared = json.loads((tmp_path / "p2" / "places2.json").read_text())["sketches"]
    assert prepared["train"]["computed"] == 12 and prepared["profile"] == "full"
    script = tmp_path / "both_stages.py"
    script.write_text(TORCHRUN_SCRIPT)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          str(script), str(tmp_path), str(tmp_path / "p2"), str(FULL_SIZE)],
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    for stage in (1, 2):
        r0, r1 = (json.loads((tmp_path / f"stage{stage}_rank{r}.json").read_text()) for r in (0, 1))
        assert r0["g"] == r1["g"] and r0["d"] == r1["d"]      # every parameter and spectral-norm buffer, bit for bit
        assert [k for k, v in r0["g"].items() if "original" in k and v != r0["g0"][k]]                # it trained
        ckpt = torch.load(tmp_path / "run" / f"stage{stage}" / "checkpoint.pt", weights_only=True)
        assert ckpt["step"] == 1 and ckpt["world_size"] == 2 and ckpt["profile"]["gi_channels"] == 64
        counts = json.loads((tmp_path / "run" / f"stage{stage}" / "sketch_cache.json").read_text())
        # read: each rank's fixed sample batch (6) in its own process + its 3 training items in its loader worker
        assert counts == {"read": 2 * (6 + 3), "computed": 0, "images": 6, "spec_key": prepared["spec_key"],
                          "data": str(tmp_path / "p2")}
    assert r0["vgg"].startswith("vgg19-random")
    per_rank = [json.loads((tmp_path / f"counts_rank{r}.json").read_text()) for r in (0, 1)]
    assert [c["computed"] for c in per_rank] == [0, 0]


def test_the_hed_sketch_pass_loads_hed_on_rank_0_first_and_uses_it(tmp_path, monkeypatch):
    """With HED, rank 0 fetches and loads its weights before the others (rank0_first), and each rank sketches its
    share with the HED it loaded (here a random one: the wiring is under test)."""
    from inpaintkit.hed import HED

    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    folder = write_photos(tmp_path / "img", n=3, size=40)
    loads, order = [], []

    def fake_load_hed(device):
        loads.append(str(device))
        torch.manual_seed(0)
        return HED().eval()

    monkeypatch.setattr(train, "load_hed", fake_load_hed)
    procs = _procs(1, 2, order)
    procs.rank0_first = lambda: (order.append("rank0_first"), contextlib.nullcontext())[1]
    assert train.shard_sketches(folder, get_profile("smoke"), "hed", procs, progress=False) == 1   # 1 of 3 missing
    assert loads == ["cpu"] and order == [1, "rank0_first", 1]
