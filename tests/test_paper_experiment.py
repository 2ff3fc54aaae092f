"""Issue 12, the paper's experiment end to end, on the CPU: data flows from one flag to the trainers and the
evaluator, the full profile refuses the demo photographs and a missing VGG19, every profile's losses survive
one step under bf16 autocast (with CUDA's autocast rules), and the report says what was trained how."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch.overrides import TorchFunctionMode

from inpaintkit import losses
from inpaintkit.config import PROFILES, get_profile
from inpaintkit.evaluate import evaluate
from inpaintkit.masks import irregular_mask
from inpaintkit.reproduce import data_parameters, experiment_lines
from inpaintkit.train import Trainer, build_dataset

from conftest import TinyData, tiny_vgg
from test_data import make_fake_places

REPO = Path(__file__).resolve().parents[1]
SMOKE = get_profile("smoke")


# ------------------------------------------------------------------------------ bf16 autocast, every profile

class CudaAutocastRules(TorchFunctionMode):
    """What CUDA's autocast does that the CPU's does not: refuse ``binary_cross_entropy`` while autocast is
    on ("unsafe to autocast"). Also records the dtypes convolutions returned, to prove bf16 ran."""

    BANNED = {F.binary_cross_entropy, torch.binary_cross_entropy if hasattr(torch, "binary_cross_entropy") else None}

    def __init__(self):
        super().__init__()
        self.conv_dtypes = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.BANNED and torch.is_autocast_enabled("cpu"):
            raise RuntimeError("torch.nn.functional.binary_cross_entropy is unsafe to autocast (CUDA's rule)")
        out = func(*args, **(kwargs or {}))
        if func is F.conv2d:
            self.conv_dtypes.add(out.dtype)
        return out


def test_the_cuda_rule_emulation_catches_the_old_bce():
    pred, target = torch.rand(2, 1, 8, 8), (torch.rand(2, 1, 8, 8) > 0.5).float()
    with CudaAutocastRules(), torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(RuntimeError, match="unsafe to autocast"):
            F.binary_cross_entropy(pred, target)                   # what balanced_bce called before issue 12
        got = losses.balanced_bce(pred, target)                    # now: float32, autocast off
    pos = target.mean(dim=(1, 2, 3), keepdim=True)
    w = torch.where(target > 0.5, 1 - pos, pos)
    expect = -(w * (target * pred.log() + (1 - target) * (1 - pred).log())).mean()
    assert got.dtype == torch.float32 and torch.allclose(got, expect, atol=1e-6)


@pytest.mark.parametrize("name", PROFILES)
@pytest.mark.parametrize("stage", [1, 2])
def test_one_bf16_step_in_every_profiles_loss_configuration(tmp_path, name, stage):
    prof = get_profile(name)
    p = replace(SMOKE, stage1_loss=prof.stage1_loss, stage2_loss=prof.stage2_loss, lr=prof.lr)
    t = Trainer(stage, p, tmp_path, device="cpu", data=TinyData(), progress=False, precision="bf16",
                vgg=tiny_vgg() if stage == 2 else "auto")
    assert t.precision == "bf16"
    before = [q.detach().clone() for q in t.generator.parameters()]
    batch = torch.utils.data.default_collate([t.dataset[(1, i, i)] for i in range(p.batch_size)])
    rules = CudaAutocastRules()
    with rules:
        terms = t.train_step(batch)
        if getattr(t.generator, "prefill", False):     # its zero-initialised output layer passes no gradient
            terms = t.train_step(batch)                # back on the first step: the second moves the rest
    assert torch.bfloat16 in rules.conv_dtypes                       # the step really ran in bf16
    assert all(torch.isfinite(v) for v in terms.values())
    assert ("g_reconstruction" in terms) == (stage == 1 and prof.stage1_loss.reconstruction > 0)
    changed = [not torch.equal(a, b.detach()) for a, b in zip(before, t.generator.parameters())]
    assert sum(changed) > len(changed) // 2                          # the G step moved the weights


# ------------------------------------------------------------------------------ data from one flag

def liu_style_masks(folder, n=3, size=32):
    """Liu et al.'s convention (white = hole, no manifest), seeded stroke masks."""
    folder.mkdir(parents=True)
    for i in range(n):
        m = irregular_mask(size, size, (0.2, 0.4), np.random.default_rng(i))          # 1 = known
        Image.fromarray(((1 - m) * 255).astype(np.uint8)).save(folder / f"{i:05d}.png")
    return folder


@pytest.fixture
def places(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    return make_fake_places(tmp_path / "places365", n_train_per_class=3, n_val=3, n_test=4, size=40)


def test_trainer_and_evaluator_use_the_given_places_tree_and_masks(places, tmp_path):
    masks = liu_style_masks(tmp_path / "liu")
    paper_like = replace(SMOKE, needs_real_data=True)               # the full profile's rules at smoke size
    run = tmp_path / "run"
    train_files = sorted(str(p) for p in (places / "data_256").rglob("*.jpg"))
    for stage in (1, 2):
        t = Trainer(stage, paper_like, run, device="cpu", data=places, masks=masks, steps=1, progress=False,
                    sketch="canny", vgg=tiny_vgg() if stage == 2 else "auto")
        assert sorted(map(str, t.dataset.dataset.paths)) == train_files            # the training split, all of it
        assert t.dataset.dataset.mask_set.root == masks
        batch = next(iter(t._loader()))
        assert set(batch["path"]) <= set(train_files)
        mask_files = {tuple(np.unique(t.dataset.dataset.mask_set[i])) for i in range(3)}
        assert mask_files == {(0, 1)}
        drawn = {bytes(m.numpy().astype(np.uint8)) for m in batch["mask"][:, 0]}
        liu = {bytes(t.dataset.dataset.mask_set[i]) for i in range(3)}
        assert drawn <= liu                                          # every training mask is one of Liu's files
        t.fit()
        cfg = json.loads((run / f"stage{stage}" / "config.json").read_text())
        assert (cfg["data"], cfg["masks"]) == (str(places), str(masks))
        assert (cfg["batch_size_total"], cfg["batch_size_per_process"]) == (SMOKE.batch_size, SMOKE.batch_size)

    hed = Path.home() / ".cache" / "inpaintkit" / "hed_bsds500.pt"
    methods = ["biharmonic"] + (["ours"] if hed.is_file() else [])     # "ours" sketches with HED
    if hed.is_file():
        shutil.copy(hed, tmp_path / "cache" / hed.name)
    res = evaluate(run_dir=run, data=places, masks=None, profile=paper_like, methods=methods,
                   per_bucket=2, progress=False)
    test_files = {str(p) for p in (places / "test_256").glob("*.jpg")}
    scored = {r["image"] for r in res["records"]}
    assert scored and scored <= test_files and "test split" in res["data"]
    assert {r["method"] for r in res["records"]} == set(methods)
    if "ours" in methods:
        assert res["model"]["source"] == "run"                       # this run's generators, never the demo weights
    # Liu's masks with and without holes at the border: every record in exactly one group
    n = {g: sum(v["n"] for b in summ["biharmonic"].values() for k, v in b.items() if k == "psnr")
         for g, summ in res["summary_by_border"].items()}
    assert sum(n.values()) == len([r for r in res["records"] if r["method"] == "biharmonic"])
    assert n.get("hole at the border", 0) == sum(r["hole_at_border"] for r in res["records"]
                                                 if r["method"] == "biharmonic")


def test_hole_at_border_is_measured_on_the_mask():
    from inpaintkit.protocol import hole_at_border

    m = np.ones((8, 8), np.uint8)
    m[3:5, 3:5] = 0
    assert not hole_at_border(m)
    m[3:5, 6:8] = 0                                                  # reaches the last column
    assert hole_at_border(m)


def test_lpips_and_fid_are_marked_when_their_weights_are_absent(tmp_path, monkeypatch):
    from inpaintkit import scoring

    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    status = scoring.extra_metric_status()
    hub = tmp_path / "hub" / "checkpoints"
    assert status["lpips"].startswith("not computed: weights absent (")
    assert f"{scoring.LPIPS_ALEXNET_FILE} not in {hub}" in status["lpips"]
    assert status["fid"].startswith("not computed: weights absent (") and scoring.FID_INCEPTION_FILE in status["fid"]
    res = evaluate(run_dir=tmp_path, profile="smoke", methods=["biharmonic"], per_bucket=1, progress=False)
    assert res["extra_metrics"] == status
    table = (tmp_path / "table1.md").read_text()
    assert f"LPIPS: {status['lpips']}" in table and f"FID: {status['fid']}" in table


def test_prepared_folder_splits_go_to_their_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    places = make_fake_places(tmp_path / "places365", size=40)
    out = tmp_path / "places2"                                           # what prepare_places2.py writes
    out.mkdir()
    (out / "train.flist").write_text("".join(f"{p}\n" for p in sorted((places / "data_256").rglob("*.jpg"))[:4]))
    (out / "test.flist").write_text("".join(f"{p}\n" for p in sorted((places / "test_256").glob("*.jpg"))))
    train = build_dataset(out, SMOKE, sketch="canny", progress=False)
    test = build_dataset(out, SMOKE, sketch="canny", progress=False, split="test")
    assert [p.name for p in train.paths] == ["00000001.jpg", "00000002.jpg", "00000001.jpg", "00000002.jpg"]
    assert [p.name for p in test.paths] == ["Places365_test_00000001.jpg", "Places365_test_00000002.jpg"]
    assert test.deterministic_masks and not train.deterministic_masks


@pytest.mark.parametrize("name", ["full", "gpu"])
def test_the_paper_profiles_refuse_the_demo_photographs(name, tmp_path):
    with pytest.raises(ValueError, match="data_scripts/prepare_places2.py"):
        data_parameters(name)                                        # reproduce: before any notebook runs
    with pytest.raises(ValueError, match="data_scripts/prepare_places2.py"):
        build_dataset(None, get_profile(name))                       # the trainers
    with pytest.raises(ValueError, match="data_scripts/prepare_places2.py"):
        evaluate(run_dir=tmp_path, profile=name, methods=["biharmonic"], progress=False)
    assert data_parameters("quick") == {}
    got = data_parameters(name, data=tmp_path, masks=tmp_path, vgg="hed")
    assert got == {"data": str(tmp_path.resolve()), "masks": str(tmp_path.resolve()), "vgg": "hed"}
    with pytest.raises(FileNotFoundError, match="--test-data"):
        data_parameters(name, data=tmp_path, test_data=tmp_path / "nope")


def test_full_profile_needs_imagenet_vgg19_and_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(losses, "_probe_download", lambda: (False, "offline"))
    with pytest.raises(FileNotFoundError) as err:
        Trainer(2, replace(SMOKE, vgg=get_profile("full").vgg), tmp_path / "run", device="cpu", data=TinyData(),
                progress=False)
    msg = str(err.value)
    assert losses.IMAGENET_VGG19_FILE in msg and str(tmp_path / "hub" / "checkpoints") in msg and "--vgg hed" in msg


def test_vgg_departure_is_recorded_and_reported(tmp_path):
    run = tmp_path / "run"
    Trainer(2, SMOKE, run, device="cpu", data=TinyData(), progress=False, vgg=tiny_vgg(), steps=0)
    cfg = json.loads((run / "stage2" / "config.json").read_text())
    assert cfg["vgg_source"] == "tiny-test-vgg" and cfg["batch_semantics"].startswith("profile batch_size = images")
    lines = experiment_lines(run)
    assert any("VGG of Eq. 14: tiny-test-vgg -- **a departure" in line for line in lines)


def test_a_profile_without_perceptual_or_style_terms_loads_no_vgg(tmp_path, monkeypatch):
    def no_vgg(*args, **kwargs):
        pytest.fail("a VGG was loaded for perceptual and style terms weighted 0")

    monkeypatch.setattr(losses, "VGGFeatures", no_vgg)
    run = tmp_path / "run"
    quick_losses = replace(SMOKE, stage2_loss=get_profile("quick").stage2_loss)    # perceptual = style = 0
    trainer = Trainer(2, quick_losses, run, device="cpu", data=TinyData(), progress=False, steps=1)
    trainer.fit()
    assert trainer.vgg is None and trainer.step == 1
    given = Trainer(2, quick_losses, tmp_path / "given", device="cpu", data=TinyData(), progress=False, vgg=tiny_vgg())
    assert given.vgg is None and given.vgg_source == losses.NO_VGG              # a VGG given is not recorded either
    assert json.loads((run / "stage2" / "config.json").read_text())["vgg_source"] == losses.NO_VGG
    line = next(line for line in experiment_lines(run) if "stage 2" in line)
    assert "VGG of Eq. 14: none" in line and "departure" not in line


@pytest.mark.parametrize("nb", ["01_data_and_hed", "04_stage1_sketch", "05_stage2_completion", "06_evaluation"])
def test_notebooks_take_the_data_parameters(nb):
    cells = nbformat.read(REPO / "notebooks" / f"{nb}.ipynb", 4).cells
    params = next(c for c in cells if "parameters" in c.metadata.get("tags", []))
    ns = {}
    exec(params.source, ns)
    assert (ns["data"], ns["test_data"], ns["masks"]) == (None, None, None)
    body = "\n".join(c.source for c in cells if c.cell_type == "code")
    assert "demo_dataset(\"train\"" not in body and "demo_dataset(\"test\"" not in body


def test_reproduce_passes_the_data_flags_to_the_notebooks_that_take_them(tmp_path):
    from inpaintkit.reproduce import reproduce

    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    body = ('import json, pathlib\n'
            'pathlib.Path(run_dir, "{n}.json").write_text(json.dumps('
            '{{k: v for k, v in globals().items() if k in ("data", "masks", "vgg", "profile")}}))')
    for n, extra in (("01", "data = None\nmasks = None\nvgg = 'auto'"), ("02", "")):
        nb = nbformat.v4.new_notebook()
        params = nbformat.v4.new_code_cell(f"profile = 'quick'\nrun_dir = None\ndevice = 'auto'\n{extra}")
        params.metadata["tags"] = ["parameters"]
        nb.cells = [params, nbformat.v4.new_code_cell(body.format(n=n))]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, nbs / f"{n}_x.ipynb")
    data, masks = tmp_path / "places365", tmp_path / "liu"
    data.mkdir(), masks.mkdir()
    run = tmp_path / "run"
    reproduce("gpu", run, "cpu", notebook_dir=nbs, echo=lambda s: None, data=data, masks=masks, vgg="hed")
    assert json.loads((run / "01.json").read_text()) == {"profile": "gpu", "data": str(data), "masks": str(masks),
                                                         "vgg": "hed"}
    assert json.loads((run / "02.json").read_text()) == {"profile": "gpu"}      # takes none: gets none


def test_clis_take_the_masks_and_refuse_the_full_profile_without_data(places, tmp_path, capsys):
    from inpaintkit import reproduce, train

    masks = liu_style_masks(tmp_path / "liu")
    run = tmp_path / "cli"
    assert train.main(["--stage", "1", "--profile", "smoke", "--run-dir", str(run), "--data", str(places),
                       "--masks", str(masks), "--sketch", "canny", "--steps", "1", "--device", "cpu",
                       "--no-progress"]) == 0
    cfg = json.loads((run / "stage1" / "config.json").read_text())
    assert (cfg["data"], cfg["masks"], cfg["precision"]) == (str(places), str(masks), "fp32")
    capsys.readouterr()
    assert reproduce.main(["--profile", "full", "--run-dir", str(tmp_path / "full")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "data_scripts/prepare_places2.py" in err
    assert not (tmp_path / "full").exists()                          # stopped before any notebook ran
