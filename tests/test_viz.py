"""Figure helpers: what ends up on the canvas is the image that went in, whatever its dtype."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from inpaintkit.viz import show_images, to_numpy_image  # noqa: E402


def rendered_centre(fig, ax) -> np.ndarray:
    """RGB (0-255) of the rendered pixel at the centre of ``ax``."""
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    bbox = ax.get_window_extent()
    x, y = int((bbox.x0 + bbox.x1) / 2), int((bbox.y0 + bbox.y1) / 2)
    return rgba[rgba.shape[0] - 1 - y, x, :3].astype(int)       # display y runs upwards


RGB = (200, 60, 30)
CASES = {
    "uint8 (H, W, 3)": np.full((8, 8, 3), RGB, np.uint8),
    "float (H, W, 3)": np.full((8, 8, 3), RGB, np.float32) / 255,
    "float64 (H, W, 3)": np.full((8, 8, 3), RGB, np.float64) / 255,
    "uint16 (H, W, 3)": (np.full((8, 8, 3), RGB, np.float64) / 255 * 65535).round().astype(np.uint16),
    "tensor float (C, H, W)": torch.tensor(RGB, dtype=torch.float32).div(255).view(3, 1, 1).expand(3, 8, 8),
    "tensor float (1, C, H, W)": torch.tensor(RGB, dtype=torch.float32).div(255).view(1, 3, 1, 1).expand(1, 3, 8, 8),
    "tensor uint8 (C, H, W)": torch.tensor(RGB, dtype=torch.uint8).view(3, 1, 1).expand(3, 8, 8),
}


@pytest.mark.parametrize("name", list(CASES))
def test_show_images_renders_the_colour_that_went_in(name):
    fig = show_images([CASES[name]], [name])
    try:
        np.testing.assert_allclose(rendered_centre(fig, fig.axes[0]), RGB, atol=2)
    finally:
        plt.close(fig)


@pytest.mark.parametrize("gray, expected", [
    (np.full((6, 6), 128, np.uint8), 128),
    (np.full((6, 6), 128 / 255, np.float32), 128),
    (np.ones((6, 6), bool), 255),
    (np.zeros((6, 6), np.int64), 0),
    (torch.full((1, 1, 6, 6), 0.5), 128),
])
def test_show_images_renders_gray_levels(gray, expected):
    fig = show_images([gray])
    try:
        np.testing.assert_allclose(rendered_centre(fig, fig.axes[0]), [expected] * 3, atol=2)
    finally:
        plt.close(fig)


def test_uint8_white_hole_is_white_not_clipped_to_one_level():
    """Notebook 07's masked input: a uint8 photo with a white hole must not render as all white."""
    img = np.zeros((16, 16, 3), np.uint8)
    img[..., 2] = 90                       # dark blue photo
    img[4:12, 4:12] = 255                  # the hole, painted white
    a = to_numpy_image(img)
    assert a.dtype == np.float32 and a.shape == (16, 16, 3)
    np.testing.assert_allclose(a[0, 0], [0, 0, 90 / 255], atol=1e-6)
    np.testing.assert_allclose(a[8, 8], [1, 1, 1])


def test_to_numpy_image_shapes_and_ranges():
    assert to_numpy_image(torch.rand(1, 1, 5, 7)).shape == (5, 7)
    assert to_numpy_image(torch.rand(3, 5, 7)).shape == (5, 7, 3)
    assert to_numpy_image(np.zeros((5, 7, 1))).shape == (5, 7)
    out = to_numpy_image(np.array([[-0.5, 1.5]]))
    np.testing.assert_allclose(out, [[0.0, 1.0]])
    np.testing.assert_allclose(to_numpy_image(np.array([[0, 1]], np.int32)), [[0.0, 1.0]])   # a 0 / 1 mask
    np.testing.assert_allclose(to_numpy_image(np.array([[0, 255]], np.int32)), [[0.0, 1.0]])


def test_to_numpy_image_rejects_integers_out_of_range():
    with pytest.raises(ValueError, match="uint8"):
        to_numpy_image(np.array([[0, 1000]], np.int32))
