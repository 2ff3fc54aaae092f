"""The papermill runner: order, parameters, executed copies, report, stopping at the first failure."""

import json

import nbformat as nbf
import papermill as pm
import pytest

from inpaintkit.reproduce import find_notebooks, main, reproduce


def _nb(path, body):
    nb = nbf.v4.new_notebook()
    params = nbf.v4.new_code_cell('import os\nprofile = os.environ.get("INPAINTKIT_PROFILE", "quick")\n'
                                  'run_dir = None\ndevice = "auto"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbf.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbf.write(nb, path)


@pytest.fixture
def notebooks(tmp_path):
    d = tmp_path / "notebooks"
    d.mkdir()
    # each notebook records its parameters and its working directory into the run dir
    body = ('import json, pathlib, os\n'
            'pathlib.Path(run_dir, "{n}.json").write_text('
            'json.dumps(dict(profile=profile, device=device, cwd=os.getcwd())))')
    _nb(d / "01_first.ipynb", body.format(n="01"))
    _nb(d / "02_second.ipynb", body.format(n="02"))
    (d / "README.ipynb").write_text("{}")        # not NN_*: ignored
    return d


def test_runs_in_order_with_parameters_and_writes_report(notebooks, tmp_path):
    run_dir = tmp_path / "run"
    lines = []
    results = reproduce("smoke", run_dir, "cpu", notebook_dir=notebooks, echo=lines.append)
    assert [r.name for r in results] == ["01_first.ipynb", "02_second.ipynb"]
    for n in ("01", "02"):
        got = json.loads((run_dir / f"{n}.json").read_text())
        assert got == {"profile": "smoke", "device": "cpu", "cwd": str(notebooks)}
    assert (run_dir / "notebooks" / "02_second.ipynb").exists()
    report = json.loads((run_dir / "report.json").read_text())
    assert [nb["status"] for nb in report["notebooks"]] == ["ok", "ok"]
    assert all(nb["slowest_cells"] for nb in report["notebooks"])        # from papermill's cell metadata
    assert "| 01_first.ipynb | ok |" in (run_dir / "report.md").read_text()
    assert len([line for line in lines if ".ipynb" in line]) == 2


def test_only_and_unknown_numbers(notebooks):
    assert [p.name for p in find_notebooks(notebooks, ["2"])] == ["02_second.ipynb"]
    with pytest.raises(ValueError, match="do not exist: 07"):
        find_notebooks(notebooks, ["07"])


def test_stops_at_the_first_failing_notebook_and_names_the_cell(notebooks, tmp_path, capsys):
    _nb(notebooks / "01_first.ipynb", "x = 1\nraise RuntimeError('boom in the data')")
    run_dir = tmp_path / "run"
    with pytest.raises(pm.PapermillExecutionError) as err:
        reproduce("smoke", run_dir, "cpu", notebook_dir=notebooks, echo=lambda s: None)
    assert err.value.ename == "RuntimeError" and "boom in the data" in err.value.evalue
    assert not (run_dir / "notebooks" / "02_second.ipynb").exists()          # stopped there
    assert (run_dir / "notebooks" / "01_first.ipynb").exists()              # the failing copy stays
    assert "RuntimeError: boom in the data" in (run_dir / "report.md").read_text()
    # the CLI prints one line naming the notebook and the cell, and exits 1
    assert main(["--profile", "smoke", "--run-dir", str(run_dir), "--notebooks", str(notebooks)]) == 1
    out = capsys.readouterr()
    assert "01_first.ipynb" in out.out and "FAILED" in out.out and "cell 2" in out.out


def test_a_kernel_that_dies_is_reported_as_a_failed_notebook(notebooks, tmp_path):
    from inpaintkit.reproduce import DEAD_KERNEL

    _nb(notebooks / "01_first.ipynb", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")   # as the OOM killer
    run_dir = tmp_path / "run"
    lines = []
    with pytest.raises(DEAD_KERNEL):
        reproduce("smoke", run_dir, "cpu", notebook_dir=notebooks, echo=lines.append)
    report = json.loads((run_dir / "report.json").read_text())
    assert [(nb["name"], nb["status"]) for nb in report["notebooks"]] == [("01_first.ipynb", "failed")]
    assert "kernel died" in report["notebooks"][0]["error"] and "FAILED" in lines[-1]
