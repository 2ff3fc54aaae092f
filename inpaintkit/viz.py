"""Figures shared by the notebooks: image grids and the two-stage pipeline diagram.

Plain matplotlib; every function returns the figure so a notebook can save or tweak it.
"""

from __future__ import annotations

import numpy as np


def to_numpy_image(t) -> np.ndarray:
    """An image in any of the kit's forms -> (H, W) or (H, W, 3) float32 array in [0, 1], ready for ``imshow``.

    Accepts a (C, H, W) / (1, C, H, W) tensor or an (H, W[, C]) array. The value range follows the
    dtype, as scikit-image's ``img_as_float`` reads it: floats are taken to be in [0, 1] already
    (and clipped there), ``uint8`` (the widget's and PIL's images) is divided by 255, ``uint16`` by
    65535, ``bool`` becomes 0 / 1. Other integer arrays must hold 0-255 values (or 0 / 1 masks).
    """
    if hasattr(t, "detach"):
        t = t.detach().cpu()
        if t.dtype.is_floating_point:
            t = t.float()
        t = t.numpy()
        if t.ndim == 4:
            t = t[0]
        t = np.moveaxis(t, 0, -1) if t.ndim == 3 else t                  # (H, W, C)
    a = np.asarray(t)
    if a.dtype == np.bool_:
        a = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):
        if a.dtype in (np.uint8, np.uint16):
            a = a.astype(np.float32) / np.iinfo(a.dtype).max                 # 255 or 65535 -> 1
        elif a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"an integer image of dtype {a.dtype} with values in [{a.min()}, {a.max()}]: "
                             "convert it to uint8 (0-255) or to floats in [0, 1] first.")
        else:
            a = a.astype(np.float32) / (1.0 if a.size and a.max() <= 1 else 255.0)
    a = a.astype(np.float32, copy=False)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return np.clip(a, 0.0, 1.0)


def show_images(images, titles=None, ncols=None, size=2.2, cmap="gray", suptitle=None):
    """A row (or grid) of images with titles; grayscale shown with ``cmap`` on [0, 1]."""
    import matplotlib.pyplot as plt

    images = list(images)
    n = len(images)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.flat[i]
        a = to_numpy_image(img)
        ax.imshow(a, cmap=cmap if a.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        if titles:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def draw_pipeline(stage1_shapes, stage2_shapes, image_size: int, title: str | None = None):
    """The two-stage pipeline (Fig. 1) as boxes, each layer labelled with its output shape.

    ``stage*_shapes`` are ``[(layer name, shape), ...]`` from
    :func:`inpaintkit.networks.activation_shapes`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    rows = [("Stage 1: sketch generator Gs (PartialConv)", stage1_shapes, "#cfe2f3",
             f"[gray*M, sketch*M] (N, 2, {image_size}, {image_size}) + M"),
            ("Stage 2: image generator Gi (CFS blocks)", stage2_shapes, "#d9ead3",
             f"[image*M, S_comp, M] (N, 5, {image_size}, {image_size})")]
    n = max(len(stage1_shapes), len(stage2_shapes))
    fig, ax = plt.subplots(figsize=(max(10, 0.95 * (n + 2)), 5.2))
    ax.set_xlim(-2.3, n + 0.6)
    ax.set_ylim(-0.6, 4.4)
    ax.axis("off")
    for r, (label, shapes, color, inp) in enumerate(rows):
        y = 3.0 - 2.6 * r
        ax.text(-2.2, y + 0.95, label, fontsize=11, weight="bold")
        ax.text(-2.2, y + 0.2, "input\n" + inp.replace(") + M", ")\n+ mask M"), fontsize=7, va="center")
        for i, (name, shape) in enumerate(shapes):
            h = 0.25 + 0.55 * (shape[1] / max(s[1] for _, s in shapes))  # box height ~ channels
            ax.add_patch(FancyBboxPatch((i, y + 0.2 - h / 2), 0.8, h, boxstyle="round,pad=0.02",
                                        fc=color, ec="0.3"))
            ax.text(i + 0.4, y + 0.2 + h / 2 + 0.08, name, ha="center", fontsize=6.5, rotation=30)
            ax.text(i + 0.4, y - 0.5, "x".join(str(v) for v in shape[1:]), ha="center", fontsize=6.5)
            if i:
                ax.annotate("", (i, y + 0.2), (i - 0.2, y + 0.2), arrowprops=dict(arrowstyle="->", lw=0.8))
    ax.annotate("S_pred -> S_comp = S_pred*(1-M) + S*M", (0.4, 0.95), (len(stage1_shapes) - 0.6, 2.55), fontsize=8,
                arrowprops=dict(arrowstyle="->", lw=1.0, color="tab:orange"), color="tab:orange")
    ax.text(n - 3.5, -0.5, "output I_pred -> composite I_pred*(1-M) + I*M", fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def save_figure(fig, name: str, folder, dpi: int = 110):
    """Write ``fig`` to ``folder/name.png`` atomically (notebooks keep their figures under the run dir)."""
    from pathlib import Path

    from .files import atomic_path

    path = Path(folder) / f"{name}.png"
    with atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return path
