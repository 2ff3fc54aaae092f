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

__version__ = "0.1.0"
