"""Interactive inpainting in a notebook: paint the hole, run both stages, then guide the structure.

:class:`InpaintWidget` (ipywidgets + ipycanvas) shows an image -- one of scikit-image's bundled photos or the
user's own through a FileUpload -- and lets the user

1. paint the hole M with the mouse (round brush, size slider, eraser, undo, clear),
2. press **Inpaint**: both stages run (``inpainter(image, mask)``) and the masked input, the repaired sketch
   S_comp (Eq. 9) and the result I_comp (Eq. 10) appear side by side with the time it took,
3. switch to **sketch** mode: draw or erase lines of the repaired sketch *inside the hole*, and press
   **Re-run stage 2**: the image generator alone runs on the edited sketch
   (``inpainter.complete(image, sketch, mask)``). The user steers the structure; the two-stage design is
   what makes that possible.

The widget is a view on plain numpy state. The mask is an (H, W) uint8 array, 1 = known, 0 = hole (the
paper's M); the sketch an (H, W) float array in [0, 1]. A mouse drag and a scripted stroke go through the same
:meth:`InpaintWidget.draw_stroke`; the canvas only draws. So a headless run (papermill, nbval, a test) drives
exactly the code a user's mouse drives -- ipycanvas sends no mouse events when no browser is attached::

    w = InpaintWidget(Inpainter.from_pretrained(), image="chelsea")
    w                                      # in JupyterLab: paint, press Inpaint
    w.draw_stroke([(60, 80), (140, 90)], radius=10)   # or script it: (x, y) points in image pixels
    w.run();  w.result.image               # uint8 (H, W, 3), composited
    w.mode = "sketch";  w.draw_stroke([(90, 70), (90, 110)], radius=1);  w.complete()

Sizes: the image the widget works on has its long side <= ``max_side`` (default: the inpainter's
``work_size`` when it has one, else :data:`MAX_SIDE` = 256 px, the paper's training size); larger images are
shrunk (Pillow LANCZOS, aspect ratio kept, never upscaled) and :attr:`InpaintWidget.full_result` scales the
result back to the original size, keeping the original's known pixels. A file that is not an image gives a
message inside the widget, not a traceback; so does one over :data:`inpaintkit.limits.MAX_PIXELS` (read from
its header, before decoding), or one so elongated that its working image would be under :data:`MIN_SIDE`
px on its short side. Memory: the original as uint8 (<= 150 MB) and the working image; the networks only
ever see the working size.

Any object with ``__call__(image, mask)``, ``complete(image, sketch, mask)`` (both returning something with
``.image``, ``.sketch`` and ``.seconds``) works as the inpainter: :class:`inpaintkit.pipeline.Inpainter`, or
a stand-in in a test.
"""

from __future__ import annotations

import html
import io
import logging
import os
import tempfile

import numpy as np
from PIL import Image
from skimage.draw import disk, polygon

from inpaintkit.data import BadImageError, open_image
from inpaintkit.limits import check_image_size

log = logging.getLogger(__name__)

MAX_SIDE = 256          # default working size: long side of the image the networks see (the paper trains at 256)
DISPLAY_SIDE = 384      # long side of the canvas on screen, CSS pixels (the canvas itself is at working size)
MIN_SIDE = 16           # smaller images cannot go through four stride-2 layers meaningfully
UNDO_DEPTH = 50
BRUSH = {"mask": 10, "sketch": 1}   # default brush radius per mode, image pixels
# scikit-image's bundled photos (no download). chelsea and rocket are held out of the demo weights'
# training split (inpaintkit.data.DEMO_SPLITS), so they come first.
EXAMPLES = ("chelsea", "rocket", "astronaut", "coffee")
HOLE_TINT = np.array([255, 40, 40], np.float32)    # mask mode: the hole is shown half red
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
    for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:]):
        length = np.hypot(x1 - x0, y1 - y0)
        if length == 0:
            continue
        nx, ny = -(y1 - y0) / length * radius, (x1 - x0) / length * radius   # normal of length radius
        cols = np.array([x0 + nx, x1 + nx, x1 - nx, x0 - nx])
        rows = np.array([y0 + ny, y1 + ny, y1 - ny, y0 - ny])
        out[polygon(rows, cols, shape=shape)] = True
    return out


def as_uint8_rgb(image) -> np.ndarray:
    """An (H, W, 3) / (H, W, 4) / (H, W) image, uint8 or float in [0, 1], as (H, W, 3) uint8 RGB.

    Alpha is composited on white (as :func:`inpaintkit.data.load_image` does for files).
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)                      # (H, W) -> (H, W, 3)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got shape {a.shape}.")
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"image must be uint8 or float in [0, 1], got dtype {a.dtype}.")
        if not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
            raise ValueError("a float image must hold finite values in [0, 1]; divide uint8 data by 255.")
        a = np.round(a * 255).astype(np.uint8)
    if a.shape[-1] == 4:
        alpha = a[..., 3:].astype(np.float32) / 255
        a = np.round(a[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    if min(a.shape[:2]) < MIN_SIDE:
        raise ValueError(f"image is {a.shape[1]}x{a.shape[0]} px; give at least {MIN_SIDE} px on each side.")
    check_image_size(a.shape[1], a.shape[0])
    return np.ascontiguousarray(a)


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
    ``MAX_PIXELS`` x 4 bytes (200 MB), never a float copy.
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
    if img.mode == "F":                                   # 16/32-bit grayscale in [0, 1]
        return as_uint8_rgb(np.round(np.asarray(img) * 255).astype(np.uint8))
    return as_uint8_rgb(np.asarray(img))


def render_mask_view(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mask mode's canvas: the image, hole pixels blended half with red. uint8 (H, W, 3)."""
    out = image.astype(np.float32)
    hole = mask == 0
    out[hole] = 0.5 * out[hole] + 0.5 * HOLE_TINT
    return out.astype(np.uint8)


def render_sketch_view(sketch: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sketch mode's canvas: sketch lines white on black, the known part dimmed, the hole on dark blue."""
    s = np.clip(np.asarray(sketch, np.float32), 0, 1)[..., None] * 255           # (H, W, 1)
    known = (mask != 0)[..., None]
    out = np.where(known, 0.45 * s, np.maximum(s, np.array([20, 30, 90], np.float32)))
    return out.astype(np.uint8)


def png_bytes(image: np.ndarray) -> bytes:
    """uint8 (H, W[, 3]) or float [0, 1] array -> PNG bytes (for ipywidgets.Image)."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.round(np.clip(a, 0, 1) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------------------- the widget

class InpaintWidget:
    """Paint a hole, inpaint it with both stages, edit the repaired sketch, re-run stage 2.

    ``inpainter``: an :class:`inpaintkit.pipeline.Inpainter` (or anything with the same ``__call__`` and
    ``complete``). ``image``: an example name from :data:`EXAMPLES`, or an array (uint8 or float [0, 1],
    (H, W[, 3|4])). ``max_side``: working size (long side); default the inpainter's ``work_size``, else 256.

    State (numpy, read it or drive it from code): :attr:`image` (working-size uint8 (H, W, 3)),
    :attr:`mask` ((H, W) uint8, 1 = known, 0 = hole), :attr:`sketch` (the repaired sketch being edited, (H, W)
    float in [0, 1], after a run), :attr:`result` (the last InpaintResult), :attr:`full_result`,
    :attr:`mode` ("mask" / "sketch"), :attr:`eraser`, :attr:`brush` (radius, px).
    """

    def __init__(self, inpainter, image=EXAMPLES[0], max_side: int | None = None):
        import ipywidgets as W
        from ipycanvas import Canvas

        self.inpainter = inpainter
        self.max_side = int(max_side or getattr(inpainter, "work_size", None) or MAX_SIDE)
        self.result = None
        self.sketch = None
        self._sketch_stage1 = None     # stage 1's repaired sketch, what "clear" in sketch mode goes back to
        self._sketch_mask = None       # the mask the sketch was made for
        self._undo: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._last_xy = None           # previous mouse position during a drag (None: not drawing)
        self._brush = dict(BRUSH)
        self._reverting = False

        # -- controls
        self.examples = W.Dropdown(options=EXAMPLES, value=image if isinstance(image, str) else None,
                                   description="example", layout=W.Layout(width="200px"))
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
        self.mode_buttons = W.ToggleButtons(options=["mask", "sketch"], value="mask",
                                            tooltips=["paint the hole", "edit the repaired sketch in the hole"])
        self.brush_slider = W.IntSlider(value=self._brush["mask"], min=1, max=40, description="brush")
        self.eraser_button = W.ToggleButton(value=False, description="eraser", icon="eraser")
        self.undo_button = W.Button(description="undo", icon="undo")
        self.clear_button = W.Button(description="clear", icon="trash")
        self.run_button = W.Button(description="Inpaint", button_style="primary", icon="magic")
        self.complete_button = W.Button(description="Re-run stage 2", icon="pencil", disabled=True,
                                        tooltip="stage 2 alone, on your edited sketch")
        self.status = W.HTML(value="")
        self.canvas = Canvas(width=64, height=64)
        self.outputs = {k: W.Image(format="png", layout=W.Layout(width="auto"))
                        for k in ("masked input", "repaired sketch", "result")}
        self.outputs["result"].add_class("inpaintkit-result")
        self.outputs["masked input"].add_class("inpaintkit-masked-input")
        self.run_button.add_class("inpaintkit-run")
        self.clear_button.add_class("inpaintkit-clear")
        self.status.add_class("inpaintkit-status")
        self.canvas.add_class("inpaintkit-canvas")
        panels = [W.VBox([W.Label(k), v]) for k, v in self.outputs.items()]
        self.ui = W.VBox([
            W.HBox([self.examples, self.upload, self.mode_buttons]),
            W.HBox([self.brush_slider, self.eraser_button, self.undo_button, self.clear_button]),
            self.canvas,
            W.HBox([self.run_button, self.complete_button]),
            self.status,
            W.HBox(panels),
        ])

        # -- events: every one goes through the same methods a script calls
        self.canvas.on_mouse_down(self._on_mouse_down)
        self.canvas.on_mouse_move(self._on_mouse_move)
        self.canvas.on_mouse_up(self._on_mouse_up)
        self.canvas.on_mouse_out(self._on_mouse_up)
        self.examples.observe(self._on_example, names="value")
        self.upload.observe(self._on_upload, names="value")
        self.mode_buttons.observe(self._on_mode, names="value")
        self.brush_slider.observe(self._on_brush, names="value")
        self.undo_button.on_click(lambda _: self._ui(self.undo))
        self.clear_button.on_click(lambda _: self._ui(self.clear))
        self.run_button.on_click(lambda _: self._ui(self.run))
        self.complete_button.on_click(lambda _: self._ui(self.complete))

        self.set_image(example_image(image) if isinstance(image, str) else image)

    def _repr_mimebundle_(self, **kwargs):
        return self.ui._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ properties
    @property
    def mode(self) -> str:
        """"mask": strokes paint the hole; "sketch": strokes edit the repaired sketch inside the hole."""
        return self.mode_buttons.value

    @mode.setter
    def mode(self, value: str) -> None:
        self._check_mode(value)
        self.mode_buttons.value = value

    @property
    def eraser(self) -> bool:
        """True: strokes give pixels back (mask mode: known again; sketch mode: remove lines)."""
        return self.eraser_button.value

    @eraser.setter
    def eraser(self, value: bool) -> None:
        self.eraser_button.value = bool(value)

    @property
    def brush(self) -> int:
        """Brush radius in image pixels (the slider); each mode remembers its own."""
        return self.brush_slider.value

    @brush.setter
    def brush(self, value: int) -> None:
        self.brush_slider.value = int(value)

    @property
    def full_result(self) -> np.ndarray | None:
        """The last result at the original image's size (uint8 (H0, W0, 3)); None before a run."""
        if self.result is None:
            return None
        return scale_back(as_uint8_rgb(self.result.image), self.mask, self.original)

    # ------------------------------------------------------------------ image
    def set_image(self, image) -> None:
        """Show a new image (array, uint8 or float [0, 1]); shrinks it to the working size, resets everything."""
        original = as_uint8_rgb(image)
        work = fit_image(original, self.max_side)
        if min(work.shape[:2]) < MIN_SIDE:
            raise ValueError(
                f"image is {original.shape[1]}x{original.shape[0]} px: shrunk to the working size {self.max_side} "
                f"px it would be {work.shape[1]}x{work.shape[0]}, under {MIN_SIDE} px on its short side. Crop it to "
                f"an aspect ratio of at most {self.max_side // MIN_SIDE}:1.")
        self.original, self.image = original, work
        h, w = self.image.shape[:2]
        self.mask = np.ones((h, w), np.uint8)
        self._full_sketch = None          # the image's sketch: made on the first run, reused for every mask
        self._undo.clear()
        self._forget_result()
        self.mode_buttons.value = "mask"
        self.canvas.width, self.canvas.height = w, h
        scale = DISPLAY_SIDE / max(h, w)
        self.canvas.layout.width, self.canvas.layout.height = f"{round(w * scale)}px", f"{round(h * scale)}px"
        for v in self.outputs.values():
            v.value = b""
        self._redraw()
        shrunk = "" if self.image.shape == self.original.shape else \
            f" (shrunk from {self.original.shape[1]}x{self.original.shape[0]}; the result is scaled back)"
        self._say(f"Image {w}x{h} px{shrunk}. Paint the hole, then press Inpaint.")

    def load_bytes(self, data: bytes, name: str = "upload") -> bool:
        """Load an uploaded file's bytes. Not an image: a message in the widget, False; else True."""
        try:
            self.set_image(decode_image(data, name))
        except (BadImageError, ValueError) as e:
            self._say(f"Could not use {name!r}: {e} Upload a PNG or JPEG photo.", error=True)
            return False
        return True

    # ------------------------------------------------------------------ drawing
    def draw_stroke(self, points, radius: float | None = None) -> None:
        """One stroke through (x, y) ``points`` (image pixels) with a round brush of ``radius`` (default: slider).

        Mask mode: the stroke becomes hole (eraser: known again). Sketch mode: the stroke draws sketch lines
        (eraser: removes them), inside the hole only. One stroke is one undo step.
        """
        self._push_undo()
        self._apply(points, self.brush if radius is None else radius)
        self._redraw()

    def _apply(self, points, radius: float) -> tuple[slice, slice]:
        """Change the state under a stroke; returns the bounding box of what changed (rows, cols)."""
        h, w = self.mask.shape
        foot = stroke_footprint((h, w), points, radius)
        if self.mode == "mask":
            self.mask[foot] = 1 if self.eraser else 0
        else:
            foot &= self._sketch_mask == 0                 # edit only inside the hole
            self.sketch[foot] = 0.0 if self.eraser else 1.0
        rows, cols = np.nonzero(foot)
        if rows.size == 0:
            return slice(0, 0), slice(0, 0)
        return slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1)

    def undo(self) -> None:
        """Undo the last stroke or clear."""
        if not self._undo:
            self._say("Nothing to undo.")
            return
        mask, sketch = self._undo.pop()
        self.mask[:] = mask
        if sketch is not None and self.sketch is not None:
            self.sketch[:] = sketch
        self._redraw()

    def clear(self) -> None:
        """Mask mode: no hole. Sketch mode: back to stage 1's repaired sketch. Undoable."""
        self._push_undo()
        if self.mode == "mask":
            self.mask[:] = 1
            self._say("Cleared: no hole. Paint one, then press Inpaint.")
        else:
            self.sketch[:] = self._sketch_stage1
            self._say("Sketch back to what stage 1 drew.")
        self._redraw()

    def _push_undo(self) -> None:
        self._undo.append((self.mask.copy(), None if self.sketch is None else self.sketch.copy()))
        del self._undo[:-UNDO_DEPTH]

    # ------------------------------------------------------------------ running
    def run(self):
        """Both stages on the current image and hole; shows and returns the InpaintResult."""
        if self.mask.all():
            raise ValueError("There is no hole yet: paint one (or call draw_stroke) before inpainting.")
        self._say("Inpainting (both stages) ...")
        if hasattr(self.inpainter, "sketch"):
            # The full image's sketch does not depend on the hole: HED runs once per image, not per press.
            if self._full_sketch is None:
                self._full_sketch = self.inpainter.sketch(self.image)
            res = self.inpainter(self.image, self.mask.copy(), sketch=self._full_sketch)
        else:
            res = self.inpainter(self.image, self.mask.copy())
        self.result = res
        self.sketch = np.clip(np.asarray(res.sketch, np.float32), 0, 1).copy()
        self._sketch_stage1 = self.sketch.copy()
        self._sketch_mask = self.mask.copy()
        self.complete_button.disabled = False
        self._show(res, "both stages")
        return res

    def complete(self):
        """Stage 2 alone on the (edited) repaired sketch: ``inpainter.complete(image, sketch, mask)``."""
        if self.result is None:
            raise ValueError("Run both stages first (Inpaint / run()); then edit the sketch and re-run stage 2.")
        if not np.array_equal(self.mask, self._sketch_mask):
            raise ValueError("The hole changed since the sketch was made: press Inpaint (run()) first.")
        self._say("Re-running stage 2 on your sketch ...")
        res = self.inpainter.complete(self.image, self.sketch.copy(), self.mask.copy())
        self.result = res
        self._show(res, "stage 2 only, your sketch")
        return res

    def _show(self, res, what: str) -> None:
        self.outputs["masked input"].value = png_bytes(masked_input(self.image, self.mask))
        self.outputs["repaired sketch"].value = png_bytes(np.asarray(res.sketch, np.float32))
        self.outputs["result"].value = png_bytes(as_uint8_rgb(res.image))
        n = int((self.mask == 0).sum())
        self._say(f"Done: {n} hole px ({n / self.mask.size:.1%}) inpainted in {res.seconds:.2f} s ({what}). "
                  "Switch to sketch mode to guide the structure.")
        self._redraw()

    def _forget_result(self) -> None:
        self.result = self.sketch = self._sketch_stage1 = self._sketch_mask = None
        self.complete_button.disabled = True

    # ------------------------------------------------------------------ view
    def _view(self) -> np.ndarray:
        if self.mode == "sketch":
            return render_sketch_view(self.sketch, self._sketch_mask)
        return render_mask_view(self.image, self.mask)

    def _redraw(self, box: tuple[slice, slice] | None = None) -> None:
        view = self._view()
        if box is None:
            self.canvas.put_image_data(view, 0, 0)
        elif box[0].stop > box[0].start:        # only the changed rectangle: small messages while dragging
            self.canvas.put_image_data(view[box], box[1].start, box[0].start)

    def _say(self, text: str, error: bool = False) -> None:
        color = "#b00020" if error else "inherit"
        self.status.value = f'<span style="color:{color}">{html.escape(text)}</span>'

    def _check_mode(self, value: str) -> None:
        if value not in ("mask", "sketch"):
            raise ValueError(f"mode must be 'mask' or 'sketch', got {value!r}.")
        if value == "sketch" and self.result is None:
            raise ValueError("Sketch mode edits the repaired sketch: run both stages first (Inpaint / run()).")

    # ------------------------------------------------------------------ UI callbacks
    def _ui(self, action) -> None:
        """Run a button's action; errors become a message in the widget, not a traceback in the log."""
        try:
            action()
        except ValueError as e:
            self._say(str(e), error=True)
        except Exception as e:     # a UI callback has nowhere to raise to; show it, log the traceback
            log.exception("InpaintWidget: %s failed", getattr(action, "__name__", action))
            self._say(f"{type(e).__name__}: {e}", error=True)

    def _on_mouse_down(self, x: float, y: float) -> None:
        self._push_undo()                   # a whole drag is one undo step
        self._last_xy = (x, y)
        self._ui(lambda: self._redraw(self._apply([(x, y)], self.brush)))

    def _on_mouse_move(self, x: float, y: float) -> None:
        if self._last_xy is None:
            return
        seg, self._last_xy = [self._last_xy, (x, y)], (x, y)
        self._ui(lambda: self._redraw(self._apply(seg, self.brush)))

    def _on_mouse_up(self, x: float, y: float) -> None:
        self._last_xy = None

    def _on_example(self, change) -> None:
        if change["new"] is not None:
            self._ui(lambda: self.set_image(example_image(change["new"])))

    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        f = files[0]
        if self.load_bytes(f["content"], f.get("name", "upload")):
            self.examples.value = None

    def _on_mode(self, change) -> None:
        try:
            self._check_mode(change["new"])
        except ValueError as e:
            self._reverting = True                      # revert without switching brushes
            self.mode_buttons.value = change["old"]
            self._reverting = False
            self._say(str(e), error=True)
            return
        if self._reverting:
            return
        self._brush[change["old"]] = self.brush_slider.value
        self.brush_slider.value = self._brush[change["new"]]
        self.eraser_button.value = False
        self._redraw()

    def _on_brush(self, change) -> None:
        self._brush[self.mode] = change["new"]
