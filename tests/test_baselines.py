"""Baselines: classical references on images with a known answer, and the model variants' wiring checked
against the networks called directly (Eq. 9-10 by hand)."""

import sys

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from inpaintkit import baselines
from inpaintkit.baselines import METHOD_ORDER, Method, ModelVariant, available_methods, biharmonic
from inpaintkit.metrics import rgb_to_gray
from inpaintkit.networks import composite
from inpaintkit.sketches import SketchSpec, binarize, canny_sketch, hed_sketch


def gradient_image(h=32, w=32):
    """A smooth colour gradient: biharmonic interpolation reproduces it almost exactly."""
    y, x = np.mgrid[0:h, 0:w] / np.array([h - 1, w - 1])[:, None, None]
    return np.stack([0.2 + 0.6 * x, 0.1 + 0.5 * y, 0.3 + 0.3 * x * y], axis=-1)  # (H, W, 3) in [0, 1]


def square_hole(h=32, w=32, y0=12, x0=10, side=6):
    mask = np.ones((h, w), np.uint8)
    mask[y0:y0 + side, x0:x0 + side] = 0
    return mask


def test_biharmonic_fills_a_smooth_gradient_almost_exactly():
    img, mask = gradient_image(), square_hole()
    out = biharmonic(img, mask)
    hole = mask == 0
    assert out.shape == img.shape
    assert np.array_equal(out[~hole], img[~hole])                    # known pixels untouched, bit for bit
    assert peak_signal_noise_ratio(img[hole], out[hole], data_range=1) > 35
    # and it is not a trivial fill: the hole's mean colour alone is far worse
    mean_fill = np.broadcast_to(img[hole].mean(0), img[hole].shape)
    assert peak_signal_noise_ratio(img[hole], mean_fill, data_range=1) < 35 - 2


def test_biharmonic_without_hole_is_the_image():
    img = gradient_image()
    assert np.array_equal(biharmonic(img, np.ones(img.shape[:2], np.uint8)), img)


@pytest.mark.parametrize("bad_image, bad_mask, words", [
    ((np.ones((8, 8, 3)) * 255).astype(np.uint8), np.ones((8, 8)), "divide by 255"),
    (np.ones((8, 8)), np.ones((8, 8)), "HxWx3"),
    (np.ones((8, 8, 3)), np.ones((8, 9)), "image's size"),
    (np.ones((8, 8, 3)), np.full((8, 8), 0.5), "binary"),
])
def test_bad_inputs_are_clear_errors(bad_image, bad_mask, words):
    with pytest.raises(ValueError, match=words):
        biharmonic(bad_image, bad_mask)


def test_telea_with_opencv():
    pytest.importorskip("cv2")
    img, mask = gradient_image(), square_hole()
    out = baselines.telea(img, mask)
    hole = mask == 0
    assert np.array_equal(out[~hole], img[~hole])
    assert peak_signal_noise_ratio(img[hole], out[hole], data_range=1) > 30


def test_missing_opencv_skips_telea_with_a_note(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)                    # `import cv2` now raises ImportError
    methods, skipped = available_methods(None)
    assert Method.TELEA not in methods and "inpaintkit[baselines]" in skipped[Method.TELEA]
    assert list(methods) == [Method.BIHARMONIC]
    # without a model the variants are skipped, each with a reason
    assert {m.label for m in skipped} == {"Telea", "no sketch", "emptied sketch", "Canny sketch", "Gs of stage 1",
                                          "oracle sketch", "ours, fill alone", "ours + Gi's correction", "ours"}
    with pytest.raises(ModuleNotFoundError, match="pip install"):
        baselines.telea(gradient_image(), square_hole())


def test_unknown_method_name():
    with pytest.raises(ValueError, match="Unknown method"):
        available_methods(None, ["biharmonic", "deepfill"])


def test_methods_are_keys_with_separate_labels():
    """Code compares members (equal to their key strings, which metrics.json stores); tables show the labels."""
    assert [m.label for m in METHOD_ORDER] == ["biharmonic", "Telea", "no sketch", "emptied sketch", "Canny sketch",
                                               "Gs of stage 1", "oracle sketch", "ours, fill alone",
                                               "ours + Gi's correction", "ours"]
    assert Method.ORACLE_SKETCH == "oracle_sketch" and Method.ORACLE_SKETCH != "oracle sketch"
    assert Method.parse("oracle sketch") is Method.parse("oracle_sketch") is Method.ORACLE_SKETCH
    assert f"{Method.CANNY_SKETCH}" == str(Method.CANNY_SKETCH) == "canny_sketch"
    import json
    back = json.loads(json.dumps({Method.OURS: [Method.TELEA]}))
    assert back == {"ours": ["telea"]} and back[Method.OURS] == [Method.TELEA]     # a member finds its key's entry
    methods, _ = available_methods(None, ["biharmonic"])      # labels and keys both name a method
    assert list(methods) == [Method.BIHARMONIC]
    with pytest.raises(ValueError, match="Unknown model variant"):
        ModelVariant(None, Method.BIHARMONIC)


# ---------------------------------------------------------------------------------------------- model variants

@pytest.fixture(scope="module")
def tiny(tiny_inpainter):
    """The shared tiny model (conftest.py): its random HED's soft map is non-zero, so "oracle" and
    "no sketch" feed Gi different sketches."""
    inp = tiny_inpainter
    x = torch.rand(2, 3, 32, 32)
    m = torch.ones(2, 1, 32, 32)
    m[0, :, 4:20, 6:18] = 0
    m[1, :, 10:30, 2:12] = 0
    return inp, x, m


@torch.no_grad()
def test_variants_feed_gi_the_right_sketch(tiny):
    """Each variant's stage-2 sketch, recorded at Gi's input, against Eq. 9 computed by hand.

    (A freshly initialised Gi barely reacts to its sketch, so outputs alone could not tell the variants apart.)
    """
    inp, x, m = tiny
    s_gt = hed_sketch(x, inp.hed, inp.sketch_spec)                                       # (2, 1, 32, 32)
    assert s_gt.mean() > 0.01
    canny = torch.from_numpy(np.stack([canny_sketch(r) for r in x.permute(0, 2, 3, 1).numpy()]))[:, None]
    assert canny.sum() > 0
    spec = inp.sketch_spec   # Gs's prediction is binarised (and thinned) like the training sketches
    finish = (lambda p: p) if spec.threshold is None else (lambda p: binarize(p, spec.threshold, spec.thin))
    repaired = lambda s: composite(finish(inp.gs(rgb_to_gray(x), s, m)), s, m)  # noqa: E731  # Eq. 9 + composite
    canny_spec = SketchSpec(method="canny")                       # binary: Gs's output binarised at its threshold
    repaired_canny = composite(binarize(inp.gs(rgb_to_gray(x), canny, m), canny_spec.threshold, canny_spec.thin),
                               canny, m)
    expected = {Method.NO_SKETCH: torch.zeros_like(m), Method.EMPTIED_SKETCH: s_gt * m,
                Method.CANNY_SKETCH: repaired_canny, Method.ORACLE_SKETCH: s_gt, Method.OURS: repaired(s_gt)}
    for a, b in [(Method.NO_SKETCH, Method.ORACLE_SKETCH), (Method.ORACLE_SKETCH, Method.OURS),
                 (Method.OURS, Method.CANNY_SKETCH)]:
        assert (expected[a] - expected[b]).abs().max() > 1e-3, (a, b)                    # distinguishable
    seen = []
    hook = inp.gi.register_forward_pre_hook(lambda mod, args: seen.append(args[1].clone()))
    try:
        methods, _ = available_methods(inp)
        assert [m.label for m in list(methods)[-5:]] == ["no sketch", "emptied sketch", "Canny sketch",
                                                         "oracle sketch", "ours"]
        for name, want in expected.items():
            seen.clear()
            out, sketch, start = methods[name].batch(x, m)
            torch.testing.assert_close(seen[-1], want, atol=1e-6, rtol=0)
            torch.testing.assert_close(sketch, want, atol=1e-6, rtol=0)
            torch.testing.assert_close(out, composite(inp.gi(x, want, m), x, m), atol=1e-6, rtol=0)
            assert torch.equal(out * m, x * m)                                           # known pixels exact
    finally:
        hook.remove()
    # "ours" hands back HED's full-image sketch, which the oracle can take instead of running HED again
    _, _, start = methods[Method.OURS].batch(x, m)
    assert torch.equal(start, s_gt)
    torch.testing.assert_close(methods[Method.ORACLE_SKETCH].batch(x, m, start)[1], s_gt)


def test_variant_has_the_common_per_image_signature(tiny):
    inp, x, m = tiny
    img, mask = x[0].permute(1, 2, 0).double().numpy(), m[0, 0].numpy().astype(np.uint8)
    out = ModelVariant(inp, "no sketch")(img, mask)
    assert out.shape == (32, 32, 3) and out.dtype == np.float64
    assert np.array_equal(out[mask == 1], img[mask == 1])
    with pytest.raises(ValueError, match="Unknown model variant"):
        ModelVariant(inp, "gated")
