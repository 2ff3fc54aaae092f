"""The inpainting widget's state: image, hole, sketch, undo stack -- plain numpy, no ipywidgets.

:class:`DrawingState` is everything :class:`inpaintkit.widgets.InpaintWidget` shows and changes, without a
screen: the working image, the hole M ((H, W) uint8, 1 = known, 0 = hole, the paper's M), the repaired sketch
being edited ((H, W) float in [0, 1]), the undo stack, the mode ("mask" / "sketch"), the eraser and the brush.
A stroke is the footprint of a round brush (:func:`stroke_footprint`) whether a mouse drag or a script drew
it. Running goes through the inpainter: ``inpainter(image, mask)`` (both stages, Eq. 9 and 10) and
``inpainter.complete(image, sketch, mask)`` (stage 2 alone, on the edited sketch)::

    s = DrawingState(Inpainter.from_pretrained(), image="chelsea")
    s.draw_stroke([(60, 80), (140, 90)], radius=10)      # (x, y) points in image pixels
    s.run().image                                        # uint8 (H, W, 3), composited
    s.mode = "sketch";  s.draw_stroke([(90, 70), (90, 110)], radius=1);  s.complete()

Importing this module does not import ipywidgets or ipycanvas: a script, a test or a server can use it alone.

Sizes: the working image has its long side <= ``max_side`` (default: the inpainter's ``work_size`` when it has
one, else :data:`MAX_SIDE` = 256 px, the paper's training size); larger images are shrunk (:func:`fit_image`)
and :attr:`DrawingState.full_result` scales the result back (:func:`scale_back`), keeping the original's known
pixels. Refused with a ValueError: an image under :data:`MIN_SIDE` px a side, or one so elongated that its
working image would be. Memory: the original as uint8 (<= 150 MB) and the working image.

Any object with ``__call__(image, mask)`` and ``complete(image, sketch, mask)`` (both returning something with
``.image``, ``.sketch`` and ``.seconds``) works as the inpainter: :class:`inpaintkit.pipeline.Inpainter`, or a
stand-in in a test. One with a ``sketch(image)`` method has the full image's sketch made once per image and
passed to every run (``inpainter(image, mask, sketch=...)``).
"""

from __future__ import annotations

import os
import tempfile
from itertools import pairwise

import numpy as np
from PIL import Image
from skimage.draw import disk, polygon

from inpaintkit.data import BadImageError, open_image
from inpaintkit.images import as_uint8_rgb

__all__ = ["BRUSH", "EXAMPLES", "HOLE_FILL", "MAX_SIDE", "MIN_SIDE", "MODES", "UNDO_DEPTH", "DrawingState",
           "decode_image", "example_image", "fit_image", "masked_input", "scale_back", "stroke_footprint"]

MAX_SIDE = 256          # default working size: long side of the image the networks see (the paper trains at 256)
MIN_SIDE = 16           # smaller images cannot go through four stride-2 layers meaningfully
UNDO_DEPTH = 50
MODES = ("mask", "sketch")
BRUSH = {"mask": 10, "sketch": 1}   # default brush radius per mode, image pixels
# scikit-image's bundled photos (no download). chelsea and rocket are held out of the demo weights'
# training split (inpaintkit.data.DEMO_SPLITS), so they come first.
EXAMPLES = ("chelsea", "rocket", "astronaut", "coffee")
HOLE_FILL = 255                                      # masked input: the hole drawn white


# ----------------------------------------------------------------------------------------- pure functions

def stroke_footprint(shape: tuple[int, int], points, radius: float) -> np.ndarray:
    """Pixels covered by a round brush of ``radius`` dragged through ``points``: (H, W) bool.

    ``points`` is a sequence of (x, y) pixel coordinates (x = column, y = row), as a mouse reports them; one
    point is a dot. The covered set is the union of a disk at every point and, for every segment, the
    rectangle of width 2 * radius around it (so each segment is a capsule: what a round brush paints).
    Rasterised with ``skimage.draw.disk`` / ``skimage.draw.polygon``; parts outside the image are clipped.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim == 1 and pts.size == 2:
        pts = pts[None]
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise ValueError(f"points must be a non-empty sequence of (x, y) pairs, got shape {pts.shape}.")
    if not np.isfinite(pts).all():
        raise ValueError("points contain NaN or infinity; give finite (x, y) pixel coordinates.")
    if not radius > 0:
        raise ValueError(f"radius must be > 0 pixels, got {radius!r}.")
    out = np.zeros(shape, dtype=bool)
    for x, y in pts:
        out[disk((y, x), radius, shape=shape)] = True
    for (x0, y0), (x1, y1) in pairwise(pts):
        length = np.hypot(x1 - x0, y1 - y0)
        if length == 0:
            continue
        nx, ny = -(y1 - y0) / length * radius, (x1 - x0) / length * radius   # normal of length radius
        cols = np.array([x0 + nx, x1 + nx, x1 - nx, x0 - nx])
        rows = np.array([y0 + ny, y1 + ny, y1 - ny, y0 - ny])
        out[polygon(rows, cols, shape=shape)] = True
    return out


def fit_image(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Shrink a uint8 (H, W, 3) image so its long side is <= ``max_side`` (Pillow LANCZOS, aspect ratio kept).

    Never upscales: an image that already fits is returned unchanged.
    """
    h, w = image.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))            # PIL wants (width, height)
    return np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))


def scale_back(result: np.ndarray, mask: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Paste a working-size result into the full-size ``original``: hole pixels from the upscaled result.

    ``mask`` is the working-size M (1 = known, 0 = hole); it is upscaled with nearest neighbour, the result
    with LANCZOS. Known pixels keep the original's full resolution. All images uint8 (H, W, 3).
    """
    H, W = original.shape[:2]
    if result.shape[:2] == (H, W):
        return result
    big = np.asarray(Image.fromarray(result).resize((W, H), Image.LANCZOS))
    known = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((W, H), Image.NEAREST)) > 127
    return np.where(known[..., None], original, big)


def _upscale_bool(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A (h, w) bool array at (W, H) = ``size`` by nearest neighbour (as :func:`scale_back` upscales a mask)."""
    if a.shape[::-1] == tuple(size):
        return a
    return np.asarray(Image.fromarray(a.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127


def masked_input(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with its hole (mask == 0) painted white: what the networks are given."""
    out = image.copy()
    out[mask == 0] = HOLE_FILL
    return out


def example_image(name: str = EXAMPLES[0]) -> np.ndarray:
    """One of scikit-image's bundled photos (see :data:`EXAMPLES`) as uint8 (H, W, 3), full size."""
    import skimage.data

    if name not in EXAMPLES:
        raise ValueError(f"Unknown example {name!r}; choose one of {EXAMPLES}.")
    return as_uint8_rgb(getattr(skimage.data, name)())


def decode_image(data: bytes, name: str = "upload") -> np.ndarray:
    """Bytes of an image file -> uint8 (H, W, 3), with :func:`inpaintkit.data.load_image`'s conversions.

    Raises :class:`inpaintkit.data.BadImageError` naming ``name`` when the bytes are not an image, or when the
    header says it is over :data:`inpaintkit.limits.MAX_PIXELS` or :data:`~inpaintkit.limits.MAX_ASPECT`
    (checked before decoding: :func:`inpaintkit.data.open_image`). Memory: the decoded 8-bit pixels, at most
    ``MAX_PIXELS`` x 4 bytes (200 MB), never a float copy (16-bit gray: one float32 copy of one channel).
    """
    # open_image reads paths; a temporary file lets uploads share its guard and conversions (EXIF, alpha, 16 bit).
    fd, tmp = tempfile.mkstemp(suffix=os.path.splitext(name)[1] or ".img")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(data))
        try:
            img = open_image(tmp)
        except BadImageError as e:
            raise BadImageError(str(e).replace(tmp, name)) from None
    finally:
        os.unlink(tmp)
    return as_uint8_rgb(img)                          # mode "F" (16/32-bit gray in [0, 1]) is rounded to 8 bits


def _box(foot: np.ndarray) -> tuple[slice, slice]:
    """The bounding box (rows, cols) of the True pixels; empty slices when there are none."""
    rows, cols = np.nonzero(foot)
    if rows.size == 0:
        return slice(0, 0), slice(0, 0)
    return slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)


# ----------------------------------------------------------------------------------------- the state

class DrawingState:
    """Paint a hole, inpaint it with both stages, edit the repaired sketch, re-run stage 2 -- in numpy.

    ``inpainter``: an :class:`inpaintkit.pipeline.Inpainter` (or anything with the same ``__call__`` and
    ``complete``). ``image``: an example name from :data:`EXAMPLES`, or an array (uint8 or float [0, 1],
    (H, W[, 3|4])). ``max_side``: working size (long side); default the inpainter's ``work_size``, else 256.

    Attributes: :attr:`original` (uint8 (H0, W0, 3) as given), :attr:`image` (working-size uint8 (H, W, 3)),
    :attr:`mask` ((H, W) uint8, 1 = known, 0 = hole), :attr:`sketch` (the repaired sketch being edited, (H, W)
    float32 in [0, 1], after a run; None before), :attr:`sketch_mask` (the mask it was made for),
    :attr:`result` (the last InpaintResult), :attr:`result_mask` (the hole it filled), :attr:`eraser`;
    properties :attr:`mode`, :attr:`brush`, :attr:`stale`, :attr:`full_result`.
    """

    def __init__(self, inpainter, image=EXAMPLES[0], max_side: int | None = None):
        self.inpainter = inpainter
        self.max_side = int(max_side or getattr(inpainter, "work_size", None) or MAX_SIDE)
        self.eraser = False                # True: strokes give pixels back (mask: known again; sketch: no line)
        self._mode = "mask"
        self._brush = dict(BRUSH)          # each mode remembers its own brush radius
        self._undo: list[tuple[np.ndarray, np.ndarray | None]] = []
        self.set_image(example_image(image) if isinstance(image, str) else image)

    # ------------------------------------------------------------------ mode and brush
    @property
    def mode(self) -> str:
        """"mask": strokes paint the hole; "sketch": strokes edit the repaired sketch inside the hole.

        Switching mode switches to that mode's brush and turns the eraser off. Sketch mode needs a run first.
        """
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        self.check_mode(value)
        if value != self._mode:
            self._mode, self.eraser = value, False

    def check_mode(self, value: str) -> None:
        """Raise ValueError (with what to do) if the state cannot switch to mode ``value`` now."""
        if value not in MODES:
            raise ValueError(f"mode must be 'mask' or 'sketch', got {value!r}.")
        if value == "sketch" and self.result is None:
            raise ValueError("Sketch mode edits the repaired sketch: run both stages first (Inpaint / run()).")

    @property
    def brush(self) -> int:
        """Brush radius in image pixels of the current mode (defaults: :data:`BRUSH`)."""
        return self._brush[self._mode]

    @brush.setter
    def brush(self, value: int) -> None:
        self._brush[self._mode] = int(value)

    # ------------------------------------------------------------------ image
    def set_image(self, image) -> None:
        """A new image (array, uint8 or float [0, 1]); shrinks it to the working size, resets everything.

        Raises ValueError (and changes nothing) for an image under :data:`MIN_SIDE` px a side, or one whose
        working image would be.
        """
        original = as_uint8_rgb(image)
        if min(original.shape[:2]) < MIN_SIDE:
            raise ValueError(f"image is {original.shape[1]}x{original.shape[0]} px; give at least {MIN_SIDE} px "
                             "on each side.")
        work = fit_image(original, self.max_side)
        if min(work.shape[:2]) < MIN_SIDE:
            raise ValueError(
                f"image is {original.shape[1]}x{original.shape[0]} px: shrunk to the working size {self.max_side} "
                f"px it would be {work.shape[1]}x{work.shape[0]}, under {MIN_SIDE} px on its short side. Crop it to "
                f"an aspect ratio of at most {self.max_side // MIN_SIDE}:1.")
        self.original, self.image = original, work
        self.mask = np.ones(work.shape[:2], np.uint8)
        self._full_sketch = None          # the image's sketch: made on the first run, reused for every mask
        self._undo.clear()
        self.result = self.sketch = self._sketch_stage1 = self.sketch_mask = self.result_mask = None
        self.mode = "mask"

    @property
    def shrunk(self) -> bool:
        """True when the working image is smaller than the original."""
        return self.image.shape != self.original.shape

    # ------------------------------------------------------------------ drawing
    def draw_stroke(self, points, radius: float | None = None) -> tuple[slice, slice]:
        """One stroke through (x, y) ``points`` (image pixels) with a round brush of ``radius`` (default: brush).

        Mask mode: the stroke becomes hole (eraser: known again). Sketch mode: the stroke draws sketch lines
        (eraser: removes them), inside the hole only. One stroke is one undo step. Returns the bounding box
        (rows, cols) of the pixels it covered.
        """
        self.push_undo()
        return self.paint(points, radius)

    def paint(self, points, radius: float | None = None) -> tuple[slice, slice]:
        """A stroke without an undo step of its own (a mouse drag: :meth:`push_undo` once, then paint pieces)."""
        foot = stroke_footprint(self.mask.shape, points, self.brush if radius is None else radius)
        if self._mode == "mask":
            self.mask[foot] = 1 if self.eraser else 0
        else:
            foot &= self.sketch_mask == 0                  # edit only inside the hole
            self.sketch[foot] = 0.0 if self.eraser else 1.0
        return _box(foot)

    def push_undo(self) -> None:
        """Remember the mask and the sketch as they are now (at most :data:`UNDO_DEPTH` steps back)."""
        self._undo.append((self.mask.copy(), None if self.sketch is None else self.sketch.copy()))
        del self._undo[:-UNDO_DEPTH]

    def undo(self) -> bool:
        """Undo the last stroke or clear; False when there is nothing to undo."""
        if not self._undo:
            return False
        mask, sketch = self._undo.pop()
        self.mask[:] = mask
        if sketch is not None and self.sketch is not None:
            self.sketch[:] = sketch
        return True

    def clear(self) -> None:
        """Mask mode: no hole. Sketch mode: back to stage 1's repaired sketch. Undoable."""
        self.push_undo()
        if self._mode == "mask":
            self.mask[:] = 1
        else:
            self.sketch[:] = self._sketch_stage1

    # ------------------------------------------------------------------ running
    def check_run(self) -> None:
        """Raise ValueError (with what to do) if :meth:`run` cannot run now: there is no hole."""
        if self.mask.all():
            raise ValueError("There is no hole yet: paint one (or call draw_stroke) before inpainting.")

    def check_complete(self) -> None:
        """Raise ValueError (with what to do) if :meth:`complete` cannot run now: no run yet, or a new hole."""
        if self.result is None:
            raise ValueError("Run both stages first (Inpaint / run()); then edit the sketch and re-run stage 2.")
        if not np.array_equal(self.mask, self.sketch_mask):
            raise ValueError("The hole changed since the sketch was made: press Inpaint (run()) first.")

    def run(self):
        """Both stages on the image and the hole (Eq. 9, 10); returns the InpaintResult, whose sketch is the
        one sketch mode then edits."""
        self.check_run()
        if hasattr(self.inpainter, "sketch"):
            # The full image's sketch does not depend on the hole: HED runs once per image, not per press.
            if self._full_sketch is None:
                self._full_sketch = self.inpainter.sketch(self.image)
            res = self.inpainter(self.image, self.mask.copy(), sketch=self._full_sketch)
        else:
            res = self.inpainter(self.image, self.mask.copy())
        self.result = res
        self.sketch = np.clip(np.asarray(res.sketch, np.float32), 0, 1).copy()
        self._sketch_stage1 = self.sketch.copy()        # what "clear" in sketch mode goes back to
        self.sketch_mask = self.mask.copy()
        self.result_mask = self.mask.copy()
        return res

    def complete(self):
        """Stage 2 alone on the (edited) repaired sketch: ``inpainter.complete(image, sketch, mask)``."""
        self.check_complete()
        self.result = self.inpainter.complete(self.image, self.sketch.copy(), self.mask.copy())
        self.result_mask = self.mask.copy()
        return self.result

    @property
    def stale(self) -> bool:
        """True when the hole was changed (strokes, eraser, undo, clear) since the last result was made: the
        result no longer fills the hole as it is; run again."""
        return self.result is not None and not np.array_equal(self.mask, self.result_mask)

    @property
    def full_result(self) -> np.ndarray | None:
        """The last result at the original image's size (uint8 (H0, W0, 3)); None before a run.

        Pasted with the hole the result filled (:attr:`result_mask`), so the original keeps its full resolution
        everywhere else. When the hole changed since (:attr:`stale`), the result is not passed off as filling
        it: pixels painted into the hole since are shown as hole (:data:`HOLE_FILL`, never filled, not the
        working-size copy of the original, blurred by upscaling), and pixels given back by the eraser show the
        original.
        """
        if self.result is None:
            return None
        full = scale_back(as_uint8_rgb(self.result.image), self.result_mask, self.original)
        if not self.stale:
            return full
        H, W = self.original.shape[:2]
        hole_now = _upscale_bool(self.mask == 0, (W, H))
        hole_then = _upscale_bool(self.result_mask == 0, (W, H))
        full = np.where((hole_then & ~hole_now)[..., None], self.original, full)      # erased back: original
        full[hole_now & ~hole_then] = HOLE_FILL                                     # new hole: not filled yet
        return full

