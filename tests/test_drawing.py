"""The widget's drawing state (inpaintkit.drawing), driven headless: no ipywidgets, no canvas.

A stand-in inpainter fills the hole with the known pixels' mean colour (stage 2 paints the sketch's lines
black), so every expected pixel can be computed by hand and no trained weights are needed. The view
(ipywidgets + ipycanvas) on top of this state is tested in test_widgets.py and test_widget_browser.py.
"""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import binary_erosion

from inpaintkit import drawing
from inpaintkit.drawing import DrawingState, fit_image, scale_back, stroke_footprint


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


def photo(h=40, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def state():
    return DrawingState(MeanFill(), image=photo())


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


def test_importing_the_state_does_not_import_ipywidgets():
    code = ("import sys, inpaintkit.drawing, inpaintkit.images; "
            "bad = [m for m in ('ipywidgets', 'ipycanvas') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- the brush

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


# ---------------------------------------------------------------- drawing

def test_draw_stroke_makes_a_hole_and_eraser_gives_it_back(state):
    h, w = state.mask.shape
    assert state.mask.dtype == np.uint8 and state.mask.all()
    box = state.draw_stroke([(5, 20), (40, 20)], radius=4)
    expected = ~stroke_footprint((h, w), [(5, 20), (40, 20)], 4)
    np.testing.assert_array_equal(state.mask, expected.astype(np.uint8))
    rows, cols = np.nonzero(~expected)
    assert box == (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))   # what changed
    state.eraser = True
    state.draw_stroke([(20, 20)], radius=3)
    expected |= stroke_footprint((h, w), [(20, 20)], 3)
    np.testing.assert_array_equal(state.mask, expected.astype(np.uint8))


def test_brush_is_the_default_radius_and_each_mode_keeps_its_own(state):
    assert state.brush == drawing.BRUSH["mask"]
    state.brush = 6
    state.draw_stroke([(24, 20)])
    assert (state.mask == 0).sum() == stroke_footprint(state.mask.shape, [(24, 20)], 6).sum()
    state.run()
    state.eraser = True
    state.mode = "sketch"
    assert state.brush == drawing.BRUSH["sketch"] and state.eraser is False     # switching turns the eraser off
    state.brush = 3
    state.mode = "mask"
    assert state.brush == 6
    state.mode = "sketch"
    assert state.brush == 3


def test_undo_and_clear(state):
    state.draw_stroke([(5, 5), (20, 5)], radius=3)
    first = state.mask.copy()
    state.draw_stroke([(5, 30), (20, 30)], radius=3)
    assert state.undo()
    np.testing.assert_array_equal(state.mask, first)
    state.clear()
    assert state.mask.all()
    assert state.undo()                            # clear is undoable too
    np.testing.assert_array_equal(state.mask, first)
    assert state.undo()
    assert state.mask.all()
    assert state.undo() is False                   # empty stack: nothing happens


def test_a_drag_is_pieces_painted_after_one_undo_step(state):
    state.brush = 3
    state.push_undo()
    for piece in ([(5, 10)], [(5, 10), (15, 12)], [(15, 12), (30, 20)]):
        state.paint(piece)
    expected = stroke_footprint(state.mask.shape, [(5, 10), (15, 12), (30, 20)], 3)
    np.testing.assert_array_equal(state.mask == 0, expected)
    state.undo()
    assert state.mask.all()


def test_undo_depth_is_bounded(state):
    for i in range(drawing.UNDO_DEPTH + 5):
        state.draw_stroke([(i % 40, 5)], radius=1)
    assert sum(state.undo() for _ in range(drawing.UNDO_DEPTH + 5)) == drawing.UNDO_DEPTH


# ---------------------------------------------------------------- running

def test_run_without_hole_is_a_clear_error(state):
    with pytest.raises(ValueError, match="no hole"):
        state.run()
    with pytest.raises(ValueError, match="no hole"):
        state.check_run()
    assert state.inpainter.calls == []


def test_run_fills_the_hole_and_keeps_the_sketch(state):
    state.draw_stroke([(10, 20), (38, 20)], radius=5)
    res = state.run()
    image, mask = state.image.astype(np.float64), state.mask
    mean = np.round(image[mask == 1].mean(axis=0))
    np.testing.assert_array_equal(res.image[mask == 0], np.broadcast_to(mean, ((mask == 0).sum(), 3)))
    np.testing.assert_array_equal(res.image[mask == 1], state.image[mask == 1])
    assert state.result is res
    np.testing.assert_array_equal(state.sketch, np.where(mask == 1, 0.5, 0.0))
    np.testing.assert_array_equal(state.sketch_mask, mask)
    kind, _, mask_in = state.inpainter.calls[-1]
    assert kind == "both" and mask_in is not state.mask
    np.testing.assert_array_equal(mask_in, mask)


def test_sketch_mode_edits_inside_the_hole_and_reruns_stage2(state):
    with pytest.raises(ValueError, match="run both stages first"):
        state.mode = "sketch"
    assert state.mode == "mask"
    with pytest.raises(ValueError, match="mode must be 'mask' or 'sketch'"):
        state.mode = "paint"
    with pytest.raises(ValueError, match="Run both stages first"):
        state.complete()
    state.draw_stroke([(10, 20), (38, 20)], radius=6)
    state.run()
    hole = state.mask == 0
    state.mode = "sketch"
    line = [(24, 0), (24, 39)]                     # crosses the hole and the known part
    state.draw_stroke(line, radius=1)
    drawn = stroke_footprint(state.mask.shape, line, 1)
    np.testing.assert_array_equal(state.sketch == 1.0, drawn & hole)          # only inside the hole
    np.testing.assert_array_equal(state.sketch[~hole], 0.5)                   # known part untouched
    res = state.complete()
    kind, _, mask2, sketch2 = state.inpainter.calls[-1]
    assert kind == "stage2" and state.result is res
    np.testing.assert_array_equal(mask2, state.mask)
    np.testing.assert_array_equal(sketch2, state.sketch)
    assert (res.image[drawn & hole] == 0).all()                                # the user's line shows up
    assert not (res.image[hole & ~drawn] == 0).all()
    # eraser removes lines; clear goes back to stage 1's sketch; undo restores
    state.eraser = True
    state.draw_stroke([(24, 20)], radius=2)
    assert (state.sketch[stroke_footprint(state.mask.shape, [(24, 20)], 2) & hole] == 0).all()
    state.clear()
    np.testing.assert_array_equal(state.sketch, np.where(hole, 0.0, 0.5))
    state.undo()
    assert state.sketch[drawn & hole].sum() > 0


def test_changing_the_hole_invalidates_the_sketch(state):
    state.draw_stroke([(10, 20), (38, 20)], radius=5)
    state.run()
    state.draw_stroke([(5, 5)], radius=3)
    with pytest.raises(ValueError, match="hole changed"):
        state.complete()


def test_the_image_sketch_is_made_once_per_image_and_passed_to_every_run():
    inp = SketchingFill()
    s = DrawingState(inp, image=photo())
    s.draw_stroke([(5, 5), (20, 5)], 3)
    s.run()
    s.draw_stroke([(5, 30), (20, 30)], 3)
    s.run()
    assert inp.sketches == 1
    np.testing.assert_array_equal(inp.calls[0][3], inp.sketch(s.image))
    np.testing.assert_array_equal(inp.calls[1][3], inp.calls[0][3])
    s.set_image(photo(seed=1))                     # a new image needs a new sketch
    s.draw_stroke([(5, 5), (20, 5)], 3)
    s.run()
    assert inp.sketches == 3                        # (one of them was the assertion's own call above)
    np.testing.assert_array_equal(inp.calls[2][3], (s.image[..., 0] > 128).astype(np.float32))


# ---------------------------------------------------------------- images and sizes

def test_large_images_are_shrunk_and_the_result_scaled_back():
    big = photo(300, 600, seed=1)
    s = DrawingState(MeanFill(), image=big, max_side=64)
    assert s.image.shape == (32, 64, 3) and s.mask.shape == (32, 64) and s.shrunk
    np.testing.assert_array_equal(s.image, np.asarray(Image.fromarray(big).resize((64, 32), Image.LANCZOS)))
    assert s.full_result is None
    s.draw_stroke([(20, 16), (40, 16)], radius=4)
    s.run()
    full = s.full_result
    assert full.shape == big.shape and full.dtype == np.uint8
    hole_big = np.asarray(Image.fromarray((1 - s.mask) * 255).resize((600, 300), Image.NEAREST)) > 127
    np.testing.assert_array_equal(full[~hole_big], big[~hole_big])           # known pixels: full resolution
    inner = binary_erosion(s.mask == 0, structure=np.ones((5, 5)))            # away from LANCZOS' reach
    inner_big = np.asarray(Image.fromarray(inner.astype(np.uint8) * 255).resize((600, 300), Image.NEAREST)) > 127
    mean = s.result.image[s.mask == 0][0].astype(int)
    assert inner_big.sum() > 1000 and np.abs(full[inner_big].astype(int) - mean).max() <= 1   # the upscaled fill


def test_full_result_after_new_strokes_shows_them_as_hole_not_blurred():
    big = photo(300, 600, seed=2)
    s = DrawingState(MeanFill(), image=big, max_side=64)
    s.draw_stroke([(10, 10), (20, 10)], radius=3)
    s.run()
    ran = s.full_result.copy()
    assert not s.stale
    s.draw_stroke([(45, 22), (55, 22)], radius=3)                 # a new stroke on pixels that were known
    assert s.stale
    new_big = np.asarray(Image.fromarray(((s.mask == 0) & (s.result_mask == 1)).astype(np.uint8) * 255)
                         .resize((600, 300), Image.NEAREST)) > 127
    full = s.full_result
    assert new_big.sum() > 500
    assert (full[new_big] == drawing.HOLE_FILL).all()              # never filled: shown as hole, not the blurred copy
    np.testing.assert_array_equal(full[~new_big], ran[~new_big])   # everything else: the last result as it was
    s.undo()
    assert not s.stale and np.array_equal(s.full_result, ran)
    s.eraser = True                                                # giving the first hole back: the original there
    s.draw_stroke([(10, 10), (20, 10)], radius=4)
    old_big = np.asarray(Image.fromarray((s.result_mask == 0).astype(np.uint8) * 255)
                         .resize((600, 300), Image.NEAREST)) > 127
    np.testing.assert_array_equal(s.full_result[old_big], big[old_big])


def test_small_images_are_never_upscaled():
    small = photo(24, 40)
    assert fit_image(small, 256) is small
    s = DrawingState(MeanFill(), image=small)
    np.testing.assert_array_equal(s.image, small)
    assert not s.shrunk
    assert scale_back(small, np.ones((24, 40)), small) is small


def test_work_size_of_the_inpainter_is_the_default_max_side():
    inp = MeanFill()
    inp.work_size = 32
    assert DrawingState(inp, image=photo(64, 64)).image.shape == (32, 32, 3)
    inp.work_size = None
    assert DrawingState(inp, image=photo(64, 300)).max_side == drawing.MAX_SIDE


def test_set_image_resets_everything_and_refuses_without_changing_anything(state):
    state.draw_stroke([(10, 20), (38, 20)], radius=5)
    state.run()
    state.mode = "sketch"
    before = state.image.copy()
    with pytest.raises(ValueError, match="image is 8x8 px; give at least 16 px on each side"):
        state.set_image(photo(8, 8))
    with pytest.raises(ValueError, match="256x5, under 16 px on its short side"):
        state.set_image(photo(20, 1000))
    np.testing.assert_array_equal(state.image, before)
    assert state.mode == "sketch" and state.result is not None
    state.set_image(photo(30, 30, seed=2))
    assert state.mode == "mask" and state.result is None and state.sketch is None and state.mask.all()
    assert state.undo() is False


def test_examples_float_and_rgba_images():
    s = DrawingState(MeanFill(), image="chelsea")
    assert max(s.image.shape[:2]) == drawing.MAX_SIDE and s.original.shape == (300, 451, 3)
    f = photo(20, 30).astype(np.float32) / 255
    s.set_image(f)
    np.testing.assert_array_equal(s.image, np.round(f * 255).astype(np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        s.set_image(f * 2)
    rgba = np.concatenate([photo(20, 30), np.zeros((20, 30, 1), np.uint8)], -1)    # transparent: white
    s.set_image(rgba)
    assert (s.image == 255).all()
    with pytest.raises(ValueError, match="Unknown example"):
        drawing.example_image("lena")


def test_shipped_weights_run_at_the_size_they_record():
    """The state sizes its image from Inpainter.work_size, which from_pretrained reads from demo.json."""
    from inpaintkit.pipeline import Inpainter, WeightsInfo

    info = WeightsInfo.from_json()
    inp = Inpainter.from_pretrained(device="cpu")
    assert inp.work_size == (info.work_size or info.profile["image_size"])
    s = DrawingState(inp, image=photo(600, 900))
    assert max(s.image.shape[:2]) == inp.work_size
