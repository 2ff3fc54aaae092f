"""The inpainting widget's view (inpaintkit.widgets): the controls mirror the drawing state, buttons and mouse
events go through it, results and errors show up in the widget. No browser (see test_widget_browser.py); the
state itself is tested in test_drawing.py, with the same stand-in inpainter.
"""

import datetime
import io

import numpy as np
import pytest
from PIL import Image
from test_drawing import MeanFill, photo

from inpaintkit import widgets
from inpaintkit.widgets import InpaintWidget, stroke_footprint


@pytest.fixture
def widget():
    return InpaintWidget(MeanFill(), image=photo())


def shown(image_widget):
    return np.asarray(Image.open(io.BytesIO(image_widget.value)))


def test_the_widget_reads_its_state(widget):
    s = widget.state
    assert widget.image is s.image and widget.mask is s.mask and widget.original is s.original
    assert widget.inpainter is s.inpainter and widget.max_side == s.max_side == widgets.MAX_SIDE
    assert widget.result is None and widget.sketch is None and widget.full_result is None
    widget.draw_stroke([(5, 20), (40, 20)], radius=4)
    np.testing.assert_array_equal(widget.mask == 0, stroke_footprint(widget.mask.shape, [(5, 20), (40, 20)], 4))


def test_controls_mirror_mode_brush_and_eraser_both_ways(widget):
    c, s = widget.controls, widget.state
    assert (c.mode_buttons.value, c.brush_slider.value, c.eraser_button.value) == ("mask", widgets.BRUSH["mask"], False)
    widget.brush = 6                               # from code: state and slider
    assert s.brush == 6 and c.brush_slider.value == 6
    c.brush_slider.value = 9                       # from the slider: the state
    assert s.brush == widget.brush == 9
    widget.eraser = True
    assert s.eraser and c.eraser_button.value
    c.eraser_button.value = False
    assert not s.eraser
    widget.draw_stroke([(24, 20)])
    assert (widget.mask == 0).sum() == stroke_footprint(widget.mask.shape, [(24, 20)], 9).sum()
    assert c.complete_button.disabled
    widget.run()
    assert not c.complete_button.disabled
    c.mode_buttons.value = "sketch"                # from the toggle: mode, the sketch brush, the sketch canvas
    assert s.mode == widget.mode == "sketch" and c.brush_slider.value == widgets.BRUSH["sketch"]
    widget.mode = "mask"                           # from code: the toggle and the mask brush come back
    assert c.mode_buttons.value == "mask" and c.brush_slider.value == 9


def test_mouse_drag_goes_through_the_same_code_and_is_one_undo_step(widget):
    widget.brush = 3
    widget._on_mouse_down(5.0, 10.0)
    widget._on_mouse_move(15.0, 12.0)
    widget._on_mouse_move(30.0, 20.0)
    widget._on_mouse_up(30.0, 20.0)
    widget._on_mouse_move(45.0, 35.0)              # after mouse up: no painting
    expected = stroke_footprint(widget.mask.shape, [(5, 10), (15, 12), (30, 20)], 3)
    np.testing.assert_array_equal(widget.mask == 0, expected)
    widget.undo()
    assert widget.mask.all()


def test_undo_and_clear_buttons(widget):
    c = widget.controls
    widget.draw_stroke([(5, 5), (20, 5)], radius=3)
    first = widget.mask.copy()
    c.clear_button.click()
    assert widget.mask.all() and "Cleared: no hole" in c.status.value
    c.undo_button.click()
    np.testing.assert_array_equal(widget.mask, first)
    c.undo_button.click()
    c.undo_button.click()                          # empty stack: a message, no error
    assert widget.mask.all() and "Nothing to undo" in c.status.value


def test_run_without_hole_is_a_clear_error(widget):
    with pytest.raises(ValueError, match="no hole"):
        widget.run()
    widget.controls.run_button.click()             # the button shows it in the widget instead
    assert "no hole" in widget.controls.status.value and "#b00020" in widget.controls.status.value


def test_run_shows_masked_input_sketch_and_result(widget):
    widget.draw_stroke([(10, 20), (38, 20)], radius=5)
    res = widget.run()
    out, mask = widget.controls.outputs, widget.mask
    assert res is widget.state.result
    np.testing.assert_array_equal(shown(out["result"]), res.image)
    masked = shown(out["masked input"])
    assert (masked[mask == 0] == 255).all() and (masked[mask == 1] == widget.image[mask == 1]).all()
    np.testing.assert_array_equal(shown(out["repaired sketch"]), np.where(mask == 1, 128, 0))  # round(0.5 * 255)
    n = int((mask == 0).sum())
    assert f"{n} hole px" in widget.controls.status.value and "0.01 s" in widget.controls.status.value


def test_sketch_mode_toggle_reverts_before_a_run_and_reruns_stage2_after(widget):
    c = widget.controls
    with pytest.raises(ValueError, match="run both stages first"):
        widget.mode = "sketch"
    c.mode_buttons.value = "sketch"                # the toggle reverts, with a message
    assert widget.mode == c.mode_buttons.value == "mask" and "run both stages first" in c.status.value
    widget.draw_stroke([(10, 20), (38, 20)], radius=6)
    c.run_button.click()
    widget.mode = "sketch"
    line = [(24, 0), (24, 39)]
    widget.draw_stroke(line, radius=1)
    drawn = stroke_footprint(widget.mask.shape, line, 1) & (widget.mask == 0)
    c.complete_button.click()
    assert widget.inpainter.calls[-1][0] == "stage2" and "stage 2 only, your sketch" in c.status.value
    assert (shown(c.outputs["result"])[drawn] == 0).all()                     # the user's line shows up
    widget.mode = "mask"                           # a new hole: re-running stage 2 is refused
    widget.draw_stroke([(5, 5)], radius=3)
    c.complete_button.click()
    assert "hole changed" in c.status.value and "#b00020" in c.status.value


def test_canvas_view_shows_the_hole():
    img = np.full((20, 20, 3), 100, np.uint8)
    mask = np.ones((20, 20), np.uint8)
    mask[5:10, 5:10] = 0
    view = widgets.render_mask_view(img, mask)
    np.testing.assert_array_equal(view[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(view[7, 7], [177, 70, 70])      # (100 + 255) / 2, (100 + 40) / 2


def test_examples_dropdown_and_float_images():
    w = InpaintWidget(MeanFill(), image="chelsea")
    assert w.controls.examples.value == "chelsea" and w.original.shape == (300, 451, 3)
    w.controls.examples.value = "rocket"
    assert w.original.shape == (427, 640, 3) and max(w.image.shape[:2]) == widgets.MAX_SIDE
    assert "shrunk from 640x427" in w.controls.status.value
    f = photo(20, 30).astype(np.float32) / 255
    w.set_image(f)
    np.testing.assert_array_equal(w.image, np.round(f * 255).astype(np.uint8))
    assert (w.controls.canvas.width, w.controls.canvas.height) == (30, 20)
    assert w.controls.canvas.layout.width == "384px" and w.controls.canvas.layout.height == "256px"


# ---------------------------------------------------------------- uploads

def test_upload_of_an_image(widget):
    img = photo(50, 70, seed=3)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    assert widget.load_bytes(buf.getvalue(), "mine.png")
    np.testing.assert_array_equal(widget.image, img)
    assert widget.mask.shape == (50, 70) and widget.result is None


def test_upload_of_a_non_image_is_a_message_not_a_traceback(widget):
    status = widget.controls.status
    before = widget.image.copy()
    assert widget.load_bytes(b"%PDF-1.4 definitely not a photo", "notes.pdf") is False
    assert "notes.pdf" in status.value and "cannot be read as an image" in status.value
    assert "/tmp" not in status.value
    np.testing.assert_array_equal(widget.image, before)
    # through the FileUpload widget itself, as the browser would send it
    widget.controls.upload.value = ({"name": "notes.txt", "type": "text/plain", "size": 3,
                                     "content": memoryview(b"abc"),
                                     "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert "notes.txt" in status.value and "#b00020" in status.value


def test_tiny_upload_is_a_message(widget):
    buf = io.BytesIO()
    Image.fromarray(photo(8, 8)).save(buf, format="PNG")
    assert not widget.load_bytes(buf.getvalue(), "tiny.png")
    assert "at least 16 px" in widget.controls.status.value


def test_huge_and_strip_uploads_are_a_message_naming_the_limit(widget):
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    def header_only_png(w, h):          # what a decompression bomb's header says, in a few hundred bytes
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))

    status = widget.controls.status
    before = widget.image.copy()
    assert not widget.load_bytes(header_only_png(20000, 10000), "bomb.png")        # 200 Mpx: Pillow's guard
    assert "bomb.png" in status.value and "decompression-bomb guard" in status.value
    assert not widget.load_bytes(header_only_png(10000, 10000), "big.png")          # 100 Mpx: ours
    assert "over the limit of 50,000,000 px" in status.value
    buf = io.BytesIO()
    Image.fromarray(photo(20, 5000)).save(buf, format="PNG")                        # 5000 x 20: was 256 x 1
    assert not widget.load_bytes(buf.getvalue(), "strip.png")
    assert "aspect ratio of 250:1; the limit is 64:1" in status.value
    buf = io.BytesIO()
    Image.fromarray(photo(20, 1000)).save(buf, format="PNG")                        # 50:1, working 256 x 5
    assert not widget.load_bytes(buf.getvalue(), "wide.png")
    assert "256x5, under 16 px on its short side" in status.value
    np.testing.assert_array_equal(widget.image, before)


def test_16_bit_gray_upload_is_rounded_to_8_bits(widget):
    g16 = np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40
    buf = io.BytesIO()
    Image.fromarray(g16).save(buf, format="PNG")
    assert widget.load_bytes(buf.getvalue(), "gray16.png")
    gray8 = np.round(g16 / 65535 * 255).astype(np.uint8)
    np.testing.assert_array_equal(widget.image, np.repeat(gray8[..., None], 3, -1))


def test_the_display_carries_a_still_of_the_canvas_for_pages_without_widgets(widget):
    import base64

    widget.draw_stroke([(10, 10), (30, 12)], radius=4)
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle            # JupyterLab still gets the widget
    still = np.asarray(Image.open(io.BytesIO(base64.b64decode(bundle["image/png"]))))
    assert still.shape == widget.image.shape
    hole = widget.mask == 0
    assert hole.any() and np.array_equal(still, widgets.render_mask_view(widget.image, widget.mask))
    assert np.array_equal(still[~hole], widget.image[~hole])                   # known pixels as they are
    assert (still[hole].astype(int) - widget.image[hole]).mean(0)[0] > 0     # the hole tinted red


def test_png_bytes_is_lossless_for_uint8_and_rounds_floats():
    """The widget's images are encoded with fast zlib settings: still PNG, still exact."""
    rgb = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    back = np.asarray(Image.open(io.BytesIO(widgets.png_bytes(rgb))))
    assert back.dtype == np.uint8 and np.array_equal(back, rgb)
    gray = np.array([[0.0, 0.5, 1.0], [-0.2, 0.25, 1.7]], np.float32)            # clipped, then rounded
    assert np.asarray(Image.open(io.BytesIO(widgets.png_bytes(gray)))).tolist() == [[0, 128, 255], [0, 64, 255]]
