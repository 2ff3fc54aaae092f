"""Two-stage inference (Section 3, Eq. 9-10): image + mask -> repaired sketch -> inpainted image.

    S          = sketch(I)                              the FULL image's sketch (HED by default)
    S_pred     = Gs([I_gray * M, S * M], M)             Eq. 9 (Gs blanks the hole itself)
    S_comp     = S_pred * (1 - M) + S * M               composite sketch
    I_pred     = Gi([I * M, S_comp, M])                 Eq. 10 (Gi blanks the hole itself)
    I_comp     = I_pred * (1 - M) + I * M               the result

Where Gi starts from the fill (the CPU-sized profiles), :attr:`Inpainter.correction` says whether its learned
correction is applied or the fill alone is served (a correction that scores below its own fill on the val split
is switched off: ``serving.json`` of a run, ``gi_correction`` of the shipped weights). Where the run has a joint
stage (Gs trained through the fill), that Gs serves, its probabilities passed on as soft lines.

``M`` is the paper's mask: 1 = known pixel, 0 = hole. The sketch is taken from the full image and
masked afterwards, never the other way round: HED draws thick outlines along a hole's border
otherwise (docs/paper_reading.md, "Sketches").

:class:`Inpainter` accepts a numpy image (HxWx3 uint8, or float in [0, 1]; RGBA is composited on
white and grayscale repeated to RGB) or a tensor (3, H, W) / (N, 3, H, W) of any size up to
:data:`inpaintkit.limits.INPAINT_MAX_PIXELS` (2048 x 2048) per image and aspect ratio
:data:`~inpaintkit.limits.MAX_ASPECT` (64:1); larger, empty or more elongated images are refused with a
ValueError naming the limit (shrink them first, e.g. ``inpaintkit.widgets.fit_image``). It pads to a
multiple of 16 (reflect) and crops back. It loads its generators from a training run
(:meth:`Inpainter.from_run`) or the shipped demo weights (:meth:`Inpainter.from_pretrained`, which
describe themselves through :class:`WeightsInfo`, as torchvision's weights objects do).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .checkpoints import generator_files, load_generator, read_generator_file, stage_dir
from .config import Profile, resolve_device
from .files import atomic_path, atomic_write_text, open_regular
from .fill import smooth_fill
from .images import as_float_rgb, as_rgb
from .limits import INPAINT_MAX_PIXELS, MAX_CHECKPOINT_BYTES, MAX_TEXT_BYTES, check_image_size
from .metrics import rgb_to_gray
from .networks import (
    DOWNSAMPLE,
    ImageGenerator,
    SketchGenerator,
    composite,
    count_parameters,
    image_generator,
    sketch_generator,
)
from .sketches import SketchSpec, binarize, canny_sketch, hed_sketch

__all__ = ["WEIGHTS_DIR", "DEMO_WEIGHTS_JSON", "SERVING_JSON", "InpaintResult", "file_sha256", "WeightsInfo",
           "export_weights", "pad_to_multiple", "Inpainter", "read_serving", "write_serving", "write_strength"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEMO_WEIGHTS_JSON = "demo.json"
SERVING_JSON = "serving.json"   # a run's serving choices (Gi's correction on or off), measured on the val split


# ---------------------------------------------------------------------------------------------- results

@dataclass
class InpaintResult:
    """What :class:`Inpainter` returns.

    ``image``: the composited result, the same kind, dtype, layout and size as the input image
    (numpy HxWx3 uint8 in -> uint8 out, float in -> float out, tensor (3,H,W)/(N,3,H,W) in -> tensor out on
    the input's device); known pixels are the input's own values, exactly.
    ``sketch``: the composite repaired sketch S_comp, ``sketch_pred``: Gs's raw prediction S_pred (None from
    :meth:`Inpainter.complete`), ``input_sketch``: the full image's sketch S before masking, ``mask``: M
    (1 = known). Those four are float32 numpy arrays HxW (N x H x W for a batched tensor input).
    ``seconds``: wall time of the call (sketch extraction included).
    """

    image: Any
    sketch: np.ndarray
    sketch_pred: np.ndarray | None
    input_sketch: np.ndarray
    mask: np.ndarray
    seconds: float


# ---------------------------------------------------------------------------------------------- weights

def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open_regular(path, "weights file", MAX_CHECKPOINT_BYTES) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class WeightsInfo:
    """Demo weights that describe themselves (torchvision's ``Weights`` objects are the model).

    Read from ``inpaintkit/weights/demo.json``. ``files`` maps "gs" / "gi" to file names next to the JSON,
    ``sha256`` the same keys to the files' checksums (verified by :meth:`load_generators`),
    ``num_params`` to trainable parameter counts, ``profile`` is the training profile as a dict, ``block``
    Gi's conv block, ``sketch`` the :class:`SketchSpec` fields used in training, ``commands`` the exact
    commands that produced the weights, ``data`` the training data, ``steps`` the training steps per stage,
    ``metrics`` their scores on the demo test split, ``vgg_source`` the VGG behind the perceptual/style
    losses, ``dtype`` the storage dtype (loaded back as float32), ``notes`` anything else worth knowing;
    ``gi_correction``, ``gs_output`` and ``sketch_strength`` how they serve (:class:`Inpainter`'s ``correction``,
    ``finish_sketch`` and ``sketch_strength``),
    ``files["gs_stage1"]`` (optional) the Gs before the joint stage, for the ladder of notebook 06.
    """

    name: str
    files: dict
    sha256: dict
    num_params: dict
    profile: dict
    block: str
    sketch: dict
    commands: list
    data: str
    steps: dict
    metrics: dict
    vgg_source: str
    dtype: str = "float16"
    notes: dict = field(default_factory=dict)
    work_size: int | None = None  # long side the generators run at (None: the training profile's image_size)
    gs_threshold: float | None = None  # where Gs's output counts as an edge (chosen on the val split); None: the spec's
    sources: dict = field(default_factory=dict)  # each training photograph's origin and licence
    gi_correction: bool = True  # apply Gi's learned correction (False: the fill alone serves; measured on val)
    gs_output: str = "binary"  # Gs's output before Gi: "binary" (thresholded as the spec) or "soft" (joint-trained)
    sketch_strength: float = 1.0  # Gs's lines in the hole scaled by this before stage 2 (chosen on val)
    root: str = ""  # folder of the files (filled in by from_json, not stored)

    @classmethod
    def from_json(cls, path: str | os.PathLike | None = None) -> "WeightsInfo":
        """Read the metadata (default: the shipped ``inpaintkit/weights/demo.json``)."""
        path = Path(path) if path is not None else WEIGHTS_DIR / DEMO_WEIGHTS_JSON
        if not path.is_file():
            raise FileNotFoundError(
                f"No demo weights metadata at {path}. The package ships it as inpaintkit/weights/{DEMO_WEIGHTS_JSON}; "
                "reinstall inpaintkit, or train your own weights and use Inpainter.from_run(run_dir).")
        with open_regular(path, "weights metadata", MAX_TEXT_BYTES, text=True) as f:
            d = json.load(f)
        d.pop("root", None)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known}, root=str(path.parent))

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the metadata atomically (``root`` is not stored)."""
        d = asdict(self)
        d.pop("root")
        _atomic_write_text(Path(path), json.dumps(d, indent=2) + "\n")

    @property
    def sketch_spec(self) -> SketchSpec:
        return SketchSpec(**self.sketch)

    def path(self, stage: str) -> Path:
        return Path(self.root) / self.files[stage]

    def verify(self) -> None:
        """Raise a ValueError if a weights file's sha256 differs from the metadata (FileNotFoundError if missing)."""
        for stage in self.files:
            p = self.path(stage)
            if not p.is_file():
                raise FileNotFoundError(f"Demo weights file {p} is missing; reinstall inpaintkit.")
            got = file_sha256(p)
            if got != self.sha256[stage]:
                raise ValueError(
                    f"Demo weights {p} have sha256 {got[:16]}..., the metadata says {self.sha256[stage][:16]}...: "
                    "the file is corrupt or was replaced. Reinstall inpaintkit (or re-export the weights).")

    def load_generators(self, verify: bool = True) -> tuple[SketchGenerator, ImageGenerator]:
        """(Gs, Gi) in float32 on the CPU, checksums verified first."""
        if verify:
            self.verify()
        prof = Profile.from_dict(self.profile)
        gs = sketch_generator(prof.gs_channels, skips=prof.skips)
        gi = image_generator(prof.gi_channels, block=self.block, skips=prof.skips, prefill=prof.prefill)
        for net, stage in ((gs, "gs"), (gi, "gi")):
            with open_regular(self.path(stage), "weights file", MAX_CHECKPOINT_BYTES) as f:
                state = torch.load(f, map_location="cpu", weights_only=True)
            net.load_state_dict({k: v.float() for k, v in state.items()})
        return gs, gi

    def load_stage1_gs(self) -> SketchGenerator | None:
        """The Gs before the joint stage (``files["gs_stage1"]``), or None where the weights ship none."""
        if "gs_stage1" not in self.files:
            return None
        prof = Profile.from_dict(self.profile)
        gs = sketch_generator(prof.gs_channels, skips=prof.skips)
        state = torch.load(self.path("gs_stage1"), map_location="cpu", weights_only=True)
        gs.load_state_dict({k: v.float() for k, v in state.items()})
        return gs.eval()


def export_weights(gs: SketchGenerator, gi: ImageGenerator, out_dir: str | os.PathLike,
                   gs_stage1: SketchGenerator | None = None, **metadata) -> WeightsInfo:
    """Write Gs and Gi as float16 state dicts ``demo_gs.pt`` / ``demo_gi.pt`` plus ``demo.json`` in ``out_dir``
    (and ``demo_gs_stage1.pt``, the Gs before the joint stage, when given).

    ``metadata``: the :class:`WeightsInfo` fields other than files, sha256, num_params and dtype (name,
    profile, block, sketch, commands, data, steps, metrics, vgg_source, notes). Returns the written info.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, sha = {}, {}
    nets = ((gs, "gs"), (gi, "gi")) + (((gs_stage1, "gs_stage1"),) if gs_stage1 is not None else ())
    for net, stage in nets:
        name = f"demo_{stage}.pt"
        state = {k: v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()
                 for k, v in net.state_dict().items()}
        with atomic_path(out / name) as tmp:
            torch.save(state, tmp)
        files[stage], sha[stage] = name, file_sha256(out / name)
    info = WeightsInfo(files=files, sha256=sha, dtype="float16",
                       num_params={"gs": count_parameters(gs), "gi": count_parameters(gi)},
                       root=str(out), **metadata)
    info.to_json(out / DEMO_WEIGHTS_JSON)
    return info


_atomic_write_text = atomic_write_text


# ---------------------------------------------------------------------------------------------- inputs

@dataclass
class _Layout:
    """How the caller's image was given, so the result goes back the same way."""

    kind: str            # "numpy" or "tensor"
    batched: bool        # (N, 3, H, W) tensor
    original: Any        # the caller's pixels as RGB, in the caller's dtype (numpy HxWx3 / tensor)
    dtype: Any
    device: Any = None


def _image_to_tensor(image) -> tuple[torch.Tensor, _Layout]:
    """numpy HxW / HxWx3 / HxWx4 (uint8 or float in [0, 1]) or tensor (3,H,W) / (N,3,H,W) -> (N,3,H,W) float32."""
    if isinstance(image, torch.Tensor):
        batched = image.dim() == 4
        if image.dim() not in (3, 4) or image.shape[-3] != 3:
            raise ValueError(f"A tensor image must be (3, H, W) or (N, 3, H, W) RGB; got shape {tuple(image.shape)}. "
                             "Convert grayscale with x.expand(3, -1, -1) and drop an alpha channel first.")
        check_image_size(image.shape[-1], image.shape[-2], "image", INPAINT_MAX_PIXELS)
        x = image if batched else image[None]
        layout = _Layout("tensor", batched, image, image.dtype, image.device)
        x = _to_unit_float(x.detach().cpu(), "image")
        return x, layout
    if not isinstance(image, np.ndarray):
        raise ValueError("image must be a numpy array (HxWx3) or a torch tensor ((N,)3xHxW); "
                         f"got {type(image).__name__}.")
    # gray / RGBA / dtype / range / size: one path (inpaintkit.images); RGBA is composited on white
    x = as_float_rgb(image, max_pixels=INPAINT_MAX_PIXELS)                 # (H, W, 3) float32 in [0, 1]
    a = as_rgb(image, max_pixels=INPAINT_MAX_PIXELS)                       # the same, in the caller's dtype
    layout = _Layout("numpy", False, a, a.dtype)
    return torch.from_numpy(x).permute(2, 0, 1)[None].contiguous(), layout  # (1, 3, H, W)


def _to_unit_float(x: torch.Tensor, what: str) -> torch.Tensor:
    """uint8 -> /255; float must be finite and in [0, 1]; anything else is refused with the fix."""
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point():
        raise ValueError(f"{what} has dtype {x.dtype}; give uint8 (0-255) or float in [0, 1] "
                         "(divide 16-bit images by 65535).")
    x = x.float()
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} holds NaN or inf values.")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"A float {what} must lie in [0, 1]; got [{float(x.min()):.3g}, {float(x.max()):.3g}]. "
                         "Divide 8-bit values by 255.")
    return x


def _mask_to_tensor(mask, n: int, h: int, w: int) -> torch.Tensor:
    """HxW / (1,H,W) / (N,1,H,W) numpy or tensor, 1 = known, 0 = hole -> (N, 1, H, W) float32 in {0, 1}."""
    if isinstance(mask, np.ndarray):
        m = torch.from_numpy(np.ascontiguousarray(mask))
    elif isinstance(mask, torch.Tensor):
        m = mask.detach().cpu()
    else:
        raise ValueError("mask must be a numpy array or a tensor (HxW, 1 = known, 0 = hole); "
                         f"got {type(mask).__name__}.")
    shape = tuple(m.shape)
    if m.dim() == 2:
        m = m[None, None]                                # (1, 1, H, W)
    elif m.dim() == 3 and m.shape[0] == 1:
        m = m[None]                                      # (1, 1, H, W)
    if m.dim() != 4 or m.shape[1] != 1 or m.shape[0] not in (1, n):
        raise ValueError(f"mask has shape {shape}; give HxW, (1, H, W) or ({n}, 1, H, W), one channel, 1 = known.")
    if tuple(m.shape[-2:]) != (h, w):
        raise ValueError(f"mask is {m.shape[-2]}x{m.shape[-1]} but the image is {h}x{w}; they must match "
                         "(resize the mask with nearest-neighbour interpolation).")
    m = m.float()
    values = torch.unique(m)
    if not bool(((values == 0) | (values == 1)).all()):
        shown = ", ".join(f"{float(v):g}" for v in values[:6])
        hint = " It looks like 0/255: use mask // 255 (white = known)." if set(values.tolist()) <= {0.0, 255.0} else ""
        raise ValueError(f"mask must be binary, 1 = known pixel and 0 = hole; it holds {shown}.{hint} "
                         "Threshold it first, e.g. (mask > 0.5).")
    return m.expand(n, 1, h, w).contiguous()


def _sketch_to_tensor(sketch, n: int, h: int, w: int) -> torch.Tensor:
    """A user's sketch HxW / (1,H,W) / (N,1,H,W) in [0, 1] -> (N, 1, H, W) float32."""
    if isinstance(sketch, np.ndarray):
        s = torch.from_numpy(np.ascontiguousarray(sketch))
    elif isinstance(sketch, torch.Tensor):
        s = sketch.detach().cpu()
    else:
        raise ValueError(f"sketch must be a numpy array or a tensor (HxW in [0, 1]); got {type(sketch).__name__}.")
    shape = tuple(s.shape)
    s = s.reshape(1, 1, *s.shape) if s.dim() == 2 else (s[None] if s.dim() == 3 else s)  # (N?, 1, H, W)
    if s.dim() != 4 or s.shape[1] != 1 or s.shape[0] not in (1, n) or tuple(s.shape[-2:]) != (h, w):
        raise ValueError(f"sketch has shape {shape}; give {h}x{w} (or ({n}, 1, {h}, {w})), single-channel, in [0, 1].")
    s = _to_unit_float(s.float() if s.dtype == torch.bool else s, "sketch")
    return s.expand(n, 1, h, w).contiguous()


def pad_to_multiple(x: torch.Tensor, multiple: int = DOWNSAMPLE) -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom and right to multiples of ``multiple`` by reflection.

    Reflection keeps the border's statistics; where the pad is wider than the image allows (tiny images),
    the edge is replicated instead. Crop back with ``y[..., :H, :W]``.
    """
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)  # (N, C, H + ph, W + pw)


# ---------------------------------------------------------------------------------------------- the pipeline

def _check_parts(sketch_generator, image_generator, sketch_spec) -> None:
    """ValueError unless the Inpainter's parts are a Gs, a Gi and a SketchSpec."""
    if not isinstance(sketch_generator, SketchGenerator):
        raise ValueError(f"sketch_generator must be a SketchGenerator (Gs), got {type(sketch_generator).__name__}.")
    if not isinstance(image_generator, ImageGenerator):
        raise ValueError(f"image_generator must be an ImageGenerator (Gi), got {type(image_generator).__name__}.")
    if not isinstance(sketch_spec, SketchSpec):
        raise ValueError(f"sketch_spec must be a SketchSpec, got {sketch_spec!r}.")


class Inpainter:
    """Two-stage sketch-guided inpainting (Eq. 9-10) with a sketch generator Gs and an image generator Gi.

    ``inpainter(image, mask) -> InpaintResult``; ``mask`` is M, 1 = known, 0 = hole, HxW (or (N,1,H,W) for a
    batch). ``sketch_spec`` says how the input sketch is made; it should be the one the generators were
    trained with (``profile.sketch_spec()``; :meth:`from_run` and :meth:`from_pretrained` read it from the
    weights); ``SketchSpec(method="canny")`` for Canny. ``hed``: an already loaded HED (else loaded on first use).
    """

    def __init__(self, sketch_generator: SketchGenerator, image_generator: ImageGenerator,
                 sketch_spec: SketchSpec = SketchSpec(), hed=None, device: str = "auto"):
        _check_parts(sketch_generator, image_generator, sketch_spec)
        self.device = resolve_device(device)
        self.gs = sketch_generator.to(self.device).eval()
        self.gi = image_generator.to(self.device).eval()
        self.sketch_spec = sketch_spec
        self.hed = hed.to(self.device).eval() if hed is not None else None
        # Gs's sigmoid output is binarised (and thinned) by the sketch spec before stage 2, as the training
        # sketches were; False feeds the soft probabilities (a Gs trained through the fill learned them as such)
        self.finish_sketch = True
        self.gs_threshold: float | None = None   # that binarisation's threshold; None: the sketch spec's
        # Gi that starts from the fill (prefill): apply its learned correction (True), or serve the fill alone
        self.correction = True
        # Gs's lines in the hole scaled by this before stage 2 (1: as drawn; weaker = leakier barriers), chosen on
        # the val split (inpaintkit.evaluate.choose_strength; serving.json / demo.json), never on the test photos
        self.sketch_strength = 1.0
        # the Gs before the joint stage, when the weights have one: notebook 06's ladder compares the two
        self.stage1_gs: SketchGenerator | None = None
        # Long side the generators run at: a larger image is shrunk to it, inpainted, and the filled hole is
        # scaled back and pasted into the full-size image (its known pixels untouched). None: any size.
        # from_pretrained / from_run set it to the size the weights were trained (and evaluated) at.
        self.work_size: int | None = None
        self.weights: WeightsInfo | None = None  # set by from_pretrained

    def __repr__(self) -> str:
        fill = "" if not self.gi.prefill else (", Gi corrects the fill" if self.correction else ", the fill alone")
        return (f"Inpainter(Gs base {self.gs.base_channels}, Gi base {self.gi.base_channels} ({self.gi.block}), "
                f"sketch={self.sketch_spec}{fill}, device={self.device})")

    def variant(self, **changes) -> "Inpainter":
        """A shallow copy with some attributes changed (``gs=``, ``correction=``, ``finish_sketch=``...): the
        networks and HED are shared, not copied. Notebook 06's ladder runs its columns this way."""
        import copy

        other = copy.copy(self)
        for name, value in changes.items():
            if not hasattr(self, name):
                raise AttributeError(f"Inpainter has no attribute {name!r} to change.")
            setattr(other, name, value)
        return other

    # -- constructors
    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, device: str = "auto", sketch_spec: SketchSpec | None = None,
                 hed=None) -> "Inpainter":
        """Load Gs from ``<run_dir>/stage1`` and Gi from ``<run_dir>/stage2`` (written by ``inpaintkit.train``).

        Where the run has a joint stage (``<run_dir>/joint``), its Gs serves, soft, and stage 1's is kept as
        :attr:`stage1_gs`. Gi's correction is on unless the run's ``serving.json`` (:func:`write_serving`) says
        it lost to its own fill on the val split; the sketch strength is the one ``serving.json`` holds (1).
        The sketch spec is the one the run trained with (the profile's ``sketch_spec()``) unless given.
        """
        run_dir = Path(run_dir)
        gs, spec1 = _load_run_generator(run_dir, 1)
        gi, _ = _load_run_generator(run_dir, 2)
        joint = None
        if any(f.is_file() for f in generator_files(run_dir, "joint")):
            joint, _ = _load_run_generator(run_dir, "joint")
        inp = cls(gs if joint is None else joint, gi, sketch_spec or spec1, hed=hed, device=device)
        if joint is not None:
            inp.stage1_gs, inp.finish_sketch = gs.to(inp.device), False
        inp.work_size = _load_run_profile(run_dir).image_size
        serving = read_serving(run_dir)
        inp.correction = bool(serving.get("gi_correction", True))
        inp.sketch_strength = float(serving.get("sketch_strength", 1.0))
        return inp

    @classmethod
    def from_pretrained(cls, device: str = "auto", hed=None, sketch_spec: SketchSpec | None = None) -> "Inpainter":
        """The shipped demo weights (``inpaintkit/weights/``), checksums verified; see :class:`WeightsInfo`."""
        info = WeightsInfo.from_json()
        gs, gi = info.load_generators(verify=True)
        inp = cls(gs, gi, sketch_spec or info.sketch_spec, hed=hed, device=device)
        inp.weights = info
        inp.work_size = int(info.work_size or info.profile["image_size"])
        inp.gs_threshold = info.gs_threshold
        inp.correction, inp.finish_sketch = bool(info.gi_correction), info.gs_output != "soft"
        inp.sketch_strength = float(info.sketch_strength)
        stage1 = info.load_stage1_gs()
        inp.stage1_gs = None if stage1 is None else stage1.to(inp.device)
        return inp

    # -- the steps
    def _hed(self):
        if self.hed is None:
            from .hed import load_hed

            self.hed = load_hed(device=self.device)
        return self.hed

    @torch.inference_mode()
    def _sketch_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """Full-image sketches (N, 1, H, W) on the CPU of images (N, 3, H, W) in [0, 1] on the CPU."""
        if self.sketch_spec.method == "canny":
            rgb = x.permute(0, 2, 3, 1).numpy()                                   # (N, H, W, 3)
            return torch.from_numpy(np.stack([canny_sketch(r, self.sketch_spec.canny_sigma) for r in rgb]))[:, None]
        return hed_sketch(x.to(self.device), self._hed(), self.sketch_spec).float().cpu()

    def sketch(self, image) -> np.ndarray:
        """The sketch of a full image with this inpainter's spec: HxW float32 in [0, 1] (N x H x W for a batch).

        Made at the working size (:meth:`working_shape`, as the networks saw it in training) and scaled back."""
        x, layout = _image_to_tensor(image)
        h, w = x.shape[-2:]
        size = self.working_shape(h, w)
        if size != (h, w):
            xw = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
            s = F.interpolate(self._sketch_tensor(xw), size=(h, w), mode="nearest")[:, 0].numpy()
        else:
            s = self._sketch_tensor(x)[:, 0].numpy()                              # (N, H, W)
        return s if layout.batched else s[0]

    def working_shape(self, h: int, w: int) -> tuple[int, int]:
        """(height, width) the generators run at for an h x w image: long side <= :attr:`work_size`."""
        if not self.work_size or max(h, w) <= self.work_size:
            return h, w
        scale = self.work_size / max(h, w)
        return max(1, round(h * scale)), max(1, round(w * scale))

    @torch.inference_mode()
    def _run(self, x: torch.Tensor, s: torch.Tensor | None, m: torch.Tensor, stage1: bool):
        """Eq. 9-10 at the working size (:meth:`working_shape`); returns (I_pred, S_comp, S_pred, S_in) at the
        input's size (H, W), on the CPU. ``s`` None: the full image's sketch is made here, at the working size."""
        h, w = x.shape[-2:]
        size = self.working_shape(h, w)
        if size == (h, w):
            s = self._sketch_tensor(x) if s is None else s
            return (*self._run_at(x, s, m, stage1), s)
        xw = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)    # (N, 3, h', w')
        mw = (F.interpolate(m, size=size, mode="area") > 0.999).float()  # known only where wholly known
        sw = self._sketch_tensor(xw) if s is None else F.adaptive_max_pool2d(s, size)   # lines survive shrinking
        i_pred, s_comp, s_pred = self._run_at(xw, sw, mw, stage1)
        def up(t, mode):
            return None if t is None else F.interpolate(t, size=(h, w), mode=mode)

        return (F.interpolate(i_pred, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1),
                up(s_comp, "nearest"), up(s_pred, "nearest"), s if s is not None else up(sw, "nearest"))

    @torch.inference_mode()
    def _run_at(self, x: torch.Tensor, s: torch.Tensor, m: torch.Tensor, stage1: bool):
        """Eq. 9-10 on padded copies; returns (I_pred, S_comp, S_pred) cropped to (H, W), on the CPU."""
        h, w = x.shape[-2:]
        dev = self.device
        # Pad image, sketch and mask together by reflection: a padded pixel is known exactly when the pixel
        # it mirrors is known, so no hole content leaks into the "known" border (a border of ones would
        # reflect the hole's pixels in as if they were known).
        xp, sp, mp = (pad_to_multiple(t).to(dev) for t in (x, s, m))             # (N, C, H', W')
        mp = (mp > 0.5).float()
        if stage1:
            s_pred = self.gs(rgb_to_gray(xp), sp, mp)                            # (N, 1, H', W'), Eq. 9
            if self.finish_sketch and self.sketch_spec.threshold is not None:
                # Gi trained on binary (thinned) sketches: give it Gs's prediction in the same form
                s_pred = binarize(s_pred, self.gs_threshold or self.sketch_spec.threshold, self.sketch_spec.thin)
            s_comp = composite(s_pred * self.sketch_strength, sp, mp)            # S_comp
        else:
            s_pred, s_comp = None, sp                                            # the user's sketch is S_comp
        if self.gi.prefill and not self.correction:
            i_pred = smooth_fill(xp, mp, s_comp)                                 # the fill alone
        else:
            i_pred = self.gi(xp, s_comp, mp)                                     # (N, 3, H', W'), Eq. 10
        return tuple(None if t is None else t[..., :h, :w].float().cpu()        # (N, C, H, W)
                     for t in (i_pred, s_comp, s_pred))

    def __call__(self, image, mask, sketch=None) -> InpaintResult:
        """Inpaint ``image`` where ``mask`` (M, 1 = known, 0 = hole) is 0. See :class:`InpaintResult`.

        ``sketch``: the full image's sketch (HxW or (N, 1, H, W), e.g. ``self.sketch(image)``) when it
        is already known; it depends only on the image, so an interactive caller computes it once per
        image and skips HED (most of a CPU inpaint's time) on every later mask.
        """
        t0 = time.perf_counter()
        x, layout = _image_to_tensor(image)
        n, _, h, w = x.shape
        m = _mask_to_tensor(mask, n, h, w)
        s = None if sketch is None else _sketch_to_tensor(sketch, n, h, w)                   # the FULL image's
        i_pred, s_comp, s_pred, s = self._run(x, s, m, stage1=True)
        return self._result(layout, i_pred, m, s_comp, s_pred, s, t0)

    def complete(self, image, sketch, mask) -> InpaintResult:
        """Stage 2 alone (Eq. 10): inpaint with a given composite sketch S_comp (e.g. one edited by hand).

        ``sketch`` HxW (or (N, 1, H, W)) in [0, 1] is used as S_comp everywhere, as given.
        """
        t0 = time.perf_counter()
        x, layout = _image_to_tensor(image)
        n, _, h, w = x.shape
        m = _mask_to_tensor(mask, n, h, w)
        s = _sketch_to_tensor(sketch, n, h, w)
        i_pred, s_comp, _, _ = self._run(x, s, m, stage1=False)
        return self._result(layout, i_pred, m, s_comp, None, s, t0)

    # -- outputs
    def _result(self, layout: _Layout, i_pred, m, s_comp, s_pred, s_in, t0) -> InpaintResult:
        image = _composite_like_input(i_pred, m, layout)
        one = (lambda t: None if t is None else t[:, 0].numpy()) if layout.batched else \
              (lambda t: None if t is None else t[0, 0].numpy())
        return InpaintResult(image=image, sketch=one(s_comp), sketch_pred=one(s_pred), input_sketch=one(s_in),
                             mask=one(m), seconds=time.perf_counter() - t0)


def _composite_like_input(pred: torch.Tensor, m: torch.Tensor, layout: _Layout):
    """I_comp = I_pred * (1 - M) + I * M in the caller's own dtype, so known pixels come back bit-exact."""
    if layout.kind == "numpy":
        p = pred[0].permute(1, 2, 0).numpy()                                     # (H, W, 3) in [0, 1]
        filled = (p * 255).round().astype(np.uint8) if layout.dtype == np.uint8 else p.astype(layout.dtype)
        known = m[0, 0].numpy()[..., None] == 1                                  # (H, W, 1)
        return np.where(known, layout.original, filled)
    orig = layout.original if layout.batched else layout.original[None]          # (N, 3, H, W)
    if layout.dtype == torch.uint8:
        filled = (pred * 255).round().to(torch.uint8)
    else:
        filled = pred.to(layout.dtype)
    out = torch.where(m.to(orig.device) == 1, orig, filled.to(orig.device))      # (N, 3, H, W)
    return out if layout.batched else out[0]


# ---------------------------------------------------------------------------------------------- runs

def read_serving(run_dir) -> dict:
    """The run's ``serving.json`` ({} where there is none): {"gi_correction": bool, "why": str, ...}."""
    path = Path(run_dir) / SERVING_JSON
    return json.loads(path.read_text()) if path.is_file() else {}


def write_serving(run_dir, gi_correction: bool, why: str, **measured) -> Path:
    """Write the run's serving choice for Gi's correction (atomically): whether it is applied, why, and the
    measurements behind it; other choices already in the file (the sketch strength) are kept.
    :meth:`Inpainter.from_run` reads them."""
    keep = {k: v for k, v in read_serving(run_dir).items() if k.startswith("sketch_strength")}
    return _write_serving(run_dir, {**keep, "gi_correction": bool(gi_correction), "why": why, **measured})


def write_strength(run_dir, strength: float, why: str, gain_db: dict) -> Path:
    """Write the run's sketch strength (:attr:`Inpainter.sketch_strength`), why, and the val gains behind it into
    ``serving.json``, keeping the choice on Gi's correction that is already there."""
    keep = {k: v for k, v in read_serving(run_dir).items() if not k.startswith("sketch_strength")}
    return _write_serving(run_dir, {**keep, "sketch_strength": float(strength), "sketch_strength_why": why,
                                    "sketch_strength_gain_db": gain_db})


def _write_serving(run_dir, d: dict) -> Path:
    path = Path(run_dir) / SERVING_JSON
    atomic_write_text(path, json.dumps(d, indent=1))
    return path


def _load_run_profile(run_dir) -> Profile:
    """The profile stage 2 of ``run_dir`` trained with (its generator file's ``profile``)."""
    meta, _ = read_generator_file(generator_files(run_dir, 2), 2, run_dir)
    return Profile.from_dict(meta["profile"])


def _load_run_generator(run_dir: Path, stage: int):
    """(generator, SketchSpec it was trained with) of ``<run_dir>/stage{stage}``.

    Uses :func:`inpaintkit.checkpoints.load_generator` (``generator.pt``, else ``checkpoint.pt``). The sketch
    spec: the ``sketch`` entry the trainer stores (the SketchSpec's fields; "hed"/"canny" also read), else, for
    a run written before it stored one, ``Profile.sketch_spec()`` (HED at the profile's threshold and thinning).
    """
    folder = stage_dir(run_dir, stage)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder} does not exist: train it first with `python -m inpaintkit.train --stage {stage} "
            f"--run-dir {run_dir}` (or use Inpainter.from_pretrained() for the shipped demo weights).")
    net = load_generator(run_dir, stage)
    meta, _ = read_generator_file(generator_files(run_dir, stage), stage, run_dir)
    profile = Profile.from_dict(meta["profile"])
    sketch = meta.get("sketch")
    if isinstance(sketch, dict):
        spec = SketchSpec(**sketch)
    else:  # what the trainers use: the profile's spec (HED unless the checkpoint says "canny")
        spec = profile.sketch_spec(sketch if isinstance(sketch, str) else "hed")
    return net.eval(), spec
