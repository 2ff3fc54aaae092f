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

Three parts: :class:`inpaintkit.drawing.DrawingState` (plain numpy: image, mask, sketch, undo stack;
:attr:`InpaintWidget.state`), :class:`Controls` (the ipywidgets and the ipycanvas on screen, no behaviour;
:attr:`InpaintWidget.controls`) and :class:`InpaintWidget`, which wires the two: buttons, the canvas' mouse
events and the scripted API all change the state, then the controls show it; the canvas only draws. So a
headless run (papermill, nbval, a test) drives exactly the code a user's mouse drives -- ipycanvas sends no
mouse events when no browser is attached::

    w = InpaintWidget(Inpainter.from_pretrained(), image="chelsea")
    w                                      # in JupyterLab: paint, press Inpaint
    w.draw_stroke([(60, 80), (140, 90)], radius=10)   # or script it: (x, y) points in image pixels
    w.run();  w.result.image               # uint8 (H, W, 3), composited
    w.mode = "sketch";  w.draw_stroke([(90, 70), (90, 110)], radius=1);  w.complete()

Sizes, limits and the inpainter's interface: see :mod:`inpaintkit.drawing`. A file that is not an image, one
over :data:`inpaintkit.limits.MAX_PIXELS` (read from its header, before decoding) or one too small or too
elongated gives a message inside the widget, not a traceback. The canvas is at working size, shown
:data:`DISPLAY_SIDE` CSS pixels on its long side.
"""

from __future__ import annotations

import base64
import html
import io
import logging

import numpy as np
from PIL import Image

from inpaintkit.data import BadImageError
from inpaintkit.drawing import (
    BRUSH,
    EXAMPLES,
    HOLE_FILL,
    MAX_SIDE,
    MIN_SIDE,
    UNDO_DEPTH,
    DrawingState,
    decode_image,
    example_image,
    fit_image,
    masked_input,
    scale_back,
    stroke_footprint,
)
from inpaintkit.images import as_uint8_rgb

# with the drawing state's names, re-exported: the notebooks and scripts import them from here
__all__ = ["BRUSH", "DISPLAY_SIDE", "EXAMPLES", "HOLE_FILL", "HOLE_TINT", "MAX_SIDE", "MIN_SIDE", "UNDO_DEPTH",
           "Controls", "DrawingState", "InpaintWidget", "decode_image", "example_image", "fit_image", "masked_input",
           "png_bytes", "render_mask_view", "render_sketch_view", "scale_back", "stroke_footprint"]

log = logging.getLogger(__name__)

DISPLAY_SIDE = 384      # long side of the canvas on screen, CSS pixels (the canvas itself is at working size)
HOLE_TINT = np.array([255, 40, 40], np.float32)    # mask mode: the hole is shown half red
ERROR_COLOR = "#b00020"


# ----------------------------------------------------------------------------------------- what the canvas shows

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
    # zlib level 1, not PIL's default 6: a 256 px photograph encodes in 11 ms instead of 30 (3 per inpaint, most of
    # the widget's own time), for 3 % more bytes (benchmarks/bench_inpaint_latency.py, docs/training_recipe.md)
    Image.fromarray(a).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _state_attr(name: str, doc: str) -> property:
    """A read-only attribute of the widget that is the state's attribute ``name``."""
    return property(lambda self: getattr(self.state, name), doc=doc)


# ----------------------------------------------------------------------------------------- the view

class Controls:
    """What the widget puts on screen, laid out in :attr:`ui`: ipywidgets controls, the ipycanvas canvas the
    hole and the sketch are drawn on, and three output images. No behaviour: :class:`InpaintWidget` wires it.

    The browser test finds the canvas, the buttons, the status line and the outputs by their ``inpaintkit-*``
    CSS classes.
    """

    def __init__(self, mode: str, brush: int, eraser: bool, example: str | None):
        import ipywidgets as W
        from ipycanvas import Canvas

        self.examples = W.Dropdown(options=EXAMPLES, value=example, description="example",
                                   layout=W.Layout(width="200px"))
        self.upload = W.FileUpload(accept="image/*", multiple=False, description="upload")
        self.mode_buttons = W.ToggleButtons(options=["mask", "sketch"], value=mode,
                                            tooltips=["paint the hole", "edit the repaired sketch in the hole"])
        self.brush_slider = W.IntSlider(value=brush, min=1, max=40, description="brush")
        self.eraser_button = W.ToggleButton(value=eraser, description="eraser", icon="eraser")
        self.undo_button = W.Button(description="undo", icon="undo")
        self.clear_button = W.Button(description="clear", icon="trash")
        self.run_button = W.Button(description="Inpaint", button_style="primary", icon="magic")
        self.complete_button = W.Button(description="Re-run stage 2", icon="pencil", disabled=True,
                                        tooltip="stage 2 alone, on your edited sketch")
        self.status = W.HTML(value="")
        self.canvas = Canvas(width=64, height=64)
        self.outputs = {k: W.Image(format="png", layout=W.Layout(width="auto"))
                        for k in ("masked input", "repaired sketch", "result")}
        for widget, css in ((self.outputs["result"], "result"), (self.outputs["masked input"], "masked-input"),
                            (self.run_button, "run"), (self.clear_button, "clear"), (self.status, "status"),
                            (self.canvas, "canvas")):
            widget.add_class(f"inpaintkit-{css}")
        panels = [W.VBox([W.Label(k), v]) for k, v in self.outputs.items()]
        self.ui = W.VBox([
            W.HBox([self.examples, self.upload, self.mode_buttons]),
            W.HBox([self.brush_slider, self.eraser_button, self.undo_button, self.clear_button]),
            self.canvas,
            W.HBox([self.run_button, self.complete_button]),
            self.status,
            W.HBox(panels),
        ])

    def say(self, text: str, error: bool = False) -> None:
        """One line of status under the buttons; errors in red."""
        color = ERROR_COLOR if error else "inherit"
        self.status.value = f'<span style="color:{color}">{html.escape(text)}</span>'

    def new_canvas(self, h: int, w: int) -> None:
        """A canvas of the working size (h, w), shown :data:`DISPLAY_SIDE` px on its long side; outputs empty."""
        self.canvas.width, self.canvas.height = w, h
        scale = DISPLAY_SIDE / max(h, w)
        self.canvas.layout.width, self.canvas.layout.height = f"{round(w * scale)}px", f"{round(h * scale)}px"
        for v in self.outputs.values():
            v.value = b""

    def draw(self, view: np.ndarray, box: tuple[slice, slice] | None = None) -> None:
        """Put ``view`` (uint8 (H, W, 3)) on the canvas; with ``box`` (rows, cols) only that rectangle."""
        if box is None:
            self.canvas.put_image_data(view, 0, 0)
        elif box[0].stop > box[0].start:        # only the changed rectangle: small messages while dragging
            self.canvas.put_image_data(view[box], box[1].start, box[0].start)


class InpaintWidget:
    """Paint a hole, inpaint it with both stages, edit the repaired sketch, re-run stage 2.

    Arguments as :class:`inpaintkit.drawing.DrawingState` (``inpainter``, ``image``: an example name or an
    array, ``max_side``). :attr:`state` holds the numpy state and :attr:`controls` what is on screen; the
    attributes below read the state, and ``mode``, ``eraser`` and ``brush`` set it and move the controls with it.
    """

    image = _state_attr("image", "The working-size image, uint8 (H, W, 3).")
    original = _state_attr("original", "The image as given, uint8 (H0, W0, 3).")
    mask = _state_attr("mask", "The hole M, (H, W) uint8: 1 = known, 0 = hole.")
    sketch = _state_attr("sketch", "The repaired sketch being edited, (H, W) float in [0, 1]; None before a run.")
    result = _state_attr("result", "The last InpaintResult; None before a run.")
    full_result = _state_attr("full_result", "The last result at full size, uint8 (newer strokes: hole; see stale).")
    stale = _state_attr("stale", "True when the hole changed since the last result was made: run again.")
    inpainter = _state_attr("inpainter", "What runs the stages (an Inpainter or a stand-in).")
    max_side = _state_attr("max_side", "The working size: long side of the image the networks see, px.")

    def __init__(self, inpainter, image=EXAMPLES[0], max_side: int | None = None):
        self.state = s = DrawingState(inpainter, image, max_side)
        self.controls = c = Controls(s.mode, s.brush, s.eraser, example=image if isinstance(image, str) else None)
        self._last_xy = None           # previous mouse position during a drag (None: not drawing)
        # events: every one goes through the same state methods a script calls
        c.canvas.on_mouse_down(self._on_mouse_down)
        c.canvas.on_mouse_move(self._on_mouse_move)
        c.canvas.on_mouse_up(self._on_mouse_up)
        c.canvas.on_mouse_out(self._on_mouse_up)
        c.examples.observe(self._on_example, names="value")
        c.upload.observe(self._on_upload, names="value")
        c.mode_buttons.observe(self._on_mode, names="value")
        c.brush_slider.observe(lambda change: setattr(s, "brush", change["new"]), names="value")
        c.eraser_button.observe(lambda change: setattr(s, "eraser", bool(change["new"])), names="value")
        c.undo_button.on_click(lambda _: self._ui(self.undo))
        c.clear_button.on_click(lambda _: self._ui(self.clear))
        c.run_button.on_click(lambda _: self._ui(self.run))
        c.complete_button.on_click(lambda _: self._ui(self.complete))
        self._show_image()

    def _repr_mimebundle_(self, **kwargs):
        """The widget for JupyterLab, plus a PNG of the canvas as it is now: a front end without a widget
        manager (a static page, ``make html``, GitHub's viewer) shows that still instead of nothing."""
        still = base64.b64encode(png_bytes(self.view())).decode("ascii")
        return {**self.controls.ui._repr_mimebundle_(**kwargs), "image/png": still}

    def view(self) -> np.ndarray:
        """What the canvas shows now, uint8 (H, W, 3): the image with the hole in red, or in sketch mode the
        sketch (white) with the hole on dark blue."""
        s = self.state
        if s.mode == "sketch":
            return render_sketch_view(s.sketch, s.sketch_mask)
        return render_mask_view(s.image, s.mask)

    @property
    def mode(self) -> str:
        """"mask": strokes paint the hole; "sketch": strokes edit the repaired sketch inside the hole."""
        return self.state.mode

    @mode.setter
    def mode(self, value: str) -> None:
        self.state.mode = value
        self._sync()
        self._redraw()

    @property
    def eraser(self) -> bool:
        """True: strokes give pixels back (mask mode: known again; sketch mode: remove lines)."""
        return self.state.eraser

    @eraser.setter
    def eraser(self, value: bool) -> None:
        self.state.eraser = bool(value)
        self._sync()

    @property
    def brush(self) -> int:
        """Brush radius in image pixels (the slider); each mode remembers its own."""
        return self.state.brush

    @brush.setter
    def brush(self, value: int) -> None:
        self.state.brush = int(value)
        self._sync()

    def _sync(self) -> None:
        """Controls <- state. Their observers see the state's own values come back and change nothing."""
        c, s = self.controls, self.state
        c.mode_buttons.value = s.mode
        c.brush_slider.value = s.brush          # the slider clamps to 1-40; _on_brush writes that back
        c.eraser_button.value = s.eraser
        c.complete_button.disabled = s.result is None

    # ------------------------------------------------------------------ image
    def set_image(self, image) -> None:
        """Show a new image (array, uint8 or float [0, 1]); shrinks it to the working size, resets everything."""
        self.state.set_image(image)
        self._show_image()

    def load_bytes(self, data: bytes, name: str = "upload") -> bool:
        """Load an uploaded file's bytes. Not an image: a message in the widget, False; else True."""
        try:
            self.set_image(decode_image(data, name))
        except (BadImageError, ValueError) as e:
            self.controls.say(f"Could not use {name!r}: {e} Upload a PNG or JPEG photo.", error=True)
            return False
        return True

    def _show_image(self) -> None:
        s = self.state
        h, w = s.image.shape[:2]
        self._sync()
        self.controls.new_canvas(h, w)
        self._redraw()
        shrunk = f" (shrunk from {s.original.shape[1]}x{s.original.shape[0]}; the result is scaled back)"
        self.controls.say(f"Image {w}x{h} px{shrunk if s.shrunk else ''}. Paint the hole, then press Inpaint.")

    # ------------------------------------------------------------------ drawing
    def draw_stroke(self, points, radius: float | None = None) -> None:
        """One stroke through (x, y) ``points`` (image pixels): :meth:`DrawingState.draw_stroke`, then redraw."""
        self.state.draw_stroke(points, radius)
        self._redraw()

    def undo(self) -> None:
        """Undo the last stroke or clear."""
        if self.state.undo():
            self._redraw()
        else:
            self.controls.say("Nothing to undo.")

    def clear(self) -> None:
        """Mask mode: no hole. Sketch mode: back to stage 1's repaired sketch. Undoable."""
        self.state.clear()
        self.controls.say("Cleared: no hole. Paint one, then press Inpaint." if self.mode == "mask"
                          else "Sketch back to what stage 1 drew.")
        self._redraw()

    # ------------------------------------------------------------------ running
    def run(self):
        """Both stages on the current image and hole; shows and returns the InpaintResult."""
        self.state.check_run()             # its error, not a progress message, when there is no hole
        self.controls.say("Inpainting (both stages) ...")
        res = self.state.run()
        self._show(res, "both stages")
        return res

    def complete(self):
        """Stage 2 alone on the (edited) repaired sketch: ``inpainter.complete(image, sketch, mask)``."""
        self.state.check_complete()
        self.controls.say("Re-running stage 2 on your sketch ...")
        res = self.state.complete()
        self._show(res, "stage 2 only, your sketch")
        return res

    def _show(self, res, what: str) -> None:
        out, mask = self.controls.outputs, self.state.mask
        out["masked input"].value = png_bytes(masked_input(self.state.image, mask))
        out["repaired sketch"].value = png_bytes(np.asarray(res.sketch, np.float32))
        out["result"].value = png_bytes(as_uint8_rgb(res.image))
        n = int((mask == 0).sum())
        self.controls.say(f"Done: {n} hole px ({n / mask.size:.1%}) inpainted in {res.seconds:.2f} s ({what}). "
                          "Switch to sketch mode to guide the structure.")
        self._sync()
        self._redraw()

    def _redraw(self, box: tuple[slice, slice] | None = None) -> None:
        self.controls.draw(self.view(), box)

    # ------------------------------------------------------------------ UI callbacks
    def _ui(self, action) -> None:
        """Run a button's action; errors become a message in the widget, not a traceback in the log."""
        try:
            action()
        except ValueError as e:
            self.controls.say(str(e), error=True)
        except Exception as e:     # a UI callback has nowhere to raise to; show it, log the traceback
            log.exception("InpaintWidget: %s failed", getattr(action, "__name__", action))
            self.controls.say(f"{type(e).__name__}: {e}", error=True)

    def _on_mouse_down(self, x: float, y: float) -> None:
        self.state.push_undo()              # a whole drag is one undo step
        self._last_xy = (x, y)
        self._ui(lambda: self._redraw(self.state.paint([(x, y)])))

    def _on_mouse_move(self, x: float, y: float) -> None:
        if self._last_xy is None:
            return
        seg, self._last_xy = [self._last_xy, (x, y)], (x, y)
        self._ui(lambda: self._redraw(self.state.paint(seg)))

    def _on_mouse_up(self, x: float, y: float) -> None:
        self._last_xy = None

    def _on_example(self, change) -> None:
        if change["new"] is not None:
            self._ui(lambda: self.set_image(example_image(change["new"])))

    def _on_upload(self, change) -> None:
        files = change["new"]
        if files and self.load_bytes(files[0]["content"], files[0].get("name", "upload")):
            self.controls.examples.value = None

    def _on_mode(self, change) -> None:
        if change["new"] == self.state.mode:     # the state's own value coming back (_sync)
            return
        try:
            self.mode = change["new"]
        except ValueError as e:
            self.controls.mode_buttons.value = self.state.mode     # the toggle goes back, with a message
            self.controls.say(str(e), error=True)
