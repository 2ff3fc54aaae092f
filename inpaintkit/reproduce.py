"""Run the whole course headless: every ``notebooks/NN_*.ipynb`` in order, through papermill.

    python -m inpaintkit.reproduce --profile quick --run-dir runs/quick
    python -m inpaintkit.reproduce --profile full --run-dir runs/full --device cuda \
        --data data/places2 --masks data/liu_train_masks --test-masks data/liu_test_masks
    python -m inpaintkit.reproduce --profile smoke --only 02,03

Each notebook gets the parameters ``profile``, ``run_dir`` and ``device`` (its cell tagged
``parameters``), and, when given, ``data`` (training images: an image folder, .flist, Places365 root or
``data_scripts/prepare_places2.py``'s output folder), ``test_data`` (default: ``data``'s test split),
``masks`` (the training masks: a mask folder, e.g. Liu et al.'s), ``test_masks`` (Table 1's test masks: Liu et
al.'s test set, released apart from the training masks; default our seeded set) and ``vgg`` (the VGG of Eq. 14). The
full and gpu profiles refuse to start without ``data``. Each notebook runs with its working directory set to
``notebooks/`` (papermill's ``cwd=``, as JupyterLab does) and is written, executed, to
``<run_dir>/notebooks/``. The run stops at the first failing notebook: papermill's
``PapermillExecutionError`` names the cell and its error, and the executed copy up to that cell stays in
the run directory. At the end ``report.md`` and
``report.json`` give each notebook's wall time, its slowest cells (from papermill's per-cell
metadata) and the Table 1 report of the evaluation notebook when it produced one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cli import add_debug_flag, command
from .config import NO_VGG, PROFILES, default_run_dir, get_profile, repo_root
from .files import atomic_write_text, check_writable_dir

__all__ = [
    "NOTEBOOK_PATTERN", "NotebookResult", "find_notebooks", "cell_durations", "run_notebook", "write_report",
    "experiment_lines", "data_parameters", "kernel_manager_class", "reproduce", "main", "DEAD_KERNEL",
]

NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_.+\.ipynb$")


def _dead_kernel_error() -> type:
    """nbclient's DeadKernelError (papermill's executor raises it when the kernel process is gone)."""
    try:
        from nbclient.exceptions import DeadKernelError
    except ImportError:                # nbclient comes with papermill; without it nothing runs anyway
        return RuntimeError
    return DeadKernelError


DEAD_KERNEL = _dead_kernel_error()


@dataclass
class NotebookResult:
    name: str
    status: str                      # "ok" or "failed"
    seconds: float
    output: str                      # the executed copy
    slowest_cells: list = field(default_factory=list)   # [(cell index, seconds, first source line)]
    error: str | None = None


def find_notebooks(notebook_dir: str | Path | None = None, only: list[str] | None = None) -> list[Path]:
    """``NN_*.ipynb`` in ``notebook_dir`` (default: the checkout's ``notebooks/``), sorted by number.

    ``only`` keeps the given numbers (``["02", "03"]``); an unknown number is an error.
    """
    nb_dir = Path(notebook_dir) if notebook_dir else repo_root() / "notebooks"
    if not nb_dir.is_dir():
        raise FileNotFoundError(
            f"No notebooks folder at {nb_dir}. Run from a clone of inpaintkit or pass --notebooks DIR."
        )
    found = sorted(p for p in nb_dir.iterdir() if NOTEBOOK_PATTERN.match(p.name))
    if only:
        wanted = {o.strip().zfill(2) for o in only if o.strip()}
        have = {NOTEBOOK_PATTERN.match(p.name).group(1) for p in found}
        missing = sorted(wanted - have)
        if missing:
            raise ValueError(f"--only names notebooks that do not exist: {', '.join(missing)}; "
                             f"available: {', '.join(sorted(have))}.")
        found = [p for p in found if NOTEBOOK_PATTERN.match(p.name).group(1) in wanted]
    if not found:
        raise FileNotFoundError(f"No NN_*.ipynb notebooks in {nb_dir}.")
    return found


def cell_durations(executed_notebook: str | Path, top: int = 3) -> list[tuple[int, float, str]]:
    """The ``top`` slowest code cells of an executed notebook, from papermill's cell metadata."""
    nb = json.loads(Path(executed_notebook).read_text())
    rows = []
    for i, cell in enumerate(nb.get("cells", [])):
        d = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if cell.get("cell_type") == "code" and d is not None:
            src = "".join(cell.get("source", "")).strip().splitlines()
            rows.append((i, float(d), src[0][:70] if src else ""))
    return sorted(rows, key=lambda r: -r[1])[:top]


def kernel_manager_class():
    """The kernel manager papermill runs each notebook with: jupyter_client's, minus two lines of noise.

    * jupyter_client sends the kernel a SIGINT before every shutdown, meant for a kernel still busy; the
      notebook's last cell has finished by then, and ipykernel logs the interrupt as ``[IPKernelApp] ERROR |
      KeyboardInterrupt caught in kernel`` although nothing failed. Here the shutdown goes without it (the
      shutdown request, then SIGTERM / SIGKILL after ``shutdown_wait_time``, still stop a hung kernel). An
      interrupt on a cell timeout is untouched.
    * ipykernel warns ``Kernel is running over TCP without encryption`` for a kernel on TCP ports. On POSIX
      the kernel talks over IPC (Unix sockets beside its connection file, in Jupyter's runtime folder), which
      nothing else on the machine can listen to, so the warning no longer applies; Windows stays on TCP.

    A failing cell is still reported by papermill (``PapermillExecutionError``), and a kernel that dies by
    nbclient (``DeadKernelError``): neither went through these log lines.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class CourseKernelManager(AsyncKernelManager):
        @default("transport")
        def _transport_default(self):
            return "ipc" if os.name == "posix" else "tcp"

        async def _async_interrupt_kernel(self):
            if self.shutting_down:          # set by shutdown_kernel before it interrupts
                return
            await super()._async_interrupt_kernel()

    return CourseKernelManager


def run_notebook(path: Path, run_dir: Path, profile: str, device: str = "auto",
                 extra_parameters: dict | None = None, log_output: bool = False) -> NotebookResult:
    """Execute one notebook with papermill; raises ``PapermillExecutionError`` on a failing cell."""
    import papermill as pm

    out = run_dir / "notebooks" / path.name
    out.parent.mkdir(parents=True, exist_ok=True)
    declared = pm.inspect_notebook(str(path))              # the names in its cell tagged "parameters"
    extra = {k: v for k, v in (extra_parameters or {}).items() if k in declared}   # data/masks/vgg where taken
    params = {"profile": profile, "run_dir": str(run_dir), "device": device, **extra}
    t0 = time.perf_counter()
    pm.execute_notebook(
        str(path), str(out), parameters=params, cwd=str(path.parent),
        kernel_name="python3", progress_bar=sys.stderr.isatty(), log_output=log_output,
        kernel_manager_class=kernel_manager_class(),
    )
    return NotebookResult(path.name, "ok", time.perf_counter() - t0, str(out), cell_durations(out))


def write_report(run_dir: Path, profile: str, results: list[NotebookResult]) -> Path:
    """``report.json`` and ``report.md`` in ``run_dir``; includes ``table1.md`` when evaluation wrote one."""
    run_dir.mkdir(parents=True, exist_ok=True)
    data = {"profile": profile, "notebooks": [asdict(r) for r in results],
            "total_seconds": sum(r.seconds for r in results)}
    _atomic_write(run_dir / "report.json", json.dumps(data, indent=2))
    lines = [f"# inpaintkit reproduction report ({profile} profile)", "",
             "| notebook | status | wall time | slowest cells |", "|---|---|---:|---|"]
    for r in results:
        slow = "; ".join(f"cell {i}: {s:.1f} s" for i, s, _ in r.slowest_cells)
        lines.append(f"| {r.name} | {r.status} | {r.seconds:.1f} s | {slow} |")
    lines.append(f"\nTotal: {data['total_seconds']:.1f} s. Executed notebooks: `{run_dir / 'notebooks'}`.")
    failed = [r for r in results if r.status != "ok"]
    for r in failed:
        lines.append(f"\n**{r.name} failed**: {r.error}")
    table = run_dir / "table1.md"
    if table.exists():
        text = table.read_text()
        lines += [""] + experiment_lines(run_dir)
        lines += [""] + ([] if text.lstrip().startswith("#") else ["## Table 1", ""]) + [text]
    path = run_dir / "report.md"
    _atomic_write(path, "\n".join(lines) + "\n")
    return path


_atomic_write = atomic_write_text


def experiment_lines(run_dir: Path) -> list[str]:
    """What the trained stages were trained on, from their config.json: data, masks, batch and the VGG of
    Eq. 14, with a departure from the paper's ImageNet VGG19 said in bold (shown beside Table 1)."""
    lines = ["## How this run's generators were trained", ""]
    found = False
    for stage in (1, 2):
        f = Path(run_dir) / f"stage{stage}" / "config.json"
        if not f.is_file():
            continue
        found = True
        c = json.loads(f.read_text())
        batch = c.get("batch_size_total", c.get("profile", {}).get("batch_size"))
        desc = (f"- stage {stage}: data {c.get('data') or 'demo photographs'}; "
                f"masks {c.get('masks', 'not recorded')}; batch {batch} per step over {c.get('world_size', 1)} "
                f"process(es); {c.get('precision', '?')} on {c.get('device')}")
        if stage == 2:
            vgg = c.get("vgg_source") or "not recorded"
            desc += f"; VGG of Eq. 14: {vgg}"
            if vgg != NO_VGG and not vgg.startswith("imagenet"):
                desc += " -- **a departure from the paper's ImageNet VGG19**"
        lines.append(desc)
    return lines if found else []


def data_parameters(profile: str, data=None, test_data=None, masks=None, vgg: str | None = None,
                    test_masks=None) -> dict:
    """The data parameters every notebook gets (absolute paths; only those given); checks them first.

    A profile with ``needs_real_data`` (full, gpu) without ``data`` is an error naming prepare_places2.py.
    """
    prof = get_profile(profile)
    if data is None and prof.needs_real_data:
        raise ValueError(
            f"The {profile} profile reproduces the paper on Places2 and will not train on the demo photographs. "
            "Prepare the data set with `python data_scripts/prepare_places2.py --root /data/places365 --out "
            "data/places2`, then pass --data data/places2 (and Liu et al.'s masks with --masks DIR).")
    params = {}
    for name, value in (("data", data), ("test_data", test_data), ("masks", masks), ("test_masks", test_masks)):
        if value is not None:
            path = Path(value).expanduser().resolve()
            if not path.exists():
                raise FileNotFoundError(f"--{name.replace('_', '-')} {value}: no such file or folder.")
            params[name] = str(path)
    if vgg is not None:
        if vgg not in ("auto", "imagenet", "hed"):
            raise ValueError(f"--vgg {vgg!r}: choose auto, imagenet or hed.")
        params["vgg"] = vgg
    return params


def reproduce(profile: str = "quick", run_dir: str | Path | None = None, device: str = "auto",
              only: list[str] | None = None, notebook_dir: str | Path | None = None,
              echo=print, data=None, test_data=None, masks=None, vgg: str | None = None,
              test_masks=None) -> list[NotebookResult]:
    """Run the notebooks in order; stop at (and re-raise) the first failure after writing the report.

    ``data``, ``test_data``, ``masks``, ``test_masks``, ``vgg``: passed to every notebook that declares them
    (see the module docstring)."""
    import papermill as pm

    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}; choose one of {', '.join(PROFILES)}.")
    extra = data_parameters(profile, data, test_data, masks, vgg, test_masks)
    run_dir = Path(run_dir).resolve() if run_dir else default_run_dir(profile)
    notebooks = find_notebooks(notebook_dir, only)
    check_writable_dir(run_dir, "run dir")          # after the arguments are checked, before any notebook runs
    echo(f"inpaintkit: {len(notebooks)} notebook(s), profile={profile}, device={device}, run dir {run_dir}"
         + "".join(f", {k}={v}" for k, v in extra.items()))
    results: list[NotebookResult] = []
    for nb in notebooks:
        t0 = time.perf_counter()
        try:
            res = run_notebook(nb, run_dir, profile, device, extra_parameters=extra)
        except pm.PapermillExecutionError as e:
            out = run_dir / "notebooks" / nb.name
            err = f"cell {e.cell_index} (execution count {e.exec_count}): {e.ename}: {e.evalue}"
            results.append(NotebookResult(nb.name, "failed", time.perf_counter() - t0, str(out), error=err))
            echo(f"  {nb.name:<34} FAILED after {results[-1].seconds:7.1f} s  {err}")
            echo(f"  the executed copy up to the failing cell is {out}")
            write_report(run_dir, profile, results)
            raise
        except DEAD_KERNEL as e:       # no cell to name: the kernel process itself is gone (killed, out of memory)
            out = run_dir / "notebooks" / nb.name
            err = (f"{type(e).__name__}: the notebook's kernel died (killed from outside, most often by the system "
                   "running out of memory); the executed copy shows the cell it was running")
            results.append(NotebookResult(nb.name, "failed", time.perf_counter() - t0, str(out), error=err))
            echo(f"  {nb.name:<34} FAILED after {results[-1].seconds:7.1f} s  {err}")
            write_report(run_dir, profile, results)
            raise
        results.append(res)
        echo(f"  {nb.name:<34} ok     {res.seconds:7.1f} s")
    report = write_report(run_dir, profile, results)
    echo(f"report: {report}")
    return results


@command
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m inpaintkit.reproduce", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default=os.environ.get("INPAINTKIT_PROFILE", "quick"), choices=PROFILES)
    ap.add_argument("--run-dir", default=None,
                    help="where executed notebooks and artefacts go (default runs/<profile>)")
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda")
    ap.add_argument("--only", default=None, help="comma-separated notebook numbers, e.g. 02,03")
    ap.add_argument("--notebooks", default=None, help="folder of NN_*.ipynb (default: the checkout's notebooks/)")
    ap.add_argument("--data", default=None, help="training images: prepare_places2.py's output folder, a Places365 "
                                                 "root, an image folder or .flist (default: the demo set; "
                                                 "required by the full and gpu profiles)")
    ap.add_argument("--test-data", default=None, help="test images (default: --data's test split)")
    ap.add_argument("--masks", default=None, help="training masks: a mask folder, e.g. Liu et al.'s irregular masks "
                                                  "(default: generated strokes)")
    ap.add_argument("--test-masks", default=None, help="Table 1's test masks: a mask folder, e.g. Liu et al.'s test "
                                                       "set, released apart from the training masks (default: our "
                                                       "fixed seeded set)")
    ap.add_argument("--vgg", default=None, choices=("auto", "imagenet", "hed"),
                    help="VGG of Eq. 14 (default: the profile's; full: imagenet). hed is a departure, "
                         "recorded in config.json and the report")
    add_debug_flag(ap)
    args = ap.parse_args(argv)
    import papermill as pm

    try:
        reproduce(args.profile, args.run_dir, args.device, args.only.split(",") if args.only else None, args.notebooks,
                  data=args.data, test_data=args.test_data, masks=args.masks, vgg=args.vgg, test_masks=args.test_masks)
    except pm.PapermillExecutionError as e:
        print(e, file=sys.stderr)          # papermill's message names the cell and shows its traceback
        return 1
    except DEAD_KERNEL as e:
        print(f"error: a notebook's kernel died ({type(e).__name__}): see report.md in the run directory",
              file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
