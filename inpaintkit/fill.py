"""The fill Gi starts from (not in the paper; the CPU-sized profiles): colour spread into the hole up to the
sketch's lines, solved exactly, and differentiable so that Gs can be trained through it.

The fill is the steady state of heat diffusion inside the hole, where a hole pixel's conductance is ``1 - sketch``
(a pixel on a line passes nothing on) and a known pixel's is 1 (``known_conducts``, the default: a line along the
hole's border would otherwise wall off the known colour beside it; measured in docs/training_recipe.md, "What the
border lines should do"): for every hole pixel i with in-image 4-neighbours j,

    sum_j c_j (y_j - x_i) + eps (p_i - x_i) = 0,        y_j = x_j in the hole, the known colour outside it,

a sparse linear system A x = b over the hole's pixels, solved with one sparse LDL^T factorisation per image of
its symmetric form (:class:`_System`; the RGB channels are three right-hand sides). ``p`` is a cheap pull-push
estimate of the hole (:func:`pull_push`) and ``eps`` (1e-6) a tie to it that makes every system solvable: a
region of the hole that lines close off from every known pixel has no harmonic answer of its own and takes ``p``'s
mean there; anywhere else the tie moves the fill by well under an 8-bit grey level.

Gradients (:class:`HarmonicFill`) follow from the implicit function theorem: with lambda = A^-T dL/dx (one more
solve with the same factors), dL/dc_j = sum_i lambda_i (y_j - x_i) over the hole pixels i next to j, dL/dy_k =
lambda-weighted c_k for a known pixel k next to the hole, and dL/dp = eps lambda. So the fill's loss reaches the
sketch that shaped it: the joint stage (``train --stage joint``) trains Gs to draw the lines that help the fill.

Hand-written because no library here solves a batched, differentiable, line-aware Laplace fill: scikit-image's
biharmonic inpainting is per image, knows no barriers and has no gradient. An earlier version of this module
iterated Jacobi sweeps coarse to fine (a cascadic multigrid): 0.25-0.4 s at 256 px and, on a 128 x 96 hole,
still 0.05 off the exact answer; the direct solve is exact and takes 45-55 ms on a 20-30 % hole at 256 px
(``benchmarks/bench_fill.py``; docs/training_recipe.md, "The fill").
"""

from __future__ import annotations

import numpy as np
import qdldl
import scipy.sparse
import torch
import torch.nn.functional as F

__all__ = ["EPS", "smooth_fill", "HarmonicFill", "pull_push", "upsample_between_lines", "fill_conductance",
           "neighbour_sum"]

EPS = 1e-6  # the tie to the pull-push estimate (see the module docstring)
_STEPS = ((1, 0), (-1, 0), (0, 1), (0, -1))


def fill_conductance(mask: torch.Tensor, sketch: torch.Tensor | None, known_conducts: bool = True) -> torch.Tensor:
    """The conductance ``1 - sketch`` (N, 1, H, W) of every pixel; all ones without a sketch. ``known_conducts``
    (the default): known pixels always pass their colour on, so only the lines inside the hole shape the fill;
    False: a line on the hole's border walls off the known colour next to it (see :func:`smooth_fill`)."""
    c = torch.ones_like(mask) if sketch is None else 1.0 - sketch.clamp(0, 1)
    return torch.where(mask > 0.5, torch.ones_like(c), c) if known_conducts else c


def smooth_fill(image: torch.Tensor, mask: torch.Tensor, sketch: torch.Tensor | None = None,
                known_conducts: bool = True) -> torch.Tensor:
    """The hole of ``image`` filled by diffusion that stops at the sketch's lines (the module docstring's system).

    ``image`` (N, C, H, W), ``mask`` (N, 1, H, W), 1 = known, ``sketch`` (N, 1, H, W) in [0, 1] (a soft sketch
    is a soft barrier) or None (no barriers: the harmonic fill). Known pixels are returned as given. Gradients
    reach ``image``'s known pixels and ``sketch`` (:class:`HarmonicFill`). On a GPU the solve runs on the CPU.
    """
    mask = (mask > 0.5).to(image.dtype)
    c = fill_conductance(mask, sketch, known_conducts).to(image.dtype)
    with torch.no_grad():
        prior = pull_push(image, mask, c)                                      # (N, C, H, W) the tie's estimate
    return HarmonicFill.apply(image, mask, c, prior)


def pull_push(image: torch.Tensor, mask: torch.Tensor, conductance: torch.Tensor) -> torch.Tensor:
    """A quick estimate of the hole: halve the image with a masked average (a coarse pixel is known if any of its
    four fine pixels is) and the conductance with a min-pool (a line survives at every level) until no hole is
    left; then, coarse to fine, fill each level's hole with the level below upsampled between the lines."""
    levels = [(image * mask, mask, conductance)]
    while bool((levels[-1][1] == 0).any()) and min(levels[-1][1].shape[-2:]) > 1:
        x, m, c = levels[-1]
        num = F.avg_pool2d(x * m, kernel_size=2, ceil_mode=True)                 # (N, C, h/2, w/2)
        den = F.avg_pool2d(m, kernel_size=2, ceil_mode=True)                     # (N, 1, h/2, w/2)
        c_low = -F.max_pool2d(-c, kernel_size=2, ceil_mode=True)                # min-pool: lines stay
        levels.append((num / den.clamp_min(1e-8) * (den > 0), (den > 0).to(m.dtype), c_low))
    filled, c_low = levels[-1][0], levels[-1][2]
    for level in range(len(levels) - 2, -1, -1):                                 # coarse to fine
        x, m, c = levels[level]
        up = upsample_between_lines(filled, c_low, x.shape[-2:])
        filled, c_low = x * m + up * (1 - m), c                                 # (N, C, h, w)
    return filled


def upsample_between_lines(x: torch.Tensor, conductance: torch.Tensor, size) -> torch.Tensor:
    """Bilinear upsampling of ``x`` to ``size`` that ignores pixels on a line (``conductance`` 0): their value is
    a blend of both sides, and it would leak across the line. Where only line pixels are near, plain bilinear."""
    num = F.interpolate(x * conductance, size=size, mode="bilinear", align_corners=False)
    den = F.interpolate(conductance, size=size, mode="bilinear", align_corners=False)
    plain = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return torch.where(den > 1e-3, num / den.clamp_min(1e-3), plain)


def neighbour_sum(t: torch.Tensor) -> torch.Tensor:
    """For every pixel, the sum of ``t`` over its in-image 4-neighbours (zero padding), per channel."""
    cross = t.new_tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    return F.conv2d(F.pad(t, (1, 1, 1, 1)), cross.view(1, 1, 3, 3).expand(t.shape[1], 1, 3, 3), groups=t.shape[1])


class _System:
    """The sparse system of one image, in symmetric form, factorised: the hole's n pixels, and how b gathers the
    known colour.

    A = D - N C (D: each hole pixel's total conductance to its neighbours plus eps, N: the hole's adjacency, C: the
    hole pixels' conductances) is not symmetric, but C^1/2 A C^-1/2 = D - C^1/2 N C^1/2 = M is, and positive
    definite (A is a diagonally dominant M-matrix: its eigenvalues, which M shares, are real and positive). So
    A x = b is solved as M (C^1/2 x) = C^1/2 b, and the adjoint A^T lam = g as M (C^-1/2 lam) = C^-1/2 g, with one
    sparse LDL^T factorisation of M (QDLDL, approximate-minimum-degree ordering): 2.5-3x faster than scipy's LU of
    A (SuperLU), which was most of the fill's time (docs/training_recipe.md, "The fill"). A pixel on a hard line
    (c = 0) takes conductance 1e-12 in M, so that C^-1/2 exists; it moves the answer by ~1e-12.
    """

    C_MIN = 1e-12

    def __init__(self, hole: np.ndarray, c: np.ndarray):
        h, w = hole.shape
        self.flat = np.flatnonzero(hole)                                        # hole pixels, row-major
        n = self.flat.size
        index = np.full(h * w, -1, np.int64)
        index[self.flat] = np.arange(n)
        ys, xs = np.divmod(self.flat, w)
        self.root_c = np.sqrt(np.maximum(c[self.flat], self.C_MIN))             # C^1/2 over the hole
        diag, rows, cols, vals = np.full(n, EPS), [], [], []
        b_rows, b_pix, b_c = [], [], []
        for dy, dx in _STEPS:
            yy, xx = ys + dy, xs + dx
            inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            r, q = np.flatnonzero(inside), yy[inside] * w + xx[inside]          # row, neighbour's flat index
            cq = c[q]
            diag += np.bincount(r, cq, minlength=n)
            nb = index[q]
            up = nb > r                                                          # M's upper triangle, hole pairs
            rows.append(r[up]), cols.append(nb[up]), vals.append(-self.root_c[r[up]] * self.root_c[nb[up]])
            known = nb < 0
            b_rows.append(r[known]), b_pix.append(q[known]), b_c.append(cq[known])
        rows, cols = np.concatenate([np.arange(n), *rows]), np.concatenate([np.arange(n), *cols])
        m = scipy.sparse.csc_matrix((np.concatenate([diag, *vals]), (rows, cols)), shape=(n, n))
        self.ldl = qdldl.Solver(m, upper=True)
        self.b_rows, self.b_pix, self.b_c = np.concatenate(b_rows), np.concatenate(b_pix), np.concatenate(b_c)

    def rhs(self, known: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """b (n, C): c-weighted known colour next to each hole pixel, plus the tie to the estimate."""
        n, channels = self.flat.size, known.shape[0]
        b = EPS * prior[:, self.flat].T                                         # (n, C)
        for ch in range(channels):
            b[:, ch] += np.bincount(self.b_rows, self.b_c * known[ch, self.b_pix], minlength=n)
        return b

    def solve(self, b: np.ndarray, transpose: bool = False) -> np.ndarray:
        """x (n, C) with A x = b, or A^T x = b (``transpose``), for b (n, C)."""
        scale = 1.0 / self.root_c if transpose else self.root_c                 # into M's unknowns and back
        return np.stack([self.ldl.solve(scale * b[:, k]) for k in range(b.shape[1])], axis=1) / scale[:, None]


class HarmonicFill(torch.autograd.Function):
    """``HarmonicFill.apply(image, mask, conductance, prior)``: the exact fill of :func:`smooth_fill` with its
    gradient (module docstring). ``mask`` binary, 1 = known; ``conductance`` (N, 1, H, W); ``prior`` (N, C, H, W)."""

    @staticmethod
    def forward(ctx, image, mask, conductance, prior):
        img = image.detach().double().cpu().numpy()
        hole = mask.detach().cpu().numpy()[:, 0] < 0.5                          # (N, H, W)
        c = conductance.detach().double().cpu().numpy()[:, 0]
        p = prior.detach().double().cpu().numpy()
        out, systems = img * ~hole[:, None], []
        n_img, channels = img.shape[:2]
        for i in range(n_img):
            if not hole[i].any():
                systems.append(None)
                continue
            system = _System(hole[i], c[i].ravel())
            flat_img = img[i].reshape(channels, -1)
            x = system.solve(system.rhs(flat_img, p[i].reshape(channels, -1)))      # (n, C)
            out[i].reshape(channels, -1)[:, system.flat] = x.T
            systems.append(system)
        result = torch.from_numpy(out).to(image.dtype).to(image.device)
        ctx.systems = systems
        ctx.save_for_backward(result, mask, conductance)
        return result

    @staticmethod
    def backward(ctx, grad):
        result, mask, c = ctx.saved_tensors
        g = grad.detach().double().cpu().numpy()
        lam = np.zeros_like(g)                                                  # (N, C, H, W), 0 off the hole
        channels = g.shape[1]
        for i, system in enumerate(ctx.systems):
            if system is not None:
                g_hole = g[i].reshape(channels, -1)[:, system.flat].T           # (n, C)
                lam_hole = system.solve(g_hole, transpose=True)                 # (n, C), A^T lam = g
                lam[i].reshape(channels, -1)[:, system.flat] = lam_hole.T
        lam_t = torch.from_numpy(lam).to(grad.dtype).to(grad.device)            # (N, C, H, W)
        y = result.detach()
        s_lam = neighbour_sum(lam_t)                                            # (N, C, H, W)
        grad_c = (y * s_lam - neighbour_sum(lam_t * y)).sum(1, keepdim=True)    # (N, 1, H, W)
        grad_image = mask * (grad + c * s_lam)                                  # known pixels only
        return grad_image, None, grad_c, EPS * lam_t
