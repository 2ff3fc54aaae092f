"""How long do PSNR + SSIM take for 1,000 images at 256x256? scikit-image per image vs inpaintkit.metrics batched.

    python benchmarks/bench_metrics.py [--images 200] [--size 256] [--batch 50] [--device cpu|cuda|auto]

Times a sample of ``--images`` random image pairs and scales to 1,000 images: scikit-image called
directly, then inpaintkit.metrics (PSNR in torch + SSIM) with each SSIM backend on ``--device``
(tensors moved there batch by batch; the copy is counted). scikit-image is called
exactly as each protocol says (edgeconnect: rgb2gray, data_range=1, win_size=51; rgb:
channel_axis=-1, data_range=1), one image at a time, on float32 arrays (what EdgeConnect reads).
Also prints the largest difference between the two, as a check.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
import numpy as np
import torch
from skimage.color import rgb2gray
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from inpaintkit.config import resolve_device
from inpaintkit.metrics import psnr, ssim


def skimage_metrics(pred: np.ndarray, target: np.ndarray, protocol: str) -> tuple[list, list]:
    ps, ss = [], []
    for p, t in zip(pred, target):  # (H, W, 3) each
        if protocol == "edgeconnect":
            p, t = rgb2gray(p), rgb2gray(t)
            ss.append(structural_similarity(t, p, data_range=1, win_size=51))
        else:
            ss.append(structural_similarity(t, p, data_range=1, channel_axis=-1))
        ps.append(peak_signal_noise_ratio(t, p, data_range=1))
    return ps, ss


def kit_metrics(pred, target, protocol: str, batch: int, device, backend: str) -> tuple[list, list]:
    ps, ss = [], []
    for i in range(0, len(pred), batch):
        p, t = pred[i:i + batch].to(device), target[i:i + batch].to(device)
        ps.append(psnr(p, t, protocol).cpu())
        ss.append(ssim(p, t, protocol, backend=backend).cpu())
    return torch.cat(ps).tolist(), torch.cat(ss).tolist()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = resolve_device(args.device)

    g = torch.Generator().manual_seed(0)
    target = torch.rand(args.images, 3, args.size, args.size, generator=g)
    pred = (target + 0.1 * torch.randn(target.shape, generator=g)).clamp(0, 1)
    pred_np, target_np = pred.permute(0, 2, 3, 1).numpy(), target.permute(0, 2, 3, 1).numpy()

    print(f"{args.images} pairs at {args.size}x{args.size}, torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()}, "
          f"torch threads {torch.get_num_threads()}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    scale = 1000 / args.images
    for protocol in ("edgeconnect", "rgb"):
        t0 = time.perf_counter()
        ref_p, ref_s = skimage_metrics(pred_np, target_np, protocol)
        t_sk = time.perf_counter() - t0

        print(f"{protocol:12s} skimage direct, per image          {t_sk * scale:7.2f} s / 1000 images "
              f"({t_sk / args.images * 1e3:6.2f} ms each)")
        for backend in ("skimage", "torch"):
            kit_metrics(pred[: args.batch], target[: args.batch], protocol, args.batch, device, backend)  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            got_p, got_s = kit_metrics(pred, target, protocol, args.batch, device, backend)
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_kit = time.perf_counter() - t0
            dp = np.max(np.abs(np.array(got_p) - ref_p))
            ds = np.max(np.abs(np.array(got_s) - ref_s))
            print(f"{protocol:12s} inpaintkit backend={backend:7s} ({device.type}, batch {args.batch}) "
                  f"{t_kit * scale:7.2f} s / 1000 images | {t_sk / t_kit:6.1f}x skimage | "
                  f"max |diff| PSNR {dp:.1e} dB, SSIM {ds:.1e}")


if __name__ == "__main__":
    main()
