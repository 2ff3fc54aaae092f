"""Sketches: spec keys, binarisation, Canny, the on-disk cache and whole-data-set extraction.

HED runs with random weights here (``HED().eval()``): these tests are about the plumbing; the real weights
are tested in test_hed.py.
"""

import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data, feature, morphology
from skimage.color import rgb2gray

from inpaintkit.hed import HED, HED_WEIGHTS_SHA256
from inpaintkit.sketches import (
    SketchCache,
    SketchSpec,
    binarize,
    cache_counts,
    canny_sketch,
    count_sketches,
    extract_sketches,
    hed_sketch,
    sketch_image,
)


def load_png(path, size):
    """A plain local loader (the data module's load_image is not needed here); module-level for workers."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((size, size)), dtype=np.float32) / 255.0


@pytest.fixture(scope="module")
def rand_hed():
    torch.manual_seed(0)
    net = HED().eval().requires_grad_(False)
    with torch.no_grad():  # random side weights, and a fusion bias that centres the map at 0.5
        for s in net.sides:
            torch.nn.init.normal_(s.weight, std=0.2)
        x = torch.cat([torch.rand(1, 3, 32, 32), torch.from_numpy(data.coffee()[:32, :32] / 255.0).float()
                       .permute(2, 0, 1)[None]])
        net.fuse.bias -= torch.logit(net(x)).median()
    return net


@pytest.fixture
def images(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    paths = []
    for name in ("astronaut", "chelsea", "coffee"):
        p = d / f"{name}.png"
        Image.fromarray(getattr(data, name)()[:96, :96]).save(p)
        paths.append(p)
    return paths


# ---------------------------------------------------------------- spec and key


def test_spec_validation():
    with pytest.raises(ValueError, match="sobel"):
        SketchSpec(method="sobel")
    with pytest.raises(ValueError, match="threshold"):
        SketchSpec(threshold=1.5)
    with pytest.raises(ValueError, match="threshold"):
        SketchSpec(threshold=None, thin=True)


def test_key_changes_with_every_parameter_and_the_weights():
    base = SketchSpec()
    assert base.key() == SketchSpec().key() == base.key(HED_WEIGHTS_SHA256)
    variants = [replace(base, threshold=0.6), replace(base, threshold=None), replace(base, thin=True),
                replace(base, canny_sigma=3.0), replace(base, method="canny")]
    keys = {base.key()} | {v.key() for v in variants} | {base.key("0" * 64)}
    assert len(keys) == len(variants) + 2
    canny = SketchSpec(method="canny")
    assert canny.key() == canny.key("0" * 64)  # Canny has no weights
    assert canny.key() != replace(canny, canny_sigma=1.0).key()


# ---------------------------------------------------------------- binarisation and Canny


def test_binarize_numpy_and_torch_agree_with_the_rule():
    p = np.array([[0.1, 0.5, 0.49], [0.9, 0.0, 1.0]], np.float32)
    expected = np.array([[0, 1, 0], [1, 0, 1]], np.float32)
    out = binarize(p, 0.5)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)
    t = binarize(torch.from_numpy(p)[None, None], 0.5)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(t[0, 0].numpy(), expected)


def test_binarize_thin_is_skimage_thin():
    blob = np.zeros((20, 30), np.float32)
    blob[5:12, 3:27] = 0.9  # a thick bar
    out = binarize(blob, 0.5, thin=True)
    np.testing.assert_array_equal(out, morphology.thin(blob >= 0.5).astype(np.float32))
    assert 0 < out.sum() < (blob >= 0.5).sum() / 4
    t = binarize(torch.from_numpy(np.stack([blob, blob]))[:, None], 0.5, thin=True)  # (2, 1, H, W)
    np.testing.assert_array_equal(t[1, 0].numpy(), out)


def test_canny_matches_skimage():
    rgb = data.astronaut()[:80, :80] / 255.0
    expected = feature.canny(rgb2gray(rgb), sigma=2.0)
    out = canny_sketch(rgb)
    assert out.dtype == np.float32 and out.shape == (80, 80)
    np.testing.assert_array_equal(out, expected.astype(np.float32))
    assert 0 < out.mean() < 0.3
    spec = SketchSpec(method="canny", canny_sigma=2.0)
    np.testing.assert_array_equal(sketch_image(data.astronaut()[:80, :80], spec), out)  # uint8 input


def test_hed_sketch_binary_and_soft(rand_hed):
    x = torch.rand(2, 3, 33, 21)
    soft = hed_sketch(x, rand_hed, SketchSpec(threshold=None))
    hard = hed_sketch(x, rand_hed, SketchSpec(threshold=0.5))
    assert soft.shape == hard.shape == (2, 1, 33, 21)
    torch.testing.assert_close(hard, (soft >= 0.5).float())
    assert 0.05 < hard.mean() < 0.95  # both values occur: the comparisons below are not trivial
    # small images run through HED at hed_min_side (here 128 / 21 upsampling), then averaged back down
    up = torch.nn.functional.interpolate(x, size=(round(33 * 128 / 21), 128), mode="bilinear", align_corners=False)
    torch.testing.assert_close(soft, torch.nn.functional.interpolate(rand_hed(up), size=(33, 21), mode="area"))
    native = hed_sketch(x, rand_hed, SketchSpec(threshold=None, hed_min_side=16))
    torch.testing.assert_close(native, rand_hed(x))               # already large enough: HED as is
    assert SketchSpec(hed_min_side=16).key() != SketchSpec().key()
    with pytest.raises(ValueError, match="canny"):
        hed_sketch(x, rand_hed, SketchSpec(method="canny"))


def test_hed_runs_at_a_bounded_working_size_and_refuses_empty_or_strip_images(rand_hed):
    from inpaintkit.sketches import HED_MAX_SIDE, hed_scale

    assert HED_MAX_SIDE == 512
    assert hed_scale(64, 64) == 2.0 and hed_scale(256, 256) == 1.0
    assert hed_scale(7, 400) == 512 / 400              # upscaling stops where the long side reaches 512
    assert hed_scale(5000, 5000) == 512 / 5000          # large images are shrunk to 512
    seen = []
    hook = rand_hed.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    try:
        strip = hed_sketch(torch.rand(1, 3, 7, 400), rand_hed, SketchSpec(threshold=None))
        big = hed_sketch(torch.rand(1, 3, 1500, 900), rand_hed, SketchSpec(threshold=None))
    finally:
        hook.remove()
    # 7 x 400 used to go to HED as 128 x 7314 (and 1 x 400 as 128 x 51200: gigabytes); now 9 x 512
    assert seen == [(9, 512), (512, 307)]
    assert strip.shape == (1, 1, 7, 400) and big.shape == (1, 1, 1500, 900)
    assert 0 <= float(big.min()) and float(big.max()) <= 1
    with pytest.raises(ValueError, match="0x0 px: it has no pixels"):
        hed_sketch(torch.rand(1, 3, 0, 0), rand_hed)
    with pytest.raises(ValueError, match="aspect ratio of 200:1; the limit is 64:1"):
        sketch_image(np.zeros((1, 200, 3), np.uint8), SketchSpec(), hed=rand_hed)
    with pytest.raises(ValueError, match="aspect ratio of 400:1"):
        sketch_image(np.zeros((400, 1, 3), np.uint8), SketchSpec(method="canny"))
    with pytest.raises(ValueError, match=r"Canny runs at full size\) is 2049x2048"):
        sketch_image(np.zeros((2048, 2049, 3), np.uint8), SketchSpec(method="canny"))


def test_sketch_image_input_types(rand_hed):
    img = data.coffee()[:40, :50]
    a = sketch_image(img, SketchSpec(threshold=None), hed=rand_hed)
    b = sketch_image(img / 255.0, SketchSpec(threshold=None), hed=rand_hed)
    assert a.shape == (40, 50) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        sketch_image(np.zeros((8, 8, 4), np.uint8), SketchSpec(method="canny"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sketch_image(np.full((8, 8, 3), 2.0), SketchSpec(method="canny"))


# ---------------------------------------------------------------- cache


def test_cache_round_trip_binary_exact_soft_quantised(tmp_path, images):
    rng = np.random.default_rng(0)
    binary = (rng.random((64, 64)) > 0.7).astype(np.float32)
    cache = SketchCache(tmp_path / "c", SketchSpec())
    assert cache.load(images[0], 64) is None
    path = cache.save(images[0], 64, binary)
    assert path.suffix == ".png" and path.exists() and not list(path.parent.glob("*.tmp"))
    with Image.open(path) as im:
        assert im.mode == "L"
    np.testing.assert_array_equal(cache.load(images[0], 64), binary)
    soft = rng.random((64, 64)).astype(np.float32)
    soft_cache = SketchCache(tmp_path / "c", SketchSpec(threshold=None))
    soft_cache.save(images[0], 64, soft)
    np.testing.assert_allclose(soft_cache.load(images[0], 64), soft, atol=0.5 / 255 + 1e-6)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        cache.save(images[1], 64, soft * 2)


def test_cache_never_reads_stale(tmp_path, images):
    spec = SketchSpec()
    cache = SketchCache(tmp_path / "c", spec)
    ones = np.ones((64, 64), np.float32)
    cache.save(images[0], 64, ones)
    assert cache.load(images[0], 64) is not None
    assert cache.load(images[0], 32) is None                      # another working size
    assert cache.load(images[1], 64) is None                      # another image
    for other in (replace(spec, threshold=0.3), replace(spec, thin=True), replace(spec, canny_sigma=1.0),
                  replace(spec, method="canny")):
        assert SketchCache(tmp_path / "c", other).load(images[0], 64) is None, other
    assert SketchCache(tmp_path / "c", spec, weights_sha="f" * 64).load(images[0], 64) is None
    st = images[0].stat()
    os.utime(images[0], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # the image was edited
    assert cache.load(images[0], 64) is None


# ---------------------------------------------------------------- whole data set


def test_extract_hed_batches_caches_and_skips_bad_files(tmp_path, images, rand_hed):
    junk = tmp_path / "imgs" / "truncated.png"
    junk.write_bytes(images[0].read_bytes()[:200])
    missing = tmp_path / "imgs" / "missing.png"
    paths = [images[0], junk, images[1], missing, images[2]]
    spec = SketchSpec(threshold=0.5)
    cache = SketchCache(tmp_path / "c", spec)
    report = extract_sketches(paths, spec, cache, 32, load_png, device="cpu", batch_size=2, hed=rand_hed,
                              progress=False)
    assert (report.computed, report.cached) == (3, 0)
    assert sorted(p for p, _ in report.skipped) == sorted([str(junk), str(missing)])
    assert all(reason for _, reason in report.skipped)
    # the cached sketch is exactly the one computed directly on the loaded image
    for p in images:
        x = torch.from_numpy(load_png(p, 32)).permute(2, 0, 1)[None]
        np.testing.assert_array_equal(cache.load(p, 32), hed_sketch(x, rand_hed, spec)[0, 0].numpy())
    again = extract_sketches(paths, spec, cache, 32, load_png, device="cpu", hed=rand_hed, progress=False)
    assert (again.computed, again.cached, len(again.skipped)) == (0, 3, 2)


def test_extract_reports_loaders_returning_garbage(tmp_path, images, rand_hed):
    def bad_loader(path, size):
        if "chelsea" in str(path):
            return np.full((size, size, 3), np.nan, np.float32)
        if "coffee" in str(path):
            return np.zeros((size, size, 4), np.float32)  # RGBA left in
        return load_png(path, size)

    spec = SketchSpec()
    report = extract_sketches(images, spec, SketchCache(tmp_path / "c", spec), 32, bad_loader, device="cpu",
                              hed=rand_hed, progress=False)
    assert report.computed == 1
    reasons = dict(report.skipped)
    assert "[0, 1]" in reasons[str(images[1])] and "alpha" in reasons[str(images[2])]


def test_extract_canny_with_workers(tmp_path, images):
    spec = SketchSpec(method="canny")
    cache = SketchCache(tmp_path / "c", spec)
    report = extract_sketches(images, spec, cache, 48, load_png, device="cpu", progress=False, num_workers=2)
    assert (report.computed, report.cached, report.skipped) == (3, 0, [])
    for p in images:
        np.testing.assert_array_equal(cache.load(p, 48), canny_sketch(load_png(p, 48)))
    with pytest.raises(ValueError, match="SketchCache"):
        extract_sketches(images, SketchSpec(), cache, 48, load_png, progress=False)


def test_cache_counts_reads_and_computations_of_this_process(tmp_path, images):
    """extract_sketches counts what it computes (not what it finds cached), load counts hits, not misses."""
    spec = SketchSpec(method="canny")
    cache = SketchCache(tmp_path / "c", spec)
    before = cache_counts()
    extract_sketches(images[:2], spec, cache, 48, load_png, device="cpu", progress=False)
    extract_sketches(images, spec, cache, 48, load_png, device="cpu", progress=False)   # 2 cached, 1 computed
    assert cache.load(images[0], 48) is not None and cache.load(images[0], 40) is None    # a hit, a miss
    count_sketches(read=5, computed=2)                                                   # from a worker
    after = cache_counts()
    assert (after["read"] - before["read"], after["computed"] - before["computed"]) == (1 + 5, 3 + 2)
