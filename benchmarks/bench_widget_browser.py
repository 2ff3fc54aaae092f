"""The widget's Inpaint button as a user sees it: JupyterLab in headless Chromium, from the click to the answer.

    python benchmarks/bench_widget_browser.py                    # notebook 07, shipped weights, 10 clicks each
    python benchmarks/bench_widget_browser.py --repeats 20 --json runs/bench/widget_browser.json

``bench_inpaint_latency.py`` times the kernel's work; this adds what lies between the button and the eyes:
the click's message to the kernel, the three PNGs back over the websocket, the page updating. It runs notebook 07
(the shipped weights, the quick profile) in a JupyterLab served from a temporary folder, then, ``--repeats``
times after a warm-up: clears the hole, drags a new stroke across the photo (a new hole each time, so each fill
is a first fill), clicks **Inpaint** and waits for "Done:" under the canvas; then clicks **Re-run stage 2** on
that hole and waits again. Reports the median and quartiles of the click-to-"Done:" time beside the kernel's own
time (the seconds the status line prints). Needs Debian's ``chromium`` and the ``playwright`` package (``pip
install -e '.[test]'``), as the widget's browser test does.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the kit's commands run (see the README)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.jupyterlab_session import CHROMIUM, CHROMIUM_ARGS, REPO, jupyterlab, run_all_cells  # noqa: E402
from inpaintkit.cli import add_debug_flag, command  # noqa: E402
from inpaintkit.files import atomic_write_bytes  # noqa: E402

NOTEBOOK = REPO / "notebooks" / "07_interactive_inpainting.ipynb"
KERNEL_SECONDS = re.compile(r"inpainted in ([0-9.]+) s")


def quartiles_ms(seconds: list[float]) -> dict:
    """{'median': ms, 'q1': ms, 'q3': ms, 'n': count}, from seconds (two values or more)."""
    q1, median, q3 = statistics.quantiles(seconds, n=4) if len(seconds) > 1 else seconds * 3
    return {"median": round(1000 * median, 1), "q1": round(1000 * q1, 1), "q3": round(1000 * q3, 1),
            "n": len(seconds)}


# Timed in the page, not by the driver: from the button's click event to the moment the status line says "Done:"
# with the expected words (a MutationObserver), so playwright's own checks before a click are not counted.
ARM_JS = """([button, expect]) => {
  const btn = [...document.querySelectorAll('button')].find(b => b.textContent.trim().endsWith(button));
  const status = document.querySelector('.inpaintkit-status');
  window.__inpaintkit_ms = undefined;
  let t0 = null;
  btn.addEventListener('click', () => { t0 = performance.now(); }, {once: true, capture: true});
  const seen = new MutationObserver(() => {
    const text = status.textContent;
    if (t0 !== null && text.includes('Done:') && text.includes(expect)) {
      seen.disconnect();
      window.__inpaintkit_ms = performance.now() - t0;
    }
  });
  seen.observe(status, {subtree: true, childList: true, characterData: true});
}"""


def click_and_wait(page, button: str, expect: str) -> tuple[float, float]:
    """Click the button labelled ``button``, wait until the status line says "Done:" with ``expect`` in it;
    (seconds from the click event to that line in the page, the kernel's seconds from the line)."""
    page.evaluate(ARM_JS, [button, expect])
    page.locator("button.widget-button", has_text=re.compile(rf"^\s*{re.escape(button)}\s*$")).click()
    page.wait_for_function("window.__inpaintkit_ms !== undefined")
    wall = page.evaluate("window.__inpaintkit_ms") / 1000
    return wall, float(KERNEL_SECONDS.search(page.locator(".inpaintkit-status").inner_text()).group(1))


def time_clicks(page, repeats: int) -> dict[str, list[tuple[float, float]]]:
    """Inpaint on a new stroke, then Re-run stage 2, ``repeats`` + 1 times (the first is a warm-up)."""
    status = page.locator(".inpaintkit-status")
    page.locator(".widget-toggle-buttons button", has_text="mask").first.click()
    canvas = page.locator("canvas.inpaintkit-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    out = {"inpaint": [], "rerun_stage2": []}
    for i in range(repeats + 1):
        page.locator(".inpaintkit-clear").click()
        status.get_by_text("Cleared: no hole").wait_for()
        y = box["y"] + box["height"] * (0.2 + 0.6 * (i % 7) / 6)                 # a new hole each time
        page.mouse.move(box["x"] + 0.15 * box["width"], y)
        page.mouse.down()
        page.mouse.move(box["x"] + 0.85 * box["width"], y + 0.1 * box["height"], steps=20)
        page.mouse.up()
        inpaint = click_and_wait(page, "Inpaint", "both stages")
        again = click_and_wait(page, "Re-run stage 2", "stage 2 only")
        if i:
            out["inpaint"].append(inpaint)
            out["rerun_stage2"].append(again)
    return out


@command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10, help="timed clicks of each button (after one warm-up)")
    ap.add_argument("--profile", default="quick", help="INPAINTKIT_PROFILE of the notebook (its weights are the "
                    "shipped ones in every profile)")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    if args.repeats < 2:
        ap.error("--repeats must be at least 2 (quartiles need two clicks)")
    if CHROMIUM is None:
        raise SystemExit("error: no Chromium: install Debian's package (apt-get install -y chromium)")
    try:
        from playwright import sync_api
    except ImportError:
        raise SystemExit("error: the playwright package is not installed: pip install -e '.[test]'") from None
    with tempfile.TemporaryDirectory(prefix="inpaintkit-bench-widget-") as tmp, \
            jupyterlab(Path(tmp), NOTEBOOK, profile=args.profile) as (base, token), \
            sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            error = run_all_cells(page, base, token, NOTEBOOK.name, done_text="full-size result:")
            if error:
                raise SystemExit(f"error: notebook 07 failed in JupyterLab:\n{error}")
            clicks = time_clicks(page, args.repeats)
        finally:
            browser.close()
    load = os.getloadavg()[0]
    print(f"the widget in JupyterLab + headless Chromium, notebook 07 ({args.profile} profile, shipped weights), "
          f"{args.repeats} clicks each; 1-min load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"  {'button':<16}{'click to Done: ms (quartiles)':>34}{'kernel ms':>12}")
    result = {"profile": args.profile, "repeats": args.repeats, "load_average_1min": load}
    for name, pairs in clicks.items():
        wall, kernel = quartiles_ms([w for w, _ in pairs]), quartiles_ms([k for _, k in pairs])
        result[name] = {"click_to_done_ms": wall, "kernel_ms": kernel}
        print(f"  {name:<16}{wall['median']:>14.0f} ({wall['q1']:.0f}-{wall['q3']:.0f}){'':>10}"
              f"{kernel['median']:>10.0f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(Path(args.json), json.dumps(result, indent=1).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
