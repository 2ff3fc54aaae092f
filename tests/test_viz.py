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
    (np.ones((6, 6), np.uint8), 255),          # the kit's masks: uint8 in {0, 1}, 1 = known -> white
    (np.ones((6, 6), np.int64), 255),
    (torch.full((1, 1, 6, 6), 0.5), 128),
])
def test_show_images_renders_gray_levels(gray, expected):
    fig = show_images([gray])
    try:
        np.testing.assert_allclose(rendered_centre(fig, fig.axes[0]), [expected] * 3, atol=2)
    finally:
        plt.close(fig)


def test_a_uint8_mask_from_the_mask_generator_renders_black_and_white():
    from inpaintkit.masks import irregular_mask

    m = irregular_mask(32, 32, (0.2, 0.3), rng=0)              # (H, W) uint8 in {0, 1}
    a = to_numpy_image(m)
    assert set(np.unique(a)) == {0.0, 1.0} and a.mean() == pytest.approx(m.mean())


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


# ---- figures drawn from the modules ------------------------------------------------------------------

from inpaintkit.layers import CFSBlock  # noqa: E402
from inpaintkit.networks import image_generator, sketch_generator  # noqa: E402
from inpaintkit.viz import cfs_figure, layer_label, pipeline_figure  # noqa: E402


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_layer_label_reads_kind_kernel_stride_dilation():
    gi, gs = image_generator(8), sketch_generator(8)
    assert [layer_label(layer) for _, layer, _ in gs.named_layers()][:5] == [
        "PConv 5x5 /2", "PConv 3x3 /2", "PConv 3x3 /2", "PConv 3x3 /2", "Res(PConv 3x3 d2)"]
    labels = [layer_label(layer) for _, layer, _ in gi.named_layers()]
    assert labels[0] == "CFS 5x5 /2" and labels[4] == "Res(CFS 3x3 d2)" and labels[-1] == "conv 3x3"
    assert layer_label(image_generator(8, block="gated").encoder[0]) == "gated 5x5 /2"


def test_pipeline_figure_labels_every_layer_with_its_live_shape():
    gs, gi = sketch_generator(8), image_generator(8)
    fig = pipeline_figure(gs, gi, 32)
    try:
        t = texts(fig)
        n_layers = len(list(gs.named_layers())) + len(list(gi.named_layers()))
        assert sum(s in ("CFS 5x5 /2", "PConv 5x5 /2") for s in t) == 2
        assert sum(s.startswith(("encoder", "res", "decoder")) for s in t) == n_layers
        assert "64\n2x2" in t                      # the widest layer: 8 x 8 channels at 32 / 16 px
        assert "1\n32x32" in t and "3\n32x32" in t  # Gs's and Gi's outputs
        assert not any("U-Net" in s for s in t)
    finally:
        plt.close(fig)


def test_pipeline_figure_draws_skips_when_the_generators_have_them():
    try:
        gs, gi = sketch_generator(8, skips=True), image_generator(8, skips=True)
    except TypeError:
        pytest.skip("this version of the generators has no skips option")
    fig = pipeline_figure(gs, gi, 32)
    try:
        assert sum("with U-Net skips" in s for s in texts(fig)) == 2
    finally:
        plt.close(fig)


def test_cfs_figure_of_a_residual_block_shows_gates_se_and_the_residual_path():
    block = image_generator(16).middle[0]
    fig = cfs_figure(block, (1, 128, 4, 4))
    try:
        t = "\n".join(texts(fig))
        assert "conv_g 3x3 d2\n128->128" in t and "conv_G 3x3 d2\n128->128" in t and "conv_f 3x3 d2\n128->128" in t
        assert "sigmoid -> g\n128x4x4" in t and "sigmoid -> G\n128x4x4" in t
        assert "fc 128->8, ReLU" in t                       # SE with r = 16
        assert "residual path (identity)" in t and "y = x + B2(B1(x))\n128x4x4" in t
        assert "no activation, no SE" in t                   # B2, read from the module
        assert "gate biases start at 2" in t
    finally:
        plt.close(fig)


def test_cfs_figure_follows_the_module(monkeypatch):
    fig = cfs_figure(image_generator(8, block="gated").encoder[0], (1, 5, 32, 32))
    try:
        t = "\n".join(texts(fig))
        assert "no input gate g" in t and "no SE on this layer" in t and "conv_f 5x5 /2\n5->8" in t
        assert "o\n8x16x16" in t
    finally:
        plt.close(fig)
    monkeypatch.setattr(CFSBlock, "GATE_BIAS_INIT", 0.0)
    fig = cfs_figure(CFSBlock(4, 4, 3, padding=1), (1, 4, 8, 8))
    try:
        assert any("gate biases start at 0 (sigmoid = 0.50" in s for s in texts(fig))
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match="CFSBlock"):
        cfs_figure(sketch_generator(8).encoder[0])
