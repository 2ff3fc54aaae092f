"""A JupyterLab server and a notebook run in headless Chromium, for the widget's browser test and benchmark.

    with jupyterlab(tmp_dir, notebook, profile="smoke") as (base, token):
        page = browser.new_page(); run_all_cells(page, base, token, notebook.name, done_text="full-size result:")

Used by ``tests/test_widget_browser.py`` (does a drag and a click reach the kernel?) and
``benchmarks/bench_widget_browser.py`` (how long does the Inpaint button take, as a user sees it?). JupyterLab
runs on 127.0.0.1 with a token and settings of its own in ``tmp_dir`` (no news check, the default kernel started
without asking), on a copy of the notebook without its kept outputs, so a printed line proves the cell ran here.
Chromium is Debian's, driven by the ``playwright`` package through ``executable_path`` (no browser download).
"""

from __future__ import annotations

import contextlib
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

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
# Running the whole notebook (torch's import, the weights, HED, both stages) in a fresh clone took over 90 s on the
# 2 cores with a rehearsal beside it; a rerun took 35 s. The wait is for a result, not a speed check.
RUN_ALL_TIMEOUT_MS = 300_000
# Run All Cells can be dropped without a word: the page stayed with every prompt at [ ] and an idle kernel until
# the 300 s wait ran out (once, idle machine). A run that starts marks its cells [*] at once; without that in 30 s,
# the menu is used again.
RUN_ALL_ATTEMPTS, STARTED_TIMEOUT_MS = 3, 30_000
STARTED_JS = """() => !!document.querySelector('.jp-Dialog') || [...document.querySelectorAll(
  '.jp-Notebook .jp-InputArea-prompt')].some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""


class LabDidNotStart(RuntimeError):
    """JupyterLab exited or did not answer within a minute; the message ends with its log."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def jupyterlab(tmp_dir: Path, notebook: Path, profile: str = "smoke"):
    """A JupyterLab server in ``tmp_dir`` serving a copy of ``notebook`` with its kernel started, run in
    ``profile`` (``INPAINTKIT_PROFILE``); yields (base url, token) and stops the server on exit."""
    root = tmp_dir / "lab"
    root.mkdir()
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:            # without the kept nbval outputs, a printed line proves the cell ran here
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    nbformat.write(nb, root / notebook.name)
    settings = tmp_dir / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                            "checkForUpdates": False}))
    tracker = tmp_dir / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)                # start Python 3 without the "Select Kernel" dialog
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"autoStartDefaultKernel": True}))
    token, port = secrets.token_hex(16), _free_port()
    env = dict(os.environ, INPAINTKIT_PROFILE=profile, PYTHONPATH=str(REPO),
               JUPYTER_CONFIG_DIR=str(tmp_dir / "config"), JUPYTER_RUNTIME_DIR=str(tmp_dir / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp_dir / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp_dir / "workspaces"))
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")          # as `make` starts the kernels (README, "Run times")
    log_path = tmp_dir / "jupyterlab.log"
    log = open(log_path, "w")
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
                raise LabDidNotStart("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.5)
        # Start the notebook's kernel before the page opens, so JupyterLab attaches to it instead of asking.
        body = json.dumps({"path": notebook.name, "name": notebook.name, "type": "notebook",
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


def run_all_cells(page, base: str, token: str, name: str, done_text: str) -> str | None:
    """Open notebook ``name``, Run > Run All Cells, and wait until an output shows ``done_text`` and the kernel is
    idle. Returns the first cell error's text, or None. On a slow machine JupyterLab may ask for a kernel (its
    "Select Kernel" dialog) before the session is up: its default, Python 3, is accepted."""
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    page.locator(".jp-Notebook").wait_for()
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()

    def run_all():
        page.locator(".jp-Notebook .jp-Cell").first.click()   # focus the notebook: the menu acts on it
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(RUN_ALL_ATTEMPTS):
        run_all()
        try:             # a cell queued ([*]) or run ([n]), or JupyterLab asks for a kernel
            page.wait_for_function(STARTED_JS, timeout=STARTED_TIMEOUT_MS)
            break
        except PlaywrightTimeout:
            continue     # the menu's run was dropped, every prompt still [ ] (seen once in 5 runs): again
    error = page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    done = page.locator(".jp-OutputArea-output", has_text=done_text)   # an output, not the source
    done.or_(error).or_(dialog).first.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
    if dialog.count():
        # The run that asked for a kernel is dropped once the dialog is answered (seen in CI under load): accept,
        # wait for the kernel, and run all cells again unless they are already under way.
        dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
        page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()
        if not done.count() and not page.locator(".jp-InputArea-prompt", has_text="[*]").count():
            run_all()
        done.or_(error).first.wait_for(timeout=RUN_ALL_TIMEOUT_MS)
    if error.count():
        return error.first.inner_text()[-2000:]
    page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for()
    return None
