"""A static site of an executed run: every notebook as HTML with its figures, and an index page.

``make reproduce`` executes the notebooks into ``<run_dir>/notebooks/``; ``make html`` (this module)
renders them with nbconvert's HTML exporter into ``<run_dir>/html/``, so that a reader sees the results
without running anything::

    python -m inpaintkit.site --run-dir runs/quick          # -> runs/quick/html/index.html

Figures are notebook outputs, embedded in each page as data URIs: a page is one self-contained file
that can be mailed or served from any static host. ``index.html`` lists the notebooks with their
titles and run times and shows the run's ``report.md`` (the Table 1 reproduction).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path

from .cli import add_debug_flag, command
from .config import default_run_dir
from .files import atomic_write_text

__all__ = [
    "HTML_DIR", "NOTEBOOK_PATTERN", "executed_notebooks", "notebook_title", "render_notebook", "build_site",
    "main",
]

HTML_DIR = "html"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"


def executed_notebooks(run_dir: str | Path) -> list[Path]:
    """The executed ``NN_*.ipynb`` under ``run_dir/notebooks/``, sorted; a clear error when there are none."""
    nb_dir = Path(run_dir) / "notebooks"
    paths = sorted(nb_dir.glob(NOTEBOOK_PATTERN))
    if not paths:
        raise FileNotFoundError(
            f"No executed notebooks in {nb_dir}. Run them first: `make reproduce` (or "
            f"`python -m inpaintkit.reproduce --run-dir {run_dir}`), then `make html`."
        )
    return paths


def notebook_title(nb) -> str:
    """The first Markdown heading of a notebook (without the #), or an empty string."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#+\s*(.+)$", cell.source, flags=re.M)
            if m:
                return m.group(1).strip()
    return ""


def render_notebook(path: str | Path, out_dir: str | Path, template: str = "lab") -> Path:
    """Write ``path`` as ``out_dir/<stem>.html`` (figures embedded), atomically; returns the HTML path."""
    import nbformat
    from nbconvert import HTMLExporter

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    body, _ = HTMLExporter(template_name=template).from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    out = Path(out_dir) / f"{path.stem}.html"
    atomic_write_text(out, body)
    return out


def _index_page(run_dir: Path, pages: list[tuple[Path, str]], report_md: str | None) -> str:
    from nbconvert.filters import markdown2html

    timings = {}
    report_json = run_dir / "report.json"
    if report_json.is_file():
        try:
            data = json.loads(report_json.read_text())
            timings = {Path(n.get("path", n.get("name", ""))).stem: n.get("seconds") for n in data.get("notebooks", [])}
            timings = {k: v for k, v in timings.items() if k and isinstance(v, (int, float))}
        except (ValueError, AttributeError):
            timings = {}
    rows = []
    for page, title in pages:
        secs = timings.get(page.stem)
        rows.append(f'<li><a href="{html.escape(page.name)}">{html.escape(page.stem)}</a>: {html.escape(title)}'
                    + (f" <small>({secs:.0f} s)</small>" if secs is not None else "") + "</li>")
    report = markdown2html(report_md) if report_md else "<p>No report.md in this run directory.</p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>inpaintkit: {html.escape(run_dir.name)}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem}}code{{background:#f4f4f4}}</style>
</head><body>
<h1>inpaintkit: the executed notebooks ({html.escape(run_dir.name)})</h1>
<p>Every notebook of the course as it ran, with its printed results and figures. Regenerate with
<code>make reproduce</code>, then <code>make html</code>.</p>
<ul>
{chr(10).join(rows)}
</ul>
<h2>Report</h2>
{report}
</body></html>
"""


def build_site(run_dir: str | Path | None = None, out_dir: str | Path | None = None, template: str = "lab") -> Path:
    """Render every executed notebook of ``run_dir`` and an ``index.html``; returns the index's path."""
    import nbformat

    run_dir = Path(run_dir) if run_dir else default_run_dir("quick")
    out_dir = Path(out_dir) if out_dir else run_dir / HTML_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = []
    for nb_path in executed_notebooks(run_dir):
        page = render_notebook(nb_path, out_dir, template)
        pages.append((page, notebook_title(nbformat.read(nb_path, as_version=4))))
    report = run_dir / "report.md"
    index = out_dir / "index.html"
    atomic_write_text(index, _index_page(run_dir, pages, report.read_text() if report.is_file() else None))
    return index


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", default=None, help="run directory of `make reproduce` (default runs/quick)")
    ap.add_argument("--out", default=None, help="where the site goes (default <run-dir>/html)")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    try:
        index = build_site(args.run_dir, args.out)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"site: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
