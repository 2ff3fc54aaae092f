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
still 0.05 off the exact answer; the direct solve is exact and takes 21-53 ms on a 20-30 % hole at 256 px on 2
threads (the range over two sessions' VMs), 12-34 ms for a new sketch in a hole filled before (its analysis is
kept: :func:`forget_factorisations`) (``benchmarks/bench_fill.py --time-only [--same-hole]``;
docs/training_recipe.md, "The fill").
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import qdldl
import scipy.sparse
import torch
import torch.nn.functional as F

__all__ = ["EPS", "smooth_fill", "HarmonicFill", "factorise", "forget_factorisations", "pull_push",
           "upsample_between_lines", "fill_conductance", "neighbour_sum"]

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
    if image.dtype not in (torch.float32, torch.float64):                     # half precision (autocast): the
        return smooth_fill(image.float(), mask, sketch, known_conducts).to(image.dtype)    # pyramid's 1e-8 underflows
    mask = (mask > 0.5).to(image.dtype)
    c = fill_conductance(mask, sketch, known_conducts).to(image.dtype)
    systems = factorise(mask, c)                                                # in worker threads, meanwhile:
    with torch.no_grad():
        prior = pull_push(image, mask, c)                                      # (N, C, H, W) the tie's estimate
    return HarmonicFill.apply(image, mask, c, prior, systems)


_POOL: tuple[int, ThreadPoolExecutor] | None = None                          # (the process it belongs to, pool)


def _pool() -> ThreadPoolExecutor:
    """The fill's worker threads, as many as torch has; a forked child (a DataLoader worker) starts its own."""
    global _POOL
    if _POOL is None or _POOL[0] != os.getpid():
        _POOL = os.getpid(), ThreadPoolExecutor(max(1, torch.get_num_threads()), thread_name_prefix="inpaintkit-fill")
    return _POOL[1]


def factorise(mask: torch.Tensor, conductance: torch.Tensor) -> list[Future]:
    """Start building and factorising each image's system (:class:`_System`) in worker threads, one future per
    image (its result None where the image has no hole). QDLDL and numpy release the GIL, so the factorisation
    (most of the fill's time) overlaps the pull-push estimate and, in a batch, the other images' factorisations;
    as many workers as torch has threads. A hole filled before reuses that fill's analysis (:func:`_lend`)."""
    hole = mask.detach().cpu().numpy()[:, 0] < 0.5                              # (N, H, W)
    c = conductance.detach().double().cpu().numpy()[:, 0]
    return [_pool().submit(lambda h, ci: _System(h, ci.ravel(), key=(h.shape, np.packbits(h).tobytes()))
                           if h.any() else None, hole[i], c[i])
            for i in range(hole.shape[0])]


# QDLDL's factorisations of the last holes filled without a gradient, for the next fill of the same hole: S's
# sparsity pattern depends on the hole alone (the conductance sets its values), so a new sketch in that hole needs
# only the numeric factorisation (qdldl's Solver.update: 7-8 ms at 256 px), not the ordering and analysis again (20
# ms in all). The evaluation fills each test hole once per method of its ladder, and the widget's "Re-run stage 2"
# fills the hole of the last run. A factorisation is lent to one fill at a time, and only a fill no gradient will
# come back to returns it (update() overwrites the factors a backward pass would solve with).
KEEP_FACTORISATIONS = 32                                                        # ~2-3 MB each at 256 px
_IDLE: tuple[int, threading.Lock, OrderedDict] | None = None                   # (process, lock, {hole: solver})


def _idle() -> tuple[threading.Lock, OrderedDict]:
    global _IDLE
    if _IDLE is None or _IDLE[0] != os.getpid():                                # a forked child: its own, unlocked
        _IDLE = os.getpid(), threading.Lock(), OrderedDict()
    return _IDLE[1], _IDLE[2]


def _lend(key):
    """The idle factorisation of the hole ``key``, taken out of the cache (None if there is none)."""
    lock, idle = _idle()
    with lock:
        return idle.pop(key, None)


def _return(key, solver) -> None:
    lock, idle = _idle()
    with lock:
        idle[key] = solver
        idle.move_to_end(key)
        while len(idle) > KEEP_FACTORISATIONS:
            idle.popitem(last=False)                                            # the least recently filled hole


def forget_factorisations() -> None:
    """Drop the kept factorisations: the next fill of any hole pays the whole factorisation (benchmarks time
    a first fill this way; the memory, ~2-3 MB per hole at 256 px, is freed)."""
    lock, idle = _idle()
    with lock:
        idle.clear()


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


def _csr(cols: np.ndarray, vals: np.ndarray, shape) -> scipy.sparse.csr_matrix:
    """A CSR matrix from each row's candidate columns (n, k), sorted, -1 where there is none, and their values."""
    keep = cols >= 0
    indptr = np.concatenate([[0], np.cumsum(keep.sum(1))])
    return scipy.sparse.csr_matrix((vals[keep], cols[keep], indptr), shape=shape)


class _System:
    """The sparse system of one image, in symmetric form, reduced to half its unknowns and factorised: the hole's n
    pixels, and how b gathers the known colour.

    A = D - N C (D: each hole pixel's total conductance to its neighbours plus eps, N: the hole's adjacency, C: the
    hole pixels' conductances) is not symmetric, but C^1/2 A C^-1/2 = D - C^1/2 N C^1/2 = M is, and positive
    definite (A is a diagonally dominant M-matrix: its eigenvalues, which M shares, are real and positive). So
    A x = b is solved as M (C^1/2 x) = C^1/2 b, and the adjoint A^T lam = g as M (C^-1/2 lam) = C^-1/2 g. A pixel on
    a hard line (c = 0) takes conductance 1e-12 in M, so that C^-1/2 exists; it moves the answer by ~1e-12.

    Colour the pixels like a chessboard (red: y + x even): 4-neighbours differ in colour, so M's red-red block is
    its diagonal D_r, and eliminating the red pixels is exact and cheap (a red-black reduction):

        S y_b = r_b + B D_r^-1 r_r,    y_r = D_r^-1 (r_r + B^T y_b),    S = D_b - B D_r^-1 B^T,

    with B = -M_br (black rows, red columns). S, over the black half, is factorised once as L D L^T (QDLDL, the
    ``qdldl`` package, approximate-minimum-degree ordering) for the colour channels and the adjoint: a third less
    time than factorising M, and half that of scipy's LU of A (SuperLU; docs/training_recipe.md, "The fill").
    """

    C_MIN = 1e-12
    # The black pixels i above a black pixel k in S's upper triangle, as offsets from k in row-major order, each
    # with the red pixels next to both: S_ik = -c_i^1/2 c_k^1/2 (sum of c_j / D_j over those red pixels j).
    _ABOVE = (((-2, 0), ((-1, 0),)), ((-1, -1), ((-1, 0), (0, -1))), ((-1, 1), ((-1, 0), (0, 1))),
              ((0, -2), ((0, -1),)))
    _AROUND = sorted(_STEPS)                                                    # the 4-neighbours, row-major

    def __init__(self, hole: np.ndarray, c: np.ndarray, key=None):
        h, w = hole.shape
        wide = w + 4                                                            # two pixels of nothing on each side

        def padded(a: np.ndarray, nothing) -> np.ndarray:
            out = np.full((h + 4, wide), nothing, a.dtype)
            out[2:-2, 2:-2] = a.reshape(h, w)
            return out.ravel()

        def near(dy: int, dx: int) -> int:                                      # an offset in the padded image
            return dy * wide + dx

        self.flat = np.flatnonzero(hole)                                        # hole pixels, row-major
        n = self.flat.size
        ys, xs = np.divmod(self.flat, w)
        at = (ys + 2) * wide + xs + 2                                           # ... in the padded image
        in_hole, in_image, c_p = padded(hole, False), padded(np.ones_like(hole), False), padded(c, 0.0)
        diag = EPS + sum(c_p[at + near(dy, dx)] for dy, dx in _STEPS)          # D
        red = (ys + xs) % 2 == 0
        self.red, self.black = np.flatnonzero(red), np.flatnonzero(~red)       # positions among the hole pixels
        n_red, n_black = self.red.size, self.black.size
        self.root_c = np.sqrt(np.maximum(c[self.flat], self.C_MIN))            # C^1/2 over the hole
        self.d_red, rc_black, at_black = diag[self.red], self.root_c[self.black], at[self.black]
        local, rc_p, u_p = np.full(c_p.size, -1), np.zeros(c_p.size), np.zeros(c_p.size)
        local[at[self.red]], local[at_black] = np.arange(n_red), np.arange(n_black)    # index within its colour
        rc_p[at] = self.root_c
        u_p[at[self.red]] = self.root_c[self.red] ** 2 / self.d_red             # c_j / D_j on the red pixels
        # B: a black pixel's row holds c_i^1/2 c_j^1/2 for its red neighbours j
        self.b = _csr(np.stack([local[at_black + near(dy, dx)] for dy, dx in self._AROUND], axis=1),
                      np.stack([rc_p[at_black + near(dy, dx)] for dy, dx in self._AROUND], axis=1)
                      * rc_black[:, None], (n_black, n_red))
        # S's upper triangle, column k by column k (as CSR rows of its lower triangle): the black pixels above k
        # that share a red neighbour with it, then k itself
        rows, vals = [], []
        for (dy, dx), between in self._ABOVE:
            linked = np.logical_or.reduce([in_hole[at_black + near(sy, sx)] for sy, sx in between])
            rows.append(np.where(linked, local[at_black + near(dy, dx)], -1))
            vals.append(-rc_p[at_black + near(dy, dx)] * rc_black
                        * sum(u_p[at_black + near(sy, sx)] for sy, sx in between))
        rows.append(np.arange(n_black))
        vals.append(diag[self.black] - rc_black ** 2 * sum(u_p[at_black + near(dy, dx)] for dy, dx in _STEPS))
        self.key, self.ldl = key, None                  # key: the hole's, under which a finished fill keeps ldl
        if n_black:
            upper = _csr(np.stack(rows, axis=1), np.stack(vals, axis=1), (n_black, n_black)).T    # CSC
            self.ldl = _lend(key) if key is not None else None
            if self.ldl is not None:
                self.ldl.update(upper, upper=True)      # same hole, same pattern: the numeric factorisation only
            else:
                self.ldl = qdldl.Solver(upper, upper=True)
        # b's known colour: each hole pixel's known neighbours (row, flat pixel, conductance)
        b_rows, b_pix, b_c = [], [], []
        for dy, dx in _STEPS:
            q = at + near(dy, dx)
            known = in_image[q] & ~in_hole[q]
            b_rows.append(np.flatnonzero(known)), b_pix.append(self.flat[known] + dy * w + dx)
            b_c.append(c_p[q[known]])
        self.b_rows, self.b_pix, self.b_c = np.concatenate(b_rows), np.concatenate(b_pix), np.concatenate(b_c)
        self.n = n

    def done(self) -> None:
        """No more solves with this system: its factorisation is kept for the next fill of the same hole."""
        if self.key is not None and self.ldl is not None:
            _return(self.key, self.ldl)
        self.ldl = None                 # lent to the next fill: a solve after this fails instead of using its factors

    def rhs(self, known: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """b (n, C): c-weighted known colour next to each hole pixel, plus the tie to the estimate. ``known`` and
        ``prior`` (C, H*W)."""
        b = EPS * prior[:, self.flat].T.astype(np.float64)                      # (n, C)
        for ch in range(known.shape[0]):
            b[:, ch] += np.bincount(self.b_rows, self.b_c * known[ch, self.b_pix], minlength=self.n)
        return b

    def solve_m(self, r: np.ndarray) -> np.ndarray:
        """y (n, C) with M y = r, by the red-black reduction (class docstring)."""
        r_red, y = r[self.red] / self.d_red[:, None], np.empty_like(r)
        if self.black.size:
            s_rhs = r[self.black] + self.b @ r_red                              # (n_black, C)
            y_black = np.stack([self.ldl.solve(s_rhs[:, k]) for k in range(r.shape[1])], axis=1)
            y[self.black] = y_black
            r_red = r_red + (self.b.T @ y_black) / self.d_red[:, None]
        y[self.red] = r_red
        return y

    def solve(self, b: np.ndarray, transpose: bool = False) -> np.ndarray:
        """x (n, C) with A x = b, or A^T x = b (``transpose``), for b (n, C)."""
        scale = (1.0 / self.root_c if transpose else self.root_c)[:, None]     # into M's unknowns and back
        return self.solve_m(scale * b) / scale


class HarmonicFill(torch.autograd.Function):
    """``HarmonicFill.apply(image, mask, conductance, prior[, systems])``: the exact fill of :func:`smooth_fill`
    with its gradient (module docstring). ``mask`` binary, 1 = known; ``conductance`` (N, 1, H, W); ``prior``
    (N, C, H, W); ``systems``: :func:`factorise`'s futures for this mask and conductance, if already started."""

    @staticmethod
    def forward(ctx, image, mask, conductance, prior, systems=None):
        systems = [f.result() for f in (systems or factorise(mask, conductance))]
        result = image.detach().cpu().clone()                                   # known pixels as given
        out, img = result.numpy(), image.detach().cpu().numpy()
        p = prior.detach().cpu().numpy()
        channels = img.shape[1]
        for i, system in enumerate(systems):
            if system is not None:
                b = system.rhs(img[i].reshape(channels, -1), p[i].reshape(channels, -1))
                out[i].reshape(channels, -1)[:, system.flat] = system.solve(b).T   # (C, n)
        result = result.to(image.device)
        if any(ctx.needs_input_grad):
            ctx.systems = systems                                               # the backward solves with them
        else:                                                                   # no backward: lend them out
            for system in systems:
                if system is not None:
                    system.done()
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
        return grad_image, None, grad_c, EPS * lam_t, None
