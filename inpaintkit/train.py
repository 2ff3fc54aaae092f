"""Training of the two stages (Section 3.3): Gs against Ds, then Gi against Di.

    Stage 1 (Eq. 9, 11, 12):  S_pred = Gs(I_gray, S_gt, M)             Ds sees cat[S, I_gray]
    Stage 2 (Eq. 10, 12, 14): I_pred = Gi(I_gt, S_comp, M)             Di sees the RGB image
                              S_comp = S_pred * (1 - M) + S_gt * M      (S_pred = S_gt by default)

One :class:`Trainer` does both (``stage=1`` or ``2``); no framework. Per step::

    pred = G(batch)                                     # one generator forward
    G loss: D (frozen) on cat[real, pred]               # FM targets and fake logits, one D call
    D loss: D on cat[real, pred.detach()]               # hinge, Eq. 12, one D call
    check every loss term is finite, then G step, then D step

Choices where the paper is silent (EdgeConnect's where it has one):

* The discriminators see the **raw** prediction (S_pred, I_pred), not the composite, as EdgeConnect's
  edge and inpainting models do; Ds gets the *real* gray image with either sketch (Eq. 12:
  D(S_gt, I_gray) vs D(S_pred, I_gray)).
* Stage 2 trains on the composite of the **ground-truth** sketch (S_comp = S_gt), as EdgeConnect trains
  its inpainting model; ``sketch_from_generator=<stage-1 run dir or module>`` uses a trained Gs instead.
* The L1 and style terms of Eq. 14 use EdgeConnect's conventions (L1 divided by the hole ratio, style
  on the hole region): :func:`inpaintkit.losses.stage2_generator_loss` with ``mask``.
* Real and fake go through D in **one** call (concatenated on the batch axis): one forward and one
  backward per step for each DistributedDataParallel module, and the feature-matching targets come from
  the same discriminator weights as the fake features.
* Adam with EdgeConnect's defaults from the profile: lr, betas (0, 0.9), D lr = d_lr_ratio x lr.

Files, under ``<run_dir>/stage{N}/``:

    checkpoint.pt   networks, optimisers, step, RNG states, profile, loss accumulator (atomic, weights_only)
    generator.pt    the generator's state dict + what is needed to rebuild it (for inference)
    *.prev.pt       the previous checkpoint.pt / generator.pt: read, with a warning, when the latest is corrupt
    run.lock        while a process writes the folder (Trainer.__init__'s clean-up, fit): a second one is refused
    losses.csv      step, each loss term (mean over the last log_every steps), seconds_per_step
    config.json     profile, block, VGG source, seed, device, world size, data
    samples/step_000100.png   rows: input, mask, sketch, prediction, ground truth

Exact resume: the batch of step t is a function of (seed, t, rank) only. A batch sampler replays the
epochs of a :class:`~torch.utils.data.distributed.DistributedSampler` (also for one process) from any
step, and the training masks of an :class:`~inpaintkit.data.InpaintingDataset` are drawn per sample from
``numpy.random.default_rng([seed, rank, sample number])`` with the data set's ``hole_range`` (or mask
folder). So a run killed at any moment and resumed from its checkpoint continues, on the CPU, on the
same numbers it would have had. (A data set of your own must then give the same item for the same index.)

Command line (also under ``torchrun --nproc_per_node=N``)::

    python -m inpaintkit.train --stage 1 --profile quick --run-dir runs/quick
    python -m inpaintkit.train --stage 2 --profile quick --run-dir runs/quick --resume
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import random
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from . import losses, networks
from .config import PROFILES, Profile, get_profile, resolve_device
from .files import RunLock, RunLockedError, atomic_path, atomic_write_text
from .sketches import binarize

CHECKPOINT = "checkpoint.pt"
GENERATOR = "generator.pt"
LOSSES_CSV = "losses.csv"
CONFIG_JSON = "config.json"
CHECKPOINT_FORMAT = 1
SAMPLE_COUNT = 6          # columns of the sample grid (fewer if the data set is smaller)
ITEM_KEYS = ("image", "gray", "sketch", "mask")


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or inf; training stopped before the optimisers stepped on it."""


def stage_dir(run_dir, stage: int) -> Path:
    """``<run_dir>/stage{stage}``: where a stage's checkpoint, losses and samples live."""
    _check_stage(stage)
    return Path(run_dir) / f"stage{stage}"


def _check_stage(stage) -> None:
    if stage not in (1, 2):
        raise ValueError(f"stage must be 1 (sketch generator Gs) or 2 (image generator Gi), got {stage!r}.")


# ---------------------------------------------------------------------------------------------- networks

def build_generator(stage: int, profile: Profile, block: str = "cfs") -> networks.Generator:
    """Gs (stage 1, PartialConv) or Gi (stage 2, ``block``) at the profile's width and architecture flags."""
    _check_stage(stage)
    if stage == 1:
        return networks.sketch_generator(profile.gs_channels, skips=profile.skips)
    return networks.image_generator(profile.gi_channels, block=block, skips=profile.skips, prefill=profile.prefill)


def build_discriminator(stage: int, profile: Profile) -> networks.PatchDiscriminator:
    """Ds (2 channels: sketch, gray) or Di (3 channels: RGB) at the profile's width."""
    _check_stage(stage)
    build = networks.sketch_discriminator if stage == 1 else networks.image_discriminator
    return build(profile.d_channels)


# ---------------------------------------------------------------------------------------------- data

def build_dataset(data, profile: Profile, sketch: str = "hed", seed: int = 0, device="cpu",
                  progress: bool = True, masks=None, split: str = "train") -> Dataset:
    """``None`` -> the demo set's ``split``; a path -> :class:`~inpaintkit.data.InpaintingDataset` of its
    ``split`` images (:func:`~inpaintkit.data.split_source`; masks fixed per item unless "train"); a Dataset -> itself. ``sketch``: "hed" or "canny"
    for the sketches of the first two. ``masks``: a mask folder (Liu et al.'s) for the training masks of the
    first two, default generated strokes. A profile with ``needs_real_data`` (full, gpu) refuses the demo set."""
    if isinstance(data, Dataset):
        if masks is not None:
            raise ValueError("masks= applies to a data set built here from a path; give your Dataset its own masks.")
        return data
    from .data import InpaintingDataset, demo_dataset, split_source

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
                             split=places_split, masks=mask_source, deterministic_masks=split != "train")


class _Scheduled(Dataset):
    """Wraps a data set; item ``(stream, position, index)`` is ``dataset[index]`` with, for an
    InpaintingDataset drawing random masks, a mask drawn from ``default_rng([seed, stream, position])``
    (``stream`` = 1 + rank for training, 0 for the fixed sample batch), so that a batch depends only on
    the step (exact resume, independent of DataLoader workers)."""

    def __init__(self, dataset: Dataset, seed: int):
        from .data import InpaintingDataset

        self.dataset, self.seed = dataset, int(seed)
        self.own_masks = isinstance(dataset, InpaintingDataset) and not dataset.deterministic_masks

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        from . import masks

        stream, position, index = key
        item = self.dataset[index]
        if not isinstance(item, dict) or any(k not in item for k in ITEM_KEYS):
            raise ValueError(f"Data set items must be dicts with keys {ITEM_KEYS} (+ 'path'); item {index} is "
                             f"{type(item).__name__} with keys {sorted(item) if isinstance(item, dict) else '-'}.")
        if self.own_masks:
            ds = self.dataset
            rng = np.random.default_rng([self.seed, stream, position])
            if ds.mask_set is None:
                m = masks.irregular_mask(ds.size, ds.size, ds.hole_range, rng)
            else:
                m = ds.mask_set[int(rng.integers(len(ds.mask_set)))]
            item = dict(item, mask=masks.mask_to_tensor(m))                # (1, S, S), 1 = known
        item.setdefault("path", str(index))
        return item


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


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ---------------------------------------------------------------------------------------------- distributed

def distributed_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) from torchrun's environment (0, 0, 1 without it)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def init_distributed(device: torch.device) -> torch.device:
    """Under torchrun (WORLD_SIZE > 1): join the process group (nccl on CUDA, gloo on the CPU) and
    return this process's device (``cuda:LOCAL_RANK``). Without torchrun: return ``device`` unchanged."""
    rank, local_rank, world = distributed_env()
    if world == 1 or (dist.is_available() and dist.is_initialized()):
        if world > 1 and device.type == "cuda":
            return torch.device("cuda", local_rank)
        return device
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def previous_path(path) -> Path:
    """Where the file a checkpoint replaced is kept: ``checkpoint.pt`` -> ``checkpoint.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _atomic_torch_save(obj, path: Path, keep_previous: bool = False) -> None:
    """``torch.save`` atomically. ``keep_previous``: the file it replaces stays beside it as
    :func:`previous_path` (a hard link, else a copy, made before the new file goes in, so ``path`` always
    exists); without it a stale previous file is removed."""
    prev = previous_path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
        if keep_previous and path.exists():
            with atomic_path(prev) as ptmp:
                ptmp.unlink()
                try:
                    os.link(path, ptmp)
                except OSError:             # a file system without hard links
                    shutil.copyfile(path, ptmp)
        elif not keep_previous:
            prev.unlink(missing_ok=True)


def read_checkpoint(path, map_location="cpu") -> dict:
    """A checkpoint or generator file written by this module, read with ``weights_only=True``.

    A truncated, empty or foreign file raises ValueError saying so (never torch's raw unpickling error).
    """
    path = Path(path)
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:   # torch raises many types here (RuntimeError, UnpicklingError, EOFError, ...)
        first = str(e).strip().split(". ")[0][:120]     # torch's first sentence, without its weights_only advice
        raise ValueError(f"{path} cannot be read as an inpaintkit checkpoint: it is truncated, empty or not one "
                         f"({type(e).__name__}: {first}). Delete it (resume then falls back to "
                         f"{previous_path(path).name} when there is one) or train again with --overwrite.") from None
    if not isinstance(obj, dict) or not {"format", "stage", "generator"} <= set(obj):
        raise ValueError(f"{path} is not a checkpoint written by inpaintkit.train (no format/stage/generator "
                         "entries). Give a run dir trained with python -m inpaintkit.train.")
    return obj


def read_with_fallback(path, map_location="cpu") -> tuple[dict, Path]:
    """(:func:`read_checkpoint` of ``path``, the path read); when ``path`` is missing or unreadable and
    :func:`previous_path` reads, that one, with a warning. Raises the first error when neither does."""
    path = Path(path)
    try:
        return read_checkpoint(path, map_location), path
    except (ValueError, FileNotFoundError) as first:
        prev = previous_path(path)
        if not prev.is_file():
            raise
        try:
            obj = read_checkpoint(prev, map_location)
        except ValueError:
            raise first from None
        msg = (f"{path.name} in {path.parent} cannot be used ({first}); falling back to the previous one, "
               f"{prev.name} (step {obj.get('step', '?')}).")
        warnings.warn(msg, stacklevel=2)
        print(f"warning: {msg}", file=sys.stderr, flush=True)
        return obj, prev


_atomic_write_text = atomic_write_text


# ---------------------------------------------------------------------------------------------- trainer

class Trainer:
    """Trains stage 1 (Gs vs Ds) or stage 2 (Gi vs Di); see the module docstring.

    ``profile``: a :class:`~inpaintkit.config.Profile` or its name. ``run_dir``: files go to
    ``run_dir/stage{stage}/``. ``data``: None (demo set), a path, or a Dataset whose items are dicts
    {"image" (3,S,S), "gray" (1,S,S), "sketch" (1,S,S), "mask" (1,S,S) with 1 = known, 0 = hole, "path"}.
    ``block``: Gi's conv block (stage 2). ``seed``: default the profile's. ``sketch_from_generator``
    (stage 2): a stage-1 run dir (or a Gs module) whose prediction makes S_comp; default S_comp = S_gt.
    ``compile``: torch.compile the networks. ``steps``: total steps (default the profile's stage steps).
    ``resume``: continue from ``checkpoint.pt`` if there is one. ``overwrite``: start over even if there is.
    ``vgg`` (stage 2): a :class:`~inpaintkit.losses.VGGFeatures` or its ``source`` ("auto", "imagenet", "hed").
    ``sketch``: "hed" or "canny", for the sketches of a data set built here from None or a path.
    ``masks``: a mask folder (Liu et al.'s irregular masks) for the training masks of such a data set.
    ``precision``: "auto" (bf16 autocast on CUDA, float32 on the CPU), "bf16" (also on the CPU: how the tests
    catch an op that CUDA's autocast refuses) or "fp32". ``vgg="auto"`` is the profile's ``vgg``.
    Batch: ``profile.batch_size`` images per optimiser step over all processes, ``batch_size / world_size``
    per process (config.json records both).

    On CUDA: bf16 autocast and channels_last. On the CPU: float32 and deterministic algorithms during
    :meth:`fit`. Under torchrun: DistributedDataParallel for G and D, one shard of the data per process,
    only rank 0 writes files and shows the progress bar.
    """

    def __init__(self, stage: int, profile: Profile | str, run_dir, device="auto", data=None, block: str = "cfs",
                 seed: int | None = None, sketch_from_generator=None, compile: bool = False, progress: bool = True,
                 steps: int | None = None, resume: bool = False, overwrite: bool = False, vgg="auto",
                 sketch: str = "hed", masks=None, precision: str = "auto"):
        _check_stage(stage)
        self.stage = stage
        self.profile = get_profile(profile) if isinstance(profile, str) else profile
        if not isinstance(self.profile, Profile):
            raise ValueError(f"profile must be a Profile or one of smoke/quick/full, got {profile!r}.")
        p = self.profile
        self.block = block if stage == 2 else "partial"
        self.seed = p.seed if seed is None else int(seed)
        self.total_steps = int(steps if steps is not None else (p.stage1_steps if stage == 1 else p.stage2_steps))
        if self.total_steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}.")
        self.run_dir = Path(run_dir)
        self.stage_dir = stage_dir(self.run_dir, stage)
        self.progress = progress

        # devices and processes
        self.device = init_distributed(resolve_device(device))
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world_size = dist.get_world_size() if self.distributed else 1
        self.is_main = self.rank == 0
        cuda = self.device.type == "cuda"
        if precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision={precision!r}: choose 'auto' (bf16 on CUDA, fp32 on the CPU), 'bf16' or 'fp32'.")
        self.precision = ("bf16" if cuda else "fp32") if precision == "auto" else precision
        dev_type = self.device.type
        self.autocast = ((lambda: torch.autocast(dev_type, dtype=torch.bfloat16)) if self.precision == "bf16"
                         else contextlib.nullcontext)
        if p.batch_size % self.world_size:
            raise ValueError(f"batch_size={p.batch_size} is the batch over all {self.world_size} processes and must "
                             f"divide evenly: use a number of processes that divides {p.batch_size} "
                             "(the paper's 6: 1, 2, 3 or 6 GPUs), or a profile with another batch_size.")
        self.batch_per_process = p.batch_size // self.world_size
        self.memory_format = torch.channels_last if cuda else torch.contiguous_format

        # networks and optimisers (same seed on every rank: identical initial weights)
        torch.manual_seed(self.seed)
        np.random.seed(self.seed % 2**32)
        random.seed(self.seed)
        self.generator = build_generator(stage, p, self.block).to(self.device, memory_format=self.memory_format)
        self.discriminator = build_discriminator(stage, p).to(self.device, memory_format=self.memory_format)
        self.g_optimizer = torch.optim.Adam(self.generator.parameters(), lr=p.lr, betas=p.betas)
        self.d_optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=p.lr * p.d_lr_ratio, betas=p.betas)

        self.vgg = None
        self.sketch_generator = None
        self.sketch_from = None
        self.vgg_requested = p.vgg if vgg == "auto" else (vgg if isinstance(vgg, str) else "module")
        if stage == 2:
            if isinstance(vgg, nn.Module):
                self.vgg = vgg
            else:
                with self._rank0_first():                   # rank 0 fetches/converts weights once
                    self.vgg = losses.VGGFeatures(source=self.vgg_requested)
            self.vgg = self.vgg.to(self.device, memory_format=self.memory_format)
            if sketch_from_generator is not None:
                if isinstance(sketch_from_generator, nn.Module):
                    gs, self.sketch_from = sketch_from_generator, "module"
                else:
                    gs, self.sketch_from = load_generator(sketch_from_generator, 1), str(sketch_from_generator)
                self.sketch_generator = gs.to(self.device, memory_format=self.memory_format).eval().requires_grad_(False)
        elif sketch_from_generator is not None:
            raise ValueError("sketch_from_generator is for stage 2 (it makes S_comp from a trained Gs).")
        self.vgg_source = getattr(self.vgg, "source", None) if self.vgg is not None else None
        if self.vgg_source and self.is_main:
            print(f"stage 2: perceptual and style losses (Eq. 14) use VGG source: {self.vgg_source}", flush=True)

        # the modules the step calls: DDP wraps the trained ones, compile wraps on top
        g_train, d_train, d_plain = self.generator, self.discriminator, self.discriminator
        if self.distributed:
            ids = [self.device.index] if cuda else None
            g_train = DistributedDataParallel(self.generator, device_ids=ids)
            d_train = DistributedDataParallel(self.discriminator, device_ids=ids)
        if compile:
            g_train, d_train, d_plain = torch.compile(g_train), torch.compile(d_train), torch.compile(d_plain)
        self._g_train, self._d_train, self._d_plain = g_train, d_train, d_plain

        # state
        self.step = 0
        self._acc = torch.zeros(0, dtype=torch.float64, device=self.device)   # sums since the last log row
        self._acc_count = 0
        self._columns: list[str] | None = None
        self.history: list[dict] = []
        if self.is_main:
            RunLock(self.stage_dir).acquire().release()      # refused now if another process writes this stage
        ckpt = self.stage_dir / CHECKPOINT
        has_ckpt = ckpt.exists() or previous_path(ckpt).exists()
        if has_ckpt and not resume and not overwrite:
            raise FileExistsError(f"{ckpt} exists (a previous run). Pass resume=True (--resume) to continue it, "
                                  "overwrite=True (--overwrite) to start over, or another run_dir.")
        self._keep_previous = False     # the first save of a fresh run must not keep another run's file as previous
        if resume and has_ckpt:
            self._load_checkpoint(ckpt)
            self._keep_previous = True
        elif resume and self.is_main:
            print(f"resume: no checkpoint in {self.stage_dir}, starting at step 0", flush=True)

        # data (rank 0 first: it fills the sketch cache the others then read)
        with self._rank0_first():
            dataset = build_dataset(data, p, sketch=sketch, seed=self.seed, device=self.device,
                                    progress=progress and self.is_main, masks=masks)
        self.dataset = _Scheduled(dataset, self.seed)
        self.data_description = data if data is None or isinstance(data, (str, os.PathLike)) else type(data).__name__
        self.masks_description = "generated strokes (inpaintkit.masks.irregular_mask)" if masks is None else str(masks)
        n = min(SAMPLE_COUNT, len(self.dataset))
        fixed = [self.dataset[(0, i, i)] for i in range(n)]
        self._sample_batch = torch.utils.data.default_collate(fixed)

        if self.is_main:
            with RunLock(self.stage_dir):                    # never a live run's temporary files or losses
                (self.stage_dir / "samples").mkdir(parents=True, exist_ok=True)
                for stale in self.stage_dir.glob(".*.tmp"):  # left by a run killed while writing
                    stale.unlink(missing_ok=True)
                self._truncate_losses(self.step)
                self._write_config()

    @contextlib.contextmanager
    def _rank0_first(self):
        """Rank 0 runs the block first (downloads, caches), the other ranks after it."""
        if self.distributed and not self.is_main:
            dist.barrier()
        yield
        if self.distributed and self.is_main:
            dist.barrier()

    # -- one step -------------------------------------------------------------------------------

    def _to_device(self, batch: dict) -> dict:
        return {k: batch[k].to(self.device, memory_format=self.memory_format, non_blocking=True) for k in ITEM_KEYS}

    def _composite_sketch(self, b: dict) -> torch.Tensor:
        """S_comp: the ground-truth sketch, or Gs's prediction in the hole (Section 3.3)."""
        if self.sketch_generator is None:
            return b["sketch"]
        with torch.no_grad():
            s_pred = self.sketch_generator(b["gray"], b["sketch"], b["mask"])
        spec = self.profile.sketch_spec()
        s_pred = binarize(s_pred, spec.threshold, spec.thin)        # in the form of S_gt, as the Inpainter does
        return networks.composite(s_pred, b["sketch"], b["mask"])

    def _predict(self, b: dict, g: nn.Module) -> torch.Tensor:
        if self.stage == 1:
            return g(b["gray"], b["sketch"], b["mask"])                   # Eq. 9: (N, 1, H, W)
        return g(b["image"], self._composite_sketch(b), b["mask"])        # Eq. 10: (N, 3, H, W)

    def _d_input(self, b: dict, x: torch.Tensor) -> torch.Tensor:
        """What D sees: cat[sketch, I_gray] for Ds (the real gray with either sketch), the image for Di."""
        return torch.cat([x, b["gray"]], dim=1) if self.stage == 1 else x  # (N, 2 or 3, H, W)

    def _real(self, b: dict) -> torch.Tensor:
        return b["sketch"] if self.stage == 1 else b["image"]

    def _discriminate(self, d: nn.Module, real: torch.Tensor, fake: torch.Tensor):
        """D on cat[real, fake] along the batch: (real logits, fake logits, real feats, fake feats)."""
        n = real.shape[0]
        logits, feats = d(torch.cat([real, fake], dim=0))                 # (2N, 1, H/8, W/8)
        return logits[:n], logits[n:], [f[:n] for f in feats], [f[n:] for f in feats]

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One G step and one D step on ``batch``; returns the detached loss terms (``g_*``, ``d_hinge``).

        Raises :class:`NonFiniteLossError` before any optimiser steps if a term is NaN or inf.
        """
        b = self._to_device(batch)
        with self.autocast():
            pred = self._predict(b, self._g_train)
            real = self._d_input(b, self._real(b))
            # G loss: D frozen (no D gradients), real half gives the feature-matching targets
            self.discriminator.requires_grad_(False)
            _, fake_logits, real_feats, fake_feats = self._discriminate(self._d_plain, real, self._d_input(b, pred))
            fake_logits = fake_logits.float()                             # the losses in float32 under bf16
            self.discriminator.requires_grad_(True)
            if self.stage == 1:
                g_loss, terms = losses.stage1_generator_loss(fake_logits, real_feats, fake_feats, self.profile.stage1_loss,
                                                             pred=pred, target=b["sketch"], mask=b["mask"])
            else:
                mask = b["mask"] if bool((b["mask"] < 1).any()) else None   # Eq. 14's hole terms need a hole
                g_loss, terms = losses.stage2_generator_loss(pred, b["image"], fake_logits, real_feats, fake_feats,
                                                             self.vgg, self.profile.stage2_loss, mask=mask)
            # D loss, Eq. 12: hinge on D(real) and D(pred.detach())
            real_logits, fake_logits_d, _, _ = self._discriminate(self._d_train, real, self._d_input(b, pred.detach()))
            d_loss = losses.hinge_d_loss(real_logits.float(), fake_logits_d.float())
        terms = {f"g_{k}": v for k, v in terms.items()}
        terms["d_hinge"] = d_loss.detach()
        self._check_finite(terms)

        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
        return terms

    def _check_finite(self, terms: dict[str, torch.Tensor]) -> None:
        values = torch.stack([v.float() for v in terms.values()])
        ok = torch.isfinite(values).all().to(torch.int32)
        if self.distributed:                    # every rank stops together, none waits in an all-reduce
            dist.all_reduce(ok, op=dist.ReduceOp.MIN)
        if not bool(ok):
            bad = [f"{k} = {float(v)}" for k, v in terms.items() if not torch.isfinite(v)]
            where = f"{', '.join(bad)}" if bad else "on another process"
            last = self.stage_dir / CHECKPOINT
            raise NonFiniteLossError(
                f"stage {self.stage}, step {self.step + 1}: non-finite loss ({where}). Training stopped before "
                f"the optimisers stepped; the last good checkpoint is {last if last.exists() else 'none yet'}. "
                "Lower the learning rate in the profile, check the data for NaNs, then resume=True.")

    # -- the loop -------------------------------------------------------------------------------

    def _loader(self) -> DataLoader:
        sampler = DistributedSampler(self.dataset, num_replicas=self.world_size, rank=self.rank,
                                     shuffle=True, seed=self.seed, drop_last=True)
        batches = _StepBatches(sampler, self.batch_per_process, self.rank, self.step)
        workers = self.profile.num_workers
        return DataLoader(self.dataset, batch_sampler=batches, num_workers=workers, worker_init_fn=_worker_init,
                          generator=torch.Generator().manual_seed(self.seed * 1_000_003 + self.step),
                          pin_memory=self.device.type == "cuda", persistent_workers=False,
                          prefetch_factor=4 if workers else None)

    def fit(self, steps: int | None = None) -> list[dict]:
        """Train until the step counter reaches ``steps`` (default: the trainer's total steps).

        Returns the logged rows of this call (one dict per ``log_every`` steps: step, loss terms,
        seconds_per_step); all rows so far are in ``losses.csv`` (:func:`read_losses`).
        """
        target = self.total_steps if steps is None else int(steps)
        if self.step >= target:
            return []
        p = self.profile
        rows: list[dict] = []
        deterministic = torch.are_deterministic_algorithms_enabled()
        if self.device.type == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        from tqdm.auto import tqdm

        bar = tqdm(total=target, initial=self.step, desc=f"stage {self.stage}", unit="step",
                   disable=not (self.progress and self.is_main), dynamic_ncols=True)
        self.generator.train()
        self.discriminator.train()
        batches = iter(self._loader())
        lock = RunLock(self.stage_dir).acquire() if self.is_main else None   # one writer per stage folder
        try:
            t0, n0 = time.perf_counter(), self.step
            while self.step < target:
                terms = self.train_step(next(batches))
                self.step += 1
                self._accumulate(terms)
                bar.update(1)
                if self.step % p.log_every == 0 or self.step == self.total_steps:
                    row = self._log_row(seconds=(time.perf_counter() - t0) / max(self.step - n0, 1))
                    t0, n0 = time.perf_counter(), self.step
                    if row is not None:
                        rows.append(row)
                        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k in ("g_total", "d_hinge")})
                if self.step % p.sample_every == 0 or self.step == target:
                    self.save_samples()
                if self.step % p.checkpoint_every == 0 or self.step == target:
                    self.save_checkpoint()
        finally:
            if lock is not None:
                lock.release()
            bar.close()
            torch.use_deterministic_algorithms(deterministic)
            del batches
        self.history.extend(rows)
        return rows

    def _accumulate(self, terms: dict[str, torch.Tensor]) -> None:
        values = torch.stack([v.double() for v in terms.values()])
        if self._columns is None:
            self._columns = list(terms)
        if self._acc.numel() == 0:
            self._acc = torch.zeros_like(values)
        self._acc += values
        self._acc_count += 1

    def _log_row(self, seconds: float) -> dict | None:
        """Mean of each term over the steps since the last row (over all processes); rank 0 writes it."""
        if self._acc_count == 0:
            return None
        acc = self._acc.clone()
        if self.distributed:
            dist.all_reduce(acc)
        means = (acc / (self._acc_count * self.world_size)).tolist()
        self._acc.zero_()
        self._acc_count = 0
        row = {"step": self.step, **dict(zip(self._columns, means)), "seconds_per_step": seconds}
        if self.is_main:
            path = self.stage_dir / LOSSES_CSV
            new = not path.exists() or path.stat().st_size == 0
            with open(path, "a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(row))
                if new:
                    w.writeheader()
                w.writerow(row)
                f.flush()
        return row

    def _truncate_losses(self, step: int) -> None:
        """Keep the rows of ``losses.csv`` up to ``step`` (a resumed run rewrites what came after)."""
        path = self.stage_dir / LOSSES_CSV
        if not path.exists():
            return
        with open(path, newline="") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            kept = [r for r in reader if header and len(r) == len(header) and _int_or_none(r[0]) is not None
                    and int(r[0]) <= step]
        if not kept:
            path.unlink()
            return
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(kept)

    # -- files ----------------------------------------------------------------------------------

    def _meta(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "stage": self.stage, "step": self.step, "profile": self.profile.to_dict(),
                "block": self.block, "vgg_source": self.vgg_source, "seed": self.seed}

    def _write_config(self) -> None:
        cfg = {**self._meta(), "device": str(self.device), "world_size": self.world_size,
               "data": None if self.data_description is None else str(self.data_description),
               "sketch_from_generator": self.sketch_from, "torch": torch.__version__,
               "masks": self.masks_description, "precision": self.precision, "vgg_requested": self.vgg_requested,
               "batch_size_total": self.profile.batch_size, "batch_size_per_process": self.batch_per_process,
               "batch_semantics": "profile batch_size = images per optimiser step over all processes"}
        cfg.pop("step")
        _atomic_write_text(self.stage_dir / CONFIG_JSON, json.dumps(cfg, indent=2) + "\n")

    def state_dict(self) -> dict:
        """Everything a resumed run needs (tensors, dicts, lists, numbers and strings only)."""
        return {**self._meta(),
                "generator": self.generator.state_dict(), "discriminator": self.discriminator.state_dict(),
                "g_optimizer": self.g_optimizer.state_dict(), "d_optimizer": self.d_optimizer.state_dict(),
                "rng": rng_state(self.device), "world_size": self.world_size, "sketch_from_generator": self.sketch_from,
                "log_acc": self._acc.cpu(), "log_count": self._acc_count, "log_columns": self._columns or []}

    def save_checkpoint(self) -> None:
        """Atomically write checkpoint.pt and generator.pt (rank 0; the others wait at a barrier); the files they
        replace stay beside them as checkpoint.prev.pt and generator.prev.pt, the fallback of a corrupt latest one."""
        if self.distributed:
            dist.barrier()
        if self.is_main:
            self.stage_dir.mkdir(parents=True, exist_ok=True)
            keep = self._keep_previous
            _atomic_torch_save(self.state_dict(), self.stage_dir / CHECKPOINT, keep_previous=keep)
            _atomic_torch_save({**self._meta(), "generator": self.generator.state_dict()}, self.stage_dir / GENERATOR,
                               keep_previous=keep)
            self._keep_previous = True
        if self.distributed:
            dist.barrier()

    def _load_checkpoint(self, path: Path) -> None:
        ckpt, path = read_with_fallback(path, map_location=self.device)
        if ckpt.get("stage") != self.stage:
            raise ValueError(f"{path} is a stage-{ckpt.get('stage')} checkpoint, this trainer is stage {self.stage}.")
        saved = Profile.from_dict(ckpt["profile"])
        for field in ("image_size", "gs_channels", "gi_channels", "d_channels", "batch_size"):
            if getattr(saved, field) != getattr(self.profile, field):
                raise ValueError(f"resume: {path} was trained with {field}={getattr(saved, field)}, this profile has "
                                 f"{getattr(self.profile, field)}. Use the same profile, or another run_dir.")
        if ckpt["block"] != self.block:
            raise ValueError(f"resume: {path} has block={ckpt['block']!r}, not {self.block!r}.")
        if ckpt.get("world_size", 1) != self.world_size and self.is_main:
            print(f"resume: checkpoint written by {ckpt.get('world_size')} process(es), now {self.world_size}: "
                  "the batches after the checkpoint differ from the original run's.", flush=True)
        self.generator.load_state_dict(ckpt["generator"])
        self.discriminator.load_state_dict(ckpt["discriminator"])
        self.g_optimizer.load_state_dict(ckpt["g_optimizer"])
        self.d_optimizer.load_state_dict(ckpt["d_optimizer"])
        set_rng_state(ckpt["rng"], self.device)
        self.step = int(ckpt["step"])
        self._acc = ckpt["log_acc"].to(self.device)
        self._acc_count = int(ckpt["log_count"])
        self._columns = list(ckpt["log_columns"]) or None
        if self.is_main:
            print(f"resumed stage {self.stage} from {path} at step {self.step}", flush=True)

    @torch.no_grad()
    def sample_grid(self) -> torch.Tensor:
        """(3, H', W') grid of the fixed sample batch: rows input, mask, sketch, prediction, ground truth.

        Stage 1: input = I_gray * M, sketch = S_gt * M, prediction = S_pred, ground truth = S_gt.
        Stage 2: input = I * M, sketch = S_comp, prediction = composite of I_pred, ground truth = I.
        The generator runs in eval mode (spectral norm's power iteration does not advance).
        """
        from torchvision.utils import make_grid

        b = self._to_device(self._sample_batch)
        self.generator.eval()
        with self.autocast():
            pred = self._predict(b, self.generator).float()
        self.generator.train()
        m = b["mask"]
        if self.stage == 1:
            rows = [b["gray"] * m, m, b["sketch"] * m, pred, b["sketch"]]
        else:
            rows = [b["image"] * m, m, self._composite_sketch(b).float(), networks.composite(pred, b["image"], m), b["image"]]
        rows = [r.float().expand(-1, 3, -1, -1).cpu() for r in rows]      # (n, 3, H, W) each
        return make_grid(torch.cat(rows), nrow=rows[0].shape[0], padding=2, pad_value=1.0)

    def save_samples(self) -> Path | None:
        """Write ``samples/step_{step:06d}.png`` (rank 0) and return its path."""
        if not self.is_main:
            return None
        from torchvision.utils import save_image

        path = self.stage_dir / "samples" / f"step_{self.step:06d}.png"
        with atomic_path(path, suffix=".tmp.png") as tmp:
            save_image(self.sample_grid(), tmp)
        return path


def _int_or_none(s: str):
    try:
        return int(s)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------- reading runs

def load_generator(run_dir, stage: int | None = None, device="cpu") -> networks.Generator:
    """Rebuild a trained generator in eval mode from ``<run_dir>/stage{stage}/generator.pt`` (or
    ``checkpoint.pt``, then their ``.prev.pt``, with a warning, when the latest is corrupt), or from a ``.pt``
    file given directly (``stage`` then optional). A file that is not an inpaintkit checkpoint: ValueError."""
    path = Path(run_dir)
    if path.is_file():
        candidates = [path]
    else:
        if stage is None:
            raise ValueError("load_generator(run_dir, stage): give stage=1 (Gs) or 2 (Gi), or a .pt file.")
        candidates = [stage_dir(path, stage) / GENERATOR, stage_dir(path, stage) / CHECKPOINT]
    obj, found = read_generator_file(candidates, stage, run_dir)
    if stage is not None and obj.get("stage") != stage:
        raise ValueError(f"{found} holds a stage-{obj.get('stage')} generator, not stage {stage}.")
    g = build_generator(obj["stage"], Profile.from_dict(obj["profile"]), obj.get("block", "cfs"))
    g.load_state_dict(obj["generator"])
    return g.to(resolve_device(device)).eval()


def read_generator_file(candidates: list[Path], stage: int | None = None, run_dir=None) -> tuple[dict, Path]:
    """(contents, path) of the first readable file of ``candidates`` or their previous versions
    (:func:`previous_path`, tried after every latest one): a corrupt one is skipped with a warning."""
    order = [*candidates, *(previous_path(c) for c in candidates if c.name in (GENERATOR, CHECKPOINT))]
    errors = []
    for c in order:
        if not c.is_file():
            continue
        try:
            obj = read_checkpoint(c)
        except ValueError as e:
            errors.append(str(e))
            continue
        if errors:
            msg = f"{' '.join(errors)} Using {c} instead."
            warnings.warn(msg, stacklevel=3)
            print(f"warning: {msg}", file=sys.stderr, flush=True)
        return obj, c
    if errors:
        raise ValueError(" ".join(errors))
    raise FileNotFoundError(f"No trained generator at {' or '.join(map(str, candidates))}. Train it first: "
                            f"python -m inpaintkit.train --stage {stage or 1} --run-dir {run_dir}")


def read_losses(run_dir, stage: int) -> dict[str, list]:
    """``losses.csv`` of a stage as columns: {"step": [ints], "g_total": [floats], ...}."""
    path = stage_dir(run_dir, stage) / LOSSES_CSV
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: train stage {stage} into {run_dir} first.")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols: dict[str, list] = {k: [] for k in reader.fieldnames or []}
        for row in reader:
            for k, v in row.items():
                cols[k].append(int(v) if k == "step" else float(v))
    return cols


# ---------------------------------------------------------------------------------------------- CLI

def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m inpaintkit.train", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", type=int, choices=(1, 2), required=True, help="1: sketch generator Gs, 2: image generator Gi")
    ap.add_argument("--profile", default="quick", choices=PROFILES)
    ap.add_argument("--run-dir", required=True, help="files go to RUN_DIR/stage{1,2}/")
    ap.add_argument("--data", default=None, help="image folder, .flist or Places365 root (default: the demo set)")
    ap.add_argument("--sketch", default="hed", choices=("hed", "canny"), help="sketches of --data (default hed)")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda (under torchrun: cuda:LOCAL_RANK)")
    ap.add_argument("--resume", action="store_true", help="continue from RUN_DIR/stage{N}/checkpoint.pt")
    ap.add_argument("--overwrite", action="store_true", help="start over even if a checkpoint exists")
    ap.add_argument("--max-steps", type=int, default=None, help="cap the profile's number of steps")
    ap.add_argument("--steps", type=int, default=None,
                    help="train to exactly this many steps instead of the profile's (e.g. longer demo weights)")
    ap.add_argument("--block", default="cfs", help="Gi's conv block (stage 2): partial, cfs, gated_input, gated, conv")
    ap.add_argument("--sketch-from", default=None, help="stage 2: S_comp from this stage-1 run dir's Gs (default S_gt)")
    ap.add_argument("--vgg", default="auto", choices=("auto", "imagenet", "hed"),
                    help="VGG of the stage-2 losses (auto: the profile's; full: imagenet, i.e. torchvision's VGG19; "
                         "hed: HED's VGG16, a departure from Eq. 14 recorded in config.json)")
    ap.add_argument("--photos", default=None, help="a folder of extra photographs for the demo set (split by "
                                                   "photograph; sets $INPAINTKIT_PHOTOS), e.g. data/photos")
    ap.add_argument("--masks", default=None, help="mask folder for the training masks, e.g. Liu et al.'s irregular "
                                                  "mask set (default: generated strokes)")
    ap.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                    help="auto: bf16 autocast on CUDA, float32 on the CPU")
    ap.add_argument("--compile", action="store_true", help="torch.compile the networks")
    ap.add_argument("--seed", type=int, default=None, help="default: the profile's seed")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.photos is not None:                # the demo set reads it wherever it is built (data.demo_photos)
        if not Path(args.photos).is_dir():
            print(f"error: --photos {args.photos}: no such folder of photographs", file=sys.stderr)
            return 2
        os.environ["INPAINTKIT_PHOTOS"] = str(Path(args.photos).resolve())
    profile = get_profile(args.profile)
    steps = profile.stage1_steps if args.stage == 1 else profile.stage2_steps
    if args.steps is not None:
        if args.steps < 1:
            print(f"error: --steps {args.steps}: give a positive number of steps", file=sys.stderr)
            return 2
        steps = args.steps
    if args.max_steps is not None:
        steps = min(steps, args.max_steps)
    try:
        trainer = Trainer(args.stage, profile, args.run_dir, device=args.device, data=args.data, block=args.block,
                          seed=args.seed, sketch_from_generator=args.sketch_from, compile=args.compile,
                          progress=not args.no_progress, steps=steps, resume=args.resume, overwrite=args.overwrite,
                          vgg=args.vgg, sketch=args.sketch, masks=args.masks, precision=args.precision)
        trainer.fit()
        if trainer.is_main:
            print(f"stage {args.stage}: {trainer.step} steps done; {trainer.stage_dir / GENERATOR}", flush=True)
    except (ValueError, OSError, RunLockedError) as e:   # bad input: one line, as evaluate prints it
        print(f"error: {e}", file=sys.stderr)
        return 2
    except NonFiniteLossError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
