"""Evaluation metrics: PSNR / SSIM under two named protocols, relative MAE, sketch scores in the hole,
bootstrap intervals and per-bucket aggregation (Section 4, Table 1).

Protocols for :func:`psnr`, :func:`ssim` and :func:`relative_mae`:

* ``"edgeconnect"`` -- the one behind Table 1. The paper copies its baselines' numbers from
  EdgeConnect, whose ``scripts/metrics.py`` converts both images with scikit-image's ``rgb2gray``
  and calls ``compare_psnr(gt, pred, data_range=1)`` and
  ``compare_ssim(gt, pred, data_range=1, win_size=51)``: nothing else, so the defaults hold --
  a *uniform* 51x51 window (``gaussian_weights=False``), sample covariance
  (``use_sample_covariance=True``), K1 = 0.01, K2 = 0.03, and the mean taken after cropping
  (win_size - 1) // 2 pixels from every border. Images smaller than 51 px use the largest odd
  window that fits (a warning says so): such numbers are not on Table 1's scale.
  EdgeConnect reads its outputs back from 8-bit PNGs; quantise first
  (``(x * 255).round() / 255``) to reproduce that step too.
* ``"rgb"`` -- scikit-image's default on RGB: ``channel_axis=-1, data_range=1`` (7x7 uniform window,
  SSIM averaged over the three channels; PSNR over all values).

SSIM has two backends giving the same numbers (tested to 1e-6): scikit-image itself, image by
image, on CPU tensors (the faster one there), and a batched float64 torch implementation for CUDA
tensors; measured timings in ``docs/evaluation.md``.

:func:`table1_scores` is the one scoring path of Table 1 and of the CFS ablation: the output rounded
to 8 bits, then PSNR, SSIM and relative MAE under a protocol.

Hole-ratio buckets live in :mod:`inpaintkit.masks`; :func:`aggregate_by_bucket` takes the bucket as
given in each record.
"""

from __future__ import annotations

import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["PROTOCOLS", "RGB2GRAY_WEIGHTS", "rgb_to_gray", "psnr", "ssim", "ssim_window", "relative_mae",
           "quantize_8bit", "table1_scores", "sketch_scores", "bootstrap_ci", "MIN_GROUPS", "PairedVerdict",
           "paired_verdict", "aggregate_by_bucket",
           "lpips_distance", "optional_metrics"]

PROTOCOLS = ("edgeconnect", "rgb")
EDGECONNECT_SSIM_WIN = 51   # EdgeConnect scripts/metrics.py
SKIMAGE_SSIM_WIN = 7        # scikit-image's default uniform window
SSIM_K1, SSIM_K2 = 0.01, 0.03
# skimage.color.rgb2gray's weights (ITU-R BT.709 luma), the kit's grayscale convention.
RGB2GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)


# ---- input checks and grayscale --------------------------------------------------------------


def _check_images(pred: torch.Tensor, target: torch.Tensor, protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r}: choose 'edgeconnect' (Table 1's, the default) or 'rgb'.")
    for name, x in (("pred", pred), ("target", target)):
        if not torch.is_tensor(x) or x.ndim != 4 or x.shape[1] != 3:
            shape = tuple(x.shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(f"{name} must be an RGB tensor (N, 3, H, W) in [0, 1], got {shape}.")
        lo, hi = (float(v) for v in torch.aminmax(x))
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(
                f"{name} has values in [{lo:.3g}, {hi:.3g}], outside [0, 1]; metrics use data_range=1. "
                "Clamp the prediction (x.clamp(0, 1)) or divide 8-bit images by 255."
            )
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape.")


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) with skimage's ``rgb2gray`` weights (0.2125, 0.7154, 0.0721).

    Written in torch so that batches stay on their device; a test checks it against ``rgb2gray``.
    """
    r, g, b = rgb.unbind(1)                                   # 3 x (N, H, W)
    wr, wg, wb = RGB2GRAY_WEIGHTS
    gray = r * wr
    gray.add_(g, alpha=wg).add_(b, alpha=wb)                  # in place: one allocation, not three
    return gray.unsqueeze(1)                                  # (N, 1, H, W)


def _protocol_images(pred, target, protocol):
    """Images as the protocol compares them, in the input's float precision: gray (N, 1, H, W) or RGB.

    Like ``rgb2gray``, float32 stays float32 (EdgeConnect's case); the arithmetic after it is float64.
    """
    _check_images(pred, target, protocol)
    if not pred.is_floating_point():
        raise ValueError(f"pred has dtype {pred.dtype}; pass float images in [0, 1] (e.g. uint8 / 255).")
    if protocol == "edgeconnect":
        return rgb_to_gray(pred), rgb_to_gray(target.to(pred.dtype))
    return pred, target.to(pred.dtype)


# ---- PSNR / SSIM / MAE -----------------------------------------------------------------------


def psnr(pred: torch.Tensor, target: torch.Tensor, protocol: str = "edgeconnect") -> torch.Tensor:
    """PSNR in dB per image, (N,): ``10 log10(1 / MSE)`` (data_range = 1) on gray (edgeconnect) or RGB.

    pred, target: RGB (N, 3, H, W) in [0, 1]. Identical images give ``inf`` (as scikit-image).
    """
    p, t = _protocol_images(pred, target, protocol)
    mse = (p.double() - t.double()).pow(2).flatten(1).mean(1)  # (N,)
    return 10 * torch.log10(1.0 / mse)


def ssim_window(height: int, width: int, protocol: str = "edgeconnect") -> int:
    """The SSIM window side for an image of this size under the protocol (see the module docstring)."""
    win = EDGECONNECT_SSIM_WIN if protocol == "edgeconnect" else SKIMAGE_SSIM_WIN
    side = min(height, width)
    if side >= win:
        return win
    if protocol == "rgb" or side < 3:
        raise ValueError(f"SSIM needs images of at least {win if protocol == 'rgb' else 3} px a side, "
                         f"got {height}x{width}.")
    fit = side if side % 2 else side - 1
    warnings.warn(
        f"SSIM (protocol='edgeconnect'): {height}x{width} images are smaller than EdgeConnect's {win}x{win} "
        f"window; using the largest odd window that fits, {fit}x{fit}. These values are not on Table 1's scale.",
        stacklevel=3,
    )
    return fit


def _box_filter_valid(x: torch.Tensor, win: int) -> torch.Tensor:
    """Mean over every win x win window lying fully inside the image: (B, C, H, W) -> (B, C, H-win+1, W-win+1).

    This is scikit-image's ``uniform_filter`` followed by its crop of (win-1)//2 from each border: the
    cropped region holds exactly the windows that never touch the reflected padding. Separable.
    """
    x = F.avg_pool2d(x, (win, 1), stride=1)    # (B, C, H-win+1, W)
    return F.avg_pool2d(x, (1, win), stride=1)  # (B, C, H-win+1, W-win+1)


def ssim(pred: torch.Tensor, target: torch.Tensor, protocol: str = "edgeconnect",
         backend: str = "auto") -> torch.Tensor:
    """Mean SSIM per image, (N,), as ``skimage.metrics.structural_similarity`` with a uniform window.

    pred, target: RGB (N, 3, H, W) in [0, 1]. ``edgeconnect``: on ``rgb2gray`` images, 51x51 window
    (smaller images: largest odd window that fits, with a warning); ``rgb``: per channel, 7x7
    window, averaged over channels. data_range = 1, K1 = 0.01, K2 = 0.03, sample covariance.

    ``backend``: ``"torch"`` computes the whole batch in float64 on the input's device;
    ``"skimage"`` calls scikit-image image by image; ``"auto"`` (default) takes torch for CUDA
    tensors and scikit-image on the CPU, where its running-sum filter is the faster of the two
    (``benchmarks/bench_metrics.py``). Both give the same numbers (tested to 1e-6).
    """
    p, t = _protocol_images(pred, target, protocol)
    n, c, h, w = p.shape
    win = ssim_window(h, w, protocol)
    if backend == "auto":
        backend = "torch" if p.is_cuda else "skimage"
    if backend == "skimage":
        return _ssim_skimage(p, t, win).to(pred.device)
    if backend != "torch":
        raise ValueError(f"backend={backend!r}: choose 'auto', 'torch' or 'skimage'.")
    p, t = p.double(), t.double()
    stats = _box_filter_valid(torch.cat([p, t, p * p, t * t, p * t], dim=1), win)  # (N, 5C, h', w')
    ux, uy, uxx, uyy, uxy = stats.split(c, dim=1)                                   # 5 x (N, C, h', w')
    cov_norm = win * win / (win * win - 1)  # sample covariance, skimage's default
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2   # (K * data_range)^2 with data_range = 1
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    return s.flatten(2).mean(2).mean(1)  # per channel, then over channels: (N,)


def _ssim_skimage(p: torch.Tensor, t: torch.Tensor, win: int) -> torch.Tensor:
    """scikit-image's SSIM image by image on (N, C, H, W) tensors; C = 1 (gray) or 3 (RGB)."""
    from skimage.metrics import structural_similarity

    p_np, t_np = p.cpu().permute(0, 2, 3, 1).numpy(), t.cpu().permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
    values = [
        structural_similarity(ti, pi, data_range=1, win_size=win, channel_axis=-1)  # C = 1: same as 2-D
        for pi, ti in zip(p_np, t_np)
    ]
    return torch.tensor(values, dtype=torch.float64)


def relative_mae(pred: torch.Tensor, target: torch.Tensor, protocol: str = "edgeconnect") -> torch.Tensor:
    """EdgeConnect's relative mean absolute error per image, (N,).

    ``edgeconnect``: its ``scripts/metrics.py`` (the reported MAE): on ``rgb2gray`` images,
    ``sum|t - p| / sum(t + p)``. ``rgb``: its training log (``edge_connect.py``): on RGB,
    ``sum|t - p| / sum(t)``. pred, target: RGB (N, 3, H, W) in [0, 1].
    """
    p, t = (x.double() for x in _protocol_images(pred, target, protocol))
    num = (t - p).abs().flatten(1).sum(1)
    den = (t + p if protocol == "edgeconnect" else t).flatten(1).sum(1)
    return num / den


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """Round values in [0, 1] to the nearest of 256 levels, ``(x * 255).round() / 255``: what reading an
    8-bit PNG back gives, as EdgeConnect does with its outputs."""
    return (x * 255).round() / 255


def table1_scores(output: torch.Tensor, target: torch.Tensor, protocol: str = "edgeconnect") -> dict[str, torch.Tensor]:
    """Table 1's scores per image: {"psnr", "ssim", "mae"}, each (N,).

    ``output``: the composited prediction (N, 3, H, W), clamped to [0, 1] and rounded to 8 bits here
    (:func:`quantize_8bit`); ``target``: the original images, RGB in [0, 1]. Then :func:`psnr`,
    :func:`ssim` and :func:`relative_mae` under ``protocol`` over the whole image. Notebook 06's Table 1
    (:func:`inpaintkit.evaluate.evaluate`) and notebook 03's ablation (:func:`inpaintkit.ablation.evaluate`)
    both score through this function, so their numbers are on one scale.
    """
    out = quantize_8bit(output.float().clamp(0, 1))
    return {"psnr": psnr(out, target, protocol), "ssim": ssim(out, target, protocol),
            "mae": relative_mae(out, target, protocol)}


# ---- sketches in the hole --------------------------------------------------------------------


def sketch_scores(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    threshold: float = 0.5,
    per_image: bool = False,
    tolerance: int = 0,
) -> dict:
    """Binary edge classification scores inside the hole: accuracy, precision, recall, F1.

    ``tolerance`` (pixels, default 0 = exact): a predicted edge pixel counts as right when a true one lies
    within ``tolerance`` pixels (chessboard distance), and a true one as found when a predicted one does, as
    edge benchmarks (BSDS) match edges with a small slack; one-pixel-wide lines one pixel off score 0 exactly.
    Accuracy stays exact.

    pred, target: sketches (N, 1, H, W) in [0, 1], binarised as ``> threshold`` (EdgeConnect's
    ``EdgeAccuracy``). mask: the paper's M, (N, 1, H, W), 1 = known, 0 = hole; only hole pixels
    (M == 0) count. Accuracy alone is dominated by the many non-edge pixels, hence the other three.

    ``per_image=False`` (default): counts pooled over the whole batch, a dict of floats.
    ``per_image=True``: one value per image, a dict of (N,) tensors (an image without hole pixels
    gets NaN). Edge cases, EdgeConnect's convention: with no predicted and no true edge pixels,
    precision = recall = F1 = 1; otherwise an empty denominator gives 0 (no predicted edges ->
    precision 0; no true edges -> recall 0).
    """
    if pred.shape != target.shape or pred.ndim != 4 or pred.shape[1] != 1:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} "
                         "must both be sketches (N, 1, H, W).")
    if mask.shape != pred.shape:
        raise ValueError(f"mask {tuple(mask.shape)} must have the sketches' shape {tuple(pred.shape)} (N, 1, H, W).")
    if not torch.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must be binary (1 = known, 0 = hole); threshold it first, e.g. (m > 0.5).float().")
    hole = mask == 0
    p, t = (pred > threshold) & hole, (target > threshold) & hole
    dims = (1, 2, 3) if per_image else (0, 1, 2, 3)

    def count(x):
        return x.sum(dim=dims).double()

    n_hole, tp = count(hole), count(p & t)
    n_pred, n_true = count(p), count(t)

    def near(x):  # dilated
        return F.max_pool2d(x.float(), 2 * tolerance + 1, stride=1, padding=tolerance) > 0

    tp_pred, tp_true = (count(p & near(t)), count(t & near(p))) if tolerance else (tp, tp)
    correct = n_hole - count(p ^ t)  # hole pixels where the binarised sketches agree
    if not per_image and n_hole == 0:
        raise ValueError("sketch_scores: the masks have no hole pixels (M == 0); nothing to score.")
    both_empty = (n_pred == 0) & (n_true == 0)
    one = torch.ones_like(tp)
    precision = torch.where(both_empty, one, tp_pred / n_pred.clamp_min(1))
    recall = torch.where(both_empty, one, tp_true / n_true.clamp_min(1))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall), torch.zeros_like(tp))
    out = {"accuracy": correct / n_hole, "precision": precision, "recall": recall, "f1": f1}
    if per_image:
        nan = torch.full_like(tp, float("nan"))
        return {k: torch.where(n_hole > 0, v, nan) for k, v in out.items()}
    return {k: float(v) for k, v in out.items()}


# ---- intervals and aggregation ---------------------------------------------------------------


def bootstrap_ci(values, n_boot: int = 1000, alpha: float = 0.05, seed: int = 0,
                 groups=None) -> tuple[float, float, float]:
    """Percentile bootstrap of the mean: ``(mean, lo, hi)`` with a (1 - alpha) interval.

    Resamples the values with replacement ``n_boot`` times (numpy, seeded: the same seed gives the
    same interval). Non-finite values raise: drop or explain them first.
    ``groups``: one label per value (e.g. the photograph a crop was cut from). Then whole groups are
    resampled (the cluster bootstrap): overlapping crops of one photograph are not independent samples,
    and resampling them one by one gives intervals that are too narrow.
    """
    if groups is not None:
        return _cluster_bootstrap_ci(values, groups, n_boot, alpha, seed)
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("bootstrap_ci: no values.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"bootstrap_ci: {int((~np.isfinite(x)).sum())} of {x.size} values are NaN or inf; "
                         "drop them first.")
    if not 0 < alpha < 1 or n_boot < 1:
        raise ValueError(f"bootstrap_ci: need 0 < alpha < 1 and n_boot >= 1, got alpha={alpha}, n_boot={n_boot}.")
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    chunk = max(1, 2_000_000 // x.size)  # bound the index array's memory
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        means[start:start + k] = x[rng.integers(0, x.size, size=(k, x.size))].mean(axis=1)
    lo, hi = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(x.mean()), float(lo), float(hi)


def _cluster_bootstrap_ci(values, groups, n_boot: int, alpha: float, seed: int) -> tuple[float, float, float]:
    x = np.asarray(values, dtype=np.float64).ravel()
    labels = list(groups)
    if x.size == 0 or len(labels) != x.size:
        raise ValueError(f"bootstrap_ci: {x.size} values and {len(labels)} group labels; give one label per value.")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"bootstrap_ci: {int((~np.isfinite(x)).sum())} of {x.size} values are NaN or inf; "
                         "drop them first.")
    names, index = np.unique(np.asarray(labels, dtype=str), return_inverse=True)
    sums, counts = np.bincount(index, weights=x), np.bincount(index).astype(np.float64)   # per group
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(names), size=(n_boot, len(names)))                       # groups, with replacement
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    lo, hi = np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(x.mean()), float(lo), float(hi)


# Fewer independent groups (photographs) than this and a paired difference is not decided by its interval. With G
# groups a cluster-bootstrap resample that draws one group G times has probability G**(1 - G): 50 % at 2, 11 % at
# 3, 1.6 % at 4, 0.16 % at 5. Below 5 the 2.5 / 97.5 % percentiles are (nearly) the lowest and highest group
# means, so the "95 % interval" is the range of a few means, and with so few clusters its real coverage is far
# below 95 %: a verdict there would claim more than the data hold.
MIN_GROUPS = 5


@dataclass(frozen=True)
class PairedVerdict:
    """What paired differences (A minus B, one per test image) say: their mean, its (1 - alpha) bootstrap interval
    [lo, hi], ``n`` images from ``n_groups`` groups (photographs), and ``verdict``: "<A> better" (lo > 0), "<B>
    better" (hi < 0), "not separated", or "too few photographs (n=G) to decide" when G < the minimum."""

    mean: float
    lo: float
    hi: float
    n: int
    n_groups: int
    verdict: str
    decided: bool            # False when there are too few groups for the interval to decide

    def __str__(self) -> str:
        groups = f" from {self.n_groups} photographs" if self.n_groups < self.n else ""
        return f"{self.mean:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}] over {self.n} images{groups}: {self.verdict}"

    def target(self) -> str:
        """How a target "A above B" reads: "met" / "missed" by the interval; "met on the mean, not decided by the
        interval" (or "missed ...") where it straddles zero; "met on the mean only" (or "missed ...") where there
        are too few photographs for the interval to decide (the verdict says so)."""
        on_mean = "met on the mean" if self.mean > 0 else "missed on the mean"
        if not self.decided:
            return f"{on_mean} only"
        return "met" if self.lo > 0 else "missed" if self.hi < 0 else f"{on_mean}, not decided by the interval"


def paired_verdict(differences, groups=None, a: str = "A", b: str = "B", min_groups: int = MIN_GROUPS,
                   n_boot: int = 1000, alpha: float = 0.05, seed: int = 0) -> PairedVerdict:
    """A verdict on paired per-image differences ``A - B`` (same image, same mask): :class:`PairedVerdict`.

    The interval is :func:`bootstrap_ci`'s, resampling whole ``groups`` (one label per difference: the
    photograph each test image was cut from) when given, each difference on its own when None (Places2: one
    image per scene). Below ``min_groups`` groups (:data:`MIN_GROUPS`) the verdict is "too few photographs
    (n=G) to decide", whatever the interval, which is then little more than the range of the groups' means.
    """
    x = np.asarray(differences, dtype=np.float64).ravel()
    labels = None if groups is None else list(groups)
    mean, lo, hi = bootstrap_ci(x, n_boot, alpha, seed, labels)
    n_groups = x.size if labels is None else len(set(labels))
    decided = n_groups >= min_groups
    if not decided:
        verdict = f"too few photographs (n={n_groups}) to decide"
    else:
        verdict = f"{a} better" if lo > 0 else f"{b} better" if hi < 0 else "not separated"
    return PairedVerdict(mean, lo, hi, int(x.size), n_groups, verdict, decided)


def aggregate_by_bucket(
    records: Iterable[Mapping],
    metrics: Iterable[str] | None = None,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict:
    """Per (method, bucket, metric): mean, bootstrap (1 - alpha) interval and n.

    records: dicts ``{"method": ..., "bucket": ..., "psnr": ..., "ssim": ..., ...}``, one per image;
    the bucket is taken as given (see :func:`inpaintkit.masks.bucket_of`). ``metrics``: which keys to
    aggregate; default: every other key holding a number. Records with a ``"group"`` (e.g. the photograph an
    image was cut from) get cluster-bootstrap intervals that resample groups, and ``n_groups``. Non-finite
    values (e.g. PSNR of an image with no hole) are left out and counted in ``n_dropped``.

    Returns ``{method: {bucket: {metric: {"mean", "lo", "hi", "n", "n_dropped"}}}}``, methods and
    buckets in order of first appearance.
    """
    groups: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    wanted = None if metrics is None else list(metrics)
    for i, r in enumerate(records):
        if "method" not in r or "bucket" not in r:
            raise ValueError(f"record {i} lacks 'method' or 'bucket': {dict(r)}")
        keys = wanted if wanted is not None else [
            k for k, v in r.items() if k not in ("method", "bucket") and isinstance(v, (int, float, np.number))
            and not isinstance(v, bool)
        ]
        for k in keys:
            if k not in r:
                raise ValueError(f"record {i} ({r['method']}, {r['bucket']}) lacks metric {k!r}.")
            groups[r["method"]][r["bucket"]][k].append((float(r[k]), r.get("group")))
    out: dict = {}
    for method, buckets in groups.items():
        for bucket, per_metric in buckets.items():
            for k, pairs in per_metric.items():
                kept = [(v, g) for v, g in pairs if math.isfinite(v)]
                finite, labels = [v for v, _ in kept], [g for _, g in kept]
                grouped = bool(labels) and all(g is not None for g in labels)
                entry = {"mean": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": len(finite),
                         "n_dropped": len(pairs) - len(finite)}
                if grouped:
                    entry["n_groups"] = len(set(labels))
                if finite:
                    entry["mean"], entry["lo"], entry["hi"] = bootstrap_ci(finite, n_boot, alpha, seed,
                                                                           labels if grouped else None)
                out.setdefault(method, {}).setdefault(bucket, {})[k] = entry
    return out


# ---- LPIPS / FID: only with local weights ----------------------------------------------------


def lpips_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """LPIPS (AlexNet) per image, (N,), where the ``lpips`` package and its weights are on disk; else None.

    pred, target: RGB (N, 3, H, W) in [0, 1]. Nothing is downloaded: without the package, or without
    torchvision's ImageNet AlexNet weights in torch hub's cache, this returns None and :func:`optional_metrics`
    says why. FID is left out (it needs Inception weights and thousands of images; report PSNR / SSIM instead).
    """
    if optional_metrics()["lpips"] is not None:
        return None
    import lpips  # noqa: PLC0415 (optional dependency)

    model = lpips.LPIPS(net="alex", verbose=False).to(pred.device).eval()
    with torch.no_grad():
        return model(pred * 2 - 1, target * 2 - 1).flatten()  # LPIPS expects [-1, 1]


_LPIPS_ALEXNET_FILE = "alexnet-owt-7be5be79.pth"  # torchvision's AlexNet_Weights.IMAGENET1K_V1


def optional_metrics() -> dict[str, str | None]:
    """For LPIPS and FID: None where the metric can run offline here, else the reason it is left out."""
    from pathlib import Path

    notes: dict[str, str | None] = {}
    try:
        import lpips  # noqa: F401, PLC0415
    except ImportError:
        notes["lpips"] = "left out: the 'lpips' package is not installed"
    else:
        f = Path(torch.hub.get_dir()) / "checkpoints" / _LPIPS_ALEXNET_FILE
        notes["lpips"] = None if f.is_file() else f"left out: AlexNet ImageNet weights not in {f.parent}"
    notes["fid"] = "left out: needs Inception weights and thousands of images; not computed by this kit"
    return notes
