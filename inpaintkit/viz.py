"""Figures shared by the notebooks: image grids, and the paper's diagrams drawn from the real modules.

* :func:`show_images` -- a row or grid of images (tensors or arrays; uint8 read as 0-255, floats as [0, 1]).
* :func:`pipeline_figure` -- Fig. 1, the two-stage pipeline, walked from Gs and Gi: every layer's kind,
  kernel, stride, dilation and output shape come from the modules and one forward pass.
* :func:`cfs_figure` -- the CFS block of Eq. 3-8 (input gate g, output gate G, SE) and the residual path
  around it, labelled from a live ``CFSBlock`` / ``DilatedResBlock``.
* :func:`save_figure` -- write a figure under the run directory, atomically.

Plain matplotlib; every function returns the figure so a notebook can save or tweak it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["to_numpy_image", "show_images", "layer_label", "pipeline_figure", "cfs_figure", "save_figure",
           "sketch_overlay", "INPAINTED_STROKE_RGB", "hole_box", "ladder_figure"]


def to_numpy_image(t) -> np.ndarray:
    """An image in any of the kit's forms -> (H, W) or (H, W, 3) float32 array in [0, 1], ready for ``imshow``.

    Accepts a (C, H, W) / (1, C, H, W) tensor or an (H, W[, C]) array. The value range follows the
    dtype, as scikit-image's ``img_as_float`` reads it: floats are taken to be in [0, 1] already
    (and clipped there), ``uint8`` (the widget's and PIL's images) is divided by 255, ``uint16`` by
    65535, ``bool`` becomes 0 / 1. One exception, the kit's own masks: an integer array holding only
    0 and 1 (``inpaintkit.masks`` returns (H, W) uint8 in {0, 1}) is a mask, shown black / white.
    Other integer arrays must hold 0-255 values.
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
        if a.size and a.min() >= 0 and a.max() <= 1:                       # a 0 / 1 mask (masks.py: uint8)
            a = a.astype(np.float32)
        elif a.dtype in (np.uint8, np.uint16):
            a = a.astype(np.float32) / np.iinfo(a.dtype).max                 # 255 or 65535 -> 1
        elif a.size and (a.min() < 0 or a.max() > 255):
            raise ValueError(f"an integer image of dtype {a.dtype} with values in [{a.min()}, {a.max()}]: "
                             "convert it to uint8 (0-255) or to floats in [0, 1] first.")
        else:
            a = a.astype(np.float32) / 255.0
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


def layer_label(layer) -> str:
    """A short description of one generator layer, read from the module: kind, kernel, stride, dilation.

    ``PConv 5x5 /2`` (a PartialConv2d with stride 2), ``CFS 3x3 d2`` (a CFS layer with dilation 2),
    ``conv 3x3`` (a plain convolution), ``Res(CFS 3x3 d2)`` for a dilated residual block.
    """
    from torch import nn

    from .layers import CFSBlock, DilatedResBlock, PartialConv2d

    if isinstance(layer, DilatedResBlock):
        return f"Res({layer_label(layer.block1)})"
    inner = getattr(layer, "layer", getattr(layer, "conv", layer))
    if isinstance(inner, PartialConv2d):
        name, conv = "PConv", inner
    elif isinstance(inner, CFSBlock):
        conv = inner.conv_f
        name = "CFS" if inner.se is not None and inner.conv_g is not None else (
            "gated+g" if inner.conv_g is not None else "gated")
    elif isinstance(inner, nn.Conv2d):
        name, conv = "conv", inner
    else:
        return type(layer).__name__
    k, st, d = conv.kernel_size, conv.stride, conv.dilation
    return f"{name} {k[0]}x{k[1]}" + (f" /{st[0]}" if st[0] > 1 else "") + (f" d{d[0]}" if d[0] > 1 else "")


def pipeline_figure(gs, gi, image_size: int = 64, title: str | None = None):
    """Fig. 1 drawn from the two generators themselves: every layer a box labelled with its kind, kernel,
    stride and dilation (:func:`layer_label`) and its output shape, measured by one forward pass of zeros
    (:func:`inpaintkit.networks.activation_shapes`). Box heights follow the channel count; ``x2`` marks the
    decoder's nearest-neighbour upsampling; U-Net skip connections are drawn as arcs when a generator has
    ``skips`` set. Returns the figure.
    """
    import torch

    from .networks import activation_shapes

    dev = next(gs.parameters()).device
    z = lambda c: torch.zeros(1, c, image_size, image_size, device=dev)  # noqa: E731
    mask = torch.ones(1, 1, image_size, image_size, device=dev)
    mask[..., : image_size // 2, : image_size // 2] = 0            # any binary mask: shapes do not depend on it
    rows = []
    for net, inputs in ((gs, (z(1), z(1), mask)), (gi, (z(3), z(1), mask))):
        was_training = net.training
        net.eval()
        try:
            shapes = dict(activation_shapes(net, *inputs))
        finally:
            net.train(was_training)
        rows.append([(name, shapes[name], layer_label(layer), up) for name, layer, up in net.named_layers()])
    return _draw_pipeline_rows(rows, image_size, title, [getattr(gs, "skips", False), getattr(gi, "skips", False)])


def _draw_pipeline_rows(rows, image_size, title, skips):
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    heads = [("Stage 1: sketch generator Gs (Eq. 9)", "#cfe2f3",
              f"[I_gray*M, S*M]\n(N, 2, {image_size}, {image_size})\n+ mask M"),
             ("Stage 2: image generator Gi (Eq. 10)", "#d9ead3",
              f"[I*M, S_comp, M]\n(N, 5, {image_size}, {image_size})")]
    n = max(len(r) for r in rows)
    fig, ax = plt.subplots(figsize=(max(11, 0.85 * (n + 3)), 8.2))
    ax.set_xlim(-2.6, n + 0.4)
    ax.set_ylim(-2.05, 6.2)
    ax.axis("off")
    for r, (layers, (label, color, inp), skip) in enumerate(zip(rows, heads, skips)):
        y = 4.3 - 3.9 * r
        cmax = max(s[1] for _, s, _, _ in layers)
        ax.text(-2.5, y + 1.3, label + ("  (with U-Net skips)" if skip else ""), fontsize=14, weight="bold",
                zorder=3, bbox=dict(fc="white", ec="none", pad=1))   # above the orange S_comp line
        ax.text(-2.5, y, "input\n" + inp, fontsize=10.5, va="center")
        ax.annotate("", (-0.05, y), (-0.75, y), arrowprops=dict(arrowstyle="->", lw=0.8))
        for i, (name, shape, kind, up) in enumerate(layers):
            h = 0.8 + 0.6 * shape[1] / cmax                       # box height ~ channels
            ax.add_patch(FancyBboxPatch((i, y - h / 2), 0.72, h, boxstyle="round,pad=0.02", fc=color, ec="0.3"))
            ax.text(i + 0.36, y, kind, ha="center", va="center", fontsize=10, rotation=90)
            ax.text(i + 0.36, y + h / 2 + 0.08, name, ha="center", va="bottom", fontsize=9.5, rotation=45)
            ax.text(i + 0.36, y - h / 2 - 0.1, f"{shape[1]}\n{shape[2]}x{shape[3]}", ha="center", va="top",
                    fontsize=9.5)
            if i:
                ax.annotate("", (i - 0.02, y), (i - 0.26, y), arrowprops=dict(arrowstyle="->", lw=0.7))
            if up:
                ax.text(i - 0.14, y + 0.12, "x2", ha="center", fontsize=9, color="tab:blue")
        if skip:   # encoder k's output (or the input) joins decoder (5 - k)
            enc = [i for i, layer in enumerate(layers) if layer[0].startswith("encoder")]
            dec = [i for i, layer in enumerate(layers) if layer[0].startswith("decoder")]
            sources = [-0.4] + [e + 0.36 for e in enc[:-1]]
            for src, dst in zip(reversed(sources), [d + 0.36 for d in dec]):
                ax.annotate("", (dst, y - 1.35), (src, y - 1.35), arrowprops=dict(
                    arrowstyle="->", lw=0.6, color="tab:purple", connectionstyle="arc3,rad=0.12"))
    # Gs's output joins Gi's input: down from Gs's last box, left along the gap between the rows (clear of both
    # rows' labels), down onto Gi's input arrow
    last1, gap = len(rows[0]) - 1 + 0.36, 2.2
    ax.plot([last1, last1, -0.4], [3.3, gap, gap], color="tab:orange", lw=1.2)
    ax.annotate("", (-0.4, 0.5), (-0.4, gap), arrowprops=dict(arrowstyle="->", lw=1.2, color="tab:orange"))
    ax.text(last1 - 0.2, gap + 0.06, "S_pred -> S_comp = S_pred*(1-M) + S*M", fontsize=11, color="tab:orange",
            ha="right", va="bottom")
    ax.text(len(rows[1]) - 0.6, -1.95, "I_pred -> result I_pred*(1-M) + I*M", fontsize=11, ha="right")
    ax.text(-2.5, -1.95, "box height ~ channels; under each box: channels, H x W", fontsize=10, color="0.4")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def cfs_figure(block, input_shape=(1, 16, 32, 32), title: str | None = None):
    """The CFS block of Eq. 3-8 drawn from a module: its two gates, the gated features, SE and, for a
    :class:`~inpaintkit.layers.DilatedResBlock`, the residual path around its two layers.

    ``block``: a :class:`~inpaintkit.layers.CFSBlock`, a generator layer wrapping one (``.layer``), or a
    ``DilatedResBlock`` of CFS layers (e.g. ``image_generator().middle[0]``). Every label comes from the
    module: kernel sizes, strides, dilations, channel counts, the SE reduction, which parts exist (a layer
    without input gate or SE is drawn without them), and the tensor shapes of one forward pass of zeros of
    ``input_shape`` (N, C_in, H, W). Returns the figure.
    """
    import matplotlib.pyplot as plt
    import torch

    from .layers import CFSBlock, DilatedResBlock

    def cfs_of(m):
        inner = getattr(m, "layer", m)
        if not isinstance(inner, CFSBlock):
            raise ValueError(f"cfs_figure needs a CFSBlock (or a layer / residual block of them); got "
                             f"{type(inner).__name__}. Build one with image_generator(...) or CFSBlock(...).")
        return inner

    residual = isinstance(block, DilatedResBlock)
    first = cfs_of(block.block1 if residual else block)
    if input_shape[1] != first.in_channels:
        input_shape = (input_shape[0], first.in_channels, *input_shape[2:])
    x = torch.zeros(*input_shape, device=next(first.parameters()).device)
    with torch.no_grad():
        o1, gates1 = first.forward_with_gates(x)
        if residual:
            second = cfs_of(block.block2)
            o2, gates2 = second.forward_with_gates(o1)

    fig = plt.figure(figsize=(13, 7.6 if residual else 4.6))
    top = 0.91 if title else 0.97                     # room for the suptitle
    if residual:
        ax_res = fig.add_axes([0.02, top - 0.33, 0.96, 0.33])
        ax = fig.add_axes([0.02, 0.02, 0.96, top - 0.38])
        _draw_residual(ax_res, block, first, second, tuple(x.shape), tuple(o1.shape), tuple(o2.shape))
    else:
        ax = fig.add_axes([0.02, 0.02, 0.96, top - 0.04])
    _draw_cfs(ax, first, tuple(x.shape), gates1, tuple(o1.shape),
              "B1, " if residual else "")
    if title:
        fig.suptitle(title)
    return fig


def _shape(s):
    return f"{s[1]}x{s[2]}x{s[3]}" if len(s) == 4 else f"{s[1]}"


def _conv_text(conv, name):
    k, st, d = conv.kernel_size, conv.stride, conv.dilation
    return (f"{name} {k[0]}x{k[1]}" + (f" /{st[0]}" if st[0] > 1 else "") + (f" d{d[0]}" if d[0] > 1 else "")
            + f"\n{conv.in_channels}->{conv.out_channels}")


def _box(ax, xy, text, color, w=1.25, h=0.62, fs=7.5):
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((xy[0] - w / 2, xy[1] - h / 2), w, h, boxstyle="round,pad=0.03", fc=color, ec="0.3"))
    ax.text(xy[0], xy[1], text, ha="center", va="center", fontsize=fs)


def _op(ax, xy, sym):
    from matplotlib.patches import Circle

    ax.add_patch(Circle(xy, 0.17, fc="white", ec="0.2"))
    ax.text(xy[0], xy[1], sym, ha="center", va="center", fontsize=10)


def _arrow(ax, a, b, label=None, color="0.2", rad=0.0):
    ax.annotate("", b, a, arrowprops=dict(arrowstyle="->", lw=0.9, color=color, shrinkA=2, shrinkB=2,
                                          connectionstyle=f"arc3,rad={rad}"))
    if label:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.12, label, ha="center", fontsize=6.5, color="0.25")


def _draw_cfs(ax, blk, xs, gates, os_, prefix=""):
    """One CFS layer: x -> [g gate] -> g*x -> conv_f -> phi -> *G -> [SE] -> o, with shapes."""
    ax.set_xlim(-0.8, 13.2)
    ax.set_ylim(-1.6, 2.9)
    ax.axis("off")
    has_g, has_se = blk.conv_g is not None, blk.se is not None
    gate_c, feat_c, se_c = "#fce5cd", "#d9ead3", "#d9d2e9"
    _box(ax, (0, 0.7), f"x\n{_shape(xs)}", "white", w=1.1)
    xin = (0.55, 0.7)
    if has_g:
        _box(ax, (1.9, 2.2), _conv_text(blk.conv_g, "conv_g"), gate_c)
        _box(ax, (3.55, 2.2), f"sigmoid -> g\n{_shape(gates['g'].shape)}\n(Eq. 3)", gate_c)
        _op(ax, (4.6, 0.7), "x")
        _arrow(ax, xin, (1.27, 2.2), rad=-0.2)
        _arrow(ax, (2.53, 2.2), (2.92, 2.2))
        _arrow(ax, (4.18, 2.2), (4.6, 0.87))
        _arrow(ax, xin, (4.43, 0.7), "x")
        f_in = (4.77, 0.7)
    else:
        ax.text(3.0, 2.2, "no input gate g\n(gated convolution [18])", ha="center", fontsize=7.5, color="0.4")
        f_in = xin
    _box(ax, (6.0, 0.7), _conv_text(blk.conv_f, "conv_f") + ("\n(on g*x)" if has_g else ""), feat_c)
    _arrow(ax, f_in, (5.37, 0.7))
    if blk.activation:
        _box(ax, (7.45, 0.7), "LeakyReLU 0.2\n(phi)", feat_c, w=1.15)
        _arrow(ax, (6.63, 0.7), (6.87, 0.7))
        after_f = (8.03, 0.7)
    else:
        ax.text(7.45, 0.7, "no phi\n(no activation)", ha="center", va="center", fontsize=7, color="0.4")
        after_f = (6.63, 0.7)
    _op(ax, (8.6, 0.7), "x")
    _arrow(ax, after_f, (8.43, 0.7))
    _box(ax, (1.9, -0.9), _conv_text(blk.conv_G, "conv_G"), gate_c)
    _box(ax, (3.55, -0.9), f"sigmoid -> G\n{_shape(gates['G'].shape)}\n(Eq. 4)", gate_c)
    _arrow(ax, xin, (1.27, -0.9), rad=0.2)
    _arrow(ax, (2.53, -0.9), (2.92, -0.9))
    _arrow(ax, (4.18, -0.9), (8.6, 0.53), "G", rad=0.15)
    ax.text(8.6, 1.05, "f (Eq. 5)", ha="center", fontsize=7)
    if has_se:
        fc1, fc2 = blk.se.fc1, blk.se.fc2
        _box(ax, (9.9, 2.2), f"SE (Eq. 6-8): mean over HxW\nfc {fc1.in_features}->{fc1.out_features}, ReLU\n"
                             f"fc {fc2.in_features}->{fc2.out_features}, sigmoid -> s {_shape(gates['s'].shape)}",
             se_c, w=2.4, h=0.85, fs=7)
        _op(ax, (11.2, 0.7), "x")
        _arrow(ax, (8.77, 0.7), (11.03, 0.7))
        _arrow(ax, (8.8, 0.85), (9.3, 1.77), rad=-0.2)
        _arrow(ax, (10.9, 1.77), (11.2, 0.87), "s", rad=-0.2)
        out_from = (11.37, 0.7)
    else:
        ax.text(9.9, 2.0, "no SE on this layer", ha="center", fontsize=7.5, color="0.4")
        out_from = (8.77, 0.7)
    _box(ax, (12.45, 0.7), f"o\n{_shape(os_)}", "white", w=1.1)
    _arrow(ax, out_from, (11.9, 0.7))
    kind = "CFS" if has_g and has_se else ("CFS without SE" if has_g else "gated convolution")
    bias = float(blk.conv_G.bias.detach().mean())
    ax.text(-0.7, 2.75, f"{prefix}one {kind} layer; gate biases start at {bias:g} "
                        f"(sigmoid = {1 / (1 + np.exp(-bias)):.2f}: gates open)", fontsize=8.5, weight="bold")


def _draw_residual(ax, block, b1, b2, xs, s1, s2):
    ax.set_xlim(-0.8, 13.2)
    ax.set_ylim(-0.9, 1.5)
    ax.axis("off")

    def desc(b, name):
        f = b.conv_f
        parts = [f"{name}: {'CFS' if b.se is not None else 'gated + input gate' if b.conv_g is not None else 'gated'}",
                 f"{f.kernel_size[0]}x{f.kernel_size[1]}, dilation {f.dilation[0]}, {f.in_channels}->{f.out_channels}",
                 ("LeakyReLU" if b.activation else "no activation") + (", SE" if b.se is not None else ", no SE")]
        return "\n".join(parts)

    _box(ax, (0, 0.2), f"x\n{_shape(xs)}", "white", w=1.1)
    _box(ax, (3.3, 0.2), desc(b1, "B1"), "#d9ead3", w=3.0, h=0.85)
    _box(ax, (7.6, 0.2), desc(b2, "B2"), "#d9ead3", w=3.0, h=0.85)
    _op(ax, (10.4, 0.2), "+")
    _box(ax, (12.1, 0.2), f"y = x + B2(B1(x))\n{_shape(s2)}", "white", w=1.9)
    _arrow(ax, (0.55, 0.2), (1.8, 0.2))
    _arrow(ax, (4.8, 0.2), (6.1, 0.2), _shape(s1))
    _arrow(ax, (9.1, 0.2), (10.23, 0.2))
    _arrow(ax, (10.57, 0.2), (11.15, 0.2))
    _arrow(ax, (0.1, 0.55), (10.4, 0.37), color="tab:blue", rad=-0.18)
    ax.text(5.4, 0.78, "residual path (identity)", ha="center", fontsize=7, color="tab:blue")
    ax.text(-0.7, 1.35, "a dilated residual block of Gi (the paper's middle section); B1 in detail below",
            fontsize=8.5, weight="bold")


def save_figure(fig, name: str, folder, dpi: int = 110):
    """Write ``fig`` to ``folder/name.png`` atomically (notebooks keep their figures under the run dir)."""
    from pathlib import Path

    from .files import atomic_path

    path = Path(folder) / f"{name}.png"
    with atomic_path(path, suffix=".tmp.png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    return path


INPAINTED_STROKE_RGB = (1.0, 0.55, 0.0)   # orange, as the paper's Fig. 4


def sketch_overlay(sketch: np.ndarray, mask: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The restored sketch as in the paper's Fig. 4: HxWx3 on white, known strokes black, inpainted ones orange.

    sketch HxW in [0, 1] (binarised at ``threshold``); mask HxW, 1 = known, 0 = hole.
    """
    sketch, mask = np.asarray(sketch), np.asarray(mask)
    if sketch.shape != mask.shape or sketch.ndim != 2:
        raise ValueError(f"sketch {sketch.shape} and mask {mask.shape} must both be HxW.")
    stroke = sketch >= threshold
    out = np.ones((*sketch.shape, 3), np.float32)                     # (H, W, 3) white
    out[stroke & (mask == 1)] = 0.0
    out[stroke & (mask == 0)] = INPAINTED_STROKE_RGB
    return out



def hole_box(mask: np.ndarray, margin: int = 4) -> tuple[slice, slice]:
    """The bounding box of the hole (``mask`` HxW, 1 = known) grown by ``margin`` pixels, clipped to the image."""
    ys, xs = np.nonzero(np.asarray(mask) < 0.5)
    if ys.size == 0:
        return slice(None), slice(None)
    h, w = np.asarray(mask).shape
    return (slice(max(ys.min() - margin, 0), min(ys.max() + margin + 1, h)),
            slice(max(xs.min() - margin, 0), min(xs.max() + margin + 1, w)))


def ladder_figure(image: np.ndarray, mask: np.ndarray, outputs: dict, reference: str, size: float = 2.0,
                  suptitle: str | None = None):
    """One test image, zoomed on its hole, filled by each method of ``outputs`` ({label: HxWx3 in [0, 1]}):
    the top row the fills (PSNR in the hole's box in the title), the bottom row each fill's difference from
    ``reference``'s (one of the labels), signed gray in [-0.25, 0.25] (white: brighter than the reference), so
    that what one method changes over another is visible where the fills alone look alike."""
    import matplotlib.pyplot as plt

    rows, cols = hole_box(mask)
    crop = lambda a: np.asarray(a)[rows, cols]                                   # noqa: E731
    truth = crop(image)
    corrupted = crop(image * mask[..., None] + (1 - mask[..., None]))
    labels = list(outputs)
    fig, axes = plt.subplots(2, len(labels) + 2, figsize=(size * (len(labels) + 2), 2 * size + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(corrupted, interpolation="nearest")
    axes[0, 0].set_title("input (hole white)", fontsize=9)
    axes[0, 1].imshow(truth, interpolation="nearest")
    axes[0, 1].set_title("ground truth", fontsize=9)
    ref = crop(outputs[reference])
    for j, label in enumerate(labels, start=2):
        out = crop(outputs[label])
        mse = float(np.mean((out - truth) ** 2))
        axes[0, j].imshow(np.clip(out, 0, 1), interpolation="nearest")
        axes[0, j].set_title(f"{label}\n{10 * np.log10(1 / max(mse, 1e-10)):.1f} dB in the box", fontsize=8)
        diff = (out - ref).mean(-1)
        axes[1, j].imshow(diff, cmap="gray", vmin=-0.25, vmax=0.25, interpolation="nearest")
        axes[1, j].set_title("= reference" if label == reference else f"minus {reference}", fontsize=8)
    axes[1, 1].imshow(np.abs(crop(outputs[reference]) - truth).mean(-1), cmap="magma", vmin=0, vmax=0.25,
                      interpolation="nearest")
    axes[1, 1].set_title(f"|{reference} - truth|", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig
