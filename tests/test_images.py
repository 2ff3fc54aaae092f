"""The one image-normalisation path (inpaintkit.images): values, conversions and the errors that name the fix."""

import numpy as np
import pytest
from PIL import Image

from inpaintkit.images import as_float_rgb, as_rgb, as_uint8_rgb, pil_to_rgb
from inpaintkit.limits import INPAINT_MAX_PIXELS


def photo(h=6, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_uint8_to_float_and_back():
    img = photo()
    img[0, 0] = (0, 128, 255)
    x = as_float_rgb(img)
    assert x.dtype == np.float32 and x.shape == (6, 5, 3) and x.flags.c_contiguous
    np.testing.assert_array_equal(x[0, 0], np.float32([0, 128, 255]) / 255)
    assert x[0, 0, 2] == 1.0 and x[0, 0, 0] == 0.0
    np.testing.assert_array_equal(as_uint8_rgb(x), img)                   # round(x * 255) recovers every level
    assert as_uint8_rgb(img) is img or np.shares_memory(as_uint8_rgb(img), img)   # uint8 RGB: no copy
    assert as_rgb(img) is img


def test_float_input_keeps_its_values_and_dtype():
    f = np.linspace(0, 1, 6 * 5 * 3).reshape(6, 5, 3)                     # float64
    np.testing.assert_array_equal(as_float_rgb(f), f.astype(np.float32))
    assert as_rgb(f) is f                                                  # the pipeline gives float64 back
    np.testing.assert_array_equal(as_uint8_rgb(f), np.round(f * 255).astype(np.uint8))
    h = f.astype(np.float16)
    assert as_float_rgb(h).dtype == np.float32


@pytest.mark.parametrize("shape", [(6, 5), (6, 5, 1)])
def test_gray_becomes_three_equal_channels(shape):
    g = np.arange(30, dtype=np.uint8).reshape(shape) * 8
    x = as_float_rgb(g)
    assert x.shape == (6, 5, 3)
    np.testing.assert_array_equal(x[..., 0], x[..., 1])
    np.testing.assert_array_equal(x[..., 1], x[..., 2])
    np.testing.assert_array_equal(x[..., 0], g.reshape(6, 5) / np.float32(255))
    np.testing.assert_array_equal(as_uint8_rgb(g), np.repeat(g.reshape(6, 5, 1), 3, -1))


def test_rgba_is_composited_on_white():
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200                                  # red stored under alpha
    rgba[0, 0, 3] = 255                                 # opaque: the stored colour
    rgba[0, 1, 3] = 0                                   # transparent: white
    rgba[1, :, 3] = 51                                  # 20 %: 0.2 * colour + 0.8 * white
    x = as_float_rgb(rgba)
    np.testing.assert_allclose(x[0, 0], [200 / 255, 0, 0], atol=1e-7)
    np.testing.assert_array_equal(x[0, 1], [1, 1, 1])
    np.testing.assert_allclose(x[1, 0], [0.2 * 200 / 255 + 0.8, 0.8, 0.8], atol=1e-6)
    u = as_uint8_rgb(rgba)
    np.testing.assert_array_equal(u[0, 0], [200, 0, 0])
    np.testing.assert_array_equal(u[0, 1], [255, 255, 255])
    np.testing.assert_array_equal(u[1, 0], [244, 204, 204])             # round(40 + 204), round(204)
    np.testing.assert_array_equal(as_rgb(rgba), u)                       # uint8 in, uint8 out
    # the same as Pillow's composite on white, which load_image uses for files
    pil = np.asarray(pil_to_rgb(Image.fromarray(rgba, mode="RGBA")))
    assert np.abs(pil.astype(int) - u.astype(int)).max() <= 1
    f = rgba.astype(np.float64) / 255
    assert as_rgb(f).dtype == np.float64
    np.testing.assert_allclose(as_rgb(f), x, atol=1e-6)


def test_alpha_can_be_refused():
    with pytest.raises(ValueError, match="alpha channel.*drop the alpha channel"):
        as_float_rgb(np.zeros((8, 8, 4), np.uint8), alpha=False)


def test_pillow_images():
    img = photo()
    np.testing.assert_array_equal(as_uint8_rgb(Image.fromarray(img)), img)
    np.testing.assert_array_equal(as_float_rgb(Image.fromarray(img)), img / np.float32(255))
    g16 = (np.arange(30, dtype=np.uint16).reshape(6, 5) * 2000)
    f = pil_to_rgb(Image.fromarray(g16))                                  # 16-bit gray -> mode "F" in [0, 1]
    assert f.mode == "F"
    x = as_float_rgb(f)
    np.testing.assert_allclose(x[..., 1], g16 / 65535, atol=1e-6)        # full 16-bit precision kept
    overshoot = Image.fromarray(np.full((6, 5), 1.02, np.float32), mode="F")   # e.g. after a LANCZOS resize
    assert as_float_rgb(overshoot).max() == 1.0
    np.testing.assert_array_equal(as_uint8_rgb(f)[..., 0], np.round(g16 / 65535 * 255).astype(np.uint8))


@pytest.mark.parametrize("image, match", [
    (np.zeros((8, 8, 5), np.uint8), r"HxWx3 \(RGB\), HxWx4 \(RGBA\) or HxW \(gray\); got shape \(8, 8, 5\)"),
    (np.zeros((2, 8, 8, 3), np.uint8), "got shape"),
    (np.zeros(8, np.uint8), "got shape"),
    (np.zeros((8, 8, 3), np.uint16), r"dtype uint16; give uint8 .*divide 16-bit images by 65535"),
    (np.zeros((8, 8, 3), bool), "dtype bool"),
    (np.zeros((8, 8, 3), np.int64), "dtype int64"),
    (np.full((8, 8, 3), np.nan), r"NaN or inf.*\[0, 1\]"),
    (np.full((8, 8, 3), np.inf, np.float32), "NaN or inf"),
    (np.full((8, 8, 3), 2.0), r"must lie in \[0, 1\]; got \[2, 2\]. Divide 8-bit values by 255"),
    (np.full((8, 8, 3), -0.5), r"got \[-0.5, -0.5\]"),
    (np.zeros((0, 0, 3), np.uint8), "0x0 px: it has no pixels"),
    (np.zeros((1, 200, 3), np.uint8), "aspect ratio of 200:1; the limit is 64:1"),
])
def test_bad_images_raise_errors_naming_the_fix(image, match):
    for fn in (as_float_rgb, as_uint8_rgb, as_rgb):
        with pytest.raises(ValueError, match=match):
            fn(image)


def test_size_limit_and_name_are_the_callers():
    with pytest.raises(ValueError, match=r"photo is 2049x2048 = 4,196,352 px, over the limit of 4,194,304"):
        as_float_rgb(np.zeros((2048, 2049), np.uint8), max_pixels=INPAINT_MAX_PIXELS, what="photo")
    with pytest.raises(ValueError, match="A float photo must lie in"):
        as_float_rgb(np.full((4, 4), 3.0), what="photo")
