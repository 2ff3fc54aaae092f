"""benchmarks/gpu_check.sh and its Python part, on the CPU in the smoke profile (the notebook chain itself is
rehearsed by hand: README, "GPU check"): the synthetic Places365 tree, the Liu-style masks, the per-stage
measurements and the report; the offline-wheel guard of the shell script."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inpaintkit.data import is_places_root, list_images
from inpaintkit.masks import BUCKETS, LiuMaskSet, bucket_of, hole_ratio

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.sh"


def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_synthetic_tree_has_places365s_layout_and_liu_masks_cover_table1(tmp_path):
    gc = gpu_check()
    counts = gc.make_places_tree(tmp_path / "p", n_train=10, n_val=2, n_test=3, size=48)
    assert counts == {"train": 10, "val": 2, "test": 3}
    root = tmp_path / "p"
    assert is_places_root(root)
    train = list_images(root, "train")
    assert len(train) == 10 and train[0] == root / "data_256/a/abbey/00000001.jpg"
    assert (root / "data_256/a/apartment_building/outdoor/00000001.jpg").is_file()         # nested classes
    assert [p.name for p in list_images(root, "test")] == [f"Places365_test_{i:08d}.jpg" for i in (1, 2, 3)]
    assert Image.open(train[3]).size == (48, 48) and np.asarray(Image.open(train[3])).std() > 10

    n = gc.make_liu_style_masks(tmp_path / "m", size=48, per_bucket=2)
    masks = LiuMaskSet(tmp_path / "m", size=48)                     # no manifest: white = hole, as Liu's
    assert n == len(masks) == 8 and masks.invert
    got = [bucket_of(hole_ratio(masks[i])) for i in range(n)]
    assert got == [b for b in gc.TABLE1_BUCKETS for _ in range(2)]
    raw = np.asarray(Image.open(tmp_path / "m" / "00000.png")) / 255         # white = hole in the file
    assert BUCKETS["10-20"][0] <= raw.mean() < BUCKETS["10-20"][1]


@pytest.mark.slow
def test_script_runs_the_measurements_on_the_cpu(tmp_path):
    out = tmp_path / "gc"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    run = subprocess.run(["bash", str(SCRIPT), "--python", sys.executable, "--out", str(out), "--profile", "smoke",
                          "--device", "cpu", "--image-px", "40", "--train-images", "8", "--test-images", "4",
                          "--masks-per-bucket", "1", "--hed-weights", "random", "--no-chain", "--bench-steps", "1",
                          "--hed-batch", "2"], capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    res = json.loads((out / "gpu_check.json").read_text())
    assert res["profile"] == "smoke" and res["vgg"] in ("hed", "imagenet") and "RANDOM" in res["hed"]
    assert res["data"]["counts"] == {"train": 8, "val": 8, "test": 4}
    assert [s["stage"] for s in res["stages"]] == [1, 2]
    for s in res["stages"]:
        assert s["batch"] == 4 and s["precision"] == "fp32" and s["mfu"] is None      # no tensor-core peak on a CPU
        assert s["flops_per_step"] > 0 and s["images_per_s"] == pytest.approx(4 / s["seconds_per_step"])
    assert res["stages"][1]["flops_per_step"] > res["stages"][0]["flops_per_step"]     # Gi + VGG > Gs
    assert res["hed_speed"]["size"] == 32 and res["hed_speed"]["forward_sketches_per_s"] > 0
    md = (out / "gpu_check.md").read_text()
    assert "| 1 (fp32) | 4 |" in md and "HED at 32 px" in md


def test_script_without_papermill_or_wheels_names_the_fix(tmp_path):
    bare = tmp_path / "python3"                                # a python that cannot import papermill
    bare.write_text("#!/bin/sh\nexec /usr/bin/env -i PYTHONNOUSERSITE=1 python3 -S \"$@\"\n")
    bare.chmod(0o755)
    run = subprocess.run(["bash", str(SCRIPT), "--python", str(bare), "--wheels", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "no wheel folder" in run.stderr and "pip download papermill ipykernel" in run.stderr


def _fake_wheel(folder, name, requires=()):
    """A minimal pure-Python wheel ``name``-0.0.1 holding one package (pip installs it offline)."""
    import zipfile

    dist = f"{name}-0.0.1.dist-info"
    needs = "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {f"{name}/__init__.py": "__version__ = '0.0.1'\n",
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.0.1\n{needs}",
             f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{dist}/RECORD"] = "".join(f"{p},,\n" for p in [*files, f"{dist}/RECORD"])
    with zipfile.ZipFile(folder / f"{name}-0.0.1-py3-none-any.whl", "w") as z:
        for path, text in files.items():
            z.writestr(path, text)


def _externally_managed_python():
    """The machine's system python3 when it is externally managed (PEP 668) and can make venvs, else None."""
    import shutil

    py = shutil.which("python3", path="/usr/bin:/usr/local/bin")
    if py is None:
        return None
    probe = subprocess.run([py, "-c", "import ensurepip, sysconfig, os; print(os.path.isfile(os.path.join("
                            "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))"], capture_output=True, text=True)
    return py if probe.stdout.strip() == "True" else None


@pytest.mark.slow
def test_script_installs_into_a_venv_over_an_externally_managed_python(tmp_path):
    """PEP 668: pip refuses to install into the system Python. The script makes a venv with
    --system-site-packages over it (which sees the system's packages, torch among them) and installs the wheels
    there; the system Python is left as it was."""
    system = _externally_managed_python()
    if system is None:
        pytest.skip("no externally managed system python3 with venv support on this machine")
    wheels = tmp_path / "whl"
    wheels.mkdir()
    for name in ("nbclient", "nbformat", "ipykernel", "ipywidgets", "ipycanvas"):
        _fake_wheel(wheels, name)
    _fake_wheel(wheels, "papermill", requires=("nbclient", "nbformat"))      # as the real one pulls them in
    site = tmp_path / "site"                                  # a stand-in torch the system python sees
    (site / "torch").mkdir(parents=True)
    (site / "torch" / "__init__.py").write_text("__version__ = '0.0-stand-in'\n")
    refused = subprocess.run([system, "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "papermill"],
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "externally-managed-environment" in refused.stderr   # what the old script hit
    venv = tmp_path / "venv"
    env = dict(os.environ, PYTHONPATH=str(site))
    run = subprocess.run(["bash", str(SCRIPT), "--python", system, "--wheels", str(wheels), "--venv", str(venv),
                          "--setup-only"], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stdout.strip().endswith(f"python: {venv}/bin/python")
    assert "include-system-site-packages = true" in (venv / "pyvenv.cfg").read_text()
    check = "import papermill, ipycanvas, torch, sys; print(papermill.__version__, torch.__version__, sys.prefix)"
    got = subprocess.run([str(venv / "bin" / "python"), "-c", check], capture_output=True, text=True, env=env)
    assert got.stdout.split() == ["0.0.1", "0.0-stand-in", str(venv)], got.stderr
    system_pkgs = subprocess.run([system, "-c", "import apt_pkg"], capture_output=True)
    if system_pkgs.returncode == 0:                     # Debian's python3-apt: only in the system's site-packages
        assert subprocess.run([str(venv / "bin" / "python"), "-c", "import apt_pkg"]).returncode == 0
    again = subprocess.run(["bash", str(SCRIPT), "--python", system, "--wheels", str(tmp_path / "gone"), "--venv",
                            str(venv), "--setup-only"], capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0 and "using" in again.stdout                   # made once, reused without wheels
    no_torch = subprocess.run(["bash", str(SCRIPT), "--python", system, "--wheels", str(wheels), "--venv",
                               str(tmp_path / "v2"), "--setup-only"], capture_output=True, text=True, timeout=120)
    assert no_torch.returncode == 2 and "cannot import torch" in no_torch.stderr
