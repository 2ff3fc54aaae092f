"""The files of one stage of a training run, under ``<run_dir>/stage{N}/``::

    checkpoint.pt, generator.pt   (+ *.prev.pt)  the checkpoint format of :mod:`inpaintkit.checkpoints`
    run.lock        while a process writes the folder: a second one is refused (:class:`~inpaintkit.files.RunLock`)
    losses.csv      step, each loss term (mean over the last log_every steps), seconds_per_step
    config.json     profile, block, sketch, VGG source, seed, device, world size, data
    sketch_cache.json   sketches read from the cache vs computed, their spec key, distinct images trained on, data
    samples/step_000100.png   the sample grid at that step

:class:`RunFiles` reads and writes them, atomically; it decides nothing about training. :func:`read_losses`
reads ``losses.csv`` back as columns for plotting.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import torch

from .checkpoints import CHECKPOINT, GENERATOR, atomic_torch_save, previous_path, read_with_fallback, stage_dir
from .files import RunLock, atomic_path, atomic_write_text, open_regular

__all__ = ["LOSSES_CSV", "CONFIG_JSON", "SKETCH_CACHE_JSON", "SAMPLES", "RunFiles", "read_losses"]

LOSSES_CSV = "losses.csv"
CONFIG_JSON = "config.json"
SKETCH_CACHE_JSON = "sketch_cache.json"
SAMPLES = "samples"


class RunFiles:
    """The files of stage ``stage`` of the run in ``run_dir`` (``folder`` = ``<run_dir>/stage{stage}``)."""

    def __init__(self, run_dir, stage: int):
        self.run_dir, self.stage = Path(run_dir), stage
        self.folder = stage_dir(run_dir, stage)
        self.checkpoint = self.folder / CHECKPOINT
        self.generator = self.folder / GENERATOR
        self.losses = self.folder / LOSSES_CSV
        self.config = self.folder / CONFIG_JSON
        self.sketch_cache = self.folder / SKETCH_CACHE_JSON
        self.samples = self.folder / SAMPLES
        self._keep_previous = False   # a fresh run's first save must not keep another run's file as previous

    def lock(self) -> RunLock:
        """The folder's lock (not yet acquired): ``with files.lock(): ...``."""
        return RunLock(self.folder)

    def trained_artefacts(self) -> list[str]:
        """The names of the files in the folder a training run leaves (checkpoint.pt, generator.pt, their
        .prev.pt, losses.csv): what a fresh run must not write over without ``--overwrite``."""
        names = [CHECKPOINT, GENERATOR, previous_path(self.checkpoint).name, previous_path(self.generator).name,
                 LOSSES_CSV]
        return [n for n in names if os.path.lexists(self.folder / n)]

    def refuse_overwrite(self, resume: bool, overwrite: bool) -> None:
        """FileExistsError, naming them, when the folder holds trained artefacts (:meth:`trained_artefacts`) and
        neither ``overwrite`` nor ``resume`` from a checkpoint.pt says what to do with them."""
        found = self.trained_artefacts()
        if not found or overwrite or (resume and self.has_checkpoint()):
            return
        what = f"{self.folder} holds {', '.join(found)} (a previous run)"
        if resume:
            raise FileExistsError(f"{what} but no checkpoint.pt to resume from. Pass overwrite=True (--overwrite) "
                                  "to start over and replace them, or another run_dir.")
        raise FileExistsError(f"{what}. Pass resume=True (--resume) to continue it, overwrite=True (--overwrite) to "
                              "start over and replace them, or another run_dir.")

    def has_checkpoint(self) -> bool:
        return self.checkpoint.exists() or previous_path(self.checkpoint).exists()

    def read_checkpoint(self, map_location="cpu", use=None) -> tuple[dict, Path]:
        """(contents, path read) of checkpoint.pt, else checkpoint.prev.pt with a warning; a resumed run
        then keeps each checkpoint it replaces as the previous one. ``use(ckpt, path)`` (e.g. loading it into
        the networks) may raise ValueError: that file is then unusable and the previous one is tried
        (:func:`~inpaintkit.checkpoints.read_with_fallback`)."""
        ckpt, path = read_with_fallback(self.checkpoint, map_location=map_location, use=use)
        self._keep_previous = True
        return ckpt, path

    def save(self, checkpoint: dict, generator: dict) -> None:
        """Write checkpoint.pt and generator.pt atomically; the files they replace (of this run) stay beside
        them as checkpoint.prev.pt and generator.prev.pt, the fallback of a corrupt latest one."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_torch_save(checkpoint, self.checkpoint, keep_previous=self._keep_previous)
        atomic_torch_save(generator, self.generator, keep_previous=self._keep_previous)
        self._keep_previous = True

    def save_sketch_cache(self, counts: dict) -> None:
        """Write sketch_cache.json atomically: {"read", "computed", "spec_key", "images", "data"}."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.sketch_cache, json.dumps(counts, indent=1) + "\n")

    def prepare(self, step: int, config: dict) -> None:
        """Before training from ``step`` (under the lock, never touching a live run's files): make samples/,
        remove temporary files left by a run killed while writing, drop the losses.csv rows after ``step``
        (a resumed run writes them again) and write config.json."""
        with self.lock():
            self.samples.mkdir(parents=True, exist_ok=True)
            for stale in self.folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
            self.truncate_losses(step)
            atomic_write_text(self.config, json.dumps(config, indent=2) + "\n")

    def append_losses(self, row: dict) -> None:
        """Append one row to losses.csv (with the header when the file is new)."""
        new = not self.losses.exists() or self.losses.stat().st_size == 0
        with open(self.losses, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
            f.flush()

    def truncate_losses(self, step: int) -> None:
        """Keep the rows of losses.csv up to ``step``."""
        if not os.path.lexists(self.losses):
            return
        if step == 0:                            # a fresh or overwritten run keeps no row, whatever the file holds
            self.losses.unlink()
            return
        try:
            with open_regular(self.losses, "losses.csv", text=True) as f:
                reader = csv.reader(f, strict=True)
                header = next(reader, None)
                kept = [r for r in reader if header and len(r) == len(header) and r[0].isdigit()
                        and int(r[0]) <= step]
        except (ValueError, csv.Error) as e:     # binary, not UTF-8, a FIFO
            raise ValueError(f"{self.losses} cannot be read as the run's losses ({e}). Move it away to resume "
                             "(its rows are then lost), or start over with --overwrite.") from None
        if not kept:
            self.losses.unlink()
            return
        with atomic_path(self.losses) as tmp, open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(kept)

    def save_samples(self, grid: torch.Tensor, step: int) -> Path:
        """Write the (3, H, W) ``grid`` in [0, 1] to ``samples/step_{step:06d}.png``; return its path."""
        from torchvision.utils import save_image

        path = self.samples / f"step_{step:06d}.png"
        with atomic_path(path, suffix=".tmp.png") as tmp:
            save_image(grid, tmp)
        return path


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
