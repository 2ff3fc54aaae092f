"""A static site of an executed run: every notebook as an HTML page, with navigation, and an index page.

``make reproduce`` executes the notebooks into ``<run_dir>/notebooks/``; ``make html`` (this module)
renders them into ``<run_dir>/html/``, so that a reader sees the results without running anything::

    python -m inpaintkit.site --run-dir runs/quick          # -> runs/quick/html/index.html

Why nbconvert and not a site generator: nbconvert's HTML exporter is already installed with Jupyter, and what
a course site needs on top of it is small (below). Sphinx + myst-nb / nbsphinx, mkdocs-jupyter or Jupyter Book
would each add a tool chain (and Jupyter Book 2 a Node.js one) and load MathJax or KaTeX from a CDN by
default, which an offline reader does not have. What this module adds to nbconvert's ``lab`` template:

* **navigation**: every page links the index and the previous / next notebook, at its top and bottom;
* **math without a network**: the Markdown cells' ``$...$`` / ``$$...$$`` are converted to MathML on the
  server (``latex2mathml``, pure Python), which browsers render natively: no script, no CDN. A formula the
  converter cannot read stays visible as its TeX source;
* **widgets**: a live widget cannot run in a static page; where one was, the page says so and shows the still
  image the widget put beside itself (``InpaintWidget`` displays a PNG of its canvas), and a progress bar
  shows its last text;
* **no stderr**: warnings and progress bars that went to stderr are left out (a failing cell's error output,
  which is not stderr, stays);
* **no paths of the machine**: the run directory, the checkout, the Python environment and the home folder
  are written as ``runs/<name>``, ``.``, ``<python>`` and ``~``;
* **the paper**: its title, authors and link (:data:`PAPER`) at the top of every page.

Figures are embedded as data URIs: each page is one self-contained file that can be mailed or served from
any static host, and needs no network.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from pathlib import Path

from .cli import add_debug_flag, command
from .config import default_run_dir, repo_root
from .files import atomic_write_text

__all__ = [
    "HTML_DIR", "NOTEBOOK_PATTERN", "PAPER", "WIDGET_MIME", "citation_html", "executed_notebooks",
    "notebook_title", "tex_to_mathml", "path_replacements", "clean_notebook", "render_notebook", "build_site",
    "main",
]

HTML_DIR = "html"
NOTEBOOK_PATTERN = "[0-9][0-9]_*.ipynb"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"

PAPER = {
    "title": "Inpainting with Sketch Reconstruction and Comprehensive Feature Selection",
    "authors": "Siyuan Li, Lu Lu, Zhijing Li, Kepeng Xu, Matthieu Claisse, Wenxin Yu, Gang He, Yibo Fan, Zhuo Yang",
    "venue": "International Conference on Neural Information Processing (ICONIP 2019), Springer, pp. 65-73",
    "url": "https://doi.org/10.1007/978-3-030-36802-9_8",
}
"""The paper this kit reproduces (also cited in README.md; tests/test_site.py keeps the two in step)."""

_PROGRESS = re.compile(r"\d+%\|")          # tqdm's text: " 45%|####      | 36/80 [00:09<00:11, 3.9it/s]"


def citation_html() -> str:
    """One line citing :data:`PAPER`: title (linked), authors, venue."""
    p = {k: html.escape(v) for k, v in PAPER.items()}
    return (f'<p class="ik-cite">The paper: <a href="{p["url"]}">{p["title"]}</a>. {p["authors"]}. '
            f'{p["venue"]}.</p>')


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


# ---- math: TeX -> MathML on the server --------------------------------------------------------------------

def tex_to_mathml(tex: str, display: bool = False) -> str:
    """``tex`` as a MathML element (rendered by the browser itself); on a TeX the converter cannot read,
    the source in a ``<code>`` so that nothing silently disappears."""
    from latex2mathml.converter import convert

    try:
        return convert(tex.strip(), display="block" if display else "inline")
    except Exception:  # latex2mathml raises its own exception types for unsupported commands
        code = f'<code class="ik-tex">{html.escape(tex)}</code>'
        return f"<div>{code}</div>" if display else code


def _markdown_renderer():
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return tex_to_mathml(body, display=True)

        def inline_math(self, body: str) -> str:
            return tex_to_mathml(body)

        def latex_environment(self, name: str, body: str) -> str:
            return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

    return MathMLRenderer


def _exporter(template: str = "lab"):
    """nbconvert's HTMLExporter with the Markdown filter writing MathML and a template without scripts."""
    import jinja2
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    renderer_cls = _markdown_renderer()

    class CourseExporter(HTMLExporter):
        @jinja2.pass_context
        def markdown2html(self, context, source):
            cell = context.get("cell", {})
            renderer = renderer_cls(escape=False, attachments=cell.get("attachments", {}),
                                    embed_images=self.embed_images, anchor_link_text=self.anchor_link_text,
                                    exclude_anchor_links=self.exclude_anchor_links)
            return MarkdownWithMath(renderer=renderer).render(source)

    page = f"""{{%- extends '{template}/index.html.j2' -%}}
{{%- block html_head_js -%}}{{%- endblock html_head_js -%}}
{{% block jupyter_widgets %}}{{% endblock jupyter_widgets %}}
{{%- block html_head_js_mathjax -%}}{{%- endblock html_head_js_mathjax -%}}
{{%- block html_head_js_mermaidjs -%}}{{%- endblock html_head_js_mermaidjs -%}}
{{% block extra_css %}}<style>{_CSS}</style>{{% endblock extra_css %}}
{{%- block body_header -%}}{{{{ super() }}}}{{{{ resources.ik_header }}}}{{%- endblock body_header -%}}
{{% block body_footer %}}{{{{ resources.ik_footer }}}}{{{{ super() }}}}{{% endblock body_footer %}}
"""
    return CourseExporter(template_name=template, extra_loaders=[jinja2.DictLoader({"inpaintkit_page.j2": page})],
                          template_file="inpaintkit_page.j2")


_CSS = """
.ik-nav,.ik-cite{font-family:sans-serif;max-width:72rem;margin:.6rem auto;padding:0 1rem;font-size:.95rem}
.ik-nav{display:flex;justify-content:space-between;gap:1rem;border-bottom:1px solid #ddd;padding-bottom:.4rem}
.ik-nav.ik-bottom{border-top:1px solid #ddd;border-bottom:none;padding-top:.4rem}
.ik-cite{color:#444}
.ik-nav a,.ik-cite a{color:#1a5fb4;text-decoration:underline}
.ik-widget{border:1px dashed #999;padding:.5rem;background:#fafafa;font-family:sans-serif}
.ik-widget img{display:block;margin-top:.4rem;max-width:100%}
math[display=block]{margin:.6rem 0}
"""


# ---- what goes into a page ------------------------------------------------------------------------------

def path_replacements(nb=None, run_dir: str | Path | None = None) -> list[tuple[str, str]]:
    """``(absolute path, what the page says instead)``, longest first: the run directory (``runs/<name>``),
    the checkout that ran the notebook (from papermill's ``cwd``) and this one (``.``), the Python
    environment (``<python>``) and the home folder (``~``)."""
    pairs = []
    meta = (nb.metadata.get("papermill", {}) if nb is not None else {}) or {}
    run = (meta.get("parameters") or {}).get("run_dir") or run_dir
    if run:
        pairs.append((str(Path(run).resolve()) if Path(run).exists() else str(run), f"runs/{Path(run).name}"))
        pairs.append((str(run), f"runs/{Path(run).name}"))
    if meta.get("cwd"):                                     # <checkout>/notebooks
        pairs.append((str(Path(meta["cwd"]).parent), "."))
    pairs += [(str(repo_root()), "."), (sys.prefix, "<python>"), (sys.base_prefix, "<python>"),
              (str(Path.home()), "~")]
    seen, out = set(), []
    for old, new in sorted(pairs, key=lambda p: -len(p[0])):
        if old and old not in seen and old not in ("/", "."):
            seen.add(old)
            out.append((old, new))
    return out


def _scrub(text, replacements):
    if isinstance(text, list):
        return [_scrub(t, replacements) for t in text]
    if not isinstance(text, str):
        return text
    for old, new in replacements:
        text = text.replace(old, new)
    return text


def _widget_output(output):
    """A widget's output for a page that cannot run it: its progress text, or a placeholder and its still."""
    import nbformat

    data = output.get("data", {})
    text = "".join(data.get("text/plain", ""))
    if _PROGRESS.search(text):                              # tqdm.auto's bar: its last state, as text
        return nbformat.v4.new_output("stream", name="stdout", text=text.strip() + "\n")
    note = ("<div class=\"ik-widget\"><b>An interactive widget was here.</b> A static page cannot run it: open "
            "the notebook in JupyterLab (<code>jupyter lab notebooks/</code>) to use it.")
    if "image/png" in data:
        note += f'<br>What it showed when the notebook ran:<img alt="the widget" src="data:image/png;base64,' \
                f'{"".join(data["image/png"]).strip()}">'
    return nbformat.v4.new_output("display_data", data={"text/html": note + "</div>"})


def clean_notebook(nb, replacements: list[tuple[str, str]] | None = None):
    """A copy of an executed notebook fit for a page: stderr streams left out, widgets replaced (see the
    module docstring), the machine's paths replaced in sources and outputs, widget state dropped."""
    import copy

    nb = copy.deepcopy(nb)
    reps = path_replacements(nb) if replacements is None else replacements
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.source = _scrub(cell.source, reps)
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.outputs:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                continue
            if WIDGET_MIME in out.get("data", {}):
                out = _widget_output(out)
            for key in ("text", "traceback", "evalue"):
                if key in out:
                    out[key] = _scrub(out[key], reps)
            for mime in list(out.get("data", {})):
                if mime.startswith("text/"):
                    out["data"][mime] = _scrub(out["data"][mime], reps)
            outputs.append(out)
        cell.outputs = outputs
    return nb


def _nav(pages: list[tuple[str, str]], i: int, where: str) -> str:
    def link(j, arrow):
        if 0 <= j < len(pages):
            name, title = pages[j]
            return f'<a href="{html.escape(name)}.html">{arrow} {html.escape(title or name)}</a>'
        return "<span></span>"
    return (f'<nav class="ik-nav ik-{where}">{link(i - 1, "&larr;")}<a href="index.html">index</a>'
            f'{link(i + 1, "&rarr;")}</nav>')


def render_notebook(path: str | Path, out_dir: str | Path, template: str = "lab",
                    pages: list[tuple[str, str]] | None = None, run_dir: str | Path | None = None) -> Path:
    """Write ``path`` as ``out_dir/<stem>.html`` (cleaned, figures embedded, navigation among ``pages`` =
    [(stem, title)] in order), atomically; returns the HTML path."""
    import nbformat

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    nb = clean_notebook(nb, path_replacements(nb, run_dir))
    pages = pages or [(path.stem, notebook_title(nb))]
    i = [p for p, _ in pages].index(path.stem)
    resources = {"metadata": {"name": path.stem}, "ik_header": _nav(pages, i, "top") + citation_html(),
                 "ik_footer": _nav(pages, i, "bottom")}
    body, _ = _exporter(template).from_notebook_node(nb, resources=resources)
    out = Path(out_dir) / f"{path.stem}.html"
    atomic_write_text(out, body)
    return out


def _index_page(run_dir: Path, pages: list[tuple[str, str]], report_md: str | None) -> str:
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
    for stem, title in pages:
        secs = timings.get(stem)
        rows.append(f'<li><a href="{html.escape(stem)}.html">{html.escape(stem)}</a>: {html.escape(title)}'
                    + (f" <small>({secs:.0f} s)</small>" if secs is not None else "") + "</li>")
    report = (markdown2html(_scrub(report_md, path_replacements(run_dir=run_dir))) if report_md
              else "<p>No report.md in this run directory.</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>inpaintkit: {html.escape(run_dir.name)}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem}}code{{background:#f4f4f4}}
{_CSS}</style>
</head><body>
<h1>inpaintkit: the executed notebooks ({html.escape(run_dir.name)})</h1>
{citation_html()}
<p>Every notebook of the course as it ran, with its printed results and figures. Regenerate with
<code>make reproduce</code>, then <code>make html</code>. Widgets do not run here: open the notebooks in
JupyterLab for them.</p>
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
    paths = executed_notebooks(run_dir)
    pages = [(p.stem, notebook_title(nbformat.read(p, as_version=4))) for p in paths]
    for nb_path in paths:
        render_notebook(nb_path, out_dir, template, pages=pages, run_dir=run_dir)
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
