"""make html: executed notebooks become self-contained HTML pages (figures embedded) plus an index."""

import base64
import io
import json

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
