"""Inpainter: two-stage inference (Eq. 9-10), input handling, padding, run / demo weights loading.

Tiny freshly initialised networks (smoke widths) and Canny sketches keep this fast; one test uses HED.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from skimage.color import rgb2gray
from skimage.feature import canny

from inpaintkit.networks import image_generator, sketch_generator
from inpaintkit.pipeline import (
    WEIGHTS_DIR,
    Inpainter,
    InpaintResult,
    WeightsInfo,
    export_weights,
    file_sha256,
    pad_to_multiple,
)
from inpaintkit.sketches import SketchSpec

CANNY = SketchSpec(method="canny")


@pytest.fixture(scope="module")
def nets():
    torch.manual_seed(0)
    return sketch_generator(8), image_generator(8)


@pytest.fixture(scope="module")
def inp(nets):
    return Inpainter(*nets, sketch_spec=CANNY, device="cpu")


def photo(h, w, seed=0):
    """A smooth-ish uint8 RGB test image with edges (so Canny finds something)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    img = np.stack([(xx * 255 / w), (yy * 255 / h), ((xx + yy) % 23) * 11], -1)
    img[h // 3: 2 * h // 3, w // 4: w // 2] = rng.integers(0, 256, 3)
    return img.astype(np.uint8)


def hole_mask(h, w, box=None):
    m = np.ones((h, w), np.uint8)
    y0, y1, x0, x1 = box or (h // 4, 3 * h // 4, w // 3, 2 * w // 3)
    m[y0:y1, x0:x1] = 0
    return m


@pytest.mark.parametrize("h,w", [(37, 53), (100, 75), (32, 48)])
def test_any_size_comes_back_same_size_with_known_pixels_exact(inp, h, w):
    img, m = photo(h, w), hole_mask(h, w)
    r = inp(img, m)
    assert isinstance(r, InpaintResult)
    assert r.image.shape == (h, w, 3) and r.image.dtype == np.uint8
    assert r.sketch.shape == r.sketch_pred.shape == r.input_sketch.shape == r.mask.shape == (h, w)
    known = m == 1
    np.testing.assert_array_equal(r.image[known], img[known])          # bit-exact outside the hole
    assert (r.image[~known] != img[~known]).any()                        # the hole was actually filled
    np.testing.assert_array_equal(r.mask, m.astype(np.float32))
    # S_comp = S_pred in the hole, the input sketch elsewhere
    np.testing.assert_array_equal(r.sketch[known], r.input_sketch[known])
    np.testing.assert_allclose(r.sketch[~known], r.sketch_pred[~known])
    assert r.seconds > 0


def test_matches_eq_9_10_computed_by_hand(nets, inp):
    """A 32x48 image needs no padding: redo Eq. 9-10 with the networks and skimage directly."""
    gs, gi = nets
    img, m = photo(32, 48, seed=3), hole_mask(32, 48)
    r = inp(img, m)
    x = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
    s = torch.from_numpy(canny(rgb2gray(img.astype(np.float32) / 255), sigma=2.0).astype(np.float32))[None, None]
    gray = torch.from_numpy(rgb2gray(img.astype(np.float32) / 255).astype(np.float32))[None, None]
    M = torch.from_numpy(m.astype(np.float32))[None, None]
    spec = inp.sketch_spec
    with torch.no_grad():
        s_pred = gs(gray, s, M)
        s_pred = (s_pred >= spec.threshold).float()     # binarised as the training sketches (no thinning here)
        s_comp = s_pred * (1 - M) + s * M
        i_pred = gi(x, s_comp, M)
    assert not spec.thin
    np.testing.assert_array_equal(r.input_sketch, s[0, 0].numpy())
    np.testing.assert_allclose(r.sketch_pred, s_pred[0, 0].numpy(), atol=1e-5)
    expect = np.where(m[..., None] == 1, img, np.round(i_pred[0].permute(1, 2, 0).numpy() * 255))
    assert np.abs(r.image.astype(int) - expect.astype(int)).max() <= 1   # float rounding at .5 only


def test_all_known_mask_returns_input_exactly(inp):
    img = photo(37, 53)
    ones = np.ones((37, 53), np.uint8)
    np.testing.assert_array_equal(inp(img, ones).image, img)
    f = img.astype(np.float64) / 255
    out = inp(f, ones).image
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, f)
    t = torch.from_numpy(f).permute(2, 0, 1).float()
    assert torch.equal(inp(t, torch.ones(37, 53)).image, t)


def test_numpy_and_tensor_inputs_agree(inp):
    img, m = photo(37, 53, seed=1), hole_mask(37, 53)
    r_np = inp(img, m)
    t = torch.from_numpy(img).permute(2, 0, 1).float() / 255
    r_t = inp(t, torch.from_numpy(m))
    assert isinstance(r_t.image, torch.Tensor) and r_t.image.shape == (3, 37, 53) and r_t.image.dtype == torch.float32
    np.testing.assert_allclose(r_t.image.permute(1, 2, 0).numpy() * 255, r_np.image, atol=0.5 + 1e-3)
    np.testing.assert_array_equal(r_t.sketch, r_np.sketch)
    # uint8 tensor in -> uint8 tensor out, identical to the numpy path
    r_u8 = inp(torch.from_numpy(img).permute(2, 0, 1), m)
    assert r_u8.image.dtype == torch.uint8
    np.testing.assert_array_equal(r_u8.image.permute(1, 2, 0).numpy(), r_np.image)


def test_batch_equals_one_by_one(inp):
    imgs = [photo(37, 53, seed=s) for s in (0, 1)]
    masks = [hole_mask(37, 53), hole_mask(37, 53, (0, 10, 0, 53))]
    x = torch.stack([torch.from_numpy(i).permute(2, 0, 1).float() / 255 for i in imgs])          # (2, 3, H, W)
    m = torch.stack([torch.from_numpy(k)[None] for k in masks])                                    # (2, 1, H, W)
    rb = inp(x, m)
    assert rb.image.shape == (2, 3, 37, 53) and rb.sketch.shape == (2, 37, 53)
    for k in range(2):
        r1 = inp(x[k], m[k, 0])
        torch.testing.assert_close(rb.image[k], r1.image, atol=1e-5, rtol=0)


def test_hole_content_does_not_leak_through_padding(inp):
    """With a fixed sketch (complete), pixels inside the hole cannot change the result, even in a hole
    touching the bottom-right border, which the reflect padding mirrors into the padded strip."""
    h, w = 37, 53
    img, m = photo(h, w), hole_mask(h, w, (25, 37, 40, 53))
    sketch = canny(rgb2gray(img), sigma=2.0).astype(np.float32)
    other = img.copy()
    other[m == 0] = 255 - other[m == 0]
    a, b = inp.complete(img, sketch, m), inp.complete(other, sketch, m)
    np.testing.assert_array_equal(a.image[m == 0], b.image[m == 0])
    assert a.sketch_pred is None
    np.testing.assert_array_equal(a.sketch, sketch)


def test_complete_is_eq_10_with_the_given_sketch(nets, inp):
    _, gi = nets
    img, m = photo(32, 32), hole_mask(32, 32)
    lines = np.zeros((32, 32), np.float32)
    lines[:, ::4] = 1
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    M = torch.from_numpy(m)[None, None].float()
    with torch.no_grad():
        expect = gi(x, torch.from_numpy(lines)[None, None], M) * (1 - M) + x * M
    r = inp.complete(x[0], lines, m)
    torch.testing.assert_close(r.image, expect[0], atol=1e-6, rtol=0)


def test_gray_and_rgba_numpy_are_converted(inp):
    img, m = photo(32, 32), hole_mask(32, 32)
    gray = img[..., 1]
    r = inp(gray, m)
    assert r.image.shape == (32, 32, 3)
    np.testing.assert_array_equal(r.image[m == 1], np.repeat(gray[..., None], 3, -1)[m == 1])
    rgba = np.concatenate([img, np.full((32, 32, 1), 255, np.uint8)], -1)     # opaque: same as RGB
    np.testing.assert_array_equal(inp(rgba, m).image, inp(img, m).image)
    clear = rgba.copy()
    clear[..., 3] = 0                                                           # transparent -> white
    np.testing.assert_array_equal(inp(clear, m).image[m == 1], 255)


def test_pad_to_multiple_is_numpy_reflect():
    x = torch.arange(2 * 37 * 53, dtype=torch.float32).reshape(1, 2, 37, 53)
    p = pad_to_multiple(x)
    assert p.shape == (1, 2, 48, 64)
    ref = np.pad(x.numpy(), ((0, 0), (0, 0), (0, 11), (0, 11)), mode="reflect")
    np.testing.assert_array_equal(p.numpy(), ref)
    tiny = pad_to_multiple(torch.ones(1, 1, 5, 7))      # pad wider than the image: replicate
    assert tiny.shape == (1, 1, 16, 16) and torch.all(tiny == 1)


@pytest.mark.parametrize("image,mask,match", [
    (np.zeros((32, 32, 3), np.uint8), np.full((32, 32), 0.5), "binary"),
    (np.zeros((32, 32, 3), np.uint8), np.full((32, 32), 255, np.uint8), "mask // 255"),
    (np.zeros((32, 32, 3), np.uint8), np.ones((32, 31)), "must match"),
    (np.zeros((32, 32, 3), np.uint8), np.ones((2, 32, 32)), "shape"),
    (np.zeros((32, 32, 5), np.uint8), np.ones((32, 32)), "HxWx3"),
    (np.zeros((32, 32, 3), np.uint16), np.ones((32, 32)), "uint8"),
    (np.full((32, 32, 3), 2.0), np.ones((32, 32)), r"\[0, 1\]"),
    (np.full((32, 32, 3), np.nan), np.ones((32, 32)), "NaN"),
    (torch.zeros(4, 32, 32), torch.ones(32, 32), r"\(3, H, W\)"),
    ([[0, 1]], np.ones((32, 32)), "numpy array"),
    (np.zeros((32, 32, 3), np.uint8), [[1]], "numpy array or a tensor"),
])
def test_bad_inputs_raise_clear_errors(inp, image, mask, match):
    with pytest.raises(ValueError, match=match):
        inp(image, mask)


def test_empty_elongated_and_oversized_images_are_refused_naming_the_limit(inp):
    from inpaintkit.limits import INPAINT_MAX_PIXELS

    assert INPAINT_MAX_PIXELS == 2048 * 2048
    with pytest.raises(ValueError, match="0x0 px: it has no pixels"):
        inp(np.zeros((0, 0, 3), np.uint8), np.ones((0, 0), np.uint8))
    with pytest.raises(ValueError, match="aspect ratio of 200:1; the limit is 64:1"):
        inp(np.zeros((1, 200, 3), np.uint8), np.ones((1, 200), np.uint8))
    with pytest.raises(ValueError, match="2049x2048 = 4,196,352 px, over the limit of 4,194,304 px"):
        inp.sketch(torch.zeros(3, 2048, 2049, dtype=torch.uint8))      # refused before any float copy
    out = inp(photo(2, 128), hole_mask(2, 128, (0, 1, 60, 70)))         # 64:1 still runs
    assert out.image.shape == (2, 128, 3)


def test_bad_constructor_and_sketch_args(nets, inp):
    gs, gi = nets
    with pytest.raises(ValueError, match="SketchGenerator"):
        Inpainter(gi, gs, device="cpu")
    with pytest.raises(ValueError, match="sketch has shape"):
        inp.complete(np.zeros((32, 32, 3), np.uint8), np.zeros((16, 16)), np.ones((32, 32)))


# ------------------------------------------------------------------------------------- runs and weights

class _TinySet(torch.utils.data.Dataset):
    """Four 32x32 items in the trainers' format (no HED, no demo set: only the run files matter here)."""

    def __len__(self):
        return 4

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        img = torch.rand(3, 32, 32, generator=g)
        mask = torch.ones(1, 32, 32)
        mask[:, 8:24, 8:24] = 0
        return {"image": img, "gray": img.mean(0, keepdim=True), "sketch": (img[:1] > 0.5).float(), "mask": mask,
                "path": f"tiny{i}"}


def test_from_run_round_trip(tmp_path):
    """A run dir written by the trainers (freshly initialised smoke networks, no training) loads back."""
    from inpaintkit.config import get_profile
    from inpaintkit.train import Trainer

    prof = get_profile("smoke")
    trainers = [Trainer(stage, prof, tmp_path, device="cpu", data=_TinySet(), progress=False, seed=stage)
                for stage in (1, 2)]
    for t in trainers:
        t.save_checkpoint()
    loaded = Inpainter.from_run(tmp_path, device="cpu", sketch_spec=CANNY)
    direct = Inpainter(trainers[0].generator, trainers[1].generator, sketch_spec=CANNY, device="cpu")
    assert loaded.work_size == prof.image_size                 # runs at the size it trained at
    direct.work_size = prof.image_size
    for a, b in ((loaded.gs, direct.gs), (loaded.gi, direct.gi)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    img, m = photo(37, 53), hole_mask(37, 53)
    np.testing.assert_array_equal(loaded(img, m).image, direct(img, m).image)
    default = Inpainter.from_run(tmp_path, device="cpu")       # the trainers' sketch: the profile's spec
    assert default.sketch_spec == SketchSpec(method="hed", threshold=prof.sketch_threshold, thin=prof.sketch_thin)


def test_a_canny_run_is_served_with_canny_sketches(tmp_path, monkeypatch):
    """--sketch canny: the trainer records the sketch spec (checkpoints, config.json) and from_run serves with it."""
    from inpaintkit.config import get_profile
    from inpaintkit.train import Trainer

    from conftest import tiny_vgg, write_photos

    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    prof, data, run = get_profile("smoke"), write_photos(tmp_path / "img", n=6), tmp_path / "run"
    for stage in (1, 2):
        t = Trainer(stage, prof, run, device="cpu", data=str(data), sketch="canny", steps=0, progress=False,
                    vgg=tiny_vgg())
        t.save_checkpoint()
        want = {"method": "canny", "threshold": prof.sketch_threshold, "thin": prof.sketch_thin,
                "canny_sigma": 2.0, "hed_min_side": 128}
        assert json.loads((run / f"stage{stage}" / "config.json").read_text())["sketch"] == want
        assert torch.load(run / f"stage{stage}" / "generator.pt", weights_only=True)["sketch"] == want
    loaded = Inpainter.from_run(run, device="cpu")
    assert loaded.sketch_spec == prof.sketch_spec("canny") and loaded.sketch_spec.method == "canny"

    def no_hed(self):
        raise AssertionError("a Canny run was served with HED")

    monkeypatch.setattr(Inpainter, "_hed", no_hed)
    img, m = photo(32, 48), hole_mask(32, 48)
    r = loaded(img, m)
    canny_served = Inpainter(loaded.gs, loaded.gi, sketch_spec=prof.sketch_spec("canny"), device="cpu")
    canny_served.work_size = loaded.work_size
    np.testing.assert_array_equal(r.input_sketch, canny_served(img, m).input_sketch)
    assert r.input_sketch.any() and set(np.unique(r.input_sketch)) <= {0.0, 1.0}


def test_from_run_missing_dir_says_how_to_train(tmp_path):
    with pytest.raises(FileNotFoundError, match="inpaintkit.train"):
        Inpainter.from_run(tmp_path / "nope")


def test_export_weights_round_trip_and_checksum(tmp_path, nets):
    from inpaintkit.config import get_profile

    gs, gi = nets
    from dataclasses import replace

    paper_arch = replace(get_profile("smoke"), skips=False, prefill=False)        # as the `nets` fixture builds
    info = export_weights(gs, gi, tmp_path, name="test", profile=paper_arch.to_dict(), block="cfs",
                          sketch={"method": "canny", "threshold": 0.5, "thin": False, "canny_sigma": 2.0},
                          commands=["none"], data="none", steps={"stage1": 0, "stage2": 0}, metrics={},
                          vgg_source="none")
    back = WeightsInfo.from_json(tmp_path / "demo.json")
    assert back.sha256 == info.sha256 == {k: file_sha256(tmp_path / f) for k, f in info.files.items()}
    assert back.num_params == {"gs": 344457, "gi": 1938853}  # smoke widths, as notebook 00 prints
    gs2, gi2 = back.load_generators()
    assert all(p.dtype == torch.float32 for p in gi2.parameters())
    a, b = Inpainter(gs, gi, CANNY, device="cpu"), Inpainter(gs2, gi2, back.sketch_spec, device="cpu")
    img, m = photo(32, 32), hole_mask(32, 32)
    diff = np.abs(a(img, m).image.astype(int) - b(img, m).image.astype(int))
    assert diff.max() <= 3                                    # float16 storage: a few 8-bit levels at most
    # a corrupted file is refused with a clear message
    p = tmp_path / info.files["gi"]
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        WeightsInfo.from_json(tmp_path / "demo.json").load_generators()


@pytest.mark.skipif(not (WEIGHTS_DIR / "demo.json").exists(), reason="demo weights not exported yet")
def test_from_pretrained_loads_verified_weights(tmp_path):
    inp = Inpainter.from_pretrained(device="cpu", sketch_spec=CANNY)
    info = inp.weights
    assert info.sha256 == {k: file_sha256(WEIGHTS_DIR / f) for k, f in info.files.items()}
    from inpaintkit.networks import count_parameters
    assert info.num_params == {"gs": count_parameters(inp.gs), "gi": count_parameters(inp.gi)}
    assert info.sketch_spec.method == "hed" and info.commands and info.metrics
    img, m = photo(64, 64), hole_mask(64, 64)
    out = inp(img, m).image
    np.testing.assert_array_equal(out[m == 1], img[m == 1])
    # a tampered copy fails the checksum
    for f in WEIGHTS_DIR.iterdir():
        shutil.copy(f, tmp_path / f.name)
    meta = json.loads((tmp_path / "demo.json").read_text())
    meta["sha256"]["gs"] = "0" * 64
    (tmp_path / "demo.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="corrupt"):
        WeightsInfo.from_json(tmp_path / "demo.json").verify()


def test_hed_sketch_is_the_full_image_sketch(nets):
    from inpaintkit.hed import weights_path
    from inpaintkit.sketches import sketch_image

    if not weights_path().exists():
        pytest.skip("HED weights not cached (run data_scripts/fetch_hed_weights.py)")
    spec = SketchSpec(method="hed", threshold=0.5)
    inp = Inpainter(*nets, sketch_spec=spec, device="cpu")
    img, m = photo(37, 53), hole_mask(37, 53)
    r = inp(img, m)
    np.testing.assert_array_equal(r.input_sketch, sketch_image(img, spec, hed=inp.hed))
    np.testing.assert_array_equal(inp.sketch(img), r.input_sketch)
    assert set(np.unique(r.input_sketch)) <= {0.0, 1.0} and r.input_sketch.any()


def test_a_given_full_sketch_skips_extraction_and_gives_the_same_result(inp, monkeypatch):
    img, m = photo(48, 40), hole_mask(48, 40)
    first = inp(img, m)
    s = inp.sketch(img)
    np.testing.assert_array_equal(s, first.input_sketch)
    monkeypatch.setattr(inp, "_sketch_tensor", lambda x: pytest.fail("sketch recomputed"))
    again = inp(img, m, sketch=s)
    np.testing.assert_array_equal(again.image, first.image)
    np.testing.assert_array_equal(again.sketch, first.sketch)


def test_gs_threshold_and_soft_sketch_switches(nets):
    """Gs's output reaches Gi binarised at gs_threshold (default: the spec's); finish_sketch=False passes it soft."""
    gs, gi = nets
    inp = Inpainter(gs, gi, SketchSpec(method="canny"), device="cpu")
    img, m = photo(32, 32, seed=5), hole_mask(32, 32)
    seen = []
    hook = gi.register_forward_pre_hook(lambda mod, args: seen.append(args[1].clone()))
    try:
        inp(img, m)
        default = seen[-1]
        inp.gs_threshold = 0.999                                 # nothing passes: the hole's sketch is empty
        inp(img, m)
        strict = seen[-1]
        inp.finish_sketch = False
        inp(img, m)
        soft = seen[-1]
    finally:
        hook.remove()
    hole = torch.from_numpy(m == 0)[None, None]
    assert set(default[hole].unique().tolist()) <= {0.0, 1.0} and default[hole].sum() > 0
    assert strict[hole].sum() == 0
    assert ((soft[hole] > 0) & (soft[hole] < 1)).any()          # probabilities, not a binary map


def _band(module, args, out):
    """Gs's output replaced by one 3-px vertical band at probability 0.9."""
    band = torch.zeros_like(out)
    band[..., 14:17] = 0.9
    return band


@pytest.mark.parametrize("thin,width", [(True, 1), (False, 3)])
def test_gs_output_reaches_gi_thinned_only_when_the_spec_thins(nets, thin, width):
    """The demo weights' spec keeps HED's lines unthinned: Gs's band must reach Gi as drawn, 3 px wide;
    a thinning spec hands Gi its 1-px centre line."""
    gs, gi = nets
    inp = Inpainter(gs, gi, SketchSpec(method="canny", threshold=0.5, thin=thin), device="cpu")
    img, m = photo(32, 32, seed=5), hole_mask(32, 32, box=(4, 28, 4, 28))
    seen = []
    hooks = [gs.register_forward_hook(_band),
             gi.register_forward_pre_hook(lambda mod, args: seen.append(args[1].clone()))]
    try:
        inp(img, m, sketch=np.zeros((32, 32), np.float32))
    finally:
        for h in hooks:
            h.remove()
    rows = seen[-1][0, 0, 8:24]                                  # rows well inside the hole
    assert rows.sum(dim=1).tolist() == [float(width)] * 16       # each row crosses the band once
    assert rows[:, 15].eq(1).all()                               # the band's centre column is kept either way
