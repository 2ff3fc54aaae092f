"""Evaluation: the Table-1 report's exact format, the fixed test masks' buckets, deterministic pairing, and
evaluate() end to end (fake Places2 folder, demo set, CLI) with a tiny untrained model."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2gray
from skimage.metrics import peak_signal_noise_ratio

from inpaintkit import evaluate as ev
from inpaintkit import protocol, scoring, table1, viz
from inpaintkit.baselines import Method, biharmonic
from inpaintkit.masks import BUCKETS, TABLE1_BUCKETS, hole_ratio
from inpaintkit.pipeline import Inpainter

from conftest import write_photos


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INPAINTKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# ---------------------------------------------------------------------------------------------- the report

def hand_metrics():
    def entry(mean):
        return {"mean": mean, "lo": mean - 1, "hi": mean + 1, "n": 2, "n_dropped": 0}

    summary = {
        "biharmonic": {b: {"psnr": entry(30.0 - i), "ssim": entry(0.9 - i / 10)} for i, b in enumerate(TABLE1_BUCKETS)},
        "ours": {b: {"psnr": entry(31.256 - i), "ssim": entry(0.95049 - i / 10)} for i, b in enumerate(TABLE1_BUCKETS)},
    }
    return {"protocol": "edgeconnect", "protocol_note": "NOTE", "image_size": 64, "data": "DATA", "per_bucket": 2,
            "methods": ["biharmonic", "ours"], "summary": summary,
            "skipped_methods": {"Telea": "OpenCV is not installed"}}


EXPECTED_TABLE = """\
## Table 1 (this run)

Protocol `edgeconnect` (NOTE); 64x64 images from DATA; 2 image(s) per bucket. Mean over images; \
95 % bootstrap intervals are in metrics.json.

| Mask | Metric | biharmonic | ours |
|---|---|---:|---:|
| 10-20% | PSNR | 30.00 | 31.26 |
|  | SSIM | 0.900 | 0.950 |
| 20-30% | PSNR | 29.00 | 30.26 |
|  | SSIM | 0.800 | 0.850 |
| 30-40% | PSNR | 28.00 | 29.26 |
|  | SSIM | 0.700 | 0.750 |
| >=40% | PSNR | 27.00 | 28.26 |
|  | SSIM | 0.600 | 0.650 |

Not run: Telea (OpenCV is not installed)

## As reported on Places2 in the paper (Table 1), not re-run here

The CA, GLCIC, PConv and EdgeCnt columns are EdgeConnect's numbers, copied by the paper; \
">=40%" is Liu et al.'s 40-50 % bucket.

| Mask | Metric | CA | GLCIC | PConv | EdgeCnt | Ours (paper) |
|---|---|---:|---:|---:|---:|---:|
| 10-20% | PSNR | 24.36 | 23.49 | 28.02 | 27.95 | 30.85 |
|  | SSIM | 0.893 | 0.862 | 0.869 | 0.920 | 0.951 |
| 20-30% | PSNR | 21.19 | 20.45 | 24.90 | 24.92 | 26.87 |
|  | SSIM | 0.815 | 0.771 | 0.777 | 0.861 | 0.900 |
| 30-40% | PSNR | 19.13 | 18.50 | 22.45 | 22.84 | 24.17 |
|  | SSIM | 0.739 | 0.686 | 0.685 | 0.799 | 0.841 |
| >=40% | PSNR | 17.75 | 17.17 | 20.86 | 21.16 | 21.74 |
|  | SSIM | 0.662 | 0.603 | 0.589 | 0.731 | 0.7695 |
"""


def test_table1_format_exactly():
    assert table1.format_table1(hand_metrics()) == EXPECTED_TABLE


def test_published_block_matches_the_paper_text():
    """Every published number appears in /work/shared/paper.txt's Table 1 rows, in order (where that file exists)."""
    from pathlib import Path

    paper = Path("/work/shared/paper.txt")
    if not paper.is_file():
        pytest.skip("paper.txt not available here")
    text = paper.read_text()
    table = text[text.index("Mask CA GLCIC PConv EdgeCnt Ours"):]
    for b in TABLE1_BUCKETS:
        for metric in ("psnr", "ssim"):
            assert f"{metric.upper()} " + " ".join(table1.PUBLISHED[b][metric]) in table


def test_missing_bucket_prints_na():
    m = hand_metrics()
    del m["summary"]["ours"]["40-50"]
    assert "| >=40% | PSNR | 27.00 | n/a |" in table1.format_table1(m)


# ---------------------------------------------------------------------------------------------- masks and pairing

def test_fixed_masks_land_in_their_buckets_and_repeat(cache):
    root = protocol.ensure_test_masks(32, 3, seed=0, progress=False)
    assert root == cache / "test_masks" / "32px_seed0"
    masks, notes = protocol.load_test_masks(root, 32, 3, progress=False)
    assert list(masks) == list(TABLE1_BUCKETS) and notes == []
    for b, items in masks.items():
        assert len(items) == 3
        for mask_id, m in items:
            lo, hi = BUCKETS[b]
            assert m.shape == (32, 32) and set(np.unique(m)) <= {0, 1}
            assert lo <= (m == 0).mean() < hi, (b, mask_id)      # measured here, independently of hole_ratio
    # asking for fewer reuses the same files; asking for more extends the set with the same first masks
    again, _ = protocol.load_test_masks(protocol.ensure_test_masks(32, 5, progress=False), 32, 5, progress=False)
    for b in TABLE1_BUCKETS:
        for (i1, m1), (i2, m2) in zip(masks[b], again[b][:3]):
            assert i1 == i2 and np.array_equal(m1, m2)


def test_liu_style_folder_is_bucketed_by_measured_ratio(tmp_path):
    """Liu et al.'s convention: white (255) = hole, no manifest; each mask goes to the bucket of its ratio."""
    folder = tmp_path / "liu"
    folder.mkdir()
    ratios = {"a.png": 0.15, "b.png": 0.25, "c.png": 0.35, "d.png": 0.45, "e.png": 0.05, "f.png": 0.12}
    for name, r in ratios.items():
        png = np.zeros((20, 20), np.uint8)
        png.flat[: int(round(r * 400))] = 255                  # white = hole
        Image.fromarray(png).save(folder / name)
    masks, notes = protocol.load_test_masks(folder, 20, 2, progress=False)
    ids = {b: [i for i, _ in v] for b, v in masks.items()}
    assert ids == {"10-20": ["a.png", "f.png"], "20-30": ["b.png"], "30-40": ["c.png"], "40-50": ["d.png"]}
    assert masks["10-20"][0][1].mean() == pytest.approx(0.85)  # 1 = known
    assert len(notes) == 3 and all("reused" in n for n in notes)
    with pytest.raises(ValueError, match="no mask in bucket"):
        protocol.load_test_masks(folder, 20, 1, buckets=("50-60",), progress=False)


def test_pairing_is_deterministic_and_spread():
    assert protocol.evenly_spaced(10, 4) == [0, 3, 6, 9]
    assert protocol.evenly_spaced(3, 5) == [0, 1, 2]
    masks = {b: [(f"{b}/{i}", np.ones((4, 4), np.uint8)) for i in range(2)] for b in ("10-20", "20-30")}
    pairs = protocol.make_pairs([f"img{i}" for i in range(10)], masks, 3)
    got = [(p["bucket"], p["image"], p["mask_id"]) for p in pairs]
    assert got == [("10-20", "img0", "10-20/0"), ("10-20", "img4", "10-20/1"), ("10-20", "img9", "10-20/0"),
                   ("20-30", "img0", "20-30/0"), ("20-30", "img4", "20-30/1"), ("20-30", "img9", "20-30/0")]


def _crops(photo: str, n: int) -> list[str]:
    """``n`` demo-style crop names of ``photo`` (``<photo>_s<short>_<y>_<x>.png``, as ensure_demo_dataset cuts)."""
    return [f"test/{photo}_s0256_{i // 8 * 32:04d}_{i % 8 * 32:04d}.png" for i in range(n)]


def test_a_list_of_distinct_files_keeps_the_evenly_spaced_picks():
    """Places2 or a plain folder: every file is its own photograph, so the balanced picks are evenly_spaced's,
    for every k; two files of one name in two folders are two photographs."""
    places = [f"test_256/Places365_test_{i:08d}.jpg" for i in range(1, 38)]
    folder = [f"{d}/{i:03d}.jpg" for i in range(6) for d in ("a", "b")]
    for paths in (places, folder):
        assert protocol.photo_groups(paths) == [[i] for i in range(len(paths))]
        for k in range(1, len(paths) + 3):
            assert protocol.balanced_picks(paths, k) == protocol.evenly_spaced(len(paths), k), k
    masks = {"10-20": [("m0", 0.15, False), ("m1", 0.16, True)]}
    got = [(p["image"], p["mask_id"]) for p in protocol.make_pairs(places, masks, 4)]
    assert got == [(places[0], "m0"), (places[12], "m1"), (places[24], "m0"), (places[36], "m1")]


def test_picks_are_balanced_over_photographs():
    """small: 2 crops (indices 0-1), big: 40 (2-41), mid: 10 (42-51), as a demo split lists them."""
    paths = _crops("small", 2) + _crops("big", 40) + _crops("mid", 10)
    assert [len(g) for g in protocol.photo_groups(paths)] == [2, 40, 10]
    # evenly spaced over the list, 12 picks would follow the crop counts: big 8, mid 3, small 1
    old = [paths[i].split("/")[1].split("_")[0] for i in protocol.evenly_spaced(52, 12)]
    assert (old.count("small"), old.count("big"), old.count("mid")) == (1, 8, 3)
    # 12 // 3 = 4 each; small has 2, its 2 spare picks go to the others: big 5, mid 5, each evenly spaced within
    # its photograph at the middle of its share: big (2i + 1) * 40 // 10 = 4, 12, 20, 28, 36; mid 1, 3, 5, 7, 9
    assert protocol.balanced_picks(paths, 12) == [0, 1, *(2 + j for j in (4, 12, 20, 28, 36)),
                                                  *(42 + j for j in (1, 3, 5, 7, 9))]
    # 13: one more, for the first of the two photographs with crops to spare (big: 6 picks, (2i + 1) * 40 // 12)
    assert protocol.balanced_picks(paths, 13) == [0, 1, *(2 + j for j in (3, 10, 16, 23, 30, 36)),
                                                  *(42 + j for j in (1, 3, 5, 7, 9))]
    # 2 picks, 3 photographs: one each from photographs 0 and 2 (evenly_spaced(3, 2)), its middle crop
    assert protocol.balanced_picks(paths, 2) == [1, 42 + 5]
    assert protocol.balanced_picks(paths, 60) == list(range(52))
    pairs = protocol.make_pairs(paths, {"10-20": [("m", 0.15, False)]}, 12)
    assert [p["image"] for p in pairs] == [paths[i] for i in protocol.balanced_picks(paths, 12)]


def test_an_unreadable_pick_is_replaced_within_its_photograph_first(cache, tmp_path):
    """Photographs a (crops 0-3) and b (4-7); 2 picks: the middle crop of each, 2 and 6."""
    folder = tmp_path / "split"
    names = [Path(p).name for p in _crops("a", 4) + _crops("b", 4)]
    for name in names:
        write_photos(folder, 1, name=name)
    paths = [folder / n for n in names]
    assert protocol.balanced_picks(paths, 2) == [2, 6]
    for i in (2, 3):
        paths[i].write_bytes(b"not a png")
    picked, bad = protocol.pick_readable(paths, 2, 32)
    assert picked == [paths[0], paths[6]] and set(bad) == {str(paths[2]), str(paths[3])}   # a's 0, not b's 4
    for i in (0, 1):
        paths[i].write_bytes(b"not a png")
    picked, bad = protocol.pick_readable(paths, 2, 32)
    assert picked == [paths[4], paths[6]] and len(bad) == 4          # none of a is left: the next in the list


def _ladder_metrics(n_photos: int) -> dict:
    """evaluate()'s records and summary for biharmonic, no sketch and ours on ``n_photos`` photographs of two crops
    each: biharmonic 25 dB; ours + 1 dB over it at 10-30 % and - 0.5 dB at 30-50 % for every image, plus
    0.1 dB x the photograph's number (the same for ours and no sketch); no sketch 0.2 dB under ours everywhere but
    at >= 40 %, where it is 0.5 dB over."""
    from inpaintkit.metrics import aggregate_by_bucket

    records = []
    for b in TABLE1_BUCKETS:
        for j in range(n_photos):
            for i in range(2):
                ours = 25 + (1.0 if b in ("10-20", "20-30") else -0.5) + 0.1 * j
                base = {"bucket": b, "image": f"test/p{j}_s0256_0000_{i:04d}.png", "mask_id": f"{b}/{i}",
                        "group": f"p{j}"}
                records += [base | {"method": Method.BIHARMONIC.value, "psnr": 25.0 + 0.1 * j},
                            base | {"method": Method.OURS.value, "psnr": ours},
                            base | {"method": Method.NO_SKETCH.value, "psnr": ours + (0.5 if b == "40-50" else -0.2)}]
    return {"records": records, "summary": aggregate_by_bucket(records, ["psnr"])}


def test_ladder_verdicts_say_how_many_photographs_stand_behind_a_target():
    two = _ladder_metrics(2)
    v = table1.paired_verdicts(two, Method.OURS, Method.BIHARMONIC)
    assert list(v) == list(TABLE1_BUCKETS) and v["10-20"].mean == pytest.approx(1.0) and v["10-20"].n_groups == 2
    lines = table1.ladder_verdicts(two)
    # the means meet the target, and two photographs cannot confirm it
    assert lines[-1] == ("ours minus biharmonic: 10-20% +1.00 dB, 20-30% +1.00 dB; at or above at 10-30 %: met "
                         "(on the means; too few photographs (n=2) to decide by the paired intervals)")
    assert lines[0].endswith("NOT met (on the means; too few photographs (n=2) to decide by the paired intervals)")
    eight = _ladder_metrics(8)
    lines = table1.ladder_verdicts(eight)
    # every image's difference is the same: each interval is that value, and eight photographs decide it
    assert lines[-1] == ("ours minus biharmonic: 10-20% +1.00 dB, 20-30% +1.00 dB; at or above at 10-30 %: met "
                         "(on the means; paired 95 % intervals over 8 photographs: 10-20% ours better, "
                         "20-30% ours better)")
    assert lines[0] == ("ours minus no sketch: 10-20% +0.20 dB, 20-30% +0.20 dB, 30-40% +0.20 dB, >=40% -0.50 dB; "
                        "at or above in every bucket: NOT met (on the means; paired 95 % intervals over 8 "
                        "photographs: 10-20% ours better, 20-30% ours better, 30-40% ours better, "
                        ">=40% no sketch better)")
    assert table1.paired_verdicts(eight, "ours", "no sketch")["40-50"].mean == pytest.approx(-0.5)


# ---------------------------------------------------------------------------------------------- end to end

def fake_places(root, n=5):
    """A Places365 layout: test_256/Places365_test_0000000k.jpg, smooth colour images, plus one broken file."""
    d = write_photos(root / "test_256", n, size=48, name="Places365_test_{:08d}.jpg", first=1)
    (d / f"Places365_test_{n + 1:08d}.jpg").write_bytes(b"not a jpeg")
    return root


def test_evaluate_on_a_places_folder(cache, tmp_path, tiny_inpainter):
    data = fake_places(tmp_path / "places")
    run = tmp_path / "run"
    res = ev.evaluate(tiny_inpainter, run_dir=run, data=data, profile="smoke", per_bucket=6, progress=False)
    labels = ["biharmonic", "no sketch", "emptied sketch", "Canny sketch", "oracle sketch", "ours"]
    assert [m.label for m in res["methods"] if m is not Method.TELEA] == labels
    # 6 evenly spaced of the 6 listed images: the broken one is reported and dropped before pairing, so the 5
    # readable ones are taken in turn and every bucket has the 6 pairs the report says
    broken = str(data / "test_256" / "Places365_test_00000006.jpg")
    assert list(res["skipped_images"]) == [broken]
    assert any("only 5 readable image(s) of 6" in n for n in res["notes"])
    n_methods = len(res["methods"])
    assert len(res["records"]) == n_methods * 4 * 6
    for r in res["records"]:
        lo, hi = BUCKETS[r["bucket"]]
        assert lo <= r["hole_ratio"] < hi
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["records"] == res["records"] and on_disk["protocol"] == "edgeconnect"
    # metrics.json holds the methods' keys, and their labels beside them; the table shows the labels
    keys = ["biharmonic", "no_sketch", "emptied_sketch", "canny_sketch", "oracle_sketch", "ours"]
    assert [m for m in on_disk["methods"] if m != "telea"] == keys and list(on_disk["summary"]) == on_disk["methods"]
    assert [on_disk["method_labels"][k] for k in keys] == labels
    assert (run / "table1.md").read_text() == table1.format_table1(res) == table1.format_table1(on_disk)
    assert "| no sketch | emptied sketch | Canny sketch | oracle sketch | ours |" in table1.format_table1(res)
    assert on_disk["summary"]["ours"]["10-20"]["psnr"]["n"] == 6 == on_disk["per_bucket"]
    assert "sketch_f1" in on_disk["summary"]["ours"]["10-20"]
    assert any("31x31" in n for n in res["notes"])           # 32 px images: SSIM window note, not a warning flood
    # 24 pairs streamed in chunks of EVAL_BATCH_SIZE = 16; the sketch cache untouched (the pipeline runs HED)
    assert (on_disk["memory"]["batch_size"], on_disk["memory"]["chunks"]) == (16, 2)
    assert on_disk["memory"]["rss_peak_mib"] >= on_disk["memory"]["rss_start_mib"] > 0
    assert on_disk["sketch_cache"] | {"data": None} == {"read": 0, "computed": 0, "images": 5, "data": None,
                                                        "spec_key": tiny_inpainter.sketch_spec.key()}

    # one record recomputed independently: biharmonic on the stored pair, 8-bit, gray PSNR with scikit-image
    rec = next(r for r in res["records"] if r["method"] == "biharmonic" and r["bucket"] == "30-40")
    image, mask = protocol.load_record(res, rec)
    assert hole_ratio(mask) == rec["hole_ratio"]
    out = np.round(biharmonic(image, mask).astype(np.float32) * 255) / 255
    want = peak_signal_noise_ratio(rgb2gray(image), rgb2gray(out.astype(np.float32)), data_range=1)
    assert rec["psnr"] == pytest.approx(want, abs=1e-4)


def test_unreadable_images_are_dropped_before_the_test_images_are_picked(cache, tmp_path):
    folder = write_photos(tmp_path / "mixed", 11, name="{:02d}.png")
    for k in range(1, 11, 2):                             # 6 readable, 5 broken, interleaved
        (folder / f"{k:02d}.png").write_bytes(b"not a png")
    res = ev.evaluate(run_dir=tmp_path / "run", data=folder, profile="smoke", per_bucket=4, methods=["biharmonic"],
                      progress=False, write=False)
    assert res["per_bucket"] == 4
    assert all(res["summary"]["biharmonic"][b]["psnr"]["n"] == 4 for b in TABLE1_BUCKETS)   # was 2
    used = {r["image"] for r in res["records"]}
    assert len(used) == 4 and all(int(p[-6:-4]) % 2 == 0 for p in used)
    assert res["skipped_images"] and all(int(p[-6:-4]) % 2 == 1 for p in res["skipped_images"])
    for k in range(0, 11, 2):
        (folder / f"{k:02d}.png").write_bytes(b"broken too")
    with pytest.raises(ValueError, match="No image could be read: all 11 failed at 32 px"):
        ev.evaluate(run_dir=tmp_path / "run", data=folder, profile="smoke", per_bucket=4, methods=["biharmonic"],
                    progress=False, write=False)


def test_which_weights_are_scored_is_said_first(tmp_path, capsys, monkeypatch):
    typo = tmp_path / "runs" / "quik"
    assert scoring.weights_choice("auto", typo) == (
        "demo", f"scoring the shipped demo weights (inpaintkit/weights/): the run dir {typo} does not exist (a typo?); "
                "pass --weights run to insist on a run's own generators")
    typo.mkdir(parents=True)
    assert "has no trained stage1/generator.pt" in scoring.weights_choice("auto", typo)[1]
    assert scoring.weights_choice("run", typo)[0] == "run"
    monkeypatch.setattr(Inpainter, "from_pretrained", classmethod(lambda cls, device="auto": "DEMO"))
    assert scoring.load_inpainter("auto", typo) == ("DEMO", "demo")
    assert capsys.readouterr().out.startswith("scoring the shipped demo weights")


def test_masks_are_never_stretched_and_resizing_is_noted(tmp_path):
    folder = tmp_path / "liu"
    folder.mkdir()
    for name, r in {"a.png": 0.15, "b.png": 0.25, "c.png": 0.35, "d.png": 0.45}.items():
        png = np.zeros((40, 40), np.uint8)
        png[: int(round(r * 40))] = 255                   # white = hole, whole rows: the ratio survives resizing
        Image.fromarray(png).save(folder / name)
    masks, notes = protocol.load_test_masks(folder, 20, 1, progress=False)
    assert "masks of 40x40 px were resized to 20x20 px (nearest neighbour)." in notes
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(folder / "e.png")
    with pytest.raises(ValueError, match="e.png is 60x40 px, not square: resizing it to 20x20 would stretch"):
        protocol.load_test_masks(folder, 20, 2, progress=False)


def test_evaluate_demo_split_rgb_protocol(cache, tmp_path, tiny_inpainter):
    res = ev.evaluate(tiny_inpainter, run_dir=tmp_path / "run", profile="smoke", protocol="rgb",
                      methods=["biharmonic", "ours"], progress=False)
    assert res["per_bucket"] == 4 and "demo test split" in res["data"]
    assert res["methods"] == ["biharmonic", "ours"] and res["skipped_methods"] == {}
    assert res["model"]["source"] == "given" and res["model"]["num_params"]["gs"] > 0
    for m in ("biharmonic", "ours"):
        assert list(res["summary"][m]) == list(TABLE1_BUCKETS)
    # an untrained model is far worse than biharmonic on small holes
    assert res["summary"]["biharmonic"]["10-20"]["psnr"]["mean"] > res["summary"]["ours"]["10-20"]["psnr"]["mean"]
    assert not any("window" in n for n in res["notes"])     # rgb protocol: 7x7 window fits


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="protocol"):
        ev.evaluate(run_dir=tmp_path, protocol="lab", methods=["biharmonic"])
    with pytest.raises(ValueError, match="weights"):
        scoring.load_inpainter("best", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        protocol.load_test_masks(tmp_path / "nope", 32, 1)


def test_cli_writes_metrics_and_table(cache, tmp_path, capsys):
    run = tmp_path / "cli"
    rc = ev.main(["--run-dir", str(run), "--profile", "smoke", "--per-bucket", "2", "--methods", "biharmonic"])
    assert rc == 0
    res = json.loads((run / "metrics.json").read_text())
    assert res["per_bucket"] == 2 and len(res["records"]) == 4 * 2
    assert (run / "table1.md").read_text().startswith("## Table 1 (this run)")
    assert "wrote" in capsys.readouterr().out
    # weights from a run dir that has no trained stages: a clear error, exit code 2
    rc = ev.main(["--run-dir", str(run), "--profile", "smoke", "--weights", "run", "--methods", "ours"])
    assert rc == 2 and "stage1" in capsys.readouterr().err
    # Table 1's test masks from their own folder (Liu et al. release them apart from the training masks)
    test_masks = protocol.ensure_test_masks(32, 3, seed=7, root=tmp_path / "test_masks", progress=False)
    rc = ev.main(["--run-dir", str(tmp_path / "cli2"), "--profile", "smoke", "--per-bucket", "2", "--methods",
                  "biharmonic", "--test-masks", str(test_masks)])
    res = json.loads((tmp_path / "cli2" / "metrics.json").read_text())
    assert rc == 0 and res["masks"]["root"] == str(test_masks) and res["masks"]["seed"] is None


def test_sketch_overlay_colours():
    sketch = np.array([[1, 1, 0], [0, 1, 0]], np.float32)
    mask = np.array([[1, 0, 0], [1, 0, 1]], np.uint8)
    out = viz.sketch_overlay(sketch, mask)
    assert out.shape == (2, 3, 3)
    assert np.array_equal(out[0, 0], [0, 0, 0])                               # known stroke: black
    assert np.allclose(out[0, 1], viz.INPAINTED_STROKE_RGB)                     # inpainted stroke: orange
    assert np.allclose(out[1, 1], viz.INPAINTED_STROKE_RGB)
    assert np.array_equal(out[0, 2], [1, 1, 1]) and np.array_equal(out[1, 0], [1, 1, 1])  # no stroke: white


# ---------------------------------------------------------------------------------------------- memory

MEMORY_SCRIPT = """
import json, resource, sys
from dataclasses import replace
import torch
torch.set_num_threads(1)
from inpaintkit.config import SketchSpec, get_profile
from inpaintkit.evaluate import evaluate
from inpaintkit.metrics import table1_scores
from inpaintkit.networks import image_generator, sketch_generator
from inpaintkit.pipeline import Inpainter
from inpaintkit.scoring import BucketScores, test_batches
folder, per_bucket, what = sys.argv[1], int(sys.argv[2]), sys.argv[3]
prof = replace(get_profile("smoke"), image_size=256)
torch.manual_seed(0)
inp = Inpainter(sketch_generator(8), image_generator(8), sketch_spec=SketchSpec(method="canny"), device="cpu")
if what == "evaluate":
    res = evaluate(inp, run_dir=folder, data=folder, profile=prof, per_bucket=per_bucket, methods=["ours"],
                   batch_size=8, progress=False, write=False)
    n, batch = len(res["records"]), res["memory"]["batch_size"]
else:
    scores = BucketScores()
    for chunk in test_batches(prof, folder, per_bucket=per_bucket, batch_size=8, sketch="canny", progress=False):
        scores.add("ours", chunk["bucket"], table1_scores(inp(chunk["image"], chunk["mask"]).image, chunk["image"]))
    n, batch = scores.mean("ours", "psnr")[1], 8
print(json.dumps({"n": n, "batch": batch, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.mark.parametrize("what", ["evaluate", "test_batches"])
def test_evaluation_memory_does_not_grow_with_the_test_set(cache, tmp_path, what):
    """8 and 80 scored pairs (2 and 20 images per bucket) at 256 px: the process's peak resident memory is the same
    within 10 %. One 80-image batch would add ~6 copies of 80 x 0.75 MiB images (~360 MiB) to a ~300 MiB process."""
    import subprocess
    import sys

    folder = tmp_path / "images"
    write_photos(folder, 20, size=256)
    protocol.ensure_test_masks(256, 20, progress=False)                   # made once, outside the measurement
    peaks = {}
    for per_bucket in (2, 20):
        out = subprocess.run([sys.executable, "-c", MEMORY_SCRIPT, str(folder), str(per_bucket), what],
                             capture_output=True, text=True, check=True, env={**__import__("os").environ,
                                                                             "OMP_NUM_THREADS": "1"})
        res = json.loads(out.stdout.strip().splitlines()[-1])
        assert (res["n"], res["batch"]) == (4 * per_bucket, 8)
        peaks[per_bucket] = res["maxrss_kib"]
    assert abs(peaks[20] - peaks[2]) <= 0.10 * peaks[2], f"peak RSS (KiB) for 8 vs 80 pairs: {peaks}"
