"""make rehearse's parts (the run itself is `make rehearse`, in CI after `make test`): the synthetic Places365
tree and Liu-style masks, the random VGG19 where torch hub looks, the cache's sketch count, the memory sampler, and
the checks that decide whether the rehearsal passed, on artefacts written by hand."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from inpaintkit import rehearsal
from inpaintkit.data import is_places_root, list_images
from inpaintkit.masks import BUCKETS, LiuMaskSet, bucket_of, hole_ratio


def test_synthetic_tree_and_masks(tmp_path):
    counts = rehearsal.make_places_tree(tmp_path / "p", n_train=9, n_val=2, n_test=3, size=32)
    assert counts == {"train": 9, "val": 2, "test": 3} and is_places_root(tmp_path / "p")
    train = list_images(tmp_path / "p", "train")
    assert len(train) == 9 and train[8] == tmp_path / "p" / "data_256/a/abbey/00000002.jpg"     # 8 classes, cycled
    n = rehearsal.make_liu_style_masks(tmp_path / "m", 64, 2, seed=1, buckets=list(BUCKETS))
    masks = LiuMaskSet(tmp_path / "m", size=64)
    assert n == len(masks) == 12 and masks.invert                                  # white = hole, as Liu's
    assert [bucket_of(hole_ratio(masks[i])) for i in range(n)] == [b for b in BUCKETS for _ in range(2)]
    other = rehearsal.make_liu_style_masks(tmp_path / "t", 64, 2, seed=2, buckets=list(BUCKETS))
    assert other == n and not np.array_equal(LiuMaskSet(tmp_path / "t", size=64)[0], masks[0])   # drawn apart


def test_random_vgg19_is_where_torch_hub_reads_the_imagenet_weights(tmp_path, monkeypatch):
    from inpaintkit import losses

    path = rehearsal.random_vgg19(tmp_path / "torch")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    assert Path(torch.hub.get_dir()) / "checkpoints" / losses.IMAGENET_VGG19_FILE == path
    ok, how = losses.imagenet_vgg19_status()
    assert ok and str(path) in how
    vgg = losses.VGGFeatures("imagenet")                                   # the ImageNet path, these weights
    first = next(vgg.parameters())
    saved = torch.load(path, weights_only=True)["features.0.weight"]
    assert vgg.source == "imagenet" and torch.equal(first.detach().cpu(), saved)


def test_sketch_files_counts_per_spec_key(tmp_path):
    assert rehearsal.sketch_files(tmp_path) == {}
    for key, n in (("hed-aaa", 3), ("canny-bbb", 1)):
        for i in range(n):
            f = tmp_path / "sketches" / key / f"{i:02d}" / f"{i}.png"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(b"")
    (tmp_path / "sketches" / "hed-aaa" / "spec.json").write_text("{}")   # not a sketch
    assert rehearsal.sketch_files(tmp_path) == {"canny-bbb": 1, "hed-aaa": 3}


def test_tree_memory_sees_a_childs_allocation():
    code = "import numpy as np, time; a = np.ones(200 * 2**20 // 8); time.sleep(1.5)"
    proc = subprocess.Popen([sys.executable, "-c", code])
    watch = rehearsal.TreeMemory(os.getpid(), every_s=0.05)
    watch.start()
    proc.wait()
    time.sleep(0.1)
    watch.stop()
    assert watch.take() > 200 * 2**20                      # this process + the child's 200 MiB array


def artefacts(run: Path, places: Path, computed: int = 0, image=None) -> dict:
    for s in (1, 2):
        (run / f"stage{s}").mkdir(parents=True)
        (run / f"stage{s}" / "config.json").write_text(json.dumps({"data": str(places), "masks": "M"}))
        (run / f"stage{s}" / "sketch_cache.json").write_text(json.dumps({"read": 12, "computed": computed}))
    (run / "ablation").mkdir()
    (run / "ablation" / "results.json").write_text(json.dumps({
        "data": {"train": str(places), "test": f"{places} (Places365 test split)", "train_images": 12},
        "steps": 1, "seeds": [0], "kinds": ["cfs"], "eval_images": 2, "variants": [{"vgg_source": "imagenet"}]}))
    image = image or str(places / "test_256" / "a.jpg")
    (run / "metrics.json").write_text(json.dumps({
        "data": f"{places} (Places365 test split)", "per_bucket": 1, "masks": {"root": "T"}, "notes": [],
        "records": [{"image": image, "mask_id": "0.png"}], "memory": {"batch_size": 16, "chunks": 1},
        "sketch_cache": {"read": 0, "computed": 0}}))
    return rehearsal.collect(run)


@pytest.mark.parametrize("case", ["ok", "recomputed", "demo photograph", "failed notebook"])
def test_checks_catch_the_first_runs_failures(tmp_path, case, monkeypatch):
    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    places = tmp_path / "places365"
    inputs = {"places": str(places), "prepared": str(tmp_path / "places2")}
    demo = str(tmp_path / "cache" / "demo" / "patches" / "chelsea_s0256_0000_0000.png")
    art = artefacts(tmp_path / "run", places, computed=8 if case == "recomputed" else 0,
                    image=demo if case == "demo photograph" else None)
    rows = [{"name": "04_stage1_sketch.ipynb", "status": "FAILED" if case == "failed notebook" else "ok",
             "sketches_added": {}, "disk_mib": 3072.0}]
    if case == "failed notebook":       # what reproduce's report.json says of it reaches the checks and the report
        rows[0]["error"] = "DeadKernelError: the notebook's kernel died"
    got = {what: ok for what, ok, _ in rehearsal.checks(rows, art, inputs, {"hed-key": 22}, "hed-key")}
    failing = {k for k, ok in got.items() if not ok}
    expect = {"ok": set(), "recomputed": {"0 sketches recomputed after preparation"},
              "demo photograph": {"no notebook trained or scored on a demo photograph"},
              "failed notebook": {"every notebook ran"}}[case]
    assert failing == expect
    res = {"profile": "rehearse", "counts": {}, "command": "python -m x", "machine": "m", "hed": "h", "seconds": 1,
           "notebook_seconds": 1, "inputs": inputs | {"counts": {}, "tree_seconds": 0, "prepare_seconds": 0,
                                                        "train_masks": "a", "test_masks": "b"},
           "notebooks": [r | {"seconds": 1.0, "peak_rss_mib": 1.0} for r in rows], "prepared_sketches": {},
           "spec_key": "hed-key", "artefacts": art, "checks": rehearsal.checks(rows, art, inputs, {}, "hed-key")}
    text = rehearsal.format_report(res)
    assert "VGG19 randomly initialised" in text and "| 04_stage1_sketch.ipynb |" in text
    assert "| 3.0 GiB |" in text                        # the disk the rehearsal holds after the notebook
    assert ("04_stage1_sketch.ipynb FAILED (DeadKernelError: the notebook's kernel died)" in text) == (
        case == "failed notebook")


def test_disk_used_adds_up_the_files_and_not_the_links(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.pt").write_bytes(b"y" * 234)
    (tmp_path / "link").symlink_to(tmp_path / "a")       # HED's weights are linked into a rehearsal, not copied
    assert rehearsal.disk_used(tmp_path) == 1000 + 234 + len(str(tmp_path / "a"))


def test_a_folder_that_is_not_a_rehearsal_is_refused(tmp_path, capsys):
    (tmp_path / "precious.txt").write_text("x")
    assert rehearsal.main(["--out", str(tmp_path)]) == 2
    assert "not a rehearsal's" in capsys.readouterr().err and (tmp_path / "precious.txt").is_file()
