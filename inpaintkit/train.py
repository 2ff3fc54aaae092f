"""Training of the two stages (Section 3.3): Gs against Ds, then Gi against Di.

One :class:`Trainer` runs either stage (``stage=1`` or ``2``); no framework. What a stage trains (the
generator's inputs, what D sees, the losses of Eq. 11 / Eq. 14, the sample rows, and the choices where the
paper is silent) is its object in :mod:`inpaintkit.stages`; a run's files are :class:`~inpaintkit.runs.RunFiles`
(format: :mod:`inpaintkit.checkpoints`). Per step (:meth:`Trainer.train_step`)::

    pred = G(batch)                                     # one generator forward
    G loss: D (frozen) on cat[real, pred]               # FM targets and fake logits, one D call
    D loss: D on cat[real, pred.detach()]               # hinge, Eq. 12, one D call
    check every loss term is finite, then G step, then D step

Real and fake go through D in **one** call (concatenated on the batch axis): one forward and one backward
per step for each DistributedDataParallel module, and the feature-matching targets come from the same
discriminator weights as the fake features. Adam with EdgeConnect's defaults from the profile: lr,
betas (0, 0.9), D lr = d_lr_ratio x lr. Eq. 14's style term compares the whole images, as Johnson et al.'s
does (:func:`~inpaintkit.losses.stage2_generator_loss`; ``style_on_hole=True`` is EdgeConnect's hole-only variant).

Steps: a run trains to ``steps`` (``--steps``, default the profile's ``stage{N}_steps``); ``fit(n)`` trains
to step ``n`` instead. Every ``log_every`` / ``sample_every`` / ``checkpoint_every`` steps, and at the step
a ``fit`` call stops at, it writes a losses.csv row, a sample grid and a checkpoint.

Exact resume: the batch of step t is a function of (seed, t, rank) only. A batch sampler replays the
epochs of a :class:`~torch.utils.data.distributed.DistributedSampler` (also for one process) from any
step, and the training masks of an :class:`~inpaintkit.data.InpaintingDataset` are drawn per sample
(:meth:`~inpaintkit.data.InpaintingDataset.draw_mask`) from ``numpy.random.default_rng([seed, 1 + rank,
sample number])``. So a run killed at any moment and resumed from its checkpoint continues, on the CPU, on
the same numbers it would have had. (A data set of your own must then give the same item for the same index.)

Under torchrun, every process joins the process group with an explicit timeout (``--dist-timeout``,
``$INPAINTKIT_DIST_TIMEOUT``, default 30 min: :func:`dist_timeout`), and sketches missing from the cache are
computed in shares by all processes (:func:`shard_sketches`), never by rank 0 while the others wait.

Command line (also under ``torchrun --nproc_per_node=N``)::

    python -m inpaintkit.train --stage 1 --profile quick --run-dir runs/quick
    python -m inpaintkit.train --stage 2 --profile quick --run-dir runs/quick --resume
    python -m inpaintkit.train --stage joint --profile quick --run-dir runs/quick     # Gs through the fill

The joint stage (not in the paper; :class:`~inpaintkit.stages.JointStage`) fine-tunes stage 1's Gs and Ds with
Eq. 11 plus the L1 of the fill that Gs's sketch shapes, into ``<run_dir>/joint/``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import random
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from . import losses
from .checkpoints import (
    CHECKPOINT,
    CHECKPOINT_FORMAT,
    GENERATOR,
    STAGES,
    build_generator,
    check_stage,
    load_generator,
    load_state,
    read_with_fallback,
    require_entries,
    stage_dir,
)
from .cli import add_debug_flag, command
from .config import PROFILES, Profile, cache_dir, get_profile, resolve_device
from .data import (
    InpaintingDataset,
    demo_dataset,
    demo_patch_size,
    ensure_demo_dataset,
    list_images,
    load_image,
    prepared_sketch_root,
    split_source,
)
from .files import check_writable_dir
from .hed import load_hed
from .masks import mask_to_tensor
from .runs import RunFiles, read_losses
from .sketches import SketchCache, SketchSpec, cache_counts, count_sketches, extract_sketches
from .stages import build_discriminator, make_stage

__all__ = ["Trainer", "Networks", "Processes", "LossMeter", "SketchCounter", "NonFiniteLossError", "build_dataset",
           "check_finite",
           "check_resumable", "check_same_networks", "rng_state", "set_rng_state",
           "distributed_env", "init_distributed", "dist_timeout", "shard_sketches", "joint_start", "parse_args",
           "main",
           # where notebooks and scripts have always imported them from (defined in checkpoints / runs / stages)
           "build_generator", "build_discriminator", "load_generator", "read_losses", "stage_dir"]

SAMPLE_COUNT = 6          # columns of the sample grid (fewer if the data set is smaller)
ITEM_KEYS = ("image", "gray", "sketch", "mask")
NETWORK_KEYS = ("generator", "discriminator", "g_optimizer", "d_optimizer")   # their state dicts in checkpoint.pt
RESUME_ENTRIES = ("stage", "step", "profile", "block", "rng", *NETWORK_KEYS, "log_acc", "log_count", "log_columns")


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or inf; training stopped before the optimisers stepped on it."""


# ---------------------------------------------------------------------------------------------- data

def build_dataset(data, profile: Profile, sketch: str = "hed", seed: int = 0, device="cpu",
                  progress: bool = True, masks=None, split: str = "train") -> Dataset:
    """``None`` -> the demo set's ``split``; a path -> :class:`~inpaintkit.data.InpaintingDataset` of its
    ``split`` images (:func:`~inpaintkit.data.split_source`; masks fixed per item unless "train"); a Dataset
    -> itself. ``sketch``: "hed" or "canny" for the sketches of the first two. ``masks``: a mask folder
    (Liu et al.'s) for the training masks of the first two, default generated strokes. A profile with
    ``needs_real_data`` (full, gpu) refuses the demo set."""
    if isinstance(data, Dataset):
        if masks is not None:
            raise ValueError("masks= applies to a data set built here from a path; give your Dataset its own masks.")
        return data
    spec = profile.sketch_spec(sketch)
    mask_source = "generate" if masks is None else masks
    if data is None:
        if profile.needs_real_data:
            raise ValueError(
                f"The {profile.name} profile trains on Places2, not on the demo photographs: prepare it with "
                "`python data_scripts/prepare_places2.py --root /data/places365 --out data/places2`, then pass "
                "--data data/places2 (or the Places365 root).")
        return demo_dataset(split, profile.image_size, stride=profile.demo_patch_stride, sketch=spec,
                            seed=seed, device=device, progress=progress, masks=mask_source)
    if not Path(data).exists():
        raise FileNotFoundError(f"--data {data}: no such folder or .flist file. Give an image folder, an "
                                ".flist file, a Places365 root or the output folder of "
                                "data_scripts/prepare_places2.py, or leave it out for the demo set.")
    source, places_split = split_source(data, split)
    return InpaintingDataset(source, profile.image_size, sketch=spec, seed=seed, device=device, progress=progress,
                             split=places_split, masks=mask_source, deterministic_masks=split != "train",
                             sketch_cache_root=prepared_sketch_root(data, spec, profile.image_size))


def shard_sketches(data, profile: Profile, sketch: str, procs: "Processes", progress: bool = True) -> int:
    """Under torchrun, before the data set is built: every process lists the training images missing from the
    cache (a barrier: all see the same list), sketches its share (every ``world_size``-th; HED's weights fetched
    by rank 0 first), then all meet at one barrier, which waits only for the difference between the shares,
    never for a whole pass on one rank while the others time out.
    Returns the number this process computed. Nothing to do for one process, a Dataset or a missing path (the
    data set's own pass, or its error, follows). Cheaper still: prepare the sketches beforehand with
    ``data_scripts/prepare_places2.py --profile NAME``; then nothing is missing."""
    if not procs.distributed or isinstance(data, Dataset) or (data is None and profile.needs_real_data):
        return 0
    spec, size = profile.sketch_spec(sketch), profile.image_size
    if data is None:
        with procs.rank0_first():                               # rank 0 cuts the demo patches once
            folder = ensure_demo_dataset(None, demo_patch_size(size), profile.demo_patch_stride)
        source, split, root = folder / "train.flist", None, None
    elif Path(data).exists():
        (source, split), root = split_source(data, "train"), prepared_sketch_root(data, spec, size)
    else:
        return 0
    cache = SketchCache(root or cache_dir() / "sketches", spec)
    missing = []
    for p in list_images(source, split):
        try:
            if not cache.path_for(p, size).exists():
                missing.append(p)
        except OSError:                                          # a vanished image: the data set reports it
            pass
    procs.barrier()                         # every rank has listed the same missing images before one is written
    if not missing:
        return 0
    mine = missing[procs.rank::procs.world_size]
    if procs.is_main:
        print(f"sketches: {len(missing)} images not in {cache.dir}; each of {procs.world_size} processes "
              f"computes ~{len(mine)} (prepare_places2.py --profile {profile.name} does it beforehand)", flush=True)
    hed = None
    if spec.method == "hed":
        with procs.rank0_first():                                # rank 0 fetches HED's weights once
            hed = load_hed(device=procs.device)
    computed = 0
    if mine:
        computed = extract_sketches(mine, spec, cache, size, load_fn=load_image, device=procs.device, hed=hed,
                                    progress=progress and procs.is_main).computed
    procs.barrier()
    return computed


class _Scheduled(Dataset):
    """Wraps a data set; item ``(stream, position, index)`` is ``dataset[index]`` with, for an
    InpaintingDataset drawing random masks, a mask drawn from ``default_rng([seed, stream, position])``
    (``stream`` = 1 + rank for training, 0 for the fixed sample batch), so that a batch depends only on
    the step (exact resume, independent of DataLoader workers)."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, int(seed)
        self.own_masks = isinstance(dataset, InpaintingDataset) and not dataset.deterministic_masks

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        stream, position, index = key
        item = self.dataset[index]
        if not isinstance(item, dict) or any(k not in item for k in ITEM_KEYS):
            raise ValueError(f"Data set items must be dicts with keys {ITEM_KEYS} (+ 'path'); item {index} is "
                             f"{type(item).__name__} with keys {sorted(item) if isinstance(item, dict) else '-'}.")
        if self.own_masks:
            m = self.dataset.draw_mask(np.random.default_rng([self.seed, stream, position]))
            item = dict(item, mask=mask_to_tensor(m))                       # (1, S, S), 1 = known
        item.setdefault("path", str(index))
        return dict(item, index=index)                                      # which image: SketchCounter


class _StepBatches(torch.utils.data.Sampler):
    """Infinite batches of ``(1 + rank, position, index)`` keys starting at ``start_step``.

    Epoch e is ``DistributedSampler(seed=seed).set_epoch(e)``'s order for this rank (one process is
    world size 1), cut into ``batch_size`` batches (drop_last); step t is batch t of that stream.
    """

    def __init__(self, sampler: DistributedSampler, batch_size: int, rank: int, start_step: int):
        self.sampler, self.batch_size, self.rank, self.start_step = sampler, batch_size, rank, start_step
        self.per_epoch = len(sampler) // batch_size
        if self.per_epoch == 0:
            raise ValueError(f"The data set has {len(sampler.dataset)} images, too few for one batch of "
                             f"{batch_size} per process (x {sampler.num_replicas} processes). Use more "
                             "images or a profile with a smaller batch_size.")

    def __iter__(self):
        step = self.start_step
        while True:
            epoch, first = divmod(step, self.per_epoch)
            self.sampler.set_epoch(epoch)
            order = list(self.sampler)
            for b in range(first, self.per_epoch):
                start = b * self.batch_size
                yield [(1 + self.rank, step * self.batch_size + j, order[start + j]) for j in range(self.batch_size)]
                step += 1


def step_loader(dataset: _Scheduled, workers: int, procs, batch_size: int, seed: int, step: int) -> DataLoader:
    """The batches of ``batch_size`` from step ``step`` on for this process (:class:`_StepBatches`),
    the same numbers for any number of ``workers``."""
    sampler = DistributedSampler(dataset, num_replicas=procs.world_size, rank=procs.rank,
                                 shuffle=True, seed=seed, drop_last=True)
    batches = _StepBatches(sampler, batch_size, procs.rank, step)
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, worker_init_fn=_worker_init,
                      generator=torch.Generator().manual_seed(seed * 1_000_003 + step),
                      pin_memory=procs.device.type == "cuda", persistent_workers=False,
                      prefetch_factor=4 if workers else None)


def _worker_init(worker_id: int) -> None:
    """Seed numpy and random in each DataLoader worker from torch's per-worker seed."""
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


# ---------------------------------------------------------------------------------------------- RNG states

def rng_state(device: torch.device) -> dict:
    """torch (CPU, CUDA), numpy and python RNG states as tensors / lists (loadable with weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(py_state), "gauss_next": gauss_next},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _restore_rng(ckpt: dict, path, device: torch.device) -> None:
    """:func:`set_rng_state` of checkpoint ``ckpt``'s ``rng``; a damaged entry: one ValueError line naming ``path``."""
    try:
        set_rng_state(ckpt["rng"], device)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        raise ValueError(f"{path}: its rng entry cannot be restored ({type(e).__name__}: {e}). Delete it to use "
                         "its .prev.pt, or train again with --overwrite.") from None


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ---------------------------------------------------------------------------------------------- distributed

def distributed_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment (0, 0, 1 without it)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


DIST_TIMEOUT_ENV = "INPAINTKIT_DIST_TIMEOUT"
DIST_TIMEOUT_S = 1800.0


def dist_timeout(seconds: float | None = None) -> float:
    """How long a process waits for the others at a collective (barrier, all-reduce) before the run aborts:
    ``seconds``, else ``$INPAINTKIT_DIST_TIMEOUT``, else :data:`DIST_TIMEOUT_S` (30 min; NCCL's own default is
    10 min). The longest waits are rank 0 fetching VGG19's weights (548 MB) and the slowest shard of the
    sketch pass (:func:`shard_sketches`); a slow disk or link may need more."""
    raw = os.environ.get(DIST_TIMEOUT_ENV) if seconds is None else seconds
    if raw is None or raw == "":
        return DIST_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"The process-group timeout must be a positive number of seconds, got {raw!r} "
                         f"(--dist-timeout or ${DIST_TIMEOUT_ENV}).")
    return value


def init_distributed(device: torch.device, timeout: float | None = None) -> torch.device:
    """Under torchrun (WORLD_SIZE > 1): join the process group (nccl on CUDA, gloo on the CPU) with a
    :func:`dist_timeout` of ``timeout`` seconds and return this process's device (``cuda:LOCAL_RANK``).
    Without torchrun: return ``device`` unchanged."""
    rank, local_rank, world = distributed_env()
    if world == 1 or (dist.is_available() and dist.is_initialized()):
        if world > 1 and device.type == "cuda":
            return torch.device("cuda", local_rank)
        return device
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                            timeout=datetime.timedelta(seconds=dist_timeout(timeout)))
    return device


class Processes:
    """This process's place in a run: its device, rank and world size (torchrun), its autocast precision.

    ``precision``: "auto" (bf16 on CUDA, float32 on the CPU), "bf16" or "fp32". One process without torchrun
    is rank 0 of a world of 1 (``distributed`` False). On CUDA, tensors go channels_last. ``timeout``: seconds
    a process waits for the others (:func:`dist_timeout`).
    """

    def __init__(self, device="auto", precision: str = "auto", timeout: float | None = None):
        self.device = init_distributed(resolve_device(device), timeout)
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.is_main = self.rank == 0
        cuda = self.device.type == "cuda"
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision={precision!r}: choose 'auto' (bf16 on CUDA, fp32 on the CPU), "
                             "'bf16' or 'fp32'.")
        self.precision = ("bf16" if cuda else "fp32") if precision == "auto" else precision
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format

    def autocast(self):
        """bf16 autocast, or nothing, for the forward passes."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def batch_per_process(self, batch_size: int) -> int:
        """The share of a ``batch_size`` over all processes: ValueError unless it divides evenly."""
        if batch_size % self.world_size:
            raise ValueError(f"batch_size={batch_size} is the batch over all {self.world_size} processes and must "
                             f"divide evenly: use a number of processes that divides {batch_size} "
                             "(the paper's 6: 1, 2, 3 or 6 GPUs), or a profile with another batch_size.")
        return batch_size // self.world_size

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    @contextlib.contextmanager
    def rank0_first(self):
        """Rank 0 runs the block first (downloads, caches), the other ranks after it."""
        if not self.is_main:
            self.barrier()
        yield
        if self.is_main:
            self.barrier()

    def wrap(self, module: nn.Module, compile: bool = False, ddp: bool = True) -> nn.Module:
        """What the step calls: ``module`` in DistributedDataParallel (when ``ddp`` and distributed), then
        torch.compile (when ``compile``)."""
        if ddp and self.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            module = DistributedDataParallel(module, device_ids=ids)
        return torch.compile(module) if compile else module



# ---------------------------------------------------------------------------------------------- steps, logs, checks

class LossMeter:
    """Sums of the loss terms since the last losses.csv row; a row is their mean over those steps and over
    all processes. Its state travels in the checkpoint, so a resumed run writes the rows it would have."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(0, dtype=torch.float64, device=device)
        self.count = 0
        self.columns: list[str] | None = None

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        values = torch.stack([v.double() for v in terms.values()])
        if self.columns is None:
            self.columns = list(terms)
        if self.sums.numel() == 0:
            self.sums = torch.zeros_like(values)
        self.sums += values
        self.count += 1

    def row(self, step: int, seconds: float, world_size: int = 1) -> dict | None:
        """{"step", each term's mean, "seconds_per_step"}, and start over; None when nothing was added.
        Under torch.distributed (``world_size`` > 1) every process must call it (an all-reduce)."""
        if self.count == 0:
            return None
        sums = self.sums.clone()
        if world_size > 1:
            dist.all_reduce(sums)
        means = (sums / (self.count * world_size)).tolist()
        self.sums.zero_()
        self.count = 0
        return {"step": step, **dict(zip(self.columns, means)), "seconds_per_step": seconds}

    def state_dict(self) -> dict:
        return {"log_acc": self.sums.cpu(), "log_count": self.count, "log_columns": self.columns or []}

    def load_state_dict(self, state: dict) -> None:
        self.sums = state["log_acc"].to(self.sums.device)
        self.count = int(state["log_count"])
        self.columns = list(state["log_columns"]) or None


def check_finite(terms: dict[str, torch.Tensor], where: str, last_checkpoint: Path, distributed: bool) -> None:
    """:class:`NonFiniteLossError` naming the bad terms if a loss term (on any process) is NaN or inf.
    ``where``: "stage S, step T" for the message."""
    values = torch.stack([v.float() for v in terms.values()])
    ok = torch.isfinite(values).all().to(torch.int32)
    if distributed:                             # every rank stops together, none waits in an all-reduce
        dist.all_reduce(ok, op=dist.ReduceOp.MIN)
    if not bool(ok):
        bad = [f"{k} = {float(v)}" for k, v in terms.items() if not torch.isfinite(v)]
        which = f"{', '.join(bad)}" if bad else "on another process"
        last = last_checkpoint if last_checkpoint.exists() else "none yet"
        raise NonFiniteLossError(
            f"{where}: non-finite loss ({which}). Training stopped before the optimisers stepped; the last good "
            f"checkpoint is {last}. Lower the learning rate in the profile, check the data for NaNs, then resume=True.")


def check_same_networks(ckpt: dict, path, profile: Profile, also: tuple[str, ...] = ()) -> None:
    """ValueError unless checkpoint ``ckpt`` (read from ``path``) holds networks of ``profile``'s widths (and the
    same values of the profile fields ``also``)."""
    saved = Profile.from_dict(ckpt["profile"])
    for field in ("gs_channels", "gi_channels", "d_channels", *also):
        if getattr(saved, field) != getattr(profile, field):
            raise ValueError(f"resume: {path} was trained with {field}={getattr(saved, field)}, this profile has "
                             f"{getattr(profile, field)}. Use the same profile, or another run_dir.")


def check_resumable(ckpt: dict, path, stage: int, profile: Profile, block: str,
                    world_size: int | None = None) -> None:
    """ValueError unless checkpoint ``ckpt`` (read from ``path``) is of ``stage``, with ``profile``'s sizes
    and ``block``: a run resumes only into the networks and batch it was trained with. A note when it was
    written by another number of processes than ``world_size`` (None: say nothing)."""
    if ckpt.get("stage") != stage:
        raise ValueError(f"{path} is a stage-{ckpt.get('stage')} checkpoint, this trainer is stage {stage}.")
    check_same_networks(ckpt, path, profile, ("image_size", "batch_size"))
    if ckpt["block"] != block:
        raise ValueError(f"resume: {path} has block={ckpt['block']!r}, not {block!r}.")
    if world_size is not None and ckpt.get("world_size", 1) != world_size:
        print(f"resume: checkpoint written by {ckpt.get('world_size')} process(es), now {world_size}: "
              "the batches after the checkpoint differ from the original run's.", flush=True)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _sketch_spec(dataset: Dataset, profile: Profile, sketch: str) -> SketchSpec | None:
    """The SketchSpec of the run's sketches (its fields go to config.json and the checkpoints' ``sketch``:
    :meth:`inpaintkit.pipeline.Inpainter.from_run` serves with it); None for a data set without sketches.
    A data set of your own is taken to hold ``profile.sketch_spec(sketch)``'s."""
    return dataset.sketch_spec if isinstance(dataset, InpaintingDataset) else profile.sketch_spec(sketch)


def _make_task(stage: int, profile: Profile, block: str, vgg, sketch_from_generator, procs: Processes):
    """The stage's object on this process's device; stage 2's with its VGG (``vgg``: a module or its source,
    "auto" = the profile's; rank 0 fetches the weights first; none when the profile weights the perceptual and
    style terms 0, recorded as :data:`~inpaintkit.losses.NO_VGG`) and S_comp's Gs."""
    if stage == 2 and not profile.stage2_loss.uses_vgg:
        vgg = None                                      # not even a given one: the loss would never call it
    elif stage == 2 and not isinstance(vgg, nn.Module):
        with procs.rank0_first():
            vgg = losses.VGGFeatures(source=profile.vgg if vgg == "auto" else vgg)
    task = make_stage(stage, profile, block, vgg if stage == 2 else None, sketch_from_generator)
    if stage == 2 and task.vgg is None:
        task.vgg_source = losses.NO_VGG
        if procs.is_main:
            print("stage 2: no VGG loaded: this profile weights Eq. 14's perceptual and style terms 0", flush=True)
    elif task.vgg_source and procs.is_main:
        print(f"stage 2: perceptual and style losses (Eq. 14) use VGG source: {task.vgg_source}", flush=True)
    return task.to(procs.device, memory_format=procs.memory_format)


def _trainer_profile(stage, profile: Profile | str, init_from) -> Profile:
    """The trainer's profile, after the checks of its request (a stage, a profile, a joint stage with a fill)."""
    check_stage(stage)
    if init_from is not None and stage != "joint":
        raise ValueError("init_from is for the joint stage (the Gs it fine-tunes).")
    p = get_profile(profile) if isinstance(profile, str) else profile
    if not isinstance(p, Profile):
        raise ValueError(f"profile must be a Profile or one of smoke/quick/full, got {profile!r}.")
    if stage == "joint" and not p.prefill:
        raise ValueError(f"the joint stage trains Gs for the fill that Gi starts from; the {p.name} profile's Gi "
                         "paints the hole from zeros (prefill=False), so there is no fill to train through.")
    return p


def _total_steps(stage, p: Profile, steps: int | None) -> int:
    """The step a stage trains to: ``steps``, else the profile's ``stage1_steps``, ``stage2_steps`` or
    ``joint_steps``."""
    total = int(steps if steps is not None else {1: p.stage1_steps, 2: p.stage2_steps, "joint": p.joint_steps}[stage])
    if total < 0:
        raise ValueError(f"steps must be >= 0, got {steps}.")
    return total


def joint_start(init_from, run_dir, profile: Profile, device) -> tuple[dict, dict | None, str]:
    """Where the joint stage starts (its optimisers and step counter start afresh): (Gs's state dict, Ds's or None,
    a description). ``init_from`` None = ``run_dir``'s stage 1 (Gs and Ds from checkpoint.pt, else Gs alone from
    generator.pt), a run dir = that run's stage 1, a stage folder (one holding checkpoint.pt or generator.pt, e.g.
    another run's ``joint/``: a joint stage continued at another ``image_size``), "demo" = the shipped Gs. The
    networks' widths must match the profile's; the image size and batch may differ (the networks are convolutional)."""
    if init_from == "demo":
        from .pipeline import WeightsInfo

        info = WeightsInfo.from_json()
        return info.load_generators()[0].state_dict(), None, f"the shipped Gs ({info.name}, {info.sha256['gs'][:12]})"
    folder = stage_dir(run_dir if init_from is None else init_from, 1)
    if init_from is not None and any((Path(init_from) / name).is_file() for name in (CHECKPOINT, GENERATOR)):
        folder = Path(init_from)
    try:
        ckpt, path = read_with_fallback(folder / CHECKPOINT, map_location=device)
    except FileNotFoundError:       # a stage 1 kept as its generator only: Ds starts afresh
        if not (folder / GENERATOR).is_file():
            raise FileNotFoundError(f"the joint stage fine-tunes stage 1's Gs, and {folder} holds neither "
                                    "checkpoint.pt nor generator.pt: train stage 1 first (--stage 1), or pass "
                                    "--init-from demo to start from the shipped Gs.") from None
        ckpt, path = read_with_fallback(folder / GENERATOR, map_location=device)
    if ckpt.get("stage") not in (1, "joint"):
        raise ValueError(f"the joint stage fine-tunes a Gs, and {path} is a stage-{ckpt.get('stage')} checkpoint.")
    check_same_networks(ckpt, path, profile)
    return ckpt["generator"], ckpt.get("discriminator"), f"{path} (step {int(ckpt['step'])})"


def _start_joint(trainer: "Trainer") -> None:
    """Load the trainer's Gs (and Ds, where stage 1 kept one) from where the joint stage starts (joint_start)."""
    gen, disc, trainer.init_from = joint_start(trainer.init_from, trainer.run_dir, trainer.profile, trainer.device)
    trainer.generator.load_state_dict(gen)
    if disc is not None:
        trainer.discriminator.load_state_dict(disc)
    if trainer.is_main:
        print(f"joint stage: Gs{' and Ds' * (disc is not None)} start from {trainer.init_from}", flush=True)


@contextlib.contextmanager
def _deterministic_on_cpu(device: torch.device):
    """Deterministic algorithms while the block runs on the CPU (the exact-resume tests compare numbers)."""
    before = torch.are_deterministic_algorithms_enabled()
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


# ---------------------------------------------------------------------------------------------- sketch counts

class SketchCounter:
    """What a stage's sketches cost: read from the cache vs computed (:func:`inpaintkit.sketches.cache_counts`
    since the trainer started, in this process, plus what DataLoader workers report through each item's
    ``sketch_read`` / ``sketch_computed``), and how many distinct images the steps trained on (by data set
    index). :meth:`summary` sums over all processes (every rank must call it under torchrun)."""

    def __init__(self, workers: int):
        self.workers = workers
        self.start = cache_counts()
        self.seen = torch.zeros(0, dtype=torch.bool)

    def note(self, batch: dict, dataset_size: int) -> None:
        """Count a training batch: its images, and the sketches its workers read or computed."""
        if "index" in batch:
            if self.seen.numel() != dataset_size:
                self.seen = torch.zeros(dataset_size, dtype=torch.bool)
            self.seen[batch["index"]] = True
        if self.workers > 0 and "sketch_read" in batch:    # a worker's own counters die with it: add them here
            count_sketches(read=int(batch["sketch_read"].sum()), computed=int(batch["sketch_computed"].sum()))

    def summary(self, distributed: bool) -> dict:
        """{"read", "computed", "images"} over all processes since the trainer started."""
        now = cache_counts()
        counts = torch.tensor([now["read"] - self.start["read"], now["computed"] - self.start["computed"]])
        seen = self.seen.to(torch.uint8)
        if distributed:
            backend_dev = "cuda" if dist.get_backend() == "nccl" else "cpu"
            counts, seen = counts.to(backend_dev), seen.to(backend_dev)
            dist.all_reduce(counts)
            dist.all_reduce(seen, op=dist.ReduceOp.MAX)     # same size on every rank: the same data set
        return {"read": int(counts[0]), "computed": int(counts[1]), "images": int(seen.sum())}


# ---------------------------------------------------------------------------------------------- networks

class Networks:
    """A stage's generator G and discriminator D, their Adam optimisers (EdgeConnect's settings from the
    profile: lr, betas (0, 0.9), D lr = d_lr_ratio x lr) and the modules a step calls (DDP, torch.compile)."""

    def __init__(self, stage: int, profile: Profile, block: str, procs: Processes, compile: bool = False):
        p, fmt = profile, procs.memory_format
        self.generator = build_generator(stage, p, block).to(procs.device, memory_format=fmt)
        self.discriminator = build_discriminator(stage, p).to(procs.device, memory_format=fmt)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=p.lr, betas=p.betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=p.lr * p.d_lr_ratio, betas=p.betas)
        self.g_train = procs.wrap(self.generator, compile)                       # DDP, then torch.compile
        self.d_train = procs.wrap(self.discriminator, compile)
        self.d_plain = procs.wrap(self.discriminator, compile, ddp=False)        # D frozen for G's loss

    def losses(self, task, b: dict) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """(G loss, D loss, detached terms ``g_*`` and ``d_hinge``) of ``task`` on batch ``b``: one G
        forward, D (frozen) on cat[real, pred] for G's loss, D on cat[real, pred.detach()] for D's (Eq. 12)."""
        pred = task.predict(self.g_train, b)
        real = task.d_input(b, task.real(b))
        self.discriminator.requires_grad_(False)           # no D gradients from G's loss
        _, fake_logits, real_feats, fake_feats = _discriminate(self.d_plain, real, task.d_input(b, pred))
        self.discriminator.requires_grad_(True)
        g_loss, terms = task.generator_loss(pred, b, fake_logits.float(), real_feats, fake_feats)  # in float32
        real_logits, fake_logits_d, _, _ = _discriminate(self.d_train, real, task.d_input(b, pred.detach()))
        d_loss = losses.hinge_d_loss(real_logits.float(), fake_logits_d.float())
        return g_loss, d_loss, {**{f"g_{k}": v for k, v in terms.items()}, "d_hinge": d_loss.detach()}

    def step(self, g_loss: torch.Tensor, d_loss: torch.Tensor) -> None:
        """The G step on ``g_loss``, then the D step on ``d_loss``."""
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()

    def state_dict(self) -> dict:
        return {name: getattr(self, name).state_dict() for name in NETWORK_KEYS}

    def load_state_dict(self, state: dict) -> None:
        for name in NETWORK_KEYS:
            getattr(self, name).load_state_dict(state[name])


def _discriminate(d: nn.Module, real: torch.Tensor, fake: torch.Tensor):
    """D on cat[real, fake] along the batch: (real logits, fake logits, real feats, fake feats)."""
    n = real.shape[0]
    logits, feats = d(torch.cat([real, fake], dim=0))                      # (2N, 1, H/8, W/8)
    return logits[:n], logits[n:], [f[:n] for f in feats], [f[n:] for f in feats]


@torch.no_grad()
def sample_grid(task, generator: nn.Module, batch: dict, procs: Processes) -> torch.Tensor:
    """(3, H', W') grid of ``batch``, one column per sample, one row per image of ``task.sample_rows`` (input,
    mask, sketch, prediction, ground truth). G runs in eval mode (spectral norm's power iteration does not
    advance) and is left in train mode."""
    from torchvision.utils import make_grid

    b = {k: batch[k].to(procs.device, memory_format=procs.memory_format) for k in ITEM_KEYS}
    generator.eval()
    with procs.autocast():
        pred = task.predict(generator, b).float()
    generator.train()
    rows = [r.float().expand(-1, 3, -1, -1).cpu() for r in task.sample_rows(b, pred)]  # (n, 3, H, W) each
    return make_grid(torch.cat(rows), nrow=rows[0].shape[0], padding=2, pad_value=1.0)


# ---------------------------------------------------------------------------------------------- trainer

class Trainer:
    """Trains stage 1 (Gs vs Ds), stage 2 (Gi vs Di) or the joint stage (Gs vs Ds through the fill); see the
    module docstring.

    ``profile``: a :class:`~inpaintkit.config.Profile` or its name. ``run_dir``: files go to
    ``run_dir/stage{stage}/``. ``data``: None (demo set), a path, or a Dataset whose items are dicts
    {"image" (3,S,S), "gray" (1,S,S), "sketch" (1,S,S), "mask" (1,S,S) with 1 = known, 0 = hole, "path"};
    ``sketch`` ("hed", "canny") and ``masks`` (a mask folder) are for a data set built here. ``steps``: the step
    the run trains to (default the profile's). ``resume``: continue from ``checkpoint.pt`` if there is one;
    ``overwrite``: start over even if there is. Stage 2: ``block`` (Gi's conv block), ``vgg`` (a VGGFeatures
    or its source: "auto" = the profile's, "imagenet", "hed"), ``sketch_from_generator`` (a stage-1 run dir
    or Gs module making S_comp; default S_comp = S_gt). Joint stage (``stage="joint"``): ``init_from``, the Gs
    it fine-tunes (None: this run's stage 1; a run dir: that run's stage 1; "demo": the shipped Gs).
    ``precision``: "auto" (bf16 on CUDA, fp32 on the CPU), "bf16" or "fp32". Batch: ``profile.batch_size``
    images per optimiser step over all processes.
    Under torchrun: DDP, one data shard per process, only rank 0 writes, missing sketches computed in shares
    (:func:`shard_sketches`), ``dist_timeout`` seconds at most at a collective (:func:`dist_timeout`).
    Parts: ``task`` (the stage, :mod:`inpaintkit.stages`), ``nets`` (:class:`Networks`), ``files``
    (:class:`~inpaintkit.runs.RunFiles`), ``procs`` (:class:`Processes`), ``meter`` (:class:`LossMeter`).
    """

    def __init__(self, stage: int, profile: Profile | str, run_dir, device="auto", data=None, block: str = "cfs",
                 seed: int | None = None, sketch_from_generator=None, compile: bool = False, progress: bool = True,
                 steps: int | None = None, resume: bool = False, overwrite: bool = False, vgg="auto",
                 sketch: str = "hed", masks=None, precision: str = "auto", dist_timeout: float | None = None,
                 init_from=None):
        self.profile = p = _trainer_profile(stage, profile, init_from)
        self.stage, self.init_from, self.total_steps = stage, init_from, _total_steps(stage, p, steps)
        self.block = block if stage == 2 else "partial"
        self.seed = p.seed if seed is None else int(seed)
        self.run_dir, self.files, self.progress = Path(run_dir), RunFiles(run_dir, stage), progress
        self.stage_dir = self.files.folder
        self.procs = procs = Processes(device, precision, dist_timeout)
        self.device, self.rank, self.world_size = procs.device, procs.rank, procs.world_size
        self.is_main, self.distributed, self.precision = procs.is_main, procs.distributed, procs.precision
        self.autocast = procs.autocast
        self.batch_per_process = procs.batch_per_process(p.batch_size)

        # networks (same seed on every rank: identical initial weights), then the stage's VGG and Gs
        _seed_everything(self.seed)
        self.nets = Networks(stage, p, self.block, procs, compile)
        self.generator, self.discriminator = self.nets.generator, self.nets.discriminator
        self.g_optimizer, self.d_optimizer = self.nets.g_optimizer, self.nets.d_optimizer
        self.vgg_requested = p.vgg if vgg == "auto" else (vgg if isinstance(vgg, str) else "module")
        self.task = _make_task(stage, p, self.block, vgg, sketch_from_generator, procs)
        self.vgg, self.vgg_source, self.sketch_from = self.task.vgg, self.task.vgg_source, self.task.sketch_from

        # state: a previous run's, when resumed
        self.step, self.meter, self.history = 0, LossMeter(self.device), []
        self._open(resume, overwrite)

        # data: under torchrun every process sketches its share of what the cache lacks, then each builds the
        # data set from the full cache (no rank waits for a whole sketch pass on another)
        self.sketch_counter = SketchCounter(p.num_workers)
        shard_sketches(data, p, sketch, procs, progress=progress)
        dataset = build_dataset(data, p, sketch=sketch, seed=self.seed, device=self.device,
                                progress=progress and self.is_main, masks=masks)
        self.dataset = _Scheduled(dataset, self.seed)
        self.sketch_spec = _sketch_spec(dataset, p, sketch)
        self.data_description = data if data is None or isinstance(data, (str, os.PathLike)) else type(data).__name__
        self.masks_description = "generated strokes (inpaintkit.masks.irregular_mask)" if masks is None else str(masks)
        fixed = [self.dataset[(0, i, i)] for i in range(min(SAMPLE_COUNT, len(self.dataset)))]
        self._sample_batch = torch.utils.data.default_collate(fixed)
        if self.is_main:
            self.files.prepare(self.step, self.config())

    def _open(self, resume: bool, overwrite: bool) -> None:
        """Refuse a folder another process writes; refuse a folder holding any trained artefact
        (:meth:`~inpaintkit.runs.RunFiles.trained_artefacts`) unless resumed from its checkpoint or overwritten."""
        if self.is_main:
            check_writable_dir(self.stage_dir, "run folder")   # a file, read-only: refused before any work
            self.files.lock().acquire().release()        # refused now if another process writes this stage
        self.files.refuse_overwrite(resume, overwrite)
        if resume and self.files.has_checkpoint():       # an unusable checkpoint.pt: its .prev.pt, with a warning
            self.files.read_checkpoint(map_location=self.device, use=self.load_state_dict)
            return
        if resume and self.is_main:
            print(f"resume: no checkpoint in {self.stage_dir}, starting at step 0", flush=True)
        if self.stage == "joint":
            _start_joint(self)

    # -- the loop -------------------------------------------------------------------------------

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One G step and one D step on ``batch``; returns the detached loss terms (``g_*``, ``d_hinge``).

        Raises :class:`NonFiniteLossError` before any optimiser steps if a term is NaN or inf.
        """
        b = {k: batch[k].to(self.device, memory_format=self.procs.memory_format, non_blocking=True) for k in ITEM_KEYS}
        with self.autocast():
            g_loss, d_loss, terms = self.nets.losses(self.task, b)
        check_finite(terms, f"stage {self.stage}, step {self.step + 1}", self.files.checkpoint, self.distributed)
        self.nets.step(g_loss, d_loss)
        return terms

    def fit(self, steps: int | None = None) -> list[dict]:
        """Train until the step counter reaches ``steps`` (default: the run's, ``total_steps``).

        A losses.csv row, a sample grid and a checkpoint every ``log_every``, ``sample_every`` and
        ``checkpoint_every`` steps of the profile, and all three at the step this call stops at. Returns the
        rows of this call (step, loss terms, seconds_per_step); all rows so far are in losses.csv
        (:func:`~inpaintkit.runs.read_losses`).
        """
        from tqdm.auto import tqdm

        target = self.total_steps if steps is None else int(steps)
        if self.step >= target:
            return []
        p, rows = self.profile, []
        batches = iter(self._loader())
        bar = tqdm(total=target, initial=self.step, desc=f"stage {self.stage}", unit="step",
                   disable=not (self.progress and self.is_main), dynamic_ncols=True)
        self.generator.train()
        self.discriminator.train()
        lock = self.files.lock().acquire() if self.is_main else None   # one writer per stage folder
        with _deterministic_on_cpu(self.device), bar:
            try:
                t0, n0 = time.perf_counter(), self.step
                while self.step < target:
                    batch = next(batches)
                    self.sketch_counter.note(batch, len(self.dataset))
                    terms = self.train_step(batch)
                    self.step += 1
                    self.meter.add(terms)
                    bar.update(1)
                    last = self.step == target
                    if last or self.step % p.log_every == 0:
                        row = self._log_row(seconds=(time.perf_counter() - t0) / max(self.step - n0, 1))
                        t0, n0 = time.perf_counter(), self.step
                        if row is not None:
                            rows.append(row)
                            bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in ("g_total", "d_hinge")})
                    if last or self.step % p.sample_every == 0:
                        self.save_samples()
                    if last or self.step % p.checkpoint_every == 0:
                        self.save_checkpoint()
            finally:
                del batches                                   # stops DataLoader workers now, also on an error
                if lock is not None:
                    lock.release()
        self.history.extend(rows)
        return rows

    def _loader(self) -> DataLoader:
        return step_loader(self.dataset, self.profile.num_workers, self.procs, self.batch_per_process, self.seed,
                           self.step)

    def _log_row(self, seconds: float) -> dict | None:
        """The mean of each term since the last row, over all processes; rank 0 appends it to losses.csv."""
        row = self.meter.row(self.step, seconds, self.world_size)
        if row is not None and self.is_main:
            self.files.append_losses(row)
        return row

    # -- state and files ------------------------------------------------------------------------

    def _meta(self) -> dict:
        """What checkpoint.pt, generator.pt and config.json all hold (:mod:`inpaintkit.checkpoints`)."""
        return {"format": CHECKPOINT_FORMAT, "stage": self.stage, "step": self.step, "profile": self.profile.to_dict(),
                "block": self.block, "vgg_source": self.vgg_source, "seed": self.seed,
                "sketch": None if self.sketch_spec is None else asdict(self.sketch_spec)}

    def config(self) -> dict:
        """config.json: how this run trains (no step: the checkpoint has it)."""
        cfg = {**self._meta(), "device": str(self.device), "world_size": self.world_size,
               "data": None if self.data_description is None else str(self.data_description),
               "sketch_from_generator": self.sketch_from, "torch": torch.__version__,
               "masks": self.masks_description, "precision": self.precision, "vgg_requested": self.vgg_requested,
               "batch_size_total": self.profile.batch_size, "batch_size_per_process": self.batch_per_process,
               "batch_semantics": "profile batch_size = images per optimiser step over all processes"}
        if self.stage == "joint":
            cfg["init_from"] = self.init_from
        cfg.pop("step")
        return cfg

    def state_dict(self) -> dict:
        """Everything a resumed run needs (tensors, dicts, lists, numbers and strings only)."""
        return {**self._meta(), **self.nets.state_dict(), "rng": rng_state(self.device), "world_size": self.world_size,
                "sketch_from_generator": self.sketch_from, **self.meter.state_dict()}

    def load_state_dict(self, ckpt: dict, path: Path | str = "checkpoint") -> None:
        """Continue the run of checkpoint ``ckpt`` (read from ``path``; :func:`check_resumable`)."""
        require_entries(ckpt, RESUME_ENTRIES, path)
        check_resumable(ckpt, path, self.stage, self.profile, self.block, self.world_size if self.is_main else None)
        for name in NETWORK_KEYS:
            load_state(getattr(self.nets, name), ckpt[name], path, name)
        _restore_rng(ckpt, path, self.device)
        self.step = int(ckpt["step"])
        self.meter.load_state_dict(ckpt)
        if self.is_main:
            print(f"resumed stage {self.stage} from {path} at step {self.step}", flush=True)

    def sketch_cache(self) -> dict:
        """What sketch_cache.json holds: sketches read from the cache and computed, over all processes, since this
        trainer started (a resumed run counts from its resumption), the sketch spec's key, the distinct images
        trained on and the data's source. Under torchrun every rank must call it."""
        return {**self.sketch_counter.summary(self.distributed),
                "spec_key": None if self.sketch_spec is None else self.sketch_spec.key(),
                "data": None if self.data_description is None else str(self.data_description)}

    def save_checkpoint(self) -> None:
        """Write checkpoint.pt, generator.pt (:meth:`~inpaintkit.runs.RunFiles.save`) and sketch_cache.json
        (rank 0, the others wait)."""
        self.procs.barrier()
        counts = self.sketch_cache()
        if self.is_main:
            self.files.save(self.state_dict(), {**self._meta(), "generator": self.generator.state_dict()})
            self.files.save_sketch_cache(counts)
        self.procs.barrier()

    def sample_grid(self) -> torch.Tensor:
        """(3, H', W') grid of the fixed sample batch (:func:`sample_grid`)."""
        return sample_grid(self.task, self.generator, self._sample_batch, self.procs)

    def save_samples(self) -> Path | None:
        """Write ``samples/step_{step:06d}.png`` (rank 0) and return its path."""
        return self.files.save_samples(self.sample_grid(), self.step) if self.is_main else None


# ---------------------------------------------------------------------------------------------- CLI

def _stage_arg(text: str):
    """``--stage``'s value: 1 and 2 as numbers, "joint" as it is."""
    return int(text) if text in ("1", "2") else text


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m inpaintkit.train", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", type=_stage_arg, choices=STAGES, required=True,
                    help="1: sketch generator Gs, 2: image generator Gi, joint: Gs fine-tuned from stage 1 through "
                         "the fill it guides (not in the paper; profiles whose Gi starts from the fill)")
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--run-dir", required=True, help="files go to RUN_DIR/stage1/, stage2/ or joint/")
    ap.add_argument("--image-size", type=int, default=None,
                    help="train at this size instead of the profile's (e.g. the joint stage at the size the weights "
                         "serve at); the demo set then cuts its crops at that size")
    ap.add_argument("--data", default=None, help="image folder, .flist or Places365 root (default: the demo set)")
    ap.add_argument("--sketch", default="hed", choices=("hed", "canny"), help="sketches of --data (default hed)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda (under torchrun: cuda:LOCAL_RANK)")
    ap.add_argument("--resume", action="store_true", help="continue from RUN_DIR/stage{N}/checkpoint.pt")
    ap.add_argument("--overwrite", action="store_true", help="start over even if a checkpoint exists")
    ap.add_argument("--steps", type=int, default=None,
                    help="train until the step counter reaches STEPS (default: the profile's stage1_steps / "
                         "stage2_steps); with --resume, a run continues to STEPS")
    ap.add_argument("--block", default="cfs", help="Gi's conv block (stage 2): partial, cfs, gated_input, gated, conv")
    ap.add_argument("--init-from", default=None, help="joint stage: the Gs it starts from: a run dir whose stage1/ "
                    "has a checkpoint (default RUN_DIR), a stage folder such as another run's joint/ (to continue it "
                    "at another --image-size), or 'demo' (the shipped Gs)")
    ap.add_argument("--sketch-from", default=None, help="stage 2: S_comp from this stage-1 run dir's Gs (default S_gt)")
    ap.add_argument("--vgg", default="auto", choices=losses.VGG_SOURCES,
                    help="VGG of the stage-2 losses (auto: the profile's; full: imagenet, i.e. torchvision's VGG19; "
                         "hed: HED's VGG16, a departure from Eq. 14 recorded in config.json; vgg19-random: VGG19 "
                         "with random weights, to rehearse the code path without the download)")
    ap.add_argument("--photos", default=None, help="a folder of extra photographs for the demo set (split by "
                                                   "photograph; sets $INPAINTKIT_PHOTOS), e.g. data/photos")
    ap.add_argument("--masks", default=None, help="mask folder for the training masks, e.g. Liu et al.'s irregular "
                                                  "mask set (default: generated strokes)")
    ap.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                    help="auto: bf16 autocast on CUDA, float32 on the CPU")
    ap.add_argument("--compile", action="store_true", help="torch.compile the networks")
    ap.add_argument("--dist-timeout", type=float, default=None,
                    help=f"under torchrun: seconds a process waits for the others before the run aborts (default "
                         f"${DIST_TIMEOUT_ENV}, else {DIST_TIMEOUT_S:.0f})")
    ap.add_argument("--seed", type=int, default=None, help="default: the profile's seed")
    ap.add_argument("--no-progress", action="store_true")
    add_debug_flag(ap)
    return ap.parse_args(argv)


@command
def main(argv=None) -> int:
    """The command line: any failure is one ``error:`` line and exit code 2 (``--debug``: the traceback);
    a non-finite loss exits 1."""
    args = parse_args(argv)
    if args.photos is not None:                # the demo set reads it wherever it is built (data.demo_photos)
        if not Path(args.photos).is_dir():
            raise ValueError(f"--photos {args.photos}: no such folder of photographs")
        os.environ["INPAINTKIT_PHOTOS"] = str(Path(args.photos).resolve())
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps {args.steps}: give a positive number of steps")
    profile = get_profile(args.profile)
    if args.image_size is not None:          # the Profile refuses a size its networks cannot halve four times
        profile = replace(profile, image_size=args.image_size)
    try:
        trainer = Trainer(args.stage, profile, args.run_dir, device=args.device, data=args.data,
                          block=args.block, seed=args.seed, sketch_from_generator=args.sketch_from,
                          compile=args.compile, progress=not args.no_progress, steps=args.steps,
                          resume=args.resume, overwrite=args.overwrite,
                          vgg=args.vgg, sketch=args.sketch, masks=args.masks, precision=args.precision,
                          dist_timeout=args.dist_timeout, init_from=args.init_from)
        trainer.fit()
        if trainer.is_main:
            print(f"stage {args.stage}: {trainer.step} steps done; {trainer.stage_dir / GENERATOR}", flush=True)
    except NonFiniteLossError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
