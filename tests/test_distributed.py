"""Multi-process safety (issue 22): the process group's explicit timeout, and the sketch pass that every process
shares under torchrun instead of rank 0 computing it while the others wait at a barrier."""

import contextlib
import datetime
from types import SimpleNamespace

import pytest
import torch

from inpaintkit import train
from inpaintkit.config import get_profile
from inpaintkit.sketches import SketchCache, cache_counts

from conftest import write_photos


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
        assert cache_counts()["computed"] - before == 3 and barriers == [rank]
        done[rank] = [p for p in paths[1:] if cache.path_for(p, 32).exists()]
    assert done == {0: [paths[i] for i in (1, 3, 5)], 1: [paths[i] for i in (2, 4, 6)]}
    assert train.shard_sketches(folder, profile, "canny", _procs(0, 1, []), progress=False) == 3   # the rest
    assert train.shard_sketches(folder, profile, "canny", _procs(0, 2, []), progress=False) == 0   # all cached
    one = SimpleNamespace(distributed=False)
    assert train.shard_sketches(folder, profile, "canny", one) == 0      # one process: the data set's own pass
