"""The checkpoint format of a training run, and loading a trained generator from it.

A run writes, under ``<run_dir>/stage{N}/`` (``<run_dir>/joint/`` for the joint stage; :func:`stage_dir`)::

    checkpoint.pt   networks, optimisers, step, RNG states, profile, loss accumulator (for resuming)
    generator.pt    the generator's state dict + what is needed to rebuild it (for inference)
    *.prev.pt       the files they replaced: read, with a warning, when the latest one is corrupt

Both are dicts of tensors, numbers, strings, lists and dicts, written atomically with ``torch.save`` and
read with ``torch.load(weights_only=True)``. Their entries: ``format`` (:data:`CHECKPOINT_FORMAT`),
``stage``, ``step``, ``profile`` (:meth:`~inpaintkit.config.Profile.to_dict`), ``block`` (Gi's conv block),
``vgg_source``, ``seed``, ``sketch`` (the :class:`~inpaintkit.sketches.SketchSpec` fields the run's
sketches were made with) and ``generator`` (its state dict). Inference (:mod:`inpaintkit.pipeline`) reads
them through this module only; it never imports the trainer.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

import torch

from . import networks
from .config import Profile, resolve_device
from .files import atomic_path

__all__ = ["CHECKPOINT", "GENERATOR", "CHECKPOINT_FORMAT", "STAGES", "check_stage", "trains_sketch", "stage_dir",
           "generator_files", "previous_path", "atomic_torch_save", "read_checkpoint", "read_with_fallback",
           "read_generator_file", "build_generator", "load_generator"]

CHECKPOINT = "checkpoint.pt"
GENERATOR = "generator.pt"
CHECKPOINT_FORMAT = 1
STAGES = (1, 2, "joint")


def check_stage(stage) -> None:
    """ValueError unless ``stage`` is 1 (sketch generator Gs), 2 (image generator Gi) or "joint" (Gs fine-tuned
    through the fill it guides; not in the paper)."""
    if stage not in STAGES:
        raise ValueError(f"stage must be 1 (sketch generator Gs), 2 (image generator Gi) or 'joint' (Gs trained "
                         f"through the fill), got {stage!r}.")


def trains_sketch(stage) -> bool:
    """Whether ``stage`` trains Gs against Ds (stage 1 and the joint stage) rather than Gi against Di."""
    check_stage(stage)
    return stage != 2


def stage_dir(run_dir, stage: int) -> Path:
    """``<run_dir>/stage{stage}``: where a stage's checkpoint, losses and samples live."""
    check_stage(stage)
    return Path(run_dir) / ("joint" if stage == "joint" else f"stage{stage}")


def generator_files(run_dir, stage: int) -> list[Path]:
    """Where a run's trained generator of ``stage`` is, in the order to try: ``generator.pt``, ``checkpoint.pt``."""
    folder = stage_dir(run_dir, stage)
    return [folder / GENERATOR, folder / CHECKPOINT]


def previous_path(path) -> Path:
    """Where the file a checkpoint replaced is kept: ``checkpoint.pt`` -> ``checkpoint.prev.pt``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def atomic_torch_save(obj, path, keep_previous: bool = False) -> None:
    """``torch.save`` atomically. ``keep_previous``: the file it replaces stays beside it as
    :func:`previous_path` (a hard link, else a copy, made before the new file goes in, so ``path`` always
    exists); without it a stale previous file is removed."""
    path = Path(path)
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
    """A checkpoint or generator file of this format, read with ``weights_only=True``.

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


def _warn(msg: str) -> None:
    warnings.warn(msg, stacklevel=3)
    print(f"warning: {msg}", file=sys.stderr, flush=True)


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
        _warn(f"{path.name} in {path.parent} cannot be used ({first}); falling back to the previous one, "
              f"{prev.name} (step {obj.get('step', '?')}).")
        return obj, prev


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
            _warn(f"{' '.join(errors)} Using {c} instead.")
        return obj, c
    if errors:
        raise ValueError(" ".join(errors))
    raise FileNotFoundError(f"No trained generator at {' or '.join(map(str, candidates))}. Train it first: "
                            f"python -m inpaintkit.train --stage {stage or 1} --run-dir {run_dir}")


def build_generator(stage: int, profile: Profile, block: str = "cfs") -> networks.Generator:
    """Gs (stage 1, PartialConv) or Gi (stage 2, ``block``) at the profile's width and architecture flags."""
    if trains_sketch(stage):
        return networks.sketch_generator(profile.gs_channels, skips=profile.skips)
    return networks.image_generator(profile.gi_channels, block=block, skips=profile.skips, prefill=profile.prefill)


def load_generator(run_dir, stage: int | None = None, device="cpu") -> networks.Generator:
    """Rebuild a trained generator in eval mode from ``<run_dir>/stage{stage}/generator.pt`` (or
    ``checkpoint.pt``, then their ``.prev.pt``, with a warning, when the latest is corrupt), or from a ``.pt``
    file given directly (``stage`` then optional), or from a ``stage1`` / ``stage2`` folder given directly.
    A file that is not an inpaintkit checkpoint: ValueError."""
    path = Path(run_dir)
    if path.is_file():
        candidates = [path]
    elif path.name in ("stage1", "stage2", "joint") and not stage_dir(path, stage or 1).is_dir():
        named = "joint" if path.name == "joint" else int(path.name[-1])   # the stage folder itself was given
        stage = stage or named
        if stage != named:
            raise ValueError(f"{path} is the folder of stage {named}; stage {stage} was asked for.")
        candidates = [path / GENERATOR, path / CHECKPOINT]
        run_dir = path.parent
    else:
        if stage is None:
            raise ValueError("load_generator(run_dir, stage): give stage=1 (Gs), 2 (Gi) or 'joint', or a .pt file.")
        candidates = generator_files(path, stage)
    obj, found = read_generator_file(candidates, stage, run_dir)
    if stage is not None and obj.get("stage") != stage:
        raise ValueError(f"{found} holds a stage-{obj.get('stage')} generator, not stage {stage}.")
    g = build_generator(obj["stage"], Profile.from_dict(obj["profile"]), obj.get("block", "cfs"))
    g.load_state_dict(obj["generator"])
    return g.to(resolve_device(device)).eval()
