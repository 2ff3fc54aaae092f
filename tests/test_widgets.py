"""The inpainting widget, driven through its programmatic API (no browser; see test_widget_browser.py).

A stand-in inpainter fills the hole with the known pixels' mean colour (stage 2 paints the sketch's lines
black), so every expected pixel can be computed by hand and no trained weights are needed.
"""

import io
import datetime
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_erosion

from inpaintkit import widgets
from inpaintkit.widgets import InpaintWidget, fit_image, scale_back, stroke_footprint


class MeanFill:
    """Both stages: hole <- mean colour of the known pixels; repaired sketch = 0 in the hole, 0.5 outside.
    Stage 2 alone: hole <- mean colour, except where the given sketch is >= 0.5 (black)."""

    def __init__(self):
        self.calls = []

    @staticmethod
    def _fill(image, mask, sketch):
        img = image.astype(np.float64)
        mean = img[mask == 1].mean(axis=0)
        out = np.where((mask == 0)[..., None], mean, img)
        out[(mask == 0) & (sketch >= 0.5)] = 0
        return np.round(out).astype(np.uint8)

    def __call__(self, image, mask):
        self.calls.append(("both", image.copy(), mask.copy()))
        sketch = np.where(mask == 1, 0.5, 0.0).astype(np.float32)
        return SimpleNamespace(image=self._fill(image, mask, sketch), sketch=sketch, seconds=0.01)

    def complete(self, image, sketch, mask):
        self.calls.append(("stage2", image.copy(), mask.copy(), sketch.copy()))
        return SimpleNamespace(image=self._fill(image, mask, sketch), sketch=sketch, seconds=0.005)


def photo(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def widget():
    return InpaintWidget(MeanFill(), image=photo())


def seg_distance(h, w, points):
    """Naive reference: distance of every pixel centre (x = col, y = row) to the polyline through points."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    best = np.full((h, w), np.inf)
    pts = np.asarray(points, np.float64)
    for a, b in zip(pts, pts[1:] if len(pts) > 1 else pts):
        d = b - a
        L2 = d @ d
        t = 0.0 if L2 == 0 else np.clip(((xx - a[0]) * d[0] + (yy - a[1]) * d[1]) / L2, 0, 1)
        best = np.minimum(best, np.hypot(xx - (a[0] + t * d[0]), yy - (a[1] + t * d[1])))
    return best


@pytest.mark.parametrize("points, radius", [
    ([(10, 20), (40, 25), (30, 5)], 4.0),
    ([(25, 15)], 6.0),
    ([(3, 3), (60, 44)], 2.5),          # runs off the image: clipped
])
def test_stroke_footprint_is_a_round_brush(points, radius):
    h, w = 40, 50
    foot = stroke_footprint((h, w), points, radius)
    dist = seg_distance(h, w, points)
    assert foot[dist <= radius - 0.75].all()        # everything well inside the capsule is painted
    assert not foot[dist >= radius + 0.75].any()    # nothing well outside it
    assert foot.dtype == bool and foot.shape == (h, w)


def test_stroke_footprint_area_matches_capsule():
    foot = stroke_footprint((200, 200), [(50, 100), (150, 100)], 10)
    naive = seg_distance(200, 200, [(50, 100), (150, 100)]) <= 10      # pixel centres within the radius
    expected = np.pi * 10 ** 2 + 2 * 10 * 100                             # two half-disks + a 100 x 20 rectangle
    assert abs(naive.sum() - expected) / expected < 0.05                  # the reference is a capsule
    assert (foot ^ naive).sum() / naive.sum() < 0.01                      # and we paint the same pixels


@pytest.mark.parametrize("points, radius, match", [
    ([], 3, "non-empty"), ([(1, 2, 3)], 3, r"\(x, y\)"), ([(1, np.nan)], 3, "finite"), ([(1, 2)], 0, "radius"),
])
def test_stroke_footprint_rejects_bad_input(points, radius, match):
    with pytest.raises(ValueError, match=match):
        stroke_footprint((10, 10), points, radius)


def test_draw_stroke_makes_a_hole_and_eraser_gives_it_back(widget):
    h, w = widget.mask.shape
    assert widget.mask.dtype == np.uint8 and widget.mask.all()
    widget.draw_stroke([(5, 20), (40, 20)], radius=4)
    expected = ~stroke_footprint((h, w), [(5, 20), (40, 20)], 4)
    np.testing.assert_array_equal(widget.mask, expected.astype(np.uint8))
    widget.eraser = True
    widget.draw_stroke([(20, 20)], radius=3)
    expected |= stroke_footprint((h, w), [(20, 20)], 3)
    np.testing.assert_array_equal(widget.mask, expected.astype(np.uint8))


def test_brush_slider_is_the_default_radius(widget):
    widget.brush = 6
    widget.draw_stroke([(24, 20)])
    assert (widget.mask == 0).sum() == stroke_footprint(widget.mask.shape, [(24, 20)], 6).sum()


def test_undo_and_clear(widget):
    widget.draw_stroke([(5, 5), (20, 5)], radius=3)
    first = widget.mask.copy()
    widget.draw_stroke([(5, 30), (20, 30)], radius=3)
    widget.undo()
    np.testing.assert_array_equal(widget.mask, first)
    widget.clear()
    assert widget.mask.all()
    widget.undo()                                  # clear is undoable too
    np.testing.assert_array_equal(widget.mask, first)
    widget.undo()
    assert widget.mask.all()
    widget.undo()                                  # empty stack: a message, no error
    assert "Nothing to undo" in widget.status.value


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


def test_run_without_hole_is_a_clear_error(widget):
    with pytest.raises(ValueError, match="no hole"):
        widget.run()
    widget.run_button.click()                     # the button shows it in the widget instead
    assert "no hole" in widget.status.value and "#b00020" in widget.status.value


def test_run_shows_masked_input_sketch_and_result(widget):
    widget.draw_stroke([(10, 20), (38, 20)], radius=5)
    res = widget.run()
    image, mask = widget.image.astype(np.float64), widget.mask
    mean = np.round(image[mask == 1].mean(axis=0))
    np.testing.assert_array_equal(res.image[mask == 0], np.broadcast_to(mean, ((mask == 0).sum(), 3)))
    np.testing.assert_array_equal(res.image[mask == 1], widget.image[mask == 1])
    shown = np.asarray(Image.open(io.BytesIO(widget.outputs["result"].value)))
    np.testing.assert_array_equal(shown, res.image)
    masked = np.asarray(Image.open(io.BytesIO(widget.outputs["masked input"].value)))
    assert (masked[mask == 0] == 255).all() and (masked[mask == 1] == widget.image[mask == 1]).all()
    sketch = np.asarray(Image.open(io.BytesIO(widget.outputs["repaired sketch"].value)))
    np.testing.assert_array_equal(sketch, np.where(mask == 1, 128, 0))       # round(0.5 * 255) = 128
    n = int((mask == 0).sum())
    assert f"{n} hole px" in widget.status.value and "0.01 s" in widget.status.value


def test_sketch_mode_edits_inside_the_hole_and_reruns_stage2(widget):
    with pytest.raises(ValueError, match="run both stages first"):
        widget.mode = "sketch"
    widget.mode_buttons.value = "sketch"          # the toggle reverts, with a message
    assert widget.mode == "mask" and "run both stages first" in widget.status.value
    widget.draw_stroke([(10, 20), (38, 20)], radius=6)
    widget.run()
    hole = widget.mask == 0
    widget.mode = "sketch"
    assert widget.brush == widgets.BRUSH["sketch"]
    line = [(24, 0), (24, 39)]                     # crosses the hole and the known part
    widget.draw_stroke(line, radius=1)
    drawn = stroke_footprint(widget.mask.shape, line, 1)
    np.testing.assert_array_equal(widget.sketch == 1.0, drawn & hole)          # only inside the hole
    np.testing.assert_array_equal(widget.sketch[~hole], 0.5)                   # known part untouched
    res = widget.complete()
    kind, _, mask2, sketch2 = widget.inpainter.calls[-1]
    assert kind == "stage2"
    np.testing.assert_array_equal(mask2, widget.mask)
    np.testing.assert_array_equal(sketch2, widget.sketch)
    assert (res.image[drawn & hole] == 0).all()                                # the user's line shows up
    assert not (res.image[hole & ~drawn] == 0).all()
    # eraser removes lines; clear goes back to stage 1's sketch; undo restores
    widget.eraser = True
    widget.draw_stroke([(24, 20)], radius=2)
    assert (widget.sketch[stroke_footprint(widget.mask.shape, [(24, 20)], 2) & hole] == 0).all()
    widget.clear()
    np.testing.assert_array_equal(widget.sketch, np.where(hole, 0.0, 0.5))
    widget.undo()
    assert widget.sketch[drawn & hole].sum() > 0
    # back in mask mode the brush is the mask brush again
    widget.mode = "mask"
    assert widget.brush == widgets.BRUSH["mask"]


def test_changing_the_hole_invalidates_the_sketch(widget):
    widget.draw_stroke([(10, 20), (38, 20)], radius=5)
    widget.run()
    widget.draw_stroke([(5, 5)], radius=3)
    with pytest.raises(ValueError, match="hole changed"):
        widget.complete()


def test_large_images_are_shrunk_and_the_result_scaled_back():
    big = photo(300, 600, seed=1)
    w = InpaintWidget(MeanFill(), image=big, max_side=64)
    assert w.image.shape == (32, 64, 3) and w.mask.shape == (32, 64)
    np.testing.assert_array_equal(w.image, np.asarray(Image.fromarray(big).resize((64, 32), Image.LANCZOS)))
    assert "shrunk from 600x300" in w.status.value
    w.draw_stroke([(20, 16), (40, 16)], radius=4)
    w.run()
    full = w.full_result
    assert full.shape == big.shape and full.dtype == np.uint8
    hole_big = np.asarray(Image.fromarray((1 - w.mask) * 255).resize((600, 300), Image.NEAREST)) > 127
    np.testing.assert_array_equal(full[~hole_big], big[~hole_big])           # known pixels: full resolution
    inner = binary_erosion(w.mask == 0, structure=np.ones((5, 5)))            # away from LANCZOS' reach
    inner_big = np.asarray(Image.fromarray(inner.astype(np.uint8) * 255).resize((600, 300), Image.NEAREST)) > 127
    mean = w.result.image[w.mask == 0][0].astype(int)
    assert inner_big.sum() > 1000 and np.abs(full[inner_big].astype(int) - mean).max() <= 1   # the upscaled fill


def test_small_images_are_never_upscaled():
    small = photo(24, 40)
    assert fit_image(small, 256) is small
    w = InpaintWidget(MeanFill(), image=small)
    np.testing.assert_array_equal(w.image, small)
    assert scale_back(small, np.ones((24, 40)), small) is small


def test_work_size_of_the_inpainter_is_the_default_max_side():
    inp = MeanFill()
    inp.work_size = 32
    assert InpaintWidget(inp, image=photo(64, 64)).image.shape == (32, 32, 3)
    inp.work_size = None
    assert InpaintWidget(inp, image=photo(64, 300)).max_side == widgets.MAX_SIDE


def test_upload_of_an_image(widget):
    img = photo(50, 70, seed=3)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    assert widget.load_bytes(buf.getvalue(), "mine.png")
    np.testing.assert_array_equal(widget.image, img)
    assert widget.mask.shape == (50, 70) and widget.result is None


def test_upload_of_a_non_image_is_a_message_not_a_traceback(widget):
    before = widget.image.copy()
    assert widget.load_bytes(b"%PDF-1.4 definitely not a photo", "notes.pdf") is False
    assert "notes.pdf" in widget.status.value and "cannot be read as an image" in widget.status.value
    assert "/tmp" not in widget.status.value
    np.testing.assert_array_equal(widget.image, before)
    # through the FileUpload widget itself, as the browser would send it
    widget.upload.value = ({"name": "notes.txt", "type": "text/plain", "size": 3,
                            "content": memoryview(b"abc"), "last_modified": datetime.datetime.now(datetime.timezone.utc)},)
    assert "notes.txt" in widget.status.value and "#b00020" in widget.status.value


def test_tiny_upload_is_a_message(widget):
    buf = io.BytesIO()
    Image.fromarray(photo(8, 8)).save(buf, format="PNG")
    assert not widget.load_bytes(buf.getvalue(), "tiny.png")
    assert "at least 16 px" in widget.status.value


def test_huge_and_strip_uploads_are_a_message_naming_the_limit(widget):
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    def header_only_png(w, h):          # what a decompression bomb's header says, in a few hundred bytes
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))

    before = widget.image.copy()
    assert not widget.load_bytes(header_only_png(20000, 10000), "bomb.png")        # 200 Mpx: Pillow's guard
    assert "bomb.png" in widget.status.value and "decompression-bomb guard" in widget.status.value
    assert not widget.load_bytes(header_only_png(10000, 10000), "big.png")          # 100 Mpx: ours
    assert "over the limit of 50,000,000 px" in widget.status.value
    buf = io.BytesIO()
    Image.fromarray(photo(20, 5000)).save(buf, format="PNG")                        # 5000 x 20: was 256 x 1
    assert not widget.load_bytes(buf.getvalue(), "strip.png")
    assert "aspect ratio of 250:1; the limit is 64:1" in widget.status.value
    buf = io.BytesIO()
    Image.fromarray(photo(20, 1000)).save(buf, format="PNG")                        # 50:1, working 256 x 5
    assert not widget.load_bytes(buf.getvalue(), "wide.png")
    assert "256x5, under 16 px on its short side" in widget.status.value
    np.testing.assert_array_equal(widget.image, before)


def test_examples_and_float_images():
    w = InpaintWidget(MeanFill(), image="chelsea")
    assert max(w.image.shape[:2]) == widgets.MAX_SIDE and w.original.shape == (300, 451, 3)
    w.examples.value = "rocket"
    assert w.original.shape == (427, 640, 3)
    f = photo(20, 30).astype(np.float32) / 255
    w.set_image(f)
    np.testing.assert_array_equal(w.image, np.round(f * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        w.set_image(f * 2)
    with pytest.raises(ValueError, match="Unknown example"):
        widgets.example_image("lena")


def test_canvas_view_shows_the_hole():
    img = np.full((20, 20, 3), 100, np.uint8)
    mask = np.ones((20, 20), np.uint8)
    mask[5:10, 5:10] = 0
    view = widgets.render_mask_view(img, mask)
    np.testing.assert_array_equal(view[0, 0], [100, 100, 100])
    np.testing.assert_array_equal(view[7, 7], [177, 70, 70])      # (100 + 255) / 2, (100 + 40) / 2


class SketchingFill(MeanFill):
    """A stand-in that, like the real Inpainter, can make the full image's sketch and accept it back."""

    def __init__(self):
        super().__init__()
        self.sketches = 0

    def sketch(self, image):
        self.sketches += 1
        return (image[..., 0] > 128).astype(np.float32)

    def __call__(self, image, mask, sketch=None):
        self.calls.append(("both", image.copy(), mask.copy(), None if sketch is None else sketch.copy()))
        return SimpleNamespace(image=self._fill(image, mask, sketch), sketch=sketch * (mask == 1), seconds=0.01)


def test_the_image_sketch_is_made_once_per_image_and_passed_to_every_run():
    inp = SketchingFill()
    w = InpaintWidget(inp, image=photo())
    w.draw_stroke([(5, 5), (20, 5)], 3)
    w.run()
    w.draw_stroke([(5, 30), (20, 30)], 3)
    w.run()
    assert inp.sketches == 1
    np.testing.assert_array_equal(inp.calls[0][3], inp.sketch(w.image))
    np.testing.assert_array_equal(inp.calls[1][3], inp.calls[0][3])
    w.set_image(photo(seed=1))                     # a new image needs a new sketch
    w.draw_stroke([(5, 5), (20, 5)], 3)
    w.run()
    assert inp.sketches == 3                        # (one of them was the assertion's own call above)
    np.testing.assert_array_equal(inp.calls[2][3], (w.image[..., 0] > 128).astype(np.float32))


def test_shipped_weights_run_at_the_size_they_record():
    """The widget sizes its image from Inpainter.work_size, which from_pretrained reads from demo.json."""
    from inpaintkit.pipeline import Inpainter, WeightsInfo

    info = WeightsInfo.from_json()
    inp = Inpainter.from_pretrained(device="cpu")
    assert inp.work_size == (info.work_size or info.profile["image_size"])
    w = InpaintWidget(inp, image=photo(600, 900))
    assert max(w.image.shape[:2]) == inp.work_size
