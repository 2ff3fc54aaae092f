"""inpaintkit: two-stage, sketch-guided image inpainting (PartialConv sketch generator + CFS image generator).

Modules, one per concept of the paper (import what you need; nothing heavy is imported here):
layers, networks, hed, images, sketches, masks, data, losses, train, pipeline, metrics, baselines,
drawing, widgets, reproduce, config.
"""

__version__ = "0.1.0"
