"""The networks of Section 3.1 (Fig. 2): sketch generator Gs, image generator Gi, discriminators.

Both generators share one shape (docs/paper_reading.md, "The networks"):

    4 stride-2 encoder layers          widths base x (1, 2, 4, 8)    H -> H/16
    n dilated residual blocks          at base x 8                   (Gs: 4 PartialConv, Gi: 8 CFS)
    4 decoder layers (upsample x2 + conv), mirroring the encoder; the 4th produces the output

LeakyReLU(0.2) after every layer but the output, no batch norm, spectral norm on every conv
(``torch.nn.utils.parametrizations.spectral_norm``). No skip connections in the paper's reading;
``skips=True`` adds U-Net skips (each decoder layer also sees the encoder output of its size, the
last one the network's input), the variant the CPU-sized profiles train (docs/training_recipe.md).

A network here only computes its forward pass; trainers (``train.py``) own optimisers and
losses. Builders: :func:`sketch_generator`, :func:`image_generator`, :func:`discriminator`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from .fill import smooth_fill
from .layers import BLOCK_KINDS, LEAKY_SLOPE, DilatedResBlock, check_input, check_mask, make_block

__all__ = [
    "DOWNSAMPLE", "apply_spectral_norm", "check_size", "composite", "Generator", "SketchGenerator",
    "ImageGenerator", "PatchDiscriminator", "sketch_generator", "image_generator", "sketch_discriminator",
    "image_discriminator", "activation_shapes", "count_parameters", "smooth_fill",
]

DOWNSAMPLE = 16  # four stride-2 layers


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Put torch's spectral-norm parametrization on the weight of every conv (and linear) layer."""
    for m in list(module.modules()):
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not torch.nn.utils.parametrize.is_parametrized(m, "weight"):
            spectral_norm(m)
    return module


def check_size(x: torch.Tensor, multiple: int = DOWNSAMPLE) -> None:
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        ph, pw = -h % multiple, -w % multiple
        raise ValueError(
            f"image size {h}x{w} is not divisible by {multiple} (the generators halve it four "
            f"times). Pad or crop to a multiple of {multiple}, e.g. {h + ph}x{w + pw}; "
            "inpaintkit.pipeline.Inpainter pads and crops back for you."
        )


def composite(pred: torch.Tensor, known: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """pred * (1 - M) + known * M: the hole from the prediction, the rest from the input.

    Gives S_comp (Section 3.3) for sketches and the final image for stage 2.
    """
    return pred * (1 - mask) + known * mask


class Generator(nn.Module):
    """Encoder (4 stride-2 layers) -> dilated residual blocks -> decoder (4 upsample + conv).

    ``block`` is one of :data:`inpaintkit.layers.BLOCK_KINDS`; with ``"partial"`` the mask
    travels through the network and is updated by every layer (Eq. 2).
    ``skips``: U-Net skip connections (not in the paper): decoder layer i takes
    ``cat[upsampled x, encoder output of the same size]`` (the last one the input itself); with
    partial convolutions the two masks are joined by their union (a pixel is known if either knows it).
    """

    def __init__(self, in_channels: int, out_channels: int, base_channels: int = 64,
                 n_res_blocks: int = 8, block: str = "cfs", dilation: int = 2, skips: bool = False):
        super().__init__()
        if block not in BLOCK_KINDS:
            raise ValueError(f"Unknown block kind {block!r}; choose one of {', '.join(BLOCK_KINDS)}.")
        self.in_channels, self.out_channels, self.block = in_channels, out_channels, block
        self.base_channels, self.skips = base_channels, bool(skips)
        b = base_channels
        widths = [b, 2 * b, 4 * b, 8 * b]
        self.encoder = nn.ModuleList([
            make_block(block, in_channels, widths[0], kernel_size=5, stride=2, padding=2),   # (N, b,  H/2,  W/2)
            make_block(block, widths[0], widths[1], kernel_size=3, stride=2, padding=1),     # (N, 2b, H/4,  W/4)
            make_block(block, widths[1], widths[2], kernel_size=3, stride=2, padding=1),     # (N, 4b, H/8,  W/8)
            make_block(block, widths[2], widths[3], kernel_size=3, stride=2, padding=1),     # (N, 8b, H/16, W/16)
        ])
        self.middle = nn.ModuleList([DilatedResBlock(block, widths[3], dilation) for _ in range(n_res_blocks)])
        # The output layer of the mask-free kinds is a plain conv: an output gate and SE on 1-3
        # channels would only rescale the prediction.
        out_kind = "partial" if block == "partial" else "conv"
        extra = [widths[2], widths[1], widths[0], in_channels] if self.skips else [0, 0, 0, 0]
        self.decoder = nn.ModuleList([
            make_block(block, widths[3] + extra[0], widths[2], kernel_size=3, padding=1),     # (N, 4b, H/8, W/8)
            make_block(block, widths[2] + extra[1], widths[1], kernel_size=3, padding=1),     # (N, 2b, H/4, W/4)
            make_block(block, widths[1] + extra[2], widths[0], kernel_size=3, padding=1),     # (N, b,  H/2, W/2)
            make_block(out_kind, widths[0] + extra[3], out_channels, kernel_size=3, padding=1,
                       activation=False),                                                    # (N, out, H, W)
        ])
        apply_spectral_norm(self)

    def named_layers(self):
        """(name, layer, upsample_first) for every layer in forward order."""
        for i, layer in enumerate(self.encoder):
            yield f"encoder{i + 1}", layer, False
        for i, layer in enumerate(self.middle):
            yield f"res{i + 1}", layer, False
        for i, layer in enumerate(self.decoder):
            yield f"decoder{i + 1}", layer, True

    def features(self, x: torch.Tensor, mask: torch.Tensor | None = None, trace: list | None = None):
        """Run encoder, middle and decoder; return the output layer's raw values (before squashing).

        If ``trace`` is a list, ``(layer name, updated mask or None)`` is appended after every layer
        (notebook 02 draws how the hole shrinks through Gs).
        """
        m = mask if self.block == "partial" else None
        saved = [(x, m)]                                   # U-Net skips: the input, then encoder outputs
        for name, layer, upsample in self.named_layers():
            if upsample:
                x = F.interpolate(x, scale_factor=2, mode="nearest")           # (N, C, 2h, 2w)
                if m is not None:
                    m = F.interpolate(m, scale_factor=2, mode="nearest")       # (N, 1, 2h, 2w)
                if self.skips:
                    skip_x, skip_m = saved.pop()
                    x = torch.cat([x, skip_x], dim=1)                          # (N, C + C_skip, 2h, 2w)
                    if m is not None:
                        m = torch.maximum(m, skip_m)                           # union of the known pixels
            x, m = layer(x, m)
            if self.skips and name.startswith("encoder") and name != "encoder4":
                saved.append((x, m))
            if trace is not None:
                trace.append((name, None if m is None else m.detach()))
        return x


class SketchGenerator(Generator):
    """Gs, Eq. 9: S_pred = Gs([I_gray * M, S * M], M); PartialConv everywhere, 4 residual blocks.

    ``forward(gray, sketch, mask)``: gray and sketch (N, 1, H, W) in [0, 1], mask (N, 1, H, W)
    with 1 = known. The hole is blanked here, so hole values never reach the network.
    Returns the predicted sketch (N, 1, H, W) in (0, 1) (sigmoid output).
    """

    def __init__(self, base_channels: int = 64, n_res_blocks: int = 4, block: str = "partial", skips: bool = False):
        super().__init__(2, 1, base_channels, n_res_blocks, block, skips=skips)

    def forward(self, gray: torch.Tensor, sketch: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        check_input(gray, 1, "gray")
        check_input(sketch, 1, "sketch")
        check_size(gray)
        check_mask(mask, gray)
        x = torch.cat([gray * mask, sketch * mask], dim=1)                     # (N, 2, H, W)
        return torch.sigmoid(self.features(x, mask))                           # (N, 1, H, W)


class ImageGenerator(Generator):
    """Gi, Eq. 10: I_pred = Gi([I * M, S_comp, M]); CFS blocks everywhere, 8 residual blocks.

    ``forward(image, sketch, mask)``: image (N, 3, H, W) in [0, 1], sketch (N, 1, H, W) the
    composite sketch S_comp, mask (N, 1, H, W) with 1 = known. Returns (N, 3, H, W) in [0, 1]
    (``(tanh + 1) / 2`` of the last layer, as EdgeConnect). Composite it yourself with
    :func:`composite` (the trainers and :class:`~inpaintkit.pipeline.Inpainter` do).

    ``prefill`` (not in the paper; the CPU-sized profiles): the hole is first filled by
    :func:`inpaintkit.fill.smooth_fill`, which stops at the sketch's lines; Gi sees
    ``[I * M + fill * (1 - M), S_comp, M]``
    and its last layer is a correction added to the fill: ``I_pred = clamp(fill + out, 0, 1)``. That layer
    starts at zero and carries no spectral norm (a zero weight has no norm to divide by), so an untrained Gi
    returns the fill itself and learns from the first step. Why and how it was measured:
    docs/training_recipe.md.
    """

    def __init__(self, base_channels: int = 64, n_res_blocks: int = 8, block: str = "cfs", skips: bool = False,
                 prefill: bool = False):
        super().__init__(5, 3, base_channels, n_res_blocks, block, skips=skips)
        self.prefill = bool(prefill)
        if self.prefill:
            out_block = self.decoder[-1]                                       # the output conv (partial with
            last = out_block.conv if self.block == "partial" else out_block.layer  # the ablation's "partial")
            torch.nn.utils.parametrize.remove_parametrizations(last, "weight", leave_parametrized=False)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def forward(self, image: torch.Tensor, sketch: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        check_input(image, 3, "image")
        check_input(sketch, 1, "sketch")
        check_size(image)
        check_mask(mask, image)
        if not self.prefill:
            x = torch.cat([image * mask, sketch, mask], dim=1)                 # (N, 5, H, W)
            return (torch.tanh(self.features(x, mask)) + 1) / 2                # (N, 3, H, W)
        start = smooth_fill(image, mask, sketch)                               # (N, 3, H, W), hole filled
        x = torch.cat([start, sketch, mask], dim=1)                            # (N, 5, H, W)
        return (start + self.features(x, mask)).clamp(0, 1)                    # (N, 3, H, W)


class PatchDiscriminator(nn.Module):
    """Ds / Di (Section 3.1): 3 stride-2 convs, then 2 stride-1 convs (channels up, then to 1).

    ``forward(x) -> (logits, features)``: logits (N, 1, H/8, W/8) unbounded (hinge loss, Eq. 12),
    features the 4 hidden activations for feature matching (Eq. 13). Ds takes
    ``torch.cat([sketch, gray], 1)`` (2 channels), Di the image (3 channels).
    """

    def __init__(self, in_channels: int, base_channels: int = 64):
        super().__init__()
        self.in_channels = in_channels
        b = base_channels
        self.convs = nn.ModuleList([
            nn.Conv2d(in_channels, b, kernel_size=4, stride=2, padding=1),      # (N, b,  H/2, W/2)
            nn.Conv2d(b, 2 * b, kernel_size=4, stride=2, padding=1),            # (N, 2b, H/4, W/4)
            nn.Conv2d(2 * b, 4 * b, kernel_size=4, stride=2, padding=1),        # (N, 4b, H/8, W/8)
            nn.Conv2d(4 * b, 8 * b, kernel_size=3, stride=1, padding=1),        # (N, 8b, H/8, W/8)
        ])
        self.out = nn.Conv2d(8 * b, 1, kernel_size=3, stride=1, padding=1)      # (N, 1,  H/8, W/8)
        apply_spectral_norm(self)

    def forward(self, x: torch.Tensor):
        check_input(x, self.in_channels, "discriminator input")
        features = []
        for conv in self.convs:
            x = F.leaky_relu(conv(x), LEAKY_SLOPE)
            features.append(x)
        return self.out(x), features


# ---- builders (torchvision style) ----------------------------------------------------------

def sketch_generator(base_channels: int = 64, skips: bool = False) -> SketchGenerator:
    """Gs at the given width (64 = the paper's reading); ``skips``: U-Net skips (not in the paper)."""
    return SketchGenerator(base_channels, skips=skips)


def image_generator(base_channels: int = 64, block: str = "cfs", skips: bool = False,
                    prefill: bool = False) -> ImageGenerator:
    """Gi at the given width; ``block`` picks the conv block (notebook 03's ablation);
    ``skips``: U-Net skips, ``prefill``: correct a smooth fill (neither in the paper)."""
    return ImageGenerator(base_channels, block=block, skips=skips, prefill=prefill)


def sketch_discriminator(base_channels: int = 64) -> PatchDiscriminator:
    """Ds: sees (sketch, gray), 2 channels."""
    return PatchDiscriminator(2, base_channels)


def image_discriminator(base_channels: int = 64) -> PatchDiscriminator:
    """Di: sees the RGB image, 3 channels."""
    return PatchDiscriminator(3, base_channels)


def activation_shapes(generator: Generator, *inputs) -> list[tuple[str, tuple[int, ...]]]:
    """Run ``generator(*inputs)`` once and return (layer name, output shape) for every layer."""
    shapes, hooks = [], []
    for name, layer, _ in generator.named_layers():
        hooks.append(layer.register_forward_hook(
            lambda mod, args, out, name=name: shapes.append((name, tuple(out[0].shape)))))
    try:
        with torch.no_grad():
            generator(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return shapes


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (spectral norm's u/v vectors are buffers, not counted)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
