"""make html: executed notebooks become self-contained HTML pages (figures embedded) plus an index."""

import base64
import io
import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from inpaintkit.site import build_site, executed_notebooks, main, notebook_title


def png_bytes() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1, 1))
    ax.imshow(np.eye(4))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def executed(title: str, text: str, png: bytes):
    cell = new_code_cell("print('hi'); plot()", execution_count=1, outputs=[
        new_output("stream", name="stdout", text=text),
        new_output("display_data", data={"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure>"}),
    ])
    return new_notebook(cells=[new_markdown_cell(f"# {title}\n\nWhat you will learn."), cell])


@pytest.fixture
def run_dir(tmp_path):
    nb_dir = tmp_path / "run" / "notebooks"
    nb_dir.mkdir(parents=True)
    png = png_bytes()
    nbformat.write(executed("00 · Overview", "PSNR 23.45 dB\n", png), nb_dir / "00_overview.ipynb")
    nbformat.write(executed("03 · Ablation", "cfs wins\n", png), nb_dir / "03_cfs_ablation.ipynb")
    (nb_dir / "scratch.ipynb").write_text("not a course notebook")
    run = tmp_path / "run"
    (run / "report.md").write_text("# report\n\n| bucket | PSNR |\n|---|---|\n| 10-20 % | 27.1 |\n")
    (run / "report.json").write_text(json.dumps({"notebooks": [{"name": "00_overview.ipynb", "seconds": 12.0}]}))
    return run


def test_build_site_writes_a_page_per_notebook_with_its_figures(run_dir):
    index = build_site(run_dir)
    assert index == run_dir / "html" / "index.html"
    pages = sorted(p.name for p in index.parent.glob("*.html"))
    assert pages == ["00_overview.html", "03_cfs_ablation.html", "index.html"]
    page = (index.parent / "00_overview.html").read_text()
    assert "PSNR 23.45 dB" in page
    assert "data:image/png;base64," in page          # the figure travels inside the page
    home = index.read_text()
    assert 'href="00_overview.html"' in home and "00 · Overview" in home and "(12 s)" in home
    assert 'href="03_cfs_ablation.html"' in home and "03 · Ablation" in home
    assert "<table" in home and "27.1" in home        # report.md rendered, Table 1 included


def test_missing_run_says_what_to_run(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="make reproduce"):
        executed_notebooks(tmp_path)
    assert main(["--run-dir", str(tmp_path)]) == 2
    assert "make reproduce" in capsys.readouterr().err


def test_notebook_title():
    nb = new_notebook(cells=[new_code_cell("x"), new_markdown_cell("intro\n## 05 · Stage 2\n")])
    assert notebook_title(nb) == "05 · Stage 2"
    assert notebook_title(new_notebook(cells=[new_code_cell("x")])) == ""


# ---- a site a reader can use offline -----------------------------------------------------------------

def course_notebook(run, title, cells):
    nb = new_notebook(cells=[new_markdown_cell(f"# {title}")] + cells)
    nb.metadata["papermill"] = {"parameters": {"run_dir": str(run)}, "cwd": str(run.parent / "checkout" / "notebooks")}
    return nb


@pytest.fixture
def course(tmp_path):
    """Three executed notebooks: math, a widget and a progress bar, stderr, and the machine's paths."""
    import base64 as b64

    run = tmp_path / "runs" / "quick"
    nb_dir = run / "notebooks"
    nb_dir.mkdir(parents=True)
    png = b64.b64encode(png_bytes()).decode()
    math = new_markdown_cell("Eq. 1: $x' = W^T (x \\odot m)\\,\\frac{K_x K_y}{\\mathrm{sum}(m)} + b$ and\n\n"
                             "$$S_{comp} = S_{pred}\\odot(1-M) + S_{gt}\\odot M \\qquad (10)$$\n\n"
                             "money in code stays: `echo $HOME $PATH`")
    noisy = new_code_cell("train()", execution_count=1, outputs=[
        new_output("stream", name="stderr", text="UserWarning: something internal\n"),
        new_output("stream", name="stdout", text=f"checkpoint written to {run}/stage1/last.pt\n"),
        new_output("stream", name="stdout", text=f"cache in {Path.home()}/.cache/inpaintkit\n"),
        new_output("display_data", data={
            "text/plain": "100%|##########| 80/80 [00:20<00:00,  3.9it/s]",
            "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2, "version_minor": 0}}),
    ])
    widget = new_code_cell("w = InpaintWidget(inpainter)\nw", execution_count=2, outputs=[
        new_output("execute_result", execution_count=2, data={
            "text/plain": "VBox(children=(HBox(...),))", "image/png": png,
            "application/vnd.jupyter.widget-view+json": {"model_id": "def", "version_major": 2, "version_minor": 0}}),
    ])
    failing = new_code_cell("1/0", execution_count=3, outputs=[
        new_output("error", ename="ZeroDivisionError", evalue="division by zero",
                   traceback=[f"File {run.parent}/checkout/inpaintkit/x.py, line 3", "ZeroDivisionError"])])
    nbformat.write(course_notebook(run, "00 · Overview", [math]), nb_dir / "00_overview.ipynb")
    nbformat.write(course_notebook(run, "04 · Stage 1", [noisy, failing]), nb_dir / "04_stage1_sketch.ipynb")
    nbformat.write(course_notebook(run, "07 · Widget", [widget]), nb_dir / "07_interactive_inpainting.ipynb")
    (run / "report.md").write_text(f"Executed notebooks: `{run}/notebooks`.\n")
    return run


def test_pages_link_index_previous_and_next(course):
    out = build_site(course).parent
    first, mid, last = ((out / f"{n}.html").read_text() for n in
                        ("00_overview", "04_stage1_sketch", "07_interactive_inpainting"))
    for page in (first, mid, last):
        assert page.count('href="index.html"') == 2                  # top and bottom
    assert 'href="04_stage1_sketch.html">→ 04 · Stage 1' in first and "←" not in first
    assert 'href="00_overview.html">← 00 · Overview' in mid and 'href="07_interactive_inpainting.html">→' in mid
    assert 'href="04_stage1_sketch.html">←' in last and "→" not in last


def test_math_is_mathml_and_nothing_loads_from_a_network(course):
    out = build_site(course).parent
    page = (out / "00_overview.html").read_text()
    assert page.count("<math") == 2 and 'display="block"' in page
    assert "<mfrac>" in page and "<mo>⊙</mo>" in page                 # the fraction and the odot of Eq. 1
    assert "$$" not in page and "\\odot" not in page
    assert "echo $HOME $PATH" in page                                  # a dollar in code is not math
    for p in out.glob("*.html"):
        text = p.read_text()
        assert "<script" not in text.lower() and "mathjax" not in text.lower(), p.name
        assert not re.search(r"""(src|@import)\s*=?\s*["']?(url\()?\s*["']?(https?:)?//""", text), p.name


def test_a_formula_the_converter_cannot_read_stays_visible():
    from inpaintkit.site import tex_to_mathml

    assert tex_to_mathml(r"\frac{a}{b}").startswith("<math")
    assert tex_to_mathml(r"\begin{nosuchenv} x").startswith('<code class="ik-tex">')


def test_widgets_become_a_placeholder_with_their_still_and_progress_bars_their_text(course):
    out = build_site(course).parent
    page = (out / "07_interactive_inpainting.html").read_text()
    assert "An interactive widget was here" in page and "jupyter lab notebooks/" in page
    assert page.count('<img alt="the widget" src="data:image/png;base64,iVBOR') == 1 and "VBox(children" not in page
    stage1 = (out / "04_stage1_sketch.html").read_text()
    assert "80/80 [00:20&lt;00:00" in stage1 and "widget was here" not in stage1


def test_no_stderr_and_no_paths_of_the_machine(course):
    out = build_site(course).parent
    page = (out / "04_stage1_sketch.html").read_text()
    assert "UserWarning" not in page                                   # stderr left out
    assert "ZeroDivisionError" in page                                 # a real error stays
    assert "checkpoint written to runs/quick/stage1/last.pt" in page
    assert "cache in ~/.cache/inpaintkit" in page
    assert "File ./inpaintkit/x.py" in page                            # the checkout that ran it
    for p in out.glob("*.html"):
        text = p.read_text()
        assert str(course.parent.parent) not in text and str(Path.home()) + "/" not in text, p.name


def test_the_paper_is_cited_on_every_page_and_in_the_readme(course):
    from inpaintkit.config import repo_root
    from inpaintkit.site import PAPER

    out = build_site(course).parent
    for p in out.glob("*.html"):
        text = p.read_text()
        assert PAPER["title"] in text and f'href="{PAPER["url"]}"' in text and "Siyuan Li" in text, p.name
    readme = (repo_root() / "README.md").read_text()
    assert PAPER["title"] in readme and PAPER["url"] in readme and PAPER["authors"].split(",")[0] in readme


def test_licence_file_matches_pyproject():
    import tomllib

    from inpaintkit.config import repo_root

    meta = tomllib.loads((repo_root() / "pyproject.toml").read_text())["project"]
    licence = (repo_root() / "LICENSE").read_text()
    assert meta["license"] == "MIT" and meta["license-files"] == ["LICENSE"] and licence.startswith("MIT License")
