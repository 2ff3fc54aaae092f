"""Reference methods for the comparison table (Section 4, Table 1).

Every method has one signature::

    method(image, mask) -> HxWx3 float in [0, 1]

with ``image`` an HxWx3 float array in [0, 1] and ``mask`` the paper's M, HxW, **1 = known, 0 = hole**.
The result is composited: known pixels come back unchanged, only the hole is filled.

Classical references (no learning):

* ``"biharmonic"`` -- scikit-image's :func:`~skimage.restoration.inpaint_biharmonic` (``channel_axis=-1``):
  smooth interpolation of the hole from its border. Strong on small holes in smooth regions. Run on images of
  at most :data:`BIHARMONIC_MAX_PIXELS` (512 x 512) only: its sparse direct solve (SuperLU) grows
  super-linearly with the hole (1024 x 1024 with a 40-50 % hole: 39 s and 2.3 GB) and has been seen to die by
  SIGSEGV at 1024 px, which no Python code can catch; a larger image is refused with a ValueError, and
  :func:`available_methods` leaves it out at such a size with a note.
* ``"Telea"`` -- OpenCV's fast-marching method (``cv2.inpaint(..., cv2.INPAINT_TELEA)``), only where
  ``cv2`` imports (``pip install "inpaintkit[baselines]"``); otherwise it is skipped with a note.

Variants of our own two-stage model (:class:`ModelVariant`, built around an
:class:`~inpaintkit.pipeline.Inpainter`), to show what stage 1 contributes:

* ``"no sketch"`` -- stage 2 alone with an all-zero sketch (Gi gets no structure at all);
* ``"emptied sketch"`` -- stage 2 alone with the ground-truth sketch outside the hole and nothing inside it:
  against "oracle sketch", what the sketch in the hole is worth (the guidance gain);
* ``"Canny sketch"`` -- the whole pipeline, but Gs repairs a Canny sketch instead of HED's;
* ``"Gs of stage 1"`` -- the whole pipeline with the Gs of stage 1 (binarised), where "ours" serves the Gs
  of the joint stage (trained through the fill): what that training is worth;
* ``"oracle sketch"`` -- stage 2 alone with the ground-truth HED sketch of the full image (Gs skipped): an
  upper bound on what a perfect stage 1 would give;
* ``"ours, fill alone"`` / ``"ours + Gi's correction"`` -- the whole pipeline with Gi's learned correction of
  the fill switched off / on, whichever "ours" is not served with (Gi vs its own fill);
* ``"ours"`` -- the full pipeline (Eq. 9-10), as served.

Methods are named by :class:`Method`: a member is the key that code compares and ``metrics.json`` stores
(``Method.ORACLE_SKETCH``, ``"oracle_sketch"``); its ``label`` is what tables and plots show (``"oracle
sketch"``, the names above; ``docs/evaluation.md`` lists both). Model variants also take batches
(:meth:`ModelVariant.batch`, tensors (N, 3, H, W)), which is what :mod:`inpaintkit.scoring` uses.
:func:`available_methods` returns the methods that can run here and a note for each one that cannot.
"""

from __future__ import annotations

import enum
from typing import Callable

import numpy as np
import torch

__all__ = ["Method", "METHOD_LABELS", "MODEL_VARIANTS", "METHOD_ORDER", "GT_SKETCH_VARIANTS", "BASELINES",
           "variant_note",
           "MethodFn", "ModelVariant", "available_methods", "biharmonic", "telea", "classical_methods",
           "OPENCV_HINT", "TELEA_RADIUS", "BIHARMONIC_MAX_PIXELS"]

MethodFn = Callable[[np.ndarray, np.ndarray], np.ndarray]      # method(image, mask) -> composited image


class Method(str, enum.Enum):
    """Table 1's methods, by key. A member equals its key string (``Method.OURS == "ours"``), which is what
    ``metrics.json`` stores; ``.label`` is the display name (``Method.ORACLE_SKETCH.label == "oracle sketch"``)."""

    BIHARMONIC = "biharmonic"
    TELEA = "telea"
    NO_SKETCH = "no_sketch"
    EMPTIED_SKETCH = "emptied_sketch"
    CANNY_SKETCH = "canny_sketch"
    STAGE1_SKETCH = "stage1_sketch"
    ORACLE_SKETCH = "oracle_sketch"
    FILL_ONLY = "fill_only"
    GI_CORRECTED = "gi_corrected"
    OURS = "ours"

    __hash__ = str.__hash__       # a member and its key string are the same dict key (JSON gives back strings)

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """The name tables, plots and ``demo.json`` show."""
        return METHOD_LABELS[self]

    @classmethod
    def parse(cls, name: "str | Method") -> "Method":
        """The member for a key (``"oracle_sketch"``) or a display label (``"oracle sketch"``); ValueError else."""
        for m in cls:
            if name == m.value or name == METHOD_LABELS[m]:
                return m
        keys = ", ".join(m.value for m in cls)
        raise ValueError(f"Unknown method {name!r}; choose from {keys} (or their labels: "
                         f"{', '.join(METHOD_LABELS.values())}).")


METHOD_LABELS = {
    Method.BIHARMONIC: "biharmonic", Method.TELEA: "Telea", Method.NO_SKETCH: "no sketch",
    Method.EMPTIED_SKETCH: "emptied sketch", Method.CANNY_SKETCH: "Canny sketch",
    Method.STAGE1_SKETCH: "Gs of stage 1", Method.ORACLE_SKETCH: "oracle sketch",
    Method.FILL_ONLY: "ours, fill alone", Method.GI_CORRECTED: "ours + Gi's correction", Method.OURS: "ours",
}

OPENCV_HINT = 'OpenCV is not installed: `pip install "inpaintkit[baselines]"` (opencv-python-headless) adds it'
TELEA_RADIUS = 3  # cv2.inpaint's inpaintRadius in pixels; the value OpenCV's own samples use
BIHARMONIC_MAX_PIXELS = 512 * 512   # the largest image the biharmonic baseline is run on (see the docstring)


# ---------------------------------------------------------------------------------------------- inputs

def _check_pair(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 HxWx3 image in [0, 1] and bool HxW ``known`` (mask == 1), with clear errors."""
    image, mask = np.asarray(image), np.asarray(mask)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be HxWx3 RGB, got shape {image.shape}.")
    if image.dtype == np.uint8:
        raise ValueError("image is uint8: baselines take float images in [0, 1]; divide by 255 first.")
    if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise ValueError("image must be float in [0, 1] (no NaN); clip it or divide 8-bit values by 255.")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask {mask.shape} must be HxW with the image's size {image.shape[:2]} "
                         "(1 = known, 0 = hole).")
    if not np.isin(mask, (0, 1)).all():
        raise ValueError("mask must be binary, 1 = known and 0 = hole; threshold it first, e.g. (mask > 0.5).")
    return image.astype(np.float64), mask == 1


# ---------------------------------------------------------------------------------------------- classical

def biharmonic(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """scikit-image's biharmonic inpainting of the hole (mask == 0); known pixels unchanged. HxWx3 float."""
    from skimage.restoration import inpaint_biharmonic

    img, known = _check_pair(image, mask)
    if known.all():
        return img.copy()
    _check_biharmonic_size(*img.shape[:2])
    out = inpaint_biharmonic(img, ~known, channel_axis=-1)   # skimage's mask: True = to be filled
    out = np.clip(out, 0.0, 1.0)
    return np.where(known[..., None], img, out)


def _biharmonic_too_large(height: int, width: int) -> str | None:
    """Why the biharmonic baseline is not run on a ``height`` x ``width`` image, or None when it is."""
    if height * width <= BIHARMONIC_MAX_PIXELS:
        return None
    side = int(BIHARMONIC_MAX_PIXELS ** 0.5)
    return (f"biharmonic runs on at most {side}x{side} px (inpaintkit.baselines.BIHARMONIC_MAX_PIXELS), not "
            f"{width}x{height}: scikit-image's sparse solver grows super-linearly with the hole and can crash "
            "the process (SIGSEGV) beyond it. Use a smaller image size, or leave biharmonic out.")


def _check_biharmonic_size(height: int, width: int) -> None:
    why = _biharmonic_too_large(height, width)
    if why is not None:
        raise ValueError(why)


def _cv2():
    """The ``cv2`` module, or None where OpenCV is not installed."""
    try:
        import cv2
    except ImportError:
        return None
    return cv2


def telea(image: np.ndarray, mask: np.ndarray, radius: int = TELEA_RADIUS) -> np.ndarray:
    """OpenCV's Telea fast-marching inpainting; known pixels unchanged. HxWx3 float in [0, 1].

    OpenCV works on 8-bit images: the image is rounded to 8 bits for OpenCV, and the filled hole is read back
    as v / 255. ModuleNotFoundError (with the install command) where OpenCV is missing.
    """
    cv2 = _cv2()
    if cv2 is None:
        raise ModuleNotFoundError(OPENCV_HINT + ".")
    img, known = _check_pair(image, mask)
    if known.all():
        return img.copy()
    img8 = (img * 255).round().astype(np.uint8)
    hole8 = (~known).astype(np.uint8) * 255                      # OpenCV's mask: non-zero = to be filled
    out = cv2.inpaint(img8, hole8, radius, cv2.INPAINT_TELEA).astype(np.float64) / 255.0
    return np.where(known[..., None], img, out)


# name -> (method, why it cannot run here or None)
def classical_methods() -> dict[Method, tuple[MethodFn | None, str | None]]:
    """The classical references with a note for the ones that cannot run here."""
    return {
        Method.BIHARMONIC: (biharmonic, None),
        Method.TELEA: (telea, None) if _cv2() is not None else (None, OPENCV_HINT),
    }


BASELINES: dict[Method, MethodFn] = {Method.BIHARMONIC: biharmonic, Method.TELEA: telea}


# ---------------------------------------------------------------------------------------------- our model

MODEL_VARIANTS = (Method.NO_SKETCH, Method.EMPTIED_SKETCH, Method.CANNY_SKETCH, Method.STAGE1_SKETCH,
                  Method.ORACLE_SKETCH, Method.FILL_ONLY, Method.GI_CORRECTED, Method.OURS)
# Column order of the comparison: classical first, then our variants, the full model last.
METHOD_ORDER = (Method.BIHARMONIC, Method.TELEA) + MODEL_VARIANTS
# the variants that start from the ground-truth sketch of the full image (Gs's input for ours)
GT_SKETCH_VARIANTS = frozenset({Method.OURS, Method.ORACLE_SKETCH, Method.EMPTIED_SKETCH, Method.STAGE1_SKETCH,
                                Method.FILL_ONLY, Method.GI_CORRECTED})
# the same model served another way (Inpainter.variant): Gs of stage 1 (binarised, as it was trained, its lines
# at full strength) where the weights have a joint stage; Gi's correction off, or on where it is served off
_SERVED_OTHERWISE = {Method.STAGE1_SKETCH: lambda inp: {"gs": inp.stage1_gs, "finish_sketch": True,
                                                         "sketch_strength": 1.0},
                     Method.FILL_ONLY: lambda inp: {"correction": False},
                     Method.GI_CORRECTED: lambda inp: {"correction": True}}


def variant_note(inpainter, method: Method) -> str | None:
    """Why ``method`` cannot run with ``inpainter`` (None: it can): "Gs of stage 1" needs weights with a joint
    stage, the fill-alone / Gi's-correction columns a Gi that corrects a fill, each the one not served."""
    gi = getattr(inpainter, "gi", None)
    if method is Method.STAGE1_SKETCH and getattr(inpainter, "stage1_gs", None) is None:
        return "no joint stage: Gs of stage 1 is the Gs that serves (ours)"
    if method in (Method.FILL_ONLY, Method.GI_CORRECTED) and not getattr(gi, "prefill", False):
        return "Gi paints the hole from zeros: there is no fill to compare it with"
    if method is Method.FILL_ONLY and not inpainter.correction:
        return "ours is served as the fill alone (Gi's correction off): the same as ours"
    if method is Method.GI_CORRECTED and inpainter.correction:
        return "ours is served with Gi's correction: the same as ours"
    return None


class ModelVariant:
    """One way of running our two-stage model: ``variant`` in MODEL_VARIANTS, a :class:`Method` or its key or
    label (see the module docstring).

    ``variant(image, mask)``: the common baseline signature (HxWx3 float in [0, 1], mask HxW 1 = known).
    :meth:`batch`: tensors (N, 3, H, W) and (N, 1, H, W), for evaluation.
    """

    def __init__(self, inpainter, variant: Method | str):
        method = next((m for m in MODEL_VARIANTS if variant == m or variant == m.label), None)
        if method is None:
            raise ValueError(f"Unknown model variant {variant!r}; choose one of {[str(m) for m in MODEL_VARIANTS]}.")
        self.inpainter = inpainter
        self.variant = method
        self._canny = None

    def __repr__(self) -> str:
        return f"ModelVariant({self.variant.value!r})"

    @property
    def uses_gt_sketch(self) -> bool:
        """True where the ground-truth HED sketch of the full image is an input (ours: Gs's input; oracle)."""
        return self.variant in GT_SKETCH_VARIANTS

    def _canny_inpainter(self):
        """The same Gs and Gi, fed a Canny sketch (EdgeConnect's edges) instead of HED's."""
        if self._canny is None:
            from .pipeline import Inpainter
            from .sketches import SketchSpec

            inp = self.inpainter
            self._canny = Inpainter(inp.gs, inp.gi, sketch_spec=SketchSpec(method="canny"), device=str(inp.device))
        return self._canny

    def batch(self, images: torch.Tensor, masks: torch.Tensor, sketches: torch.Tensor | None = None):
        """Inpaint a batch. images (N, 3, H, W) in [0, 1]; masks (N, 1, H, W), 1 = known, 0 = hole.

        ``sketches``: the full images' ground-truth sketches (N, 1, H, W) with the inpainter's spec, used by
        "oracle sketch" (computed here when not given). Returns ``(output, sketch, input_sketch)``: the
        composited images (N, 3, H, W) on the CPU, the composite sketch stage 2 was given (N, 1, H, W), and the
        full image's sketch the variant started from (N, 1, H, W); "ours" returns HED's, so a caller can hand
        it to "oracle sketch" instead of running HED twice.
        """
        inp = self.inpainter
        x = images.detach().float().cpu()
        m = masks.detach().float().cpu()
        if self.variant is Method.OURS:
            res = inp(x, m)
        elif self.variant in _SERVED_OTHERWISE:
            s = sketches if sketches is not None else torch.from_numpy(inp.sketch(x))[:, None]   # (N, 1, H, W)
            res = inp.variant(**_SERVED_OTHERWISE[self.variant](inp))(x, m, sketch=s)
        elif self.variant is Method.CANNY_SKETCH:
            res = self._canny_inpainter()(x, m)
        elif self.variant in (Method.ORACLE_SKETCH, Method.EMPTIED_SKETCH):
            s = sketches if sketches is not None else torch.from_numpy(inp.sketch(x))[:, None]   # (N, 1, H, W)
            res = inp.complete(x, s if self.variant is Method.ORACLE_SKETCH else s * m, m)
        else:  # Method.NO_SKETCH
            res = inp.complete(x, torch.zeros_like(m), m)

        def as_t(a):
            return torch.as_tensor(a)[:, None].float()                                            # (N, 1, H, W)

        return res.image.float().clamp(0, 1), as_t(res.sketch), as_t(res.input_sketch)

    def __call__(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        img, known = _check_pair(image, mask)
        x = torch.from_numpy(img).float().permute(2, 0, 1)[None]                  # (1, 3, H, W)
        m = torch.from_numpy(known.astype(np.float32))[None, None]                # (1, 1, H, W)
        out = self.batch(x, m)[0][0].permute(1, 2, 0).double().numpy()            # (H, W, 3)
        return np.where(known[..., None], img, out)


def available_methods(inpainter=None, names=None, image_size: int | None = None
                      ) -> tuple[dict[Method, Callable], dict[Method, str]]:
    """``(methods, skipped)``: Method -> callable for what can run here, in METHOD_ORDER; Method -> note for the rest.

    ``inpainter``: an :class:`~inpaintkit.pipeline.Inpainter`; without one, the model variants are skipped.
    ``names``: the methods wanted, members, keys or labels (default: all of METHOD_ORDER); an unknown name is a
    ValueError. ``image_size``: the square size the methods will run at; over :data:`BIHARMONIC_MAX_PIXELS`
    biharmonic is skipped with a note when it came with the default list, and refused (ValueError, before any
    work) when it was asked for by name.
    """
    asked = names is not None
    names = set(METHOD_ORDER if names is None else (Method.parse(n) for n in names))     # ValueError if unknown
    too_large = _biharmonic_too_large(image_size, image_size) if image_size else None
    if too_large and asked and Method.BIHARMONIC in names:
        raise ValueError(too_large)
    methods: dict[Method, Callable] = {}
    skipped: dict[Method, str] = {}
    classical = classical_methods()
    for name in METHOD_ORDER:
        if name not in names:
            continue
        if name == Method.BIHARMONIC and too_large:
            fn, note = None, too_large
        elif name in classical:
            fn, note = classical[name]
        elif inpainter is None:
            fn, note = None, "no model given (pass an Inpainter)"
        elif variant_note(inpainter, name) is not None:
            fn, note = None, variant_note(inpainter, name)
        else:
            fn, note = ModelVariant(inpainter, name), None
        if fn is None:
            skipped[name] = note
        else:
            methods[name] = fn
    return methods, skipped
