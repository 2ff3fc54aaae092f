"""Fill-in exercises: the answered notebooks pass their checks, the student versions are the answered ones
minus the solutions, an unanswered gap fails with one message, and common mistakes get a specific hint."""

import nbformat
import pytest
import torch
import torch.nn.functional as F

from inpaintkit import exercises as ex
from inpaintkit.config import repo_root
from inpaintkit.exercises import BEGIN, END, ExerciseError

NB_DIR = repo_root() / "notebooks"


def answered(name):
    return nbformat.read(NB_DIR / f"{name}.ipynb", as_version=4)


def run_exercises(nb, cells=None) -> list[str]:
    """Exec every exercise cell (``cells``, default: those with solution markers) and the check cell after
    it in one namespace; return the names defined, or raise what the checks raise."""
    ns = {}
    for i in (ex.exercise_cells(nb) if cells is None else cells):
        exec(nb.cells[i].source, ns)                         # noqa: S102 - the notebook's own cells
        check = nb.cells[i + 1].source
        assert "check_" in check, f"cell {i + 1} after an exercise must be its check cell"
        exec(check, ns)                                      # noqa: S102
    return list(ns)


@pytest.mark.parametrize("name", ex.EXERCISE_NOTEBOOKS)
def test_answered_notebooks_pass_their_checks(name, capsys):
    nb = answered(name)
    assert ex.exercise_cells(nb), f"{name} holds no exercise"
    run_exercises(nb)
    out = capsys.readouterr().out
    assert out.count("OK: ") >= len(ex.exercise_cells(nb)) and "ExerciseError" not in out


@pytest.mark.parametrize("name", ex.EXERCISE_NOTEBOOKS)
def test_student_version_is_the_answered_one_minus_solutions(name):
    nb = answered(name)
    st = ex.student_notebook(nb)
    assert len(st.cells) == len(nb.cells)
    gaps = set(ex.exercise_cells(nb))
    for i, (a, s) in enumerate(zip(nb.cells, st.cells)):
        assert a.cell_type == s.cell_type and a.get("id") == s.get("id")
        if s.cell_type == "code":
            assert s.outputs == [] and s.execution_count is None
        if i in gaps:
            assert BEGIN not in s.source and END not in s.source and "raise NotImplementedError" in s.source
            solution = a.source.split(BEGIN)[1].split(END)[0].strip().splitlines()
            assert not any(line.strip() and line.strip() in s.source for line in solution[1:]), "a solution line leaked"
            # everything outside the markers is kept: the signature and docstring the student needs
            assert s.source.split("# YOUR CODE HERE")[0] == a.source.split(BEGIN)[0]
        else:
            assert s.source == a.source


@pytest.mark.parametrize("name", ex.EXERCISE_NOTEBOOKS)
def test_an_unanswered_gap_fails_with_a_message(name):
    nb = answered(name)
    st = ex.student_notebook(nb)
    with pytest.raises(ExerciseError, match="is not written yet") as info:
        run_exercises(st, ex.exercise_cells(nb))
    assert "raise NotImplementedError" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__     # no chained traceback


def test_make_student_writes_the_student_versions(tmp_path):
    written = ex.make_student(NB_DIR, tmp_path)
    assert sorted(p.stem for p in written) == sorted(ex.EXERCISE_NOTEBOOKS)
    for p in written:
        got = nbformat.read(p, as_version=4)
        want = ex.student_notebook(answered(p.stem))
        assert [c.source for c in got.cells] == [c.source for c in want.cells]


def test_strip_solutions_keeps_the_indentation_and_refuses_unbalanced_markers():
    src = (f"def f(x):\n    \"\"\"doc\"\"\"\n    {BEGIN}\n    return x + 1\n    {END}\n\n\n"
           f"def g():\n    {BEGIN}\n    pass\n    {END}\n")
    out = ex.strip_solutions(src)
    assert out.count("    raise NotImplementedError(") == 2 and "return x + 1" not in out and '"""doc"""' in out
    ns = {}
    exec(out, ns)                                            # noqa: S102 - still valid Python
    with pytest.raises(NotImplementedError):
        ns["f"](1)
    with pytest.raises(ValueError, match="unbalanced"):
        ex.strip_solutions(f"def f():\n    {BEGIN}\n    return 1\n")


# ---- the checks say what is wrong ------------------------------------------------------------------

def pconv(bias_first=False, nine=False, no_zero=False):
    def fn(x, mask, weight, bias, stride=1, padding=1):
        ones = torch.ones(1, 1, 3, 3, dtype=x.dtype)
        known = F.conv2d(mask, ones, None, stride, padding)
        taps = torch.full_like(known, 9.0) if nine else F.conv2d(torch.ones_like(mask), ones, None, stride, padding)
        new = (known > 0).to(x.dtype)
        scale = taps / known.clamp(min=1) * (1 if no_zero else new)
        conv = F.conv2d(x * mask, weight, None, stride, padding)
        if bias_first:
            return (conv + bias.view(1, -1, 1, 1)) * scale, new
        return conv * scale + bias.view(1, -1, 1, 1) * (1 if no_zero else new), new
    return fn


@pytest.mark.parametrize("kw, hint", [
    ({"bias_first": True}, "bias is added before the scaling"),
    ({"nine": True}, "image border"),
    ({"no_zero": True}, "no known pixel"),
])
def test_partial_conv_hints(kw, hint):
    with pytest.raises(ExerciseError, match=hint):
        ex.check_partial_conv(pconv(**kw))


def test_partial_conv_shape_and_crash_messages():
    with pytest.raises(ExerciseError, match="two tensors"):
        ex.check_partial_conv(lambda *a: a[0])
    with pytest.raises(ExerciseError, match="raised RuntimeError"):
        ex.check_partial_conv(lambda x, m, w, b: (F.conv2d(x, w[:, :2]), m))


def cfs(skip):
    def fn(block, x):
        g = torch.sigmoid(block.conv_g(x))
        G = torch.sigmoid(block.conv_G(x))
        f = G * F.leaky_relu(block.conv_f(x if skip == "g" else g * x), 0.2)
        if skip == "se":
            return f
        return f * torch.sigmoid(block.se.fc2(F.relu(block.se.fc1(f.mean((2, 3))))))[:, :, None, None]
    return fn


@pytest.mark.parametrize("skip, hint", [("g", "input gate g is missing"), ("se", "SE .* is missing")])
def test_cfs_hints(skip, hint):
    with pytest.raises(ExerciseError, match=hint):
        ex.check_cfs_block(cfs(skip))


@pytest.mark.parametrize("d_fn, hint", [
    (lambda r, f: F.relu(1 - r).mean() + F.relu(1 - f).mean(), "sign inside the fake term"),
    (lambda r, f: (1 - r).mean() + (1 + f).mean(), "hinge max"),
])
def test_hinge_hints(d_fn, hint):
    with pytest.raises(ExerciseError, match=hint):
        ex.check_hinge(d_fn, lambda f: -f.mean())
    with pytest.raises(ExerciseError, match="wrong sign"):
        ex.check_hinge(lambda r, f: F.relu(1 - r).mean() + F.relu(1 + f).mean(), lambda f: f.mean())


def test_feature_matching_hints():
    with pytest.raises(ExerciseError, match="not a sum"):
        ex.check_feature_matching(lambda rs, fs: sum((r - f).abs().sum() for r, f in zip(rs, fs)))
    with pytest.raises(ExerciseError, match="detach them"):
        ex.check_feature_matching(lambda rs, fs: sum((f - r).abs().mean() for r, f in zip(rs, fs)))


def step(freeze=True, detach=True, unfreeze=True):
    from inpaintkit.losses import feature_matching_loss, hinge_d_loss, hinge_g_loss

    def fn(gs, ds, g_opt, d_opt, gray, sketch, mask, w):
        s = gs(gray, sketch, mask)
        real, fake = torch.cat([sketch, gray], 1), torch.cat([s, gray], 1)
        ds.requires_grad_(not freeze)
        fl, ff = ds(fake)
        _, rf = ds(real)
        g_loss = w.adversarial * hinge_g_loss(fl) + w.feature_matching * feature_matching_loss(rf, ff)
        if unfreeze:
            ds.requires_grad_(True)
        g_opt.zero_grad()
        g_loss.backward(retain_graph=not detach)
        g_opt.step()
        d_loss = hinge_d_loss(ds(real)[0], ds(fake.detach() if detach else fake)[0])
        d_opt.zero_grad()
        d_loss.backward()
        d_opt.step()
        return g_loss.detach(), d_loss.detach()
    return fn


@pytest.mark.parametrize("kw, hint", [
    ({"freeze": False}, "D was not frozen"),
    ({"unfreeze": False}, "unfreeze D"),
    ({"detach": False}, "undetached fake"),
])
def test_gan_step_hints(kw, hint):
    with pytest.raises(ExerciseError, match=hint):
        ex.check_gan_step(step(**kw))


def test_gan_step_reference_passes(capsys):
    ex.check_gan_step(step())
    assert "OK: gan_step" in capsys.readouterr().out


def test_gram_and_style_hints():
    def gram_hw(f):
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (h * w)
    with pytest.raises(ExerciseError, match="3x too large: divide by C\\*H\\*W, not by H\\*W"):
        ex.check_gram(gram_hw)
    with pytest.raises(ExerciseError, match="perceptual loss"):
        ex.check_style(lambda a, b: sum(F.l1_loss(x, y) for x, y in zip(a, b)))


# ---- known-wrong answers named in issue 23: each gets the message that points at its mistake -------------

def pconv_hardcoded(stride_padding=True, kernel3=False):
    """A partial conv right at the defaults: it hard-codes stride 1 / padding 1, or a 3x3 mask window."""
    def fn(x, mask, weight, bias, stride=1, padding=1):
        if stride_padding:
            stride, padding = 1, 1
        k = (3, 3) if kernel3 else weight.shape[2:]
        ones = torch.ones(1, 1, *k, dtype=x.dtype)
        taps = F.conv2d(torch.ones_like(mask), ones, None, stride, padding)
        known = F.conv2d(mask, ones, None, stride, padding)
        new = (known > 0).to(x.dtype)
        out = F.conv2d(x * mask, weight, None, stride, padding) * taps / known.clamp(min=1) * new
        return out + bias.view(1, -1, 1, 1) * new, new
    return fn


def test_partial_conv_is_checked_at_the_papers_shapes():
    with pytest.raises(ExerciseError, match="5x5, stride 2, padding 2.*stride and padding arguments are not used"):
        ex.check_partial_conv(pconv_hardcoded())
    with pytest.raises(ExerciseError, match="window is 3x3 where the weight is 5x5"):
        ex.check_partial_conv(pconv_hardcoded(stride_padding=False, kernel3=True))
    ex.check_partial_conv(pconv_hardcoded(stride_padding=False))          # the right answer passes both cases


def cfs_wrong(part):
    def fn(block, x):
        g = torch.sigmoid(block.conv_g(x))
        G = torch.tanh(block.conv_G(x)) if part == "G" else torch.sigmoid(block.conv_G(x))
        f = G * F.leaky_relu(block.conv_f(g * x), 0.1 if part == "phi" else 0.2)
        z = f.mean((2, 3))
        s = torch.sigmoid(block.se.fc2(block.se.fc1(z) if part == "se" else F.relu(block.se.fc1(z))))
        return f * s[:, :, None, None]
    return fn


@pytest.mark.parametrize("part, where", [
    ("G", "output gate G"), ("se", "squeeze-excitation"), ("phi", "the activation"),
])
def test_cfs_fallback_says_where_without_printing_the_solution(part, where):
    with pytest.raises(ExerciseError, match=where) as info:
        ex.check_cfs_block(cfs_wrong(part))
    msg = str(info.value)
    assert "sigmoid(fc2(relu(" not in msg and "f * s" not in msg and "G * LeakyReLU" not in msg


def gan_step_variant(d_first=False, detach_for_g=False):
    from inpaintkit.losses import feature_matching_loss, hinge_d_loss, hinge_g_loss

    def fn(gs, ds, g_opt, d_opt, gray, sketch, mask, w):
        s = gs(gray, sketch, mask)
        real, fake = torch.cat([sketch, gray], 1), torch.cat([s, gray], 1)

        def d_step():
            d_loss = hinge_d_loss(ds(real)[0], ds(fake.detach())[0])
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            return d_loss

        d_loss = d_step() if d_first else None
        ds.requires_grad_(False)
        fl, ff = ds(fake.detach() if detach_for_g else fake)
        _, rf = ds(real)
        g_loss = w.adversarial * hinge_g_loss(fl) + w.feature_matching * feature_matching_loss(rf, ff)
        ds.requires_grad_(True)
        g_opt.zero_grad()
        g_loss.backward()
        g_opt.step()
        d_loss = d_loss if d_first else d_step()
        return g_loss.detach(), d_loss.detach()
    return fn


def test_gan_step_messages_name_the_real_mistake():
    with pytest.raises(ExerciseError, match="D's step comes before G's"):
        ex.check_gan_step(gan_step_variant(d_first=True))
    with pytest.raises(ExerciseError, match="fake D scores in G's step is detached"):
        ex.check_gan_step(gan_step_variant(detach_for_g=True))
    ex.check_gan_step(gan_step_variant())


@pytest.mark.parametrize("name", ex.EXERCISE_NOTEBOOKS)
def test_nbgrader_metadata_lets_an_instructor_autograde(name):
    """Solution cells are nbgrader 'autograded answer' cells, check cells locked 'autograder tests' with points;
    grade ids unique. nbgrader's own markers (### BEGIN/END SOLUTION) are the ones make student strips."""
    nb = answered(name)
    ids = []
    for i in ex.exercise_cells(nb):
        sol, check = nb.cells[i].metadata["nbgrader"], nb.cells[i + 1].metadata["nbgrader"]
        assert sol["solution"] is True and sol["grade"] is False and sol["locked"] is False
        assert check["grade"] is True and check["solution"] is False and check["locked"] is True
        calls = [line for line in nb.cells[i + 1].source.splitlines() if line.startswith("check_")]
        assert check["points"] == len(calls) >= 1                                 # one point per check call
        assert sol["schema_version"] == check["schema_version"] == 3
        ids += [sol["grade_id"], check["grade_id"]]
    assert len(ids) == len(set(ids))
    graded = [c for c in nb.cells if "nbgrader" in c.metadata]
    assert len(graded) == 2 * len(ex.exercise_cells(nb))
    st = ex.student_notebook(nb)
    assert [c.metadata.get("nbgrader") for c in st.cells] == [c.metadata.get("nbgrader") for c in nb.cells]


@pytest.mark.parametrize("name, fn", [("02_partial_convolution", "partial_conv2d"), ("03_cfs_ablation", "cfs_forward"),
                                      ("04_stage1_sketch", "gan_step"), ("05_stage2_completion", "style")])
def test_after_the_checks_the_students_function_trains_a_network(name, fn):
    nb = answered(name)
    last_check = max(i + 1 for i in ex.exercise_cells(nb))
    calls = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "practice.train_" in c.source
             and f"({fn}," in c.source]
    assert len(calls) == 1 and calls[0] > last_check, f"{name}: no cell trains with the student's {fn}"


@pytest.mark.parametrize("path", sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_every_notebook_ends_with_a_recap_and_marked_exercises_with_solutions(path):
    import re

    nb = nbformat.read(path, as_version=4)
    tail = "\n".join(c.source for c in nb.cells[-3:] if c.cell_type == "markdown")
    assert "## Recap" in tail and "You can now" in tail
    assert len(re.findall(r"★+ \(\d+ min", tail)) >= 3                  # difficulty and time per exercise
    files = re.findall(r"notebooks/solutions/([\w.]+)", tail)
    assert files and all((NB_DIR / "solutions" / f).is_file() for f in files), files


def test_the_overview_solutions_run(capsys):
    import runpy

    runpy.run_path(str(NB_DIR / "solutions" / "00_overview_solutions.py"), run_name="__main__")
    assert "exercise 4" in capsys.readouterr().out
