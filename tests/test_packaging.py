"""The kit's packaging: environment.yml and pyproject.toml name the same packages."""

import re

try:
    import tomllib
except ImportError:                      # Python 3.10: pytest brings tomli
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[; ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_and_pyproject_name_the_same_packages():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = {_name(r) for r in meta["dependencies"] + meta["optional-dependencies"]["test"]}
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    env = {_name(line.strip()[2:]) for line in lines[start + 1:] if line.strip().startswith("- ")}
    assert env == pyproject
    assert {"torch", "torchvision", "scikit-image", "papermill", "nbval", "ipycanvas", "h5py"} <= env


def test_torch_is_not_pinned():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in meta["dependencies"]:
        if _name(req) in ("torch", "torchvision"):
            assert req.strip() in ("torch", "torchvision"), f"pin no torch: {req}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make reproduce" in readme
    assert readme.index("make reproduce") < 1500 and readme.index("make test") < 1500   # it opens with them
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)


def test_every_notebook_has_a_parameters_cell_and_no_stray_outputs():
    import json

    for nb_path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(nb_path.read_text())
        cells = nb["cells"]
        params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, nb_path.name
        assert 'os.environ.get("INPAINTKIT_PROFILE", "quick")' in "".join(params[0]["source"]), nb_path.name
        assert cells[0]["cell_type"] == "markdown" and "smoke" in "".join(cells[0]["source"]).lower(), nb_path.name
        assert "exercise" in "".join(cells[-1]["source"]).lower() or any(
            "exercise" in "".join(c["source"]).lower() for c in cells[-3:]), nb_path.name
        for c in cells:
            if c["cell_type"] != "code" or not c.get("outputs"):
                continue
            src = "".join(c["source"])
            assert c["metadata"].get("keep_output") and "NBVAL_CHECK_OUTPUT" in src, (
                f"{nb_path.name}: a cell carries outputs without being marked NBVAL_CHECK_OUTPUT + keep_output")
