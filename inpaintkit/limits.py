"""The kit's limits on image shapes: one place, one check, one kind of error.

Every public entry that takes an image -- :func:`inpaintkit.data.load_image` (files, data sets, evaluation),
:func:`inpaintkit.sketches.sketch_image`, :class:`inpaintkit.pipeline.Inpainter` and the widget's upload --
checks the image's size with :func:`check_image_size` *before* it spends memory on it. What is refused and
why is listed in ``docs/bad_input.md``.

* :data:`MAX_PIXELS`: the largest image a file may hold (its header is read before decoding). 50 Mpx covers an
  8160 x 6120 phone photograph; decoding one costs at most ``MAX_PIXELS x 4`` bytes (200 MB, RGBA 8 bit) before
  it is cropped and resized to the working size. Pillow's own decompression-bomb guard
  (``Image.MAX_IMAGE_PIXELS``, ~89 Mpx warns, twice that raises) sits above it and is reported the same way.
* :data:`INPAINT_MAX_PIXELS`: the largest image :class:`~inpaintkit.pipeline.Inpainter` runs its generators on
  (their activations grow with the pixel count); shrink larger images first (``inpaintkit.widgets.fit_image``)
  or crop the region around the hole.
* :data:`MAX_ASPECT`: the longest side may be at most 64 times the shortest (a 1 x 200 strip is not a photo,
  and upscaled to HED's working size it used to take gigabytes).
* An empty image (a side of 0 px) is refused.
* :data:`MAX_FILE_BYTES`, :data:`MAX_TEXT_BYTES`, :data:`MAX_CHECKPOINT_BYTES`: the largest image file, text
  file (``.flist``, ``masks.json``) and checkpoint / weights file the kit opens
  (:func:`inpaintkit.files.open_regular` refuses a larger one before reading it). An image file is streamed,
  never held whole; a flist is read line by line (its paths are held: ~100 bytes each, 180 MB for Places2's
  1.8 M); a checkpoint is read whole by ``torch.load``, so its bound is a memory bound.
"""

from __future__ import annotations

__all__ = ["MAX_PIXELS", "INPAINT_MAX_PIXELS", "MAX_ASPECT", "MAX_FILE_BYTES", "MAX_TEXT_BYTES",
           "MAX_CHECKPOINT_BYTES", "ImageSizeError", "check_image_size"]

MAX_PIXELS = 50_000_000          # pixels of an image file the kit decodes at all
INPAINT_MAX_PIXELS = 2048 * 2048  # pixels of one image the generators run on (Inpainter)
MAX_ASPECT = 64                  # long side / short side
MAX_FILE_BYTES = 1 << 30         # bytes of an image file (a 50 Mpx 16-bit RGBA TIFF is 400 MB)
MAX_TEXT_BYTES = 1 << 30         # bytes of a .flist or masks.json (Places2's 1.8 M paths: ~180 MB)
MAX_CHECKPOINT_BYTES = 4 << 30   # bytes of a checkpoint or weights file (the full profile's: ~0.3 GB)


class ImageSizeError(ValueError):
    """An image whose shape the kit refuses: empty, too many pixels, or too elongated."""


def check_image_size(width: int, height: int, what: str = "image", max_pixels: int = MAX_PIXELS) -> None:
    """Raise :class:`ImageSizeError` naming ``what``, the limit and the fix if a ``width`` x ``height`` image is
    empty, has more than ``max_pixels`` pixels or an aspect ratio above :data:`MAX_ASPECT`."""
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise ImageSizeError(f"{what} is {width}x{height} px: it has no pixels. Give an image at least 1 px a side.")
    if width * height > max_pixels:
        raise ImageSizeError(
            f"{what} is {width}x{height} = {width * height:,} px, over the limit of {max_pixels:,} px "
            f"({max_pixels / 1e6:.1f} Mpx, inpaintkit.limits). Shrink or crop it first.")
    long, short = max(width, height), min(width, height)
    if long > MAX_ASPECT * short:
        raise ImageSizeError(
            f"{what} is {width}x{height} px, an aspect ratio of {long / short:.0f}:1; the limit is {MAX_ASPECT}:1 "
            "(inpaintkit.limits.MAX_ASPECT). Crop it to a less elongated region.")
