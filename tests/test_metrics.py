"""Metrics against scikit-image (called as each protocol says) and hand computations."""

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.color import rgb2gray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintkit.metrics import (
    MIN_GROUPS,
    aggregate_by_bucket,
    bootstrap_ci,
    lpips_distance,
    optional_metrics,
    paired_verdict,
    psnr,
    relative_mae,
    rgb_to_gray,
    sketch_scores,
    ssim,
)


def _nhwc(x: torch.Tensor) -> np.ndarray:
    return x.permute(0, 2, 3, 1).numpy()


def _pairs(h=64, w=64, seed=0):
    """Random pairs and structured pairs (a photo and a degraded copy), (4, 3, h, w) float64 in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    rand_a = torch.rand(2, 3, h, w, generator=g, dtype=torch.float64)
    rand_b = (rand_a + 0.3 * torch.randn(2, 3, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)
    photo = torch.from_numpy(data.astronaut()[100:100 + 2 * h:2, 150:150 + 2 * w:2] / 255.0).permute(2, 0, 1)
    photo = torch.stack([photo, photo.flip(-1)])                         # (2, 3, h, w)
    blurred = torch.nn.functional.avg_pool2d(photo, 5, 1, 2, count_include_pad=False)
    damaged = blurred.clone()
    damaged[..., h // 4: h // 2, w // 3: w // 2] = 0.5                   # a grey "inpainted" hole
    return torch.cat([rand_a, photo]), torch.cat([rand_b, damaged])


def _skimage(pred, target, protocol, fn):
    out = []
    for p, t in zip(_nhwc(pred), _nhwc(target)):
        if protocol == "edgeconnect":
            p, t = rgb2gray(p), rgb2gray(t)
            kw = {"win_size": 51}  # EdgeConnect's scripts/metrics.py
        else:
            kw = {"channel_axis": -1}
        if fn is peak_signal_noise_ratio:
            out.append(fn(t, p, data_range=1))
        else:
            out.append(fn(t, p, data_range=1, **kw))
    return np.array(out)


def test_gray_is_skimage_rgb2gray():
    x = torch.rand(2, 3, 9, 7, dtype=torch.float64)
    expected = np.stack([rgb2gray(a) for a in _nhwc(x)])
    np.testing.assert_allclose(rgb_to_gray(x)[:, 0].numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("backend", ["torch", "skimage"])
@pytest.mark.parametrize("protocol", ["edgeconnect", "rgb"])
@pytest.mark.parametrize("size", [(64, 64), (56, 72)])
def test_psnr_ssim_agree_with_skimage(protocol, size, backend):
    pred, target = _pairs(*size)
    ref_psnr = _skimage(pred, target, protocol, peak_signal_noise_ratio)
    ref_ssim = _skimage(pred, target, protocol, structural_similarity)
    np.testing.assert_allclose(psnr(pred, target, protocol).numpy(), ref_psnr, rtol=0, atol=1e-9)
    got = ssim(pred, target, protocol, backend=backend)
    assert got.dtype == torch.float64 and got.shape == (4,)
    np.testing.assert_allclose(got.numpy(), ref_ssim, rtol=0, atol=1e-6)
    # the two protocols really differ (different windows, gray vs RGB)
    assert abs(ssim(pred, target, "edgeconnect")[2] - ssim(pred, target, "rgb")[2]).item() > 1e-3


@pytest.mark.parametrize("backend", ["torch", "skimage"])
def test_float32_inputs_agree_with_skimage_on_float32(backend):
    pred, target = _pairs(64, 64, seed=1)
    pred, target = pred.float(), target.float()
    ref = [structural_similarity(rgb2gray(t), rgb2gray(p), data_range=1, win_size=51)
           for p, t in zip(_nhwc(pred), _nhwc(target))]
    np.testing.assert_allclose(ssim(pred, target, backend=backend).numpy(), ref, atol=1e-4)


@pytest.mark.parametrize("backend", ["torch", "skimage"])
def test_small_images_use_largest_odd_window_with_warning(backend):
    pred, target = _pairs(32, 32)
    with pytest.warns(UserWarning, match="31x31"):
        got = ssim(pred, target, "edgeconnect", backend=backend)
    ref = [structural_similarity(rgb2gray(t), rgb2gray(p), data_range=1, win_size=31)
           for p, t in zip(_nhwc(pred), _nhwc(target))]
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-6)
    with pytest.raises(ValueError, match="at least 7"):
        ssim(torch.rand(1, 3, 5, 5), torch.rand(1, 3, 5, 5), "rgb")


def test_identical_images():
    x = torch.rand(2, 3, 64, 64)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    assert torch.isinf(psnr(x, x)).all()
    assert (relative_mae(x, x) == 0).all()


def test_psnr_by_hand():
    target = torch.zeros(1, 3, 8, 8)
    pred = torch.full((1, 3, 8, 8), 0.1)  # gray 0.1 everywhere (weights sum to 1): MSE 0.01 -> 20 dB
    assert psnr(pred, target, "edgeconnect").item() == pytest.approx(20.0)
    assert psnr(pred, target, "rgb").item() == pytest.approx(20.0)


def test_relative_mae_edgeconnect_definitions():
    target = torch.full((1, 3, 4, 4), 0.5)
    pred = target.clone()
    pred[..., :2, :] = 0.25  # half the pixels off by 0.25 in every channel
    # scripts/metrics.py: gray, sum|t - p| / sum(t + p) = (8 * 0.25) / (16 * 0.5 + 8 * 0.25 + 8 * 0.5)
    assert relative_mae(pred, target).item() == pytest.approx(2.0 / 14.0)
    # training log: RGB, sum|t - p| / sum(t) = (24 * 0.25) / (48 * 0.5)
    assert relative_mae(pred, target, "rgb").item() == pytest.approx(0.25)


def test_bad_input_is_named():
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match="outside \\[0, 1\\]"):
        psnr(x * 2, x)
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(x, x[..., :60])
    with pytest.raises(ValueError, match="protocol"):
        psnr(x, x, protocol="matlab")
    with pytest.raises(ValueError, match="backend"):
        ssim(x, x, backend="opencv")
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        psnr(x[:, :1], x[:, :1])


def test_sketch_scores_by_hand():
    # one image, 2x4; the hole is the right half (mask 1 = known, 0 = hole)
    mask = torch.tensor([[[[1, 1, 0, 0], [1, 1, 0, 0]]]], dtype=torch.float32)
    target = torch.tensor([[[[1, 1, 1, 0], [0, 0, 1, 0]]]], dtype=torch.float32)
    pred = torch.tensor([[[[0, 0, 0.9, 0.7], [1, 1, 0.2, 0.1]]]])
    # in the hole: target 1,0,1,0 ; pred 1,1,0,0 -> TP 1, FP 1, FN 1, TN 1 (left half ignored)
    s = sketch_scores(pred, target, mask)
    assert s == pytest.approx({"accuracy": 0.5, "precision": 0.5, "recall": 0.5, "f1": 0.5})

    # second image: no edges predicted or true in its hole -> precision = recall = F1 = 1
    pred2, target2 = torch.cat([pred, torch.zeros_like(pred)]), torch.cat([target, torch.zeros_like(target)])
    mask2 = torch.cat([mask, mask])
    per = sketch_scores(pred2, target2, mask2, per_image=True)
    assert per["f1"].tolist() == pytest.approx([0.5, 1.0])
    assert per["accuracy"].tolist() == pytest.approx([0.5, 1.0])
    pooled = sketch_scores(pred2, target2, mask2)  # counts pooled: TP 1, FP 1, FN 1, 8 hole pixels, 6 right
    assert pooled == pytest.approx({"accuracy": 6 / 8, "precision": 0.5, "recall": 0.5, "f1": 0.5})

    # true edges but none predicted -> precision 0, recall 0, F1 0; an image without hole -> NaN
    s = sketch_scores(torch.zeros_like(pred), target, mask)
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, 0.0, 0.0)
    per = sketch_scores(pred, target, torch.ones_like(mask), per_image=True)
    assert math.isnan(per["accuracy"].item())
    with pytest.raises(ValueError, match="no hole"):
        sketch_scores(pred, target, torch.ones_like(mask))
    with pytest.raises(ValueError, match="binary"):
        sketch_scores(pred, target, mask * 0.5)


def test_bootstrap_constant_has_zero_width():
    assert bootstrap_ci([0.7] * 50) == pytest.approx((0.7, 0.7, 0.7))


def test_bootstrap_normal_sample_matches_normal_theory():
    rng = np.random.default_rng(123)
    x = rng.normal(10.0, 2.0, size=4000)
    mean, lo, hi = bootstrap_ci(x, n_boot=2000, seed=1)
    half = 1.96 * x.std(ddof=1) / math.sqrt(x.size)  # ~0.062
    assert mean == pytest.approx(x.mean())
    assert lo == pytest.approx(mean - half, abs=0.15 * half)
    assert hi == pytest.approx(mean + half, abs=0.15 * half)
    assert bootstrap_ci(x, seed=5) == bootstrap_ci(x, seed=5)  # seeded
    with pytest.raises(ValueError, match="NaN or inf"):
        bootstrap_ci([1.0, float("nan")])


def test_aggregate_by_bucket_hand_made():
    records = [
        {"method": "ours", "bucket": "10-20%", "psnr": 30.0, "ssim": 0.9, "name": "a.png"},
        {"method": "ours", "bucket": "10-20%", "psnr": 32.0, "ssim": 0.9, "name": "b.png"},
        {"method": "ours", "bucket": "20-30%", "psnr": 25.0, "ssim": 0.8, "name": "c.png"},
        {"method": "biharmonic", "bucket": "10-20%", "psnr": 28.0, "ssim": 0.85, "name": "a.png"},
        {"method": "biharmonic", "bucket": "10-20%", "psnr": float("inf"), "ssim": 1.0, "name": "b.png"},
    ]
    agg = aggregate_by_bucket(records)
    assert list(agg) == ["ours", "biharmonic"]
    assert list(agg["ours"]) == ["10-20%", "20-30%"]
    e = agg["ours"]["10-20%"]["psnr"]
    assert (e["mean"], e["n"], e["n_dropped"]) == (31.0, 2, 0)
    assert 30.0 <= e["lo"] <= 31.0 <= e["hi"] <= 32.0
    assert agg["ours"]["10-20%"]["ssim"] == pytest.approx({"mean": 0.9, "lo": 0.9, "hi": 0.9, "n": 2, "n_dropped": 0})
    assert agg["ours"]["20-30%"]["psnr"]["n"] == 1
    assert agg["biharmonic"]["10-20%"]["psnr"] == pytest.approx(
        {"mean": 28.0, "lo": 28.0, "hi": 28.0, "n": 1, "n_dropped": 1})
    assert "name" not in agg["ours"]["10-20%"]
    assert set(aggregate_by_bucket(records, metrics=["ssim"])["ours"]["10-20%"]) == {"ssim"}
    with pytest.raises(ValueError, match="lacks 'method' or 'bucket'"):
        aggregate_by_bucket([{"psnr": 1.0}])


def test_optional_metrics_never_download():
    notes = optional_metrics()
    assert set(notes) == {"lpips", "fid"} and notes["fid"]
    x = torch.rand(1, 3, 32, 32)
    result = lpips_distance(x, x)
    assert (result is None) == (notes["lpips"] is not None)


def test_sketch_scores_with_a_one_pixel_tolerance_by_hand():
    """A vertical line predicted one column off: exact F1 0, with tolerance 1 all found; counts by hand."""
    target = torch.zeros(1, 1, 8, 8)
    target[..., 1:7, 3] = 1                                     # 6 true edge pixels
    pred = torch.zeros(1, 1, 8, 8)
    pred[..., 1:7, 4] = 1                                       # the same line, one pixel to the right
    pred[..., 0, 0] = 1                                         # plus one stray pixel, far from any edge
    mask = torch.zeros(1, 1, 8, 8)                              # all hole
    assert sketch_scores(pred, target, mask)["f1"] == 0.0
    s = sketch_scores(pred, target, mask, tolerance=1)
    assert s["precision"] == pytest.approx(6 / 7) and s["recall"] == 1.0
    assert s["f1"] == pytest.approx(2 * (6 / 7) / (6 / 7 + 1))
    assert s["accuracy"] == sketch_scores(pred, target, mask)["accuracy"] == pytest.approx((64 - 13) / 64)


def test_cluster_bootstrap_resamples_photographs_not_crops():
    """Ten crops each of four photographs: crops of one photograph move together, so resampling crops one by
    one understates the spread; resampling the four photographs gives the wide interval it should."""
    photo_means = [20.0, 24.0, 28.0, 32.0]
    values = [m + 0.01 * i for m in photo_means for i in range(10)]
    labels = [f"photo{j}" for j in range(4) for _ in range(10)]
    mean, lo, hi = bootstrap_ci(values, n_boot=2000, groups=labels)
    _, lo_iid, hi_iid = bootstrap_ci(values, n_boot=2000)
    assert mean == pytest.approx(np.mean(values))
    assert hi - lo > 2 * (hi_iid - lo_iid)
    assert lo >= 20.0 and hi <= 32.1                      # bounded by the photographs' own means
    recs = [{"method": "m", "bucket": "10-20", "psnr": v, "group": g} for v, g in zip(values, labels)]
    entry = aggregate_by_bucket(recs, n_boot=2000)["m"]["10-20"]["psnr"]
    assert entry["n_groups"] == 4 and entry["n"] == 40 and (entry["lo"], entry["hi"]) == pytest.approx((lo, hi))


def test_a_paired_verdict_over_two_photographs_says_too_few():
    """Two photographs, differences 1, 1 (a) and 3, 3 (b): a resample of the two is {a, a} (mean 1, p = 1/4),
    {b, b} (3, 1/4) or one of each (2, 1/2), so the 95 % interval is the range of the two means, [1, 3]: above
    zero, and still no finding."""
    v = paired_verdict([1.0, 1.0, 3.0, 3.0], ["a", "a", "b", "b"], "ours", "biharmonic")
    assert (v.mean, v.lo, v.hi, v.n, v.n_groups) == (2.0, 1.0, 3.0, 4, 2)
    assert v.verdict == "too few photographs (n=2) to decide" and not v.decided
    assert v.target() == "met on the mean only"
    assert str(v) == "+2.00 [+1.00, +3.00] over 4 images from 2 photographs: too few photographs (n=2) to decide"


def test_a_paired_verdict_over_eight_photographs_decides():
    """Eight photographs of five crops each, photograph j's differences 0.5 + 0.1 j + 0.01 i (i = 0..4): every
    resample's mean lies between the lowest and highest photograph means (0.52, 1.22), so the interval is above
    zero; the mean is 0.5 + 0.1 * 3.5 + 0.01 * 2 = 0.87."""
    d = [0.5 + 0.1 * j + 0.01 * i for j in range(8) for i in range(5)]
    g = [f"photo{j}" for j in range(8) for _ in range(5)]
    v = paired_verdict(d, g, "ours", "biharmonic")
    assert v.mean == pytest.approx(0.87) and 0.52 <= v.lo < v.hi <= 1.22 and (v.n, v.n_groups) == (40, 8)
    assert v.verdict == "ours better" and v.decided and v.target() == "met"
    w = paired_verdict([-x for x in d], g, "ours", "biharmonic")
    assert w.verdict == "biharmonic better" and w.target() == "missed"
    # photographs alternately +1 and -1: mean 0, the interval straddles it
    s = paired_verdict([(-1.0) ** j for j in range(8) for _ in range(5)], g, "ours", "biharmonic")
    assert s.mean == 0 and s.lo < 0 < s.hi and s.verdict == "not separated"
    assert s.target() == "missed on the mean, not decided by the interval"
    # the minimum: the same clear differences over MIN_GROUPS - 1 photographs are too few, over MIN_GROUPS enough
    few = [x for x, label in zip(d, g) if int(label[-1]) < MIN_GROUPS - 1]
    assert paired_verdict(few, [label for label in g if int(label[-1]) < MIN_GROUPS - 1]).verdict == (
        f"too few photographs (n={MIN_GROUPS - 1}) to decide")
    enough = [x for x, label in zip(d, g) if int(label[-1]) < MIN_GROUPS]
    assert paired_verdict(enough, [label for label in g if int(label[-1]) < MIN_GROUPS]).verdict == "A better"


def test_a_paired_verdict_with_one_image_per_photograph_is_the_ordinary_bootstrap():
    d = np.random.default_rng(3).normal(0.3, 1.0, 30)
    want = bootstrap_ci(d)
    for groups in (None, [f"scene{i:02d}" for i in range(30)]):
        v = paired_verdict(d, groups)
        assert (v.mean, v.lo, v.hi) == pytest.approx(want, rel=1e-12) and (v.n, v.n_groups) == (30, 30)
        assert v.verdict == ("A better" if want[1] > 0 else "B better" if want[2] < 0 else "not separated")
    assert str(paired_verdict(d)).endswith(f"over 30 images: {v.verdict}")        # no photographs to name
