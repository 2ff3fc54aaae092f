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

Bad files: a file is read only if it is a regular file of at most
:data:`~inpaintkit.limits.MAX_CHECKPOINT_BYTES` (:func:`inpaintkit.files.open_regular`; a FIFO is refused,
never waited on). A file that cannot be read, lacks an entry its use needs (:func:`require_entries`: a
generator file needs ``profile`` and ``generator``, a checkpoint to resume also ``rng``, the networks and the
optimisers), or holds a tensor of the wrong shape is *unusable*: one ValueError line naming the file and what
is wrong, and every reader falls back to its ``*.prev.pt`` with a warning where one is usable. A save that
fails (disk full, a file-size limit) leaves the files on disk untouched and says so
(:class:`CheckpointWriteError`).
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
from .files import atomic_path, display_path, open_regular
from .limits import MAX_CHECKPOINT_BYTES

__all__ = ["CHECKPOINT", "GENERATOR", "CHECKPOINT_FORMAT", "GENERATOR_ENTRIES", "STAGES", "CheckpointWriteError",
           "check_stage", "trains_sketch", "stage_dir", "generator_files", "previous_path", "atomic_torch_save",
           "read_checkpoint", "require_entries", "load_state", "read_with_fallback", "read_generator_file",
           "build_generator", "load_generator"]

CHECKPOINT = "checkpoint.pt"
GENERATOR = "generator.pt"
CHECKPOINT_FORMAT = 1
STAGES = (1, 2, "joint")
GENERATOR_ENTRIES = ("format", "stage", "profile", "generator")   # what rebuilding a generator needs


class CheckpointWriteError(OSError):
    """Writing a checkpoint failed (disk full, a file-size limit, an I/O error); the files on disk are intact."""


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
    exists); without it a stale previous file is removed. A failed write (disk full, a file-size limit:
    torch raises RuntimeError, Python OSError) raises :class:`CheckpointWriteError` saying that ``path`` and
    its previous file are as they were."""
    path = Path(path)
    prev = previous_path(path)
    try:
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
    except (OSError, RuntimeError) as e:
        first = " ".join(str(e).split())[:160]
        kept = (f"the checkpoint already there, {display_path(path)}, is intact" if path.exists()
                else f"no earlier {path.name} was there")
        raise CheckpointWriteError(
            f"writing {display_path(path)} failed ({type(e).__name__}: {first}); {_space(path.parent)}. Nothing "
            f"was half-written: {kept}. Free some space (or raise the limit), then continue with --resume.") from None


def _space(folder: Path) -> str:
    """What may have stopped a write: the free space of ``folder``'s disk and the process's file-size limit."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        limit = "none" if soft == resource.RLIM_INFINITY else f"{soft:,} bytes"
    except (ImportError, OSError, ValueError):
        limit = "unknown"
    try:
        st = os.statvfs(folder)
        free = f"{st.f_bavail * st.f_frsize / 1e6:,.0f} MB"
    except (AttributeError, OSError):
        free = "unknown"
    return f"is the disk full or a file-size limit reached? (free on that disk: {free}; file-size limit: {limit})"


def read_checkpoint(path, map_location="cpu") -> dict:
    """A checkpoint or generator file of this format, read with ``weights_only=True``.

    A regular file of at most MAX_CHECKPOINT_BYTES (a FIFO or device: ValueError, never waited on). A truncated,
    empty or foreign file raises ValueError saying so (never torch's raw unpickling error).
    """
    path = Path(path)
    try:
        with open_regular(path, "checkpoint", MAX_CHECKPOINT_BYTES) as f:
            obj = torch.load(f, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except ValueError:                  # NotRegularFileError: already one line naming the file
        raise
    except Exception as e:   # torch raises many types here (RuntimeError, UnpicklingError, EOFError, ...)
        first = str(e).strip().split(". ")[0][:120]     # torch's first sentence, without its weights_only advice
        raise ValueError(f"{display_path(path)} cannot be read as an inpaintkit checkpoint: it is truncated, "
                         f"empty or not one ({type(e).__name__}: {first}). Delete it (resume then falls back to "
                         f"{previous_path(path).name} when there is one) or train again with --overwrite.") from None
    if not isinstance(obj, dict) or not {"format", "stage", "generator"} <= set(obj):
        raise ValueError(f"{display_path(path)} is not a checkpoint written by inpaintkit.train (no "
                         "format/stage/generator entries). Give a run dir trained with python -m inpaintkit.train.")
    return obj


def require_entries(obj: dict, entries, path) -> None:
    """ValueError naming ``path`` and the missing entries unless checkpoint ``obj`` holds all of ``entries``."""
    missing = [k for k in entries if k not in obj]
    if missing:
        raise ValueError(f"{display_path(path)} lacks the entr{'y' if len(missing) == 1 else 'ies'} "
                         f"{', '.join(missing)}: it was not written whole by inpaintkit.train (or was edited). Delete "
                         f"it to use {previous_path(path).name}, or train again with --overwrite.")


def _warn(msg: str) -> None:
    warnings.warn(msg, stacklevel=3)
    print(f"warning: {msg}", file=sys.stderr, flush=True)


def read_with_fallback(path, map_location="cpu", use=None) -> tuple[dict, Path]:
    """(:func:`read_checkpoint` of ``path``, the path read). ``use(obj, path)``, when given, is called on it and
    may raise ValueError (an entry missing, a tensor of the wrong shape): the file is then unusable too. When
    ``path`` is missing or unusable and :func:`previous_path` is usable, that one, with a warning. Raises the
    first error when neither is."""
    path = Path(path)

    def usable(p: Path) -> dict:
        obj = read_checkpoint(p, map_location)
        if use is not None:
            use(obj, p)
        return obj

    try:
        return usable(path), path
    except (ValueError, FileNotFoundError) as first:
        prev = previous_path(path)
        if not prev.is_file():
            raise
        try:
            obj = usable(prev)
        except ValueError:
            raise first from None
        _warn(f"{path.name} in {display_path(path.parent)} cannot be used ({first}); falling back to the previous "
              f"one, {prev.name} (step {obj.get('step', '?')}).")
        return obj, prev


def _usable_generator(obj: dict, path, stage: int | None) -> networks.Generator:
    """The generator of file ``obj`` (read from ``path``), built and loaded on the CPU; ValueError, one line,
    when an entry is missing, it is of another stage, or a tensor's shape or name does not fit."""
    require_entries(obj, GENERATOR_ENTRIES, path)
    if stage is not None and obj.get("stage") != stage:
        raise ValueError(f"{display_path(path)} holds a stage-{obj.get('stage')} generator, not stage {stage}.")
    try:
        g = build_generator(obj["stage"], Profile.from_dict(obj["profile"]), obj.get("block", "cfs"))
    except (TypeError, KeyError, ValueError) as e:
        raise ValueError(f"{display_path(path)}: its profile cannot rebuild the generator ({type(e).__name__}: "
                         f"{e}). Delete it, or train again with --overwrite.") from None
    load_state(g, obj["generator"], path, "generator")
    return g


def load_state(module: torch.nn.Module, state, path, what: str) -> None:
    """``module.load_state_dict(state)``; a wrong-shape, missing or unexpected tensor: one ValueError line naming
    ``path``, ``what`` and the first mismatch (not torch's page of them)."""
    try:
        module.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError, ValueError) as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(e).__name__)
        raise ValueError(f"{display_path(path)}: its {what} does not fit this network ({detail[:200]}); a "
                         "checkpoint of another architecture, or a damaged one. Delete it (its .prev.pt is then "
                         "used), or train again with --overwrite.") from None


def read_generator_file(candidates: list[Path], stage: int | None = None, run_dir=None) -> tuple[dict, Path]:
    """(contents, path) of the first usable file of ``candidates`` or their previous versions
    (:func:`previous_path`, tried after every latest one): a corrupt one, one lacking an entry or holding a
    tensor of the wrong shape is skipped with a warning."""
    obj, path, _ = _first_usable(candidates, stage, run_dir)
    return obj, path


def _first_usable(candidates: list[Path], stage: int | None, run_dir) -> tuple[dict, Path, networks.Generator]:
    order = [*candidates, *(previous_path(c) for c in candidates if c.name in (GENERATOR, CHECKPOINT))]
    errors = []
    for c in order:
        if not c.exists():
            continue
        try:
            obj = read_checkpoint(c)
            g = _usable_generator(obj, c, stage)
        except ValueError as e:
            errors.append(str(e))
            continue
        if errors:
            _warn(f"{' '.join(errors)} Using {display_path(c)} instead.")
        return obj, c, g
    if errors:
        raise ValueError(" ".join(errors))
    raise FileNotFoundError(f"No trained generator at {' or '.join(map(display_path, candidates))}. Train it "
                            f"first: python -m inpaintkit.train --stage {stage or 1} --run-dir {run_dir}")


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
            raise ValueError(f"{path} is a stage-{named} folder; stage {stage} was asked for.")
        candidates = [path / GENERATOR, path / CHECKPOINT]
        run_dir = path.parent
    else:
        if stage is None:
            raise ValueError("load_generator(run_dir, stage): give stage=1 (Gs), 2 (Gi) or 'joint', or a .pt file.")
        candidates = generator_files(path, stage)
    _, _, g = _first_usable(candidates, stage, run_dir)
    return g.to(resolve_device(device)).eval()
