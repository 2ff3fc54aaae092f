"""The fill Gi starts from (inpaintkit.fill): exact against a naive solve, lines as barriers, gradients."""

import multiprocessing

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.linalg
import torch

from inpaintkit import fill
from inpaintkit.fill import EPS, HarmonicFill, fill_conductance, neighbour_sum, pull_push, smooth_fill


def _naive_fill(img: np.ndarray, known: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Each hole pixel the conductance-weighted mean of its in-image 4 neighbours (``c`` of the neighbour), built
    one pixel at a time and solved with scipy's generic sparse solver (no tie: every hole region here reaches a
    known pixel through conducting pixels)."""
    h, w = known.shape
    hole = np.argwhere(~known)
    index = -np.ones((h, w), int)
    index[~known] = np.arange(len(hole))
    a, b = scipy.sparse.lil_matrix((len(hole), len(hole))), np.zeros(len(hole))
    for k, (y, x) in enumerate(hole):
        for yy, xx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
            if 0 <= yy < h and 0 <= xx < w:
                a[k, k] += c[yy, xx]
                if known[yy, xx]:
                    b[k] += c[yy, xx] * img[yy, xx]
                else:
                    a[k, index[yy, xx]] -= c[yy, xx]
    out = img.copy()
    out[~known] = scipy.sparse.linalg.spsolve(a.tocsr(), b)
    return out


def _smooth_image(h=64, w=64):
    yy, xx = np.mgrid[0:h, 0:w] / 63
    return 0.5 + 0.3 * np.sin(3 * xx) * np.cos(2 * yy) + 0.2 * xx


def test_the_fill_is_the_exact_solution_of_the_naive_system():
    """A 44 x 42 hole reaching the image's edge, with and without a soft sketch: the same numbers as the system
    built pixel by pixel (the coarse-to-fine Jacobi fill this replaced was 0.0026 off without a sketch)."""
    img = _smooth_image()
    known = np.ones((64, 64), bool)
    known[10:54, 22:64] = False
    rng = np.random.default_rng(0)
    soft = np.clip(rng.random((64, 64)) * 1.6 - 0.8, 0, 0.9)                  # soft lines, never a full wall
    x, m = torch.from_numpy(img)[None, None], torch.from_numpy(known).double()[None, None]
    for sketch, known_conducts in ((None, True), (soft, True), (soft, False)):
        c = np.ones((64, 64)) if sketch is None else 1 - sketch
        if known_conducts:                                                     # the default: known pixels pass on
            c = np.where(known, 1.0, c)
        ref = _naive_fill(img, known, c)
        s = None if sketch is None else torch.from_numpy(sketch)[None, None]
        out = smooth_fill(x, m, s, known_conducts=known_conducts)[0, 0].numpy()
        assert np.abs(out - ref).max() < 1e-4                                  # the tie (EPS) moves it < 1e-4
        assert np.array_equal(out[known], img[known])


@pytest.mark.parametrize("holes", ["one red pixel", "one black pixel", "corners", "checkerboard", "a wiggle"])
def test_the_red_black_reduction_matches_the_naive_system_on_odd_holes(holes):
    """The solve eliminates the hole's "red" pixels (y + x even) and factorises what is left over the "black" ones:
    holes with no black pixel, no red one, pixels on the image's corners and edges, pixels with no hole neighbour
    and a hole winding along both diagonals give the naive system's numbers, with a soft sketch."""
    h, w = 9, 11
    known = np.ones((h, w), bool)
    if holes == "one red pixel":
        known[4, 6] = False
    elif holes == "one black pixel":
        known[4, 5] = False
    elif holes == "corners":
        known[0, 0] = known[0, w - 1] = known[h - 1, 0] = known[h - 1, w - 1] = known[0, 1] = False
    elif holes == "checkerboard":                                              # no two hole pixels touch
        known[np.add.outer(np.arange(h), np.arange(w)) % 2 == 1] = False
    else:
        for k in range(8):
            known[k, k:k + 3] = False
            known[h - 1 - k, 2 + k] = False
    rng = np.random.default_rng(1)
    img, sketch = rng.random((h, w)), np.clip(rng.random((h, w)) - 0.3, 0, 0.95)
    c = np.where(known, 1.0, 1 - sketch)
    out = smooth_fill(torch.from_numpy(img)[None, None], torch.from_numpy(known).double()[None, None],
                      torch.from_numpy(sketch)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(out, _naive_fill(img, known, c), atol=1e-5)


def test_the_fill_keeps_known_pixels_stays_in_range_and_fills_a_ramp():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 40, 56)
    m = torch.ones(2, 1, 40, 56)
    m[0, :, 5:30, 10:50] = 0                                                   # one big hole
    m[1, :, ::3, :] = 0                                                        # thin stripes
    out = smooth_fill(x, m)
    assert torch.equal(out * m, x * m)
    lo, hi = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
    assert ((out >= lo - 1e-5) & (out <= hi + 1e-5)).all()                     # averages only: no overshoot
    flat = torch.full_like(x, 0.3)
    torch.testing.assert_close(smooth_fill(flat, m), flat)
    assert torch.equal(smooth_fill(x, torch.ones_like(m)), x)                 # nothing to fill
    ramp = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64)
    hole = torch.ones(1, 1, 64, 64)
    hole[..., 24:40, 24:40] = 0
    assert (smooth_fill(ramp, hole) - ramp).abs().max() < 1e-4                # a ramp is harmonic: exact


def test_lines_are_barriers():
    """Two flat regions, 0.2 left and 0.8 right, a vertical outline between them and a hole across it: with
    the outline each side fills with its own value; without it the two blend across."""
    x = torch.full((1, 3, 32, 32), 0.2)
    x[..., 16:] = 0.8
    sketch = torch.zeros(1, 1, 32, 32)
    sketch[..., 16] = 1.0
    m = torch.ones(1, 1, 32, 32)
    m[..., 8:24, 6:26] = 0
    guided, plain = smooth_fill(x, m, sketch), smooth_fill(x, m)
    left, right = (..., slice(8, 24), slice(6, 16)), (..., slice(8, 24), slice(17, 26))
    assert (guided[left] - 0.2).abs().max() < 1e-4 and (guided[right] - 0.8).abs().max() < 1e-4
    assert (plain[left] - 0.2).abs().max() > 0.1                                # blended across the edge


def test_a_region_closed_off_by_lines_takes_the_estimates_mean():
    """A closed square outline inside the hole: no known colour reaches its inside, so the tie decides it: the
    inside is flat at the mean of the pull-push estimate there."""
    torch.manual_seed(1)
    x = torch.rand(1, 3, 32, 32)
    m = torch.ones(1, 1, 32, 32)
    m[..., 4:28, 4:28] = 0
    sketch = torch.zeros(1, 1, 32, 32)
    sketch[..., 10, 10:21] = sketch[..., 20, 10:21] = sketch[..., 10:21, 10] = sketch[..., 10:21, 20] = 1
    out = smooth_fill(x, m, sketch)
    inside = out[..., 11:20, 11:20]
    prior = pull_push(x, m, fill_conductance(m, sketch))[..., 11:20, 11:20]
    torch.testing.assert_close(inside, prior.mean(dim=(2, 3), keepdim=True).expand_as(inside), atol=1e-4, rtol=0)


def test_known_conducts_lets_border_lines_pass_colour():
    """A line along the hole's left border (known pixels): with ``known_conducts=False`` it walls that side off, so
    the hole takes the right side's colour; by default (known pixels conduct) the border line no longer blocks and
    both sides blend."""
    x = torch.full((1, 1, 16, 16), 0.0)
    x[..., 8:] = 1.0
    m = torch.ones(1, 1, 16, 16)
    m[..., :, 5:11] = 0                                                        # a vertical band, edge to edge
    sketch = torch.zeros(1, 1, 16, 16)
    sketch[..., :, 4] = 1                                                      # the known column left of it
    walled, open_ = smooth_fill(x, m, sketch, known_conducts=False), smooth_fill(x, m, sketch)
    assert walled[..., 5:11].min() > 0.999                                     # only the right side reaches in
    torch.testing.assert_close(open_, smooth_fill(x, m))                       # the same as no sketch at all


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 9, 10, dtype=torch.double, requires_grad=True)
    m = torch.ones(2, 1, 9, 10, dtype=torch.double)
    m[:, :, 2:7, 3:8] = 0
    m[1, :, 0:3, 0:2] = 0                                                      # a second hole in a corner
    c = (0.2 + 0.8 * torch.rand(2, 1, 9, 10, dtype=torch.double)).requires_grad_()
    prior = torch.rand(2, 3, 9, 10, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b, p: HarmonicFill.apply(a, m, b, p), (img, c, prior),
                                    eps=1e-6, atol=1e-6)


def test_the_sketch_gets_a_gradient_that_lowers_the_fill_error():
    """The 0.2 | 0.8 image with a faint outline guess: one step along the fill's gradient darkens the line
    where the true edge is (there it separates the two colours) and the fill's error falls."""
    x = torch.full((1, 3, 32, 32), 0.2)
    x[..., 16:] = 0.8
    m = torch.ones(1, 1, 32, 32)
    m[..., 8:24, 6:26] = 0
    sketch = torch.full((1, 1, 32, 32), 0.3, requires_grad=True)
    err = ((smooth_fill(x, m, sketch) - x).abs() * (1 - m)).mean()
    err.backward()
    g = sketch.grad[0, 0, 8:24]
    assert g[:, 15:17].mean() < 0 and g[:, 15:17].mean() < g[:, 8:12].mean()   # draw the line at the edge
    with torch.no_grad():
        stepped = (sketch - 50 * sketch.grad).clamp(0, 1)
    assert ((smooth_fill(x, m, stepped) - x).abs() * (1 - m)).mean() < err


def test_neighbour_sum_is_the_four_neighbour_sum():
    t = torch.arange(12.0).view(1, 1, 3, 4)
    expected = torch.tensor([[[[1 + 4, 0 + 2 + 5, 1 + 3 + 6, 2 + 7],
                               [0 + 8 + 5, 1 + 9 + 4 + 6, 2 + 10 + 5 + 7, 3 + 11 + 6],
                               [4 + 9, 5 + 8 + 10, 6 + 9 + 11, 7 + 10]]]]).float()
    torch.testing.assert_close(neighbour_sum(t), expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_dtype_and_device_follow_the_input(dtype):
    """Half precision (a GPU's autocast) is filled in float32 and handed back in its own dtype: it was NaN in
    float16 and a numpy TypeError in bfloat16."""
    x, m = torch.rand(1, 3, 16, 16, dtype=dtype), torch.ones(1, 1, 16, 16, dtype=dtype)
    m[..., 4:12, 4:12] = 0
    out = smooth_fill(x, m)
    assert out.dtype == dtype and out.shape == x.shape and EPS < 1e-5
    exact = smooth_fill(x.double(), m.double())
    assert (out.double() - exact).abs().max() < (1e-6 if dtype.itemsize >= 4 else 1e-2)


def _fill_sum(seed: int, threads: int | None = None) -> float:
    if threads:                                                                # as a DataLoader worker does: torch's
        torch.set_num_threads(threads)                                         # OpenMP threads do not survive a fork
    g = torch.Generator().manual_seed(seed)
    x, m = torch.rand(1, 3, 24, 24, generator=g), torch.ones(1, 1, 24, 24)
    m[..., 4:20, 6:18] = 0
    return float(smooth_fill(x, m).sum())


def test_a_batch_is_filled_image_by_image_and_a_forked_child_can_fill():
    """The factorisations run in worker threads: a batch (one image without a hole) gives each image's own fill,
    and a process forked after the threads started (a DataLoader worker) starts its own instead of waiting forever
    for its parent's."""
    torch.manual_seed(3)
    x, m = torch.rand(3, 3, 30, 34), torch.ones(3, 1, 30, 34)
    m[0, :, 5:25, 5:20] = 0
    m[2, :, 10:30, 14:34] = 0                                                  # image 1 has no hole
    sketch = (torch.rand(3, 1, 30, 34) > 0.8).float()
    batch = smooth_fill(x, m, sketch)
    for i in range(3):
        torch.testing.assert_close(batch[i:i + 1], smooth_fill(x[i:i + 1], m[i:i + 1], sketch[i:i + 1]))
    assert torch.equal(batch[1], x[1])
    here = _fill_sum(0)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply_async(_fill_sum, (0, 1)).get(timeout=60) == pytest.approx(here, abs=1e-6)


class _CountingQdldl:
    """Stands in for the qdldl module inside inpaintkit.fill: real solvers, counted as they are built."""

    def __init__(self):
        import qdldl

        self.real, self.built = qdldl, 0

    def Solver(self, *args, **kwargs):                                          # noqa: N802 (qdldl's name)
        self.built += 1
        return self.real.Solver(*args, **kwargs)


def _hole_and_sketches(seed=5):
    g = torch.Generator().manual_seed(seed)
    x, m = torch.rand(1, 3, 40, 36, generator=g, dtype=torch.float64), torch.ones(1, 1, 40, 36, dtype=torch.float64)
    m[..., 6:30, 4:22] = 0
    m[..., 20:38, 18:33] = 0
    return x, m, [(torch.rand(1, 1, 40, 36, generator=g, dtype=torch.float64) > q).double() for q in (0.9, 0.7)]


def test_a_hole_filled_again_reuses_its_analysis_and_gives_the_same_fill(monkeypatch):
    """Without a gradient, a fill keeps its factorisation for the next fill of the same hole, which then pays only
    the numeric factorisation (a new sketch changes S's values, not its pattern): the same numbers as a fill from
    scratch, and one factorisation built, not three."""
    spy = _CountingQdldl()
    monkeypatch.setattr(fill, "qdldl", spy)
    fill.forget_factorisations()
    x, m, (s1, s2) = _hole_and_sketches()
    with torch.no_grad():
        first, again, other = smooth_fill(x, m, s1), smooth_fill(x, m, s2), smooth_fill(x, m, s1)
    assert spy.built == 1
    fill.forget_factorisations()
    with torch.no_grad():
        fresh = smooth_fill(x, m, s2)
    assert spy.built == 2
    assert torch.equal(again, fresh) and torch.equal(other, first)
    assert (again - first).abs().max() > 0.05                                   # the sketches do differ
    m2 = m.clone()
    m2[..., 0, 0] = 0                                                           # one more hole pixel: a new analysis
    with torch.no_grad():
        smooth_fill(x, m2, s1)
    assert spy.built == 3


def test_a_fill_a_gradient_will_come_back_to_keeps_its_own_factors(monkeypatch):
    """A fill with a gradient lends nothing out: another fill of the same hole in between (say, the evaluation's
    no-grad pass) must not overwrite the factors its backward pass solves with."""
    spy = _CountingQdldl()
    monkeypatch.setattr(fill, "qdldl", spy)
    fill.forget_factorisations()
    x, m, (s1, s2) = _hole_and_sketches(seed=6)

    def grad_of_fill(between: bool):
        s = s1.clone().requires_grad_(True)
        out = smooth_fill(x, m, s)
        if between:
            with torch.no_grad():
                smooth_fill(x, m, s2)
                smooth_fill(x, m, s2)                                           # this one reuses the one above
        (out * torch.linspace(0, 1, 36, dtype=torch.float64)).sum().backward()
        return s.grad

    torch.testing.assert_close(grad_of_fill(between=True), grad_of_fill(between=False), rtol=0, atol=0)
    # built: the first grad fill's, the no-grad one's (reused by the next no-grad fill, then taken, for good, by the
    # second grad fill): a fill with a gradient may borrow an idle factorisation, it only never lends its own
    assert spy.built == 2 and len(fill._idle()[1]) == 0


def test_the_kept_factorisations_are_bounded(monkeypatch):
    monkeypatch.setattr(fill, "KEEP_FACTORISATIONS", 2)
    fill.forget_factorisations()
    x = torch.rand(1, 1, 12, 12)
    for k in range(4):
        m = torch.ones(1, 1, 12, 12)
        m[..., 2:8, k:k + 5] = 0
        with torch.no_grad():
            smooth_fill(x, m)
    assert len(fill._idle()[1]) == 2
    fill.forget_factorisations()
    assert len(fill._idle()[1]) == 0


def test_the_fill_benchmark_times_a_batch_with_its_backward(capsys):
    """benchmarks/bench_fill.py --time-only: 6 holes x 5 timed calls, the line the README's figures come from."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "_bench_fill", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fill.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert len(bench.time_fill(16, holes=2, repeats=3, batch=2, backward=True)) == 6
    assert bench.main(["--time-only", "--size", "24", "--batch", "2", "--backward"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("smooth_fill + backward of a batch of 2 images at 24 px") and "(quartiles " in line
    assert line.endswith(", 30 calls)")
    assert bench.main(["--time-only", "--size", "24", "--same-hole"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("smooth_fill of one image at 24 px, a new sketch in the hole filled before")
    with pytest.raises(SystemExit):                                             # a grad fill lends nothing out
        bench.main(["--time-only", "--same-hole", "--backward"])
