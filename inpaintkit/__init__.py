"""inpaintkit: two-stage, sketch-guided image inpainting (PartialConv sketch generator + CFS image generator).

Modules, one per concept of the paper (import what you need; nothing heavy is imported here). Bottom to top:

* settings and plumbing: config (profiles, loss weights, SketchSpec), files (atomic writes, run lock), limits;
* the paper: layers (partial conv, CFS), fill (the line-aware fill Gi starts from, not in the paper), networks
  (Gs, Gi, D), hed, sketches, masks, losses, metrics;
* data and images: images (one normalisation path), data (data sets, demo photographs);
* training: checkpoints (the file format, loading a generator), runs (a run's files), stages (what each stage
  trains), train (the loop);
* using a model: pipeline (Inpainter), baselines, evaluate (Table 1), ablation (notebook 03), drawing and
  widgets (the interactive widget);
* the course: departures, teaching, exercises, practice (the student's code trained), viz, reproduce, site.

`pipeline`, `drawing` and `widgets` never import training code; `tests/test_house.py` checks the direction.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# OpenMP threads that find their core taken spin while they wait for it: with one other busy process on a 2-core
# machine a quick stage-2 step took 7.3 s on 2 threads, 0.96 s with OMP_WAIT_POLICY=PASSIVE and 0.79 s on 1 thread
# (README, "Run times"). libgomp reads the setting when torch loads, so it only helps where inpaintkit is imported
# first (the CLIs: python -m inpaintkit.train ...); `make` and `reproduce` set it for the notebooks' kernels.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
