"""A user's image as RGB: the one place that turns uint8 / float / gray / RGBA / Pillow input into RGB pixels.

Every entry that takes an image goes through here: :class:`inpaintkit.pipeline.Inpainter` (numpy input),
:func:`inpaintkit.sketches.sketch_image`, :func:`inpaintkit.data.load_image` and the widget.

Accepted: a numpy array (H, W) gray, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, uint8 (0-255) or float in
[0, 1] (any float dtype), or a Pillow image (any mode: :func:`pil_to_rgb`). Conversions: gray is repeated into
three equal channels; alpha is composited **on white** (a transparent pixel is what a viewer shows, not the
colour stored under alpha = 0), unless the caller refuses alpha (``alpha=False``). Refused, with a ValueError
naming the problem and the fix: another shape, another dtype (bool, int, uint16: scale it first), NaN or inf,
float values outside [0, 1], and a size outside :func:`inpaintkit.limits.check_image_size` (checked before any
copy is made).

* :func:`as_float_rgb`: float32 (H, W, 3) in [0, 1] -- what the networks, HED and Canny take.
* :func:`as_uint8_rgb`: uint8 (H, W, 3) -- what the widget shows and draws on.
* :func:`as_rgb`: (H, W, 3) in the input's own dtype (uint8 stays uint8, float stays float) -- what the
  pipeline pastes its result into, so that a caller gets back the type it gave.
* :func:`decode_image`: the guard every image *file* goes through (images, masks, photographs): a regular
  file of at most :data:`~inpaintkit.limits.MAX_FILE_BYTES` (:func:`inpaintkit.files.open_regular`), its
  header's size checked before a pixel is decoded, and every failure -- FIFO, bomb, truncation, a corrupted
  chunk, MemoryError -- one :class:`BadImageError` naming the file.
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from inpaintkit.files import NotRegularFileError, display_path, open_regular
from inpaintkit.limits import MAX_FILE_BYTES, MAX_PIXELS, ImageSizeError, check_image_size

__all__ = ["BadImageError", "decode_image", "as_float_rgb", "as_rgb", "as_uint8_rgb", "pil_to_rgb"]


class BadImageError(ValueError):
    """An image that cannot be used: unreadable, truncated, not an image, not a regular file, over the limits,
    or smaller than the working size."""


def decode_image(path, use, what: str = "image"):
    """``use(img)`` on the Pillow image of file ``path``, opened through the kit's guards; returns its result.

    ``path`` must be a regular file (a FIFO, device or folder is refused without blocking) of at most
    :data:`~inpaintkit.limits.MAX_FILE_BYTES` whose name is valid UTF-8; the header's size is checked with
    :func:`~inpaintkit.limits.check_image_size` before ``use`` decodes a pixel; Pillow's decompression-bomb
    guard, a truncated or corrupted file (e.g. a chunk length of 4 GB), and a MemoryError while decoding all
    become one :class:`BadImageError` naming the file. Memory: what ``use`` decodes, at most
    :data:`~inpaintkit.limits.MAX_PIXELS` pixels (Pillow streams the file; it is never read whole).
    """
    shown = display_path(path)
    try:
        with open_regular(path, what, max_bytes=MAX_FILE_BYTES) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)   # our lower limit is checked below
            with Image.open(f) as img:
                check_image_size(*img.size, what=shown)
                return use(img)
    except BadImageError:
        raise
    except FileNotFoundError:
        raise BadImageError(f"{shown}: no such file.") from None
    except (ImageSizeError, NotRegularFileError) as e:
        raise BadImageError(str(e)) from None
    except Image.DecompressionBombError as e:
        raise BadImageError(f"{shown}: refused by Pillow's decompression-bomb guard ({e}); the kit decodes at "
                            f"most {MAX_PIXELS / 1e6:.0f} Mpx (inpaintkit.limits.MAX_PIXELS).") from None
    except MemoryError:
        raise BadImageError(f"{shown}: decoding it ran out of memory (a corrupted file, or an image too large for "
                            "this machine); check or replace the file.") from None
    except Exception as e:   # UnidentifiedImageError (an OSError), SyntaxError, EOFError, struct.error of a bad EXIF
        raise BadImageError(f"{shown}: cannot be read as an image ({type(e).__name__}: {e}).") from None


def pil_to_rgb(img: Image.Image) -> Image.Image:
    """A Pillow image -> mode "RGB" (8 bit), or mode "F" in [0, 1] for 16/32-bit grayscale.

    16-bit grayscale is scaled by 1/65535 (32-bit integer images by 1/65535 too when they exceed 255);
    palette and CMYK become RGB; transparency (RGBA, LA, palette with transparency) is composited on white.
    """
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img).astype(np.float32)
        maxval = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        return Image.fromarray(arr / maxval, mode="F")
    if img.mode == "F":
        return Image.fromarray(np.clip(np.asarray(img, dtype=np.float32), 0, 1), mode="F")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _pil_array(img: Image.Image) -> np.ndarray:
    """A Pillow image as uint8 (H, W, 3), or float32 (H, W) in [0, 1] for mode "F"."""
    if img.mode not in ("RGB", "F"):
        img = pil_to_rgb(img)
    if img.mode == "F":        # 16/32-bit gray scaled to [0, 1]; a LANCZOS resize may overshoot a little
        return np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
    return np.asarray(img)


def _checked(image, alpha: bool, max_pixels: int, what: str) -> np.ndarray:
    """The checks every image goes through; returns (H, W, 3) or (H, W, 4), uint8 or float in [0, 1]."""
    a = _pil_array(image) if isinstance(image, Image.Image) else np.asarray(image)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]                                     # (H, W, 1) -> (H, W)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise ValueError(f"{what} must be HxWx3 (RGB), HxWx4 (RGBA) or HxW (gray); got shape {a.shape}.")
    if a.ndim == 3 and a.shape[-1] == 4 and not alpha:
        raise ValueError(f"{what} has an alpha channel (shape {a.shape}); give RGB: drop the alpha channel "
                         "first, or composite it with inpaintkit.images.as_float_rgb.")
    check_image_size(a.shape[1], a.shape[0], what, max_pixels)          # before any copy
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"{what} has dtype {a.dtype}; give uint8 (0-255) or float in [0, 1] "
                             "(divide 16-bit images by 65535).")
        if not np.isfinite(a).all():
            raise ValueError(f"{what} holds NaN or inf values; a float image must hold finite values in [0, 1].")
        lo, hi = float(a.min()), float(a.max())
        if lo < 0 or hi > 1:
            raise ValueError(f"A float {what} must lie in [0, 1]; got [{lo:.3g}, {hi:.3g}]. "
                             "Divide 8-bit values by 255 (16-bit by 65535).")
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=-1)           # gray -> three equal channels
    return a


def _unit_float(a: np.ndarray) -> np.ndarray:
    """uint8 -> float32 / 255; float -> float32 (no copy when it already is)."""
    if a.dtype == np.uint8:
        x = a.astype(np.float32)
        x /= 255.0                                        # in place: one float copy, not two
        return x
    return a.astype(np.float32, copy=False)


def _on_white(x: np.ndarray) -> np.ndarray:
    """float32 (H, W, 4) in [0, 1] -> (H, W, 3): RGB * alpha + white * (1 - alpha)."""
    rgb, a = x[..., :3], x[..., 3:]
    return rgb * a + (1.0 - a)


def as_float_rgb(image, *, alpha: bool = True, max_pixels: int = MAX_PIXELS, what: str = "image") -> np.ndarray:
    """``image`` (see the module docstring) as C-contiguous float32 (H, W, 3) in [0, 1].

    uint8 is divided by 255 (255 -> 1.0); RGBA is composited on white in float (not rounded to 8 bits), or
    refused with ``alpha=False``. ``max_pixels`` and ``what`` go to :func:`inpaintkit.limits.check_image_size`.
    A float32 RGB input may be returned as is (no copy).
    """
    x = _unit_float(_checked(image, alpha, max_pixels, what))
    if x.shape[-1] == 4:
        x = _on_white(x)
    return np.ascontiguousarray(x)


def as_rgb(image, *, alpha: bool = True, max_pixels: int = MAX_PIXELS, what: str = "image") -> np.ndarray:
    """``image`` as (H, W, 3) in its own dtype: uint8 stays uint8, a float stays that float.

    An RGB input is returned as is; gray is repeated; RGBA is composited on white in float32 and brought back
    to the input's dtype (uint8: rounded). Arguments as :func:`as_float_rgb`.
    """
    a = _checked(image, alpha, max_pixels, what)
    if a.shape[-1] == 3:
        return a
    rgb = _on_white(_unit_float(a))
    return np.round(rgb * 255).astype(np.uint8) if a.dtype == np.uint8 else rgb.astype(a.dtype)


def as_uint8_rgb(image, *, alpha: bool = True, max_pixels: int = MAX_PIXELS, what: str = "image") -> np.ndarray:
    """``image`` as C-contiguous uint8 (H, W, 3): float is rounded from [0, 1] to 0-255; RGBA on white.

    A uint8 RGB input costs no float copy. Arguments as :func:`as_float_rgb`.
    """
    a = as_rgb(image, alpha=alpha, max_pixels=max_pixels, what=what)
    if a.dtype != np.uint8:
        a = np.round(a * 255).astype(np.uint8)
    return np.ascontiguousarray(a)
