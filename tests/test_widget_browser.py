"""The inpainting widget in a real browser: JupyterLab + headless Chromium, mouse drag, button click.

What it proves that test_widgets.py cannot: the front end (ipycanvas, ipywidgets) is installed and wired, a
mouse drag on the canvas reaches ``on_mouse_down/move/up`` and lands where it was drawn (coordinates mapped
through the canvas' CSS scaling), the Inpaint button runs the kernel callback, and the result image shown
in the page is the inpainted one: different from the photo inside the stroke, the photo itself outside.

Setup: JupyterLab on 127.0.0.1 with a token, in a temporary directory holding a copy of notebook 07, run in
the smoke profile; Debian's ``chromium`` driven by the ``playwright`` package through ``executable_path`` (no
browser download). Skipped, with the reason, where Chromium or playwright is missing. Screenshots:
``test-artifacts/widget_after_run.png`` at the repository root and the test's tmp_path.
"""

from __future__ import annotations

import base64
import io
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from inpaintkit import widgets

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "07_interactive_inpainting.ipynb"
EXAMPLE = "chelsea"          # the notebook's widget shows this example
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
TIMEOUT_MS = 90_000
# Running the whole notebook (torch's import, the weights, HED, both stages) in a fresh clone took over 90 s on the
# 2 cores with a rehearsal beside it; a rerun took 35 s. The wait is for a result, not a speed check.
RUN_ALL_TIMEOUT_MS = 300_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: install Debian's package (apt-get install -y chromium); "
                                                ".ci/run does this as root"),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed "
                                                              "(pip install -e '.[test]')")

# Read an <img>'s pixels back as PNG (same-origin blob URL, so the canvas is not tainted).
READ_IMG_JS = """async (sel) => {
  const img = document.querySelector(sel);
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  c.getContext('2d').drawImage(img, 0, 0);
  return c.toDataURL('image/png');
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_img(page, selector: str) -> np.ndarray:
    url = page.evaluate(READ_IMG_JS, selector)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def _save_failure(page, tmp_path: Path) -> None:
    """On a failure: the page as a screenshot and HTML, in tmp_path and test-artifacts/, for the CI log."""
    out = REPO / "test-artifacts"
    out.mkdir(exist_ok=True)
    try:
        page.screenshot(path=out / "widget_failure.png", full_page=True)
        (out / "widget_failure.html").write_text(page.content())
        shutil.copy(out / "widget_failure.png", tmp_path / "widget_failure.png")
    except Exception as e:          # the page may be gone; the original failure matters more
        print(f"could not save the failing page: {e}")


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server in tmp_path (smoke profile, isolated settings); yields (base url, token)."""
    root = tmp_path / "lab"
    root.mkdir()
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:            # without the kept nbval outputs, a printed line proves the cell ran here
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / NOTEBOOK.name)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                            "checkForUpdates": False}))
    tracker = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)                # start Python 3 without the "Select Kernel" dialog
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"autoStartDefaultKernel": True}))
    token, port = secrets.token_hex(16), _free_port()
    env = dict(os.environ, INPAINTKIT_PROFILE="smoke", PYTHONPATH=str(REPO),
               JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"))
    log = open(tmp_path / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip", "127.0.0.1",
         "--port", str(port), f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
         "--ServerApp.port_retries=0"],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail("JupyterLab did not start:\n" + (tmp_path / "jupyterlab.log").read_text()[-3000:])
            time.sleep(0.5)
        # Start the notebook's kernel before the page opens, so JupyterLab attaches to it instead of asking.
        body = json.dumps({"path": NOTEBOOK.name, "name": NOTEBOOK.name, "type": "notebook",
                           "kernel": {"name": "python3"}}).encode()
        req = urllib.request.Request(f"{base}/api/sessions?token={token}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=60).close()
        yield base, token
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_drag_and_inpaint_in_jupyterlab(lab, tmp_path):
    base, token = lab
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        try:
            page.goto(f"{base}/lab/tree/{NOTEBOOK.name}?token={token}")
            page.locator(".jp-Notebook").wait_for()
            page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()

            # Run > Run All Cells, then wait for the last code cell's output and an idle kernel. On a slow
            # machine JupyterLab may ask for a kernel (its "Select Kernel" dialog) before the session is up:
            # accept its default, Python 3.
            def run_all():
                page.locator(".jp-Notebook .jp-Cell").first.click()   # focus the notebook: the menu acts on it
                page.get_by_role("menuitem", name="Run", exact=True).click()
                page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            run_all()
            error = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
            dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
            done = page.locator(".jp-OutputArea-output", has_text="full-size result:")   # an output, not the source
            done.or_(error).or_(dialog).first.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
            if dialog.count():
                # The run that asked for a kernel is dropped once the dialog is answered (seen in CI under load):
                # accept, wait for the kernel, and run all cells again unless they are already under way.
                dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
                page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()
                if not done.count() and not page.locator(".jp-InputArea-prompt", has_text="[*]").count():
                    run_all()
                done.or_(error).first.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
            assert error.count() == 0, "a notebook cell failed:\n" + error.first.inner_text()[-2000:]
            page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()

            # The notebook left the widget in sketch mode with its scripted hole: back to mask mode, clear it.
            status = page.locator(".inpaintkit-status")
            page.locator(".widget-toggle-buttons button", has_text="mask").first.click()
            page.locator(".inpaintkit-clear").click()
            status.get_by_text("Cleared: no hole").wait_for()

            canvas = page.locator("canvas.inpaintkit-canvas")
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            y = box["y"] + 0.5 * box["height"]
            x0, x1 = box["x"] + 0.25 * box["width"], box["x"] + 0.75 * box["width"]
            page.mouse.move(x0, y)
            page.mouse.down()
            page.mouse.move(x1, y, steps=25)
            page.mouse.up()
            page.locator(".inpaintkit-run").click()
            status.get_by_text("Done:").wait_for()

            shot = tmp_path / "widget_after_run.png"
            page.locator(".jp-OutputArea-output", has=canvas).screenshot(path=shot)   # the whole widget
            (REPO / "test-artifacts").mkdir(exist_ok=True)
            shutil.copy(shot, REPO / "test-artifacts" / "widget_after_run.png")

            result = _read_img(page, "img.inpaintkit-result")
            masked = _read_img(page, "img.inpaintkit-masked-input")
            status_text = status.inner_text()
        except Exception:
            _save_failure(page, tmp_path)
            raise
        finally:
            browser.close()

    h, w = result.shape[:2]
    assert masked.shape == result.shape
    photo = widgets.fit_image(widgets.example_image(EXAMPLE), max(h, w))      # what the widget works on
    assert photo.shape == result.shape

    # The hole is where the mouse went: the drag in image pixels, with the mask brush's radius.
    sx, sy = w / box["width"], h / box["height"]
    drag = [((x0 - box["x"]) * sx, (y - box["y"]) * sy), ((x1 - box["x"]) * sx, (y - box["y"]) * sy)]
    r = widgets.BRUSH["mask"]
    hole = (masked == widgets.HOLE_FILL).all(-1) & (photo != widgets.HOLE_FILL).any(-1)
    inner = widgets.stroke_footprint((h, w), drag, r - 2)
    outer = widgets.stroke_footprint((h, w), drag, r + 3)
    assert hole[inner].all(), "the drag did not paint the hole under the mouse"
    assert not hole[~outer].any(), "hole pixels far from the drag: the scripted hole was not cleared?"
    assert f"{int(hole.sum())} hole px" in status_text and "(both stages)" in status_text

    # Inside the stroke the result is new content; outside it is the photo, exactly.
    diff = np.abs(result.astype(int) - photo.astype(int))
    assert diff[inner].mean() > 5, f"result equals the input inside the stroke (mean |diff| {diff[inner].mean():.2f})"
    assert diff[~outer].max() <= 1
