"""Fill-in exercises: the student writes the core of the paper, a check compares it with the library.

The answered notebooks (``notebooks/0N_*.ipynb``) hold each exercise as a short code cell whose body sits
between nbgrader's markers::

    def hinge_d(real_logits, fake_logits):
        ### BEGIN SOLUTION
        return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()
        ### END SOLUTION

followed by a check cell, e.g. ``check_hinge(hinge_d, hinge_g)``. :func:`make_student` (``make student``)
writes the student versions: every marked region becomes ``raise NotImplementedError(...)``, outputs are
cleared, nothing else changes. A check runs the student's function and the library's on fixed inputs and,
when they differ, raises :class:`ExerciseError` with one short message that says *what* is wrong (a wrong
shape, the bias added before the scaling, a missing gate, an undetached fake...), not a traceback from deep
inside torch. An unanswered gap says so.

| check | notebook | what the student writes |
|---|---|---|
| :func:`check_partial_conv` | 02 | Eq. 1-2: partial convolution forward and mask update |
| :func:`check_cfs_block` | 03 | Eq. 3-8: the CFS block's forward from its convolutions and SE layers |
| :func:`check_hinge`, :func:`check_feature_matching` | 04 | Eq. 12 (both sides) and Eq. 13 |
| :func:`check_gan_step` | 04 | one D and one G step: D frozen for G, the fake detached for D |
| :func:`check_gram`, :func:`check_style` | 05 | the Gram matrix and the style loss of Eq. 14 |

Each check also runs at the paper's shapes where they differ from the fixed example (``check_partial_conv``:
Gs's first layer, 5x5, stride 2, padding 2). Where no known mistake matches, the last message says *where* the
answer goes wrong (which part of Eq. 3-8, which window), never the answer itself. After the checks, each
notebook trains a network with the student's function (:mod:`inpaintkit.practice`).

For an instructor: the solution cells carry nbgrader's "autograded answer" metadata and the check cells its
locked "autograder tests" metadata (one point per check call); nbgrader's ``### BEGIN/END SOLUTION`` markers are
the ones :func:`make_student` strips, so ``nbgrader generate_assignment`` and ``nbgrader autograde`` work on the
answered notebooks as they are.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "STUDENT_DIR", "EXERCISE_NOTEBOOKS", "ExerciseError", "partial_conv_inputs", "reference_partial_conv",
    "check_partial_conv", "check_cfs_block", "check_hinge", "check_feature_matching", "reference_gan_step",
    "check_gan_step", "check_gram", "check_style", "strip_solutions", "student_notebook", "exercise_cells",
    "make_student",
]

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUDENT_DIR = "student"
EXERCISE_NOTEBOOKS = ("02_partial_convolution", "03_cfs_ablation", "04_stage1_sketch", "05_stage2_completion")


class ExerciseError(AssertionError):
    """A student's answer differs from the library's; the message says how."""


def _fail(msg: str):
    raise ExerciseError(msg) from None


def _call(fn, name: str, *args):
    """Run the student's function; an unanswered gap or a crash becomes one readable message."""
    try:
        return fn(*args)
    except NotImplementedError as e:
        tb = e.__traceback__
        while tb.tb_next is not None:                  # the function whose gap raised (gan_step calls hinge_g...)
            tb = tb.tb_next
        gap = tb.tb_frame.f_code.co_name
        gap = name if gap in ("<module>", "_call") else gap
        _fail(f"{gap} is not written yet: replace the `raise NotImplementedError` line of its cell with your "
              f"code (between {BEGIN!r} and {END!r} in the answered notebook), run that cell, then this one.")
    except ExerciseError:
        raise
    except Exception as e:  # the student's code crashed: say where, briefly
        if "modified by an inplace operation" in str(e):
            _fail(f"{name}: a backward pass went through weights an optimiser step had already changed. In a GAN "
                  "step that is D's loss reaching G through an undetached fake: score cat[S_pred.detach(), gray] "
                  "for D's loss, so that D's step cannot move G.")
        if "does not require grad" in str(e):
            _fail(f"{name}: a loss has no gradient to follow ({e}). A network was frozen (requires_grad_(False)) "
                  "or its input detached when that loss was computed; unfreeze D (requires_grad_(True)) "
                  "before its own step.")
        _fail(f"{name} raised {type(e).__name__}: {e}. Check the shapes of what you pass to each call "
              f"(print them) against the docstring above the exercise.")


def _tensor(out, name: str, shape) -> torch.Tensor:
    if not isinstance(out, torch.Tensor):
        _fail(f"{name} returned {type(out).__name__}; it must return a torch.Tensor of shape {tuple(shape)}.")
    if tuple(out.shape) != tuple(shape):
        _fail(f"{name} returned shape {tuple(out.shape)}; expected {tuple(shape)}.")
    return out


def _close(a, b, atol=1e-5, rtol=1e-4) -> bool:
    return torch.allclose(a.detach().double(), b.detach().double(), atol=atol, rtol=rtol)


def _passed(what: str) -> None:
    print(f"OK: {what}")


# ---- Eq. 1-2: partial convolution (notebook 02) -----------------------------------------------------------

def partial_conv_inputs(seed: int = 0):
    """Fixed inputs for :func:`check_partial_conv`: x (2, 3, 7, 7), a mask with a hole that empties some
    windows, weight (4, 3, 3, 3), bias (4,)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, 7, 7, generator=g, dtype=torch.float64) + 0.5
    mask = torch.ones(2, 1, 7, 7, dtype=torch.float64)
    mask[0, :, 1:6, 1:6] = 0           # a 5x5 hole: its 3x3 centre windows see no known pixel
    mask[1, :, :3, 4:] = 0             # a hole at the image corner
    weight = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64)
    return x, mask, weight, bias


def reference_partial_conv(x, mask, weight, bias, stride: int = 1, padding: int = 1):
    """The library's Eq. 1-2 (:class:`inpaintkit.layers.PartialConv2d`) with the given weights."""
    from .layers import PartialConv2d

    layer = PartialConv2d(weight.shape[1], weight.shape[0], kernel_size=weight.shape[2:], stride=stride,
                          padding=padding).to(x.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
        return layer(x, mask)


def check_partial_conv(fn) -> None:
    """``fn(x, mask, weight, bias, stride=1, padding=1) -> (out, new_mask)`` against Eq. 1-2 of the library.

    x (N, C_in, H, W), mask (N, 1, H, W) with 1 = known, weight (C_out, C_in, k, k), bias (C_out,).
    """
    x, mask, weight, bias = partial_conv_inputs()
    ref_out, ref_mask = reference_partial_conv(x, mask, weight, bias)
    res = _call(fn, "partial_conv2d", x, mask, weight, bias)
    if not isinstance(res, (tuple, list)) or len(res) != 2:
        _fail("partial_conv2d must return two tensors, (out, new_mask): Eq. 1's output and Eq. 2's updated mask.")
    out, new_mask = res
    new_mask = _tensor(new_mask, "partial_conv2d's new_mask", ref_mask.shape)
    out = _tensor(out, "partial_conv2d's out", ref_out.shape)
    if not _close(new_mask, ref_mask):
        wrong = int((new_mask.double() != ref_mask).sum())
        _fail(f"new_mask is wrong at {wrong} positions. Eq. 2: m' = 1 where the window holds at least one known "
              "pixel (sum(m) > 0), else 0: convolve the mask with a k x k kernel of ones and compare with 0.")
    if _close(out, ref_out):
        _check_pconv_paper_shapes(fn)
        return _passed("partial_conv2d matches Eq. 1-2 (inpaintkit.layers.PartialConv2d) on fixed inputs, at "
                       "stride 1 with 3x3 windows and at Gs's first layer (5x5, stride 2, padding 2).")
    ones = torch.ones(1, 1, 3, 3, dtype=x.dtype)
    known = F.conv2d(mask, ones, padding=1)
    taps = F.conv2d(torch.ones_like(mask), ones, padding=1)
    empty, full = known == 0, known == taps
    diff = (out.double() - ref_out).abs()
    if bool((diff * empty).amax() > 1e-5):
        _fail("Where a window holds no known pixel (sum(m) = 0) the output must be 0, bias included (Eq. 1, "
              "'otherwise' branch). Multiply the bias by the new mask, or zero those positions.")
    plain = F.conv2d(x * mask, weight, None, 1, 1)
    bias_before = (plain + bias.view(1, -1, 1, 1)) * (taps / known.clamp(min=1)) * (~empty)
    if _close(out, bias_before):
        _fail("The bias is added before the scaling. Eq. 1 scales W^T(x*m) by Kx*Ky/sum(m) and then adds b.")
    nine = (plain * (9.0 / known.clamp(min=1)) + bias.view(1, -1, 1, 1)) * (~empty)
    if _close(out, nine) and not _close(nine, ref_out):
        _fail("Right in the interior, wrong at the image border: the kit counts the zero padding as outside the "
              "image, so Kx*Ky is the number of in-image taps of the window (convolve a tensor of ones with the "
              "ones kernel to get it), not 9 everywhere. See notebook 02's 'border' comparison.")
    if bool((diff * full).amax() > 1e-5):
        _fail("Wrong even where the window is fully known (scale 1): check the convolution itself, W^T (x * m) "
              "with the layer's stride and padding (F.conv2d(x * mask, weight, None, stride, padding)).")
    _fail("Right where the window is fully known, wrong next to the hole: print your scale for one window that "
          "touches the hole and work it out by hand, as in section 2 (Eq. 1's Kx*Ky / sum(m)).")


def _check_pconv_paper_shapes(fn) -> None:
    """Gs's first layer: a 5x5 kernel, stride 2, padding 2, on a 12x12 input (the paper's shapes)."""
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 3, 12, 12, generator=g, dtype=torch.float64) + 0.5
    mask = torch.ones(2, 1, 12, 12, dtype=torch.float64)
    mask[0, :, 2:10, 3:11] = 0
    mask[1, :, :5, 6:] = 0
    weight = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64)
    bias = torch.randn(4, generator=g, dtype=torch.float64)
    ref_out, ref_mask = reference_partial_conv(x, mask, weight, bias, stride=2, padding=2)
    layer = "Right with the defaults (3x3, stride 1, padding 1), wrong at Gs's first layer (5x5, stride 2, padding 2)"
    try:
        res = _call(fn, "partial_conv2d", x, mask, weight, bias, 2, 2)
    except ExerciseError as e:
        if "must match the size" not in str(e):
            raise
        _fail(f"{layer}: two of your tensors have different sizes there. The mask's window is 3x3 where the weight "
              "is 5x5, or one convolution lacks the stride or padding: the window is the weight's, weight.shape[2:].")
    if not isinstance(res, (tuple, list)) or len(res) != 2:
        _fail("partial_conv2d must return two tensors, (out, new_mask), also with stride=2, padding=2.")
    out, new_mask = res
    for name, got, want in (("out", out, ref_out), ("new_mask", new_mask, ref_mask)):
        if not isinstance(got, torch.Tensor):
            _fail(f"{layer}: {name} is a {type(got).__name__}, not a tensor.")
        if tuple(got.shape) != tuple(want.shape):
            side = got.shape[-1]
            if side == 12 + 2 - 5 + 1 or side == 12 + 2 - 3 + 1:             # stride 1, padding 1 (5x5 or 3x3)
                why = "the stride and padding arguments are not used"
            elif side == (12 + 4 - 3) // 2 + 1:                              # stride 2, padding 2, a 3x3 window
                why = "the window is 3x3 where the weight is 5x5: take its size from weight.shape[2:]"
            else:
                why = "use the stride and padding arguments, and the weight's own window size, in every convolution"
            _fail(f"{layer}: {name} has shape {tuple(got.shape)}, expected {tuple(want.shape)}: {why}.")
    if not _close(new_mask, ref_mask):
        _fail(f"{layer}: new_mask is wrong. Its window must be the weight's (5x5 here), moved with the same stride "
              "and padding as the features' convolution.")
    if not _close(out, ref_out):
        _fail(f"{layer}: out is wrong although new_mask is right. Look for a number that only holds for 3x3 "
              "windows or stride 1 (a 9, a fixed kernel) in how you compute the scale.")


# ---- Eq. 3-8: the CFS block (notebook 03) ---------------------------------------------------------------

def check_cfs_block(fn) -> None:
    """``fn(block, x) -> o``: the forward pass of a :class:`~inpaintkit.layers.CFSBlock`, written from its
    parts (``block.conv_g``, ``block.conv_G``, ``block.conv_f``, ``block.se.fc1``, ``block.se.fc2``)."""
    from .layers import LEAKY_SLOPE, CFSBlock

    torch.manual_seed(0)
    block = CFSBlock(32, 32, kernel_size=3, stride=2, padding=1).double()
    for conv in (block.conv_g, block.conv_G):        # gates away from 1, so a missing gate shows
        nn.init.normal_(conv.bias, 0.0, 1.0)
    x = torch.randn(2, 32, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        ref = block(x)
        out = _tensor(_call(fn, "cfs_forward", block, x), "cfs_forward", ref.shape)
        if _close(out, ref):
            return _passed("cfs_forward matches CFSBlock (Eq. 3-8) on fixed inputs.")
        g = torch.sigmoid(block.conv_g(x))
        G = torch.sigmoid(block.conv_G(x))
        se = lambda f: f * torch.sigmoid(block.se.fc2(F.relu(block.se.fc1(f.mean((2, 3))))))[:, :, None, None]  # noqa: E731
        phi = lambda t: F.leaky_relu(t, LEAKY_SLOPE)  # noqa: E731
        wrong = {
            "the input gate g is missing: Eq. 5 convolves g * x, not x": se(G * phi(block.conv_f(x))),
            "SE (Eq. 6-8) is missing: rescale f's channels by s = sigmoid(W2 relu(W1 mean_hw(f)))":
                G * phi(block.conv_f(g * x)),
            "the output gate G is missing: Eq. 5 multiplies by G = sigmoid(conv_G(x))": se(phi(block.conv_f(g * x))),
            "G is computed from g * x; Eq. 4 computes it from x itself": se(
                torch.sigmoid(block.conv_G(g * x)) * phi(block.conv_f(g * x))),
            "phi is missing: Eq. 5 applies LeakyReLU(0.2) to conv_f(g * x)": se(G * block.conv_f(g * x)),
            "SE squeezes with the wrong statistic: Eq. 6 is the mean over H x W per channel": (
                lambda f: f * torch.sigmoid(block.se.fc2(F.relu(block.se.fc1(f.amax((2, 3))))))[:, :, None, None])(
                G * phi(block.conv_f(g * x))),
        }
    for hint, value in wrong.items():
        if _close(out, value):
            _fail(f"cfs_forward differs from CFSBlock: {hint}.")
    _fail(f"cfs_forward differs from CFSBlock; {_cfs_where(fn, block, x)}")


def _cfs_where(fn, block, x) -> str:
    """Which part of Eq. 3-8 a wrong cfs_forward gets wrong, said without the answer: open one part at a time
    (weights 0, bias +30: sigmoid = 1, the part passes its input through); the part whose opening makes the two
    agree is where the mistake is."""
    parts = {"the input gate g (Eq. 3)": block.conv_g, "the output gate G (Eq. 4)": block.conv_G,
             "squeeze-excitation s (Eq. 6-8)": block.se.fc2}
    saved = {name: (c.weight.detach().clone(), c.bias.detach().clone()) for name, c in parts.items()}

    def set_open(names):
        with torch.no_grad():
            for name, c in parts.items():
                w, b = saved[name]
                c.weight.copy_(w * 0 if name in names else w)
                c.bias.copy_(torch.full_like(b, 30.0) if name in names else b)

    def agrees(names) -> bool:
        set_open(names)
        with torch.no_grad():
            return _close(_call(fn, "cfs_forward", block, x), block(x))
    try:
        if not agrees(set(parts)):
            return ("it differs even with every gate and SE fully open, where Eq. 5 leaves phi(conv_f(x)): "
                    "check conv_f's input and the activation (LeakyReLU, slope 0.2).")
        for name in parts:
            if agrees({name}):
                return (f"it agrees once {name} is switched off (fully open), so the mistake is there: check what "
                        "that part is computed from, its non-linearities, and how it is applied.")
        return "more than one part of Eq. 3-8 differs: go through the equations one by one, printing each shape."
    finally:
        set_open(set())


# ---- Eq. 12-13: hinge and feature matching (notebook 04) ------------------------------------------------

def check_hinge(d_fn, g_fn) -> None:
    """``d_fn(real_logits, fake_logits)`` (Eq. 12, D's loss) and ``g_fn(fake_logits)`` (G's adversarial term)."""
    from .losses import hinge_d_loss, hinge_g_loss

    real = torch.tensor([[2.0, 0.5], [-1.0, 0.9]]).view(2, 1, 2, 1)
    fake = torch.tensor([[-2.0, 0.0], [1.5, -0.7]]).view(2, 1, 2, 1)
    out = _call(d_fn, "hinge_d", real, fake)
    out = _tensor(out, "hinge_d", ())
    ref = hinge_d_loss(real, fake)
    if not _close(out, ref):
        hints = {
            "the sign inside the fake term: D pushes fake scores below -1, so the fake term is max(0, 1 + D(fake))":
                F.relu(1 - real).mean() + F.relu(1 - fake).mean(),
            "the hinge max(0, .) is missing: a score beyond its margin must cost nothing (use F.relu)":
                (1 - real).mean() + (1 + fake).mean(),
            "use the mean over all scores, not the sum": F.relu(1 - real).sum() + F.relu(1 + fake).sum(),
        }
        for hint, value in hints.items():
            if _close(out, value):
                _fail(f"hinge_d = {float(out):.4f}, expected {float(ref):.4f}: {hint}.")
        _fail(f"hinge_d = {float(out):.4f}, expected {float(ref):.4f} = mean(relu(1 - D(real))) + "
              "mean(relu(1 + D(fake))). Work the notebook's hand example through your function.")
    out_g = _tensor(_call(g_fn, "hinge_g", fake), "hinge_g", ())
    if not _close(out_g, hinge_g_loss(fake)):
        if _close(out_g, fake.mean()):
            _fail("hinge_g has the wrong sign: G *raises* D's score on its output, so it minimises -mean(D(fake)).")
        if _close(out_g, F.relu(1 - fake).mean()):
            _fail("hinge_g uses D's hinge: the generator's term is the plain -mean(D(fake)), without a margin.")
        _fail(f"hinge_g = {float(out_g):.4f}, expected -mean(D(fake)) = {float(hinge_g_loss(fake)):.4f}.")
    _passed("hinge_d and hinge_g match Eq. 12 (inpaintkit.losses) on fixed scores.")


def check_feature_matching(fn) -> None:
    """``fn(real_features, fake_features)``: Eq. 13 over lists of D's activations."""
    from .losses import feature_matching_loss

    g = torch.Generator().manual_seed(0)
    real = [torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 8, 4, 4, generator=g)]
    fake = [torch.randn(2, 4, 8, 8, generator=g).requires_grad_(),
            torch.randn(2, 8, 4, 4, generator=g).requires_grad_()]
    real_leaf = [r.clone().requires_grad_() for r in real]
    out = _tensor(_call(fn, "feature_matching", real_leaf, fake), "feature_matching", ())
    ref = feature_matching_loss(real, [f.detach() for f in fake])
    if not _close(out, ref):
        hints = {
            "each layer's L1 is a mean over its N_i activations (1/N_i in Eq. 13), not a sum":
                sum((r - f.detach()).abs().sum() for r, f in zip(real, fake)),
            "the layers are summed (Eq. 13's sum over i), not averaged":
                sum((r - f.detach()).abs().mean() for r, f in zip(real, fake)) / len(real),
            "Eq. 13 is an L1 distance, |a - b|, not a squared one":
                sum(((r - f.detach()) ** 2).mean() for r, f in zip(real, fake)),
        }
        for hint, value in hints.items():
            if _close(out, value):
                _fail(f"feature_matching = {float(out.detach()):.4f}, expected {float(ref):.4f}: {hint}.")
        _fail(f"feature_matching = {float(out.detach()):.4f}, expected {float(ref):.4f} "
              "= sum over layers of mean|real - fake|.")
    if out.requires_grad:
        out.backward()
        if any(r.grad is not None and bool(r.grad.abs().sum() > 0) for r in real_leaf):
            _fail("feature_matching sends gradients into the real features: they are targets, detach them "
                  "(real.detach()), or G's step would also move what it is compared with.")
    _passed("feature_matching matches Eq. 13 (inpaintkit.losses.feature_matching_loss) on fixed features.")


# ---- one GAN step: frozen D for G, detached fake for D (notebook 04) ------------------------------------

class _TinyG(nn.Module):
    """A 2-layer stand-in for Gs with Gs's interface: (gray, sketch, mask) -> sketch in (0, 1)."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 4, kernel_size=3, padding=1), nn.Conv2d(4, 1, kernel_size=3, padding=1)

    def forward(self, gray, sketch, mask):
        x = torch.cat([gray * mask, sketch * mask, mask], 1)
        return torch.sigmoid(self.c2(F.leaky_relu(self.c1(x), 0.2)))


class _TinyD(nn.Module):
    """A 2-layer stand-in for Ds with Ds's interface: (N, 2, H, W) -> (logits, [features]). It records, for
    every call, whether its input carries a gradient and whether its weights are trainable."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(2, 4, kernel_size=3, stride=2, padding=1)
        self.c2 = nn.Conv2d(4, 1, kernel_size=3, padding=1)
        self.calls: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.calls.append((x.requires_grad, any(p.requires_grad for p in self.parameters())))
        f = F.leaky_relu(self.c1(x), 0.2)
        return self.c2(f), [f]


def reference_gan_step(gs, ds, g_opt, d_opt, gray, sketch, mask, weights):
    """One G step (D frozen) then one D step (fake detached) with Eq. 11-13, as the kit's Trainer does."""
    from .losses import feature_matching_loss, hinge_d_loss, hinge_g_loss

    s_pred = gs(gray, sketch, mask)
    real, fake = torch.cat([sketch, gray], 1), torch.cat([s_pred, gray], 1)
    ds.requires_grad_(False)
    fake_logits, fake_feats = ds(fake)
    _, real_feats = ds(real)
    g_loss = (weights.adversarial * hinge_g_loss(fake_logits)
              + weights.feature_matching * feature_matching_loss(real_feats, fake_feats))
    ds.requires_grad_(True)
    g_opt.zero_grad()
    g_loss.backward()
    g_opt.step()
    d_loss = hinge_d_loss(ds(real)[0], ds(fake.detach())[0])
    d_opt.zero_grad()
    d_loss.backward()
    d_opt.step()
    return g_loss.detach(), d_loss.detach()


def _gan_setup():
    from .config import Stage1LossWeights

    torch.manual_seed(0)
    gs, ds = _TinyG(), _TinyD()
    gray, sketch = torch.rand(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.7).float()
    mask = torch.ones(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 0
    g_opt = torch.optim.Adam(gs.parameters(), lr=1e-2, betas=(0.0, 0.9))
    d_opt = torch.optim.Adam(ds.parameters(), lr=1e-2, betas=(0.0, 0.9))
    return gs, ds, g_opt, d_opt, gray, sketch, mask, Stage1LossWeights()


def _record_steps(**optimisers) -> list[str]:
    """Wrap each optimiser's ``step`` so that the returned list records the order in which they stepped."""
    order: list[str] = []
    for name, opt in optimisers.items():
        def step(*args, _step=opt.step, _name=name, **kwargs):
            order.append(_name)
            return _step(*args, **kwargs)
        opt.step = step
    return order


def check_gan_step(fn) -> None:
    """``fn(gs, ds, g_opt, d_opt, gray, sketch, mask, weights) -> (g_loss, d_loss)``: one step of stage 1's
    GAN with Eq. 11 (``weights``: Stage1LossWeights), checked on two tiny networks against
    :func:`reference_gan_step`: D frozen while G's loss is computed, the fake detached for D's loss, and the
    weights of both networks after the step."""
    ref = _gan_setup()
    ref_losses = reference_gan_step(*ref)
    mine = _gan_setup()
    gs, ds = mine[0], mine[1]
    before = copy.deepcopy(gs.state_dict())
    ds.calls.clear()
    order = _record_steps(g=mine[2], d=mine[3])
    try:
        res = _call(fn, "gan_step", *mine)
    except ExerciseError as e:
        if "no gradient to follow" in str(e) and not any(grad_in for grad_in, _ in ds.calls):
            _fail("G's loss has no gradient: the fake D scores in G's step is detached (or S_pred was computed "
                  "without gradient). Detach the fake only for D's own loss; G learns through D's score of it.")
        raise
    if not isinstance(res, (tuple, list)) or len(res) != 2:
        _fail("gan_step must return (g_loss, d_loss).")
    if order[:1] == ["d"]:
        _fail("D's step comes before G's. The kit's Trainer takes G's step first, then D's: with D first, G is "
              "scored by a D that has already moved, and both networks end with other weights than the reference.")
    for who in ("g", "d"):
        if order.count(who) != 1:
            _fail(f"{who.upper()}'s optimiser stepped {order.count(who)} times; one step each: {who}_opt.step() once.")
    if not all(p.requires_grad for p in ds.parameters()):
        _fail("D is still frozen after the step: set ds.requires_grad_(True) again once G's loss is computed, "
              "or D never learns in the next step.")
    g_calls = [c for c in ds.calls if c[0]]              # D called on something that carries G's gradient
    if not g_calls:
        _fail("D never saw a fake that carries G's gradient, so G cannot learn: in the G step, pass "
              "cat[S_pred, gray] to D without .detach().")
    if any(trainable for _, trainable in g_calls):
        _fail("D was not frozen while G's loss was computed: G's backward pass then also fills D's gradients "
              "(wasted work, and wrong if they are not cleared before D steps). Call ds.requires_grad_(False) "
              "before D scores the fake for G, and ds.requires_grad_(True) after.")
    if not any(trainable and not grad_in for grad_in, trainable in ds.calls):
        _fail("D's own loss was not computed with D trainable on a detached fake: in the D step, score "
              "cat[S_pred.detach(), gray] and the real pair with D unfrozen.")
    if all(torch.equal(before[k], v) for k, v in gs.state_dict().items()):
        _fail("G's weights did not change: call g_opt.zero_grad(), g_loss.backward(), g_opt.step().")
    g_ok = all(_close(a, b, atol=1e-6) for a, b in zip(gs.parameters(), ref[0].parameters()))
    d_ok = all(_close(a, b, atol=1e-6) for a, b in zip(ds.parameters(), ref[1].parameters()))
    if not _close(torch.as_tensor(res[0]).float(), ref_losses[0]):
        _fail(f"g_loss = {float(res[0]):.5f}, expected {float(ref_losses[0]):.5f}: Eq. 11 is "
              "weights.adversarial * (-mean D(fake)) + weights.feature_matching * L_FM(real feats, fake feats).")
    if not g_ok:
        _fail("g_loss is right but G's weights after the step are not: step G's optimiser once, after "
              "zero_grad and backward of g_loss alone.")
    if not _close(torch.as_tensor(res[1]).float(), ref_losses[1]):
        _fail(f"d_loss = {float(res[1]):.5f}, expected {float(ref_losses[1]):.5f}: hinge_d(D(real), D(fake.detach())) "
              "with D's weights as they were before its own step.")
    if not d_ok:
        _fail("d_loss is right but D's weights after the step are not: d_opt.zero_grad() before d_loss.backward() "
              "(G's step must leave no gradient in D), then d_opt.step() once.")
    _passed("gan_step: D frozen for G's loss, fake detached for D's, both networks updated as the kit's Trainer does.")


# ---- Eq. 14: Gram matrix and style loss (notebook 05) ---------------------------------------------------

def check_gram(fn) -> None:
    """``fn(f) -> G``: (N, C, H, W) -> (N, C, C), F F^T / (C H W)."""
    from .losses import gram_matrix

    f = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4) / 10 - 1
    ref = gram_matrix(f)
    out = _tensor(_call(fn, "gram", f), "gram", ref.shape)
    if _close(out, ref):
        return _passed("gram matches inpaintkit.losses.gram_matrix (F F^T / (C H W)) on fixed features.")
    for hint, k in (("divide by C*H*W, not by H*W", 3), ("divide by C*H*W; you did not normalise", 3 * 8),
                    ("divide by C*H*W, not by C", 8)):
        if _close(out, ref * k):
            _fail(f"gram is {k}x too large: {hint}.")
    if _close(out, ref * 3 * 8 / (2 * 3 * 2 * 4)):
        _fail("gram mixes the batch in: compute one C x C matrix per image (torch.bmm on (N, C, HW)).")
    _fail("gram differs: reshape f to (N, C, H*W), multiply by its transpose (N, H*W, C), divide by C*H*W.")


def check_style(fn, gram=None) -> None:
    """``fn(feats_a, feats_b) -> L_style``: L1 between Gram matrices, summed over the VGG layers."""
    from .losses import style_loss

    g = torch.Generator().manual_seed(0)
    a = [torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 8, 4, 4, generator=g)]
    b = [torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 8, 4, 4, generator=g)]
    ref = style_loss(a, b)
    out = _tensor(_call(fn, "style", a, b), "style", ())
    if _close(out, ref):
        return _passed("style matches inpaintkit.losses.style_loss on fixed features.")
    from .losses import gram_matrix

    if _close(out, sum(F.l1_loss(x, y) for x, y in zip(a, b))):
        _fail("style compares the features themselves (that is the perceptual loss): compare their Gram matrices.")
    if _close(out, sum(F.mse_loss(gram_matrix(x), gram_matrix(y)) for x, y in zip(a, b))):
        _fail("style uses a squared distance; the kit (EdgeConnect) takes the L1 distance of the Gram matrices.")
    if _close(out, sum(F.l1_loss(gram_matrix(x), gram_matrix(y)) for x, y in zip(a, b)) / len(a)):
        _fail("style averages the layers; Eq. 14's style term sums them.")
    _fail(f"style = {float(out):.5f}, expected {float(ref):.5f} = sum over layers of mean|gram(a) - gram(b)|.")


# ---- student versions ---------------------------------------------------------------------------------

_REGION = re.compile(rf"^([ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*$", re.M | re.S)


def strip_solutions(source: str) -> str:
    """Replace every BEGIN/END SOLUTION region of a cell by ``raise NotImplementedError(...)``, indented."""
    def repl(m):
        indent = m.group(1)
        return (f"{indent}# YOUR CODE HERE\n"
                f"{indent}raise NotImplementedError(\"write this part, then run the check cell below\")")

    out = _REGION.sub(repl, source)
    if BEGIN in out or END in out:
        raise ValueError(f"unbalanced {BEGIN!r} / {END!r} markers in a cell:\n{source}")
    return out


def student_notebook(nb):
    """A copy of an answered notebook with its solutions removed and every output cleared."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            if BEGIN in cell.source:
                cell.source = strip_solutions(cell.source)
                cell.metadata.pop("keep_output", None)
            cell.outputs, cell.execution_count = [], None
    return nb


def exercise_cells(nb) -> list[int]:
    """Indices of the cells that hold a solution region."""
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and BEGIN in c.source]


def make_student(notebook_dir=None, out_dir=None) -> list[Path]:
    """Write the student version of every answered notebook with exercises into ``out_dir``
    (default ``<repo>/student/``); returns the written paths."""
    import nbformat

    from .config import repo_root
    from .files import atomic_write_text

    nb_dir = Path(notebook_dir) if notebook_dir else repo_root() / "notebooks"
    out = Path(out_dir) if out_dir else repo_root() / STUDENT_DIR
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(nb_dir.glob("[0-9][0-9]_*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if not exercise_cells(nb):
            continue
        dest = out / path.name
        atomic_write_text(dest, nbformat.writes(student_notebook(nb)) + "\n")
        written.append(dest)
    return written


if __name__ == "__main__":
    import sys

    paths = make_student(*(sys.argv[1:3]))
    print("\n".join(str(p) for p in paths) or "no notebook holds an exercise")
