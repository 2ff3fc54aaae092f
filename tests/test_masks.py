"""Irregular masks: every seeded mask inside its bucket, reproducible, stroke-shaped; mask folders both ways."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit import masks
from inpaintkit.masks import (
    BUCKETS,
    TABLE1_BUCKETS,
    LiuMaskSet,
    bucket_of,
    hole_ratio,
    irregular_mask,
    load_mask_folder,
    mask_to_tensor,
    write_mask_folder,
)


def test_hole_ratio_and_buckets_by_hand():
    m = np.ones((10, 10), np.uint8)
    m[:2, :5] = 0                                        # 10 of 100 pixels are holes
    assert hole_ratio(m) == 0.1
    assert bucket_of(0.1) == "10-20"                     # half-open: the lower edge belongs to the bucket
    assert bucket_of(0.0999) == "0-10"
    assert bucket_of(0.0) == "0-10"
    assert bucket_of(0.5999) == "50-60"
    for r in (0.6, 0.75, 1.0, -0.1):
        with pytest.raises(ValueError, match="outside every bucket"):
            bucket_of(r)
    assert TABLE1_BUCKETS == ("10-20", "20-30", "30-40", "40-50")
    assert all(b in BUCKETS for b in TABLE1_BUCKETS)


@pytest.mark.parametrize("size,per_bucket", [(64, 100), (256, 8), (32, 30)])
def test_seeded_masks_all_inside_their_bucket(size, per_bucket):
    for name, (lo, hi) in BUCKETS.items():
        for seed in range(per_bucket):
            m = irregular_mask(size, size, (lo, hi), rng=seed)
            assert m.shape == (size, size) and m.dtype == np.uint8
            assert set(np.unique(m)) <= {0, 1}
            r = (m == 0).sum() / m.size                  # independent of hole_ratio
            assert lo <= r < hi, (name, seed, r)
            assert r > 0                                 # "0-10" still has a hole


def test_non_square_wide_and_extreme_ranges_stay_inside():
    cases = [((32, 48), (0.0, 1.0)), ((32, 32), (0.9, 1.0)), ((16, 16), (0.95, 1.0)),
             ((40, 24), (0.25, 0.26)), ((3, 5), (0.5, 0.7)), ((256, 128), (0.55, 0.6))]
    for (h, w), (lo, hi) in cases:
        for seed in range(10):
            r = hole_ratio(irregular_mask(h, w, (lo, hi), rng=seed))
            assert lo <= r < hi, ((h, w), (lo, hi), seed, r)


def test_fallback_growth_lands_exactly(monkeypatch):
    monkeypatch.setattr(masks, "MAX_SEGMENTS", 1)      # force the pixel-by-pixel fallback
    for seed in range(20):
        r = hole_ratio(irregular_mask(32, 32, (0.4, 0.5), rng=seed))
        assert 0.4 <= r < 0.5


def test_reproducible_with_int_seed_and_generator():
    a = irregular_mask(64, 64, (0.2, 0.3), rng=7)
    b = irregular_mask(64, 64, (0.2, 0.3), rng=np.random.default_rng(7))
    c = irregular_mask(64, 64, (0.2, 0.3), rng=8)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    g = np.random.default_rng(0)
    seq1 = [irregular_mask(32, 32, rng=g) for _ in range(3)]
    g = np.random.default_rng(0)
    seq2 = [irregular_mask(32, 32, rng=g) for _ in range(3)]
    assert all(np.array_equal(x, y) for x, y in zip(seq1, seq2))
    assert not np.array_equal(seq1[0], seq1[1])          # a generator advances


def test_holes_are_strokes_not_rectangles():
    fills = []
    for seed in range(60):
        m = irregular_mask(128, 128, BUCKETS["20-30"], rng=seed)
        ys, xs = np.nonzero(m == 0)
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        fills.append(len(ys) / box)
    fills = np.array(fills)
    assert (fills < 0.9).mean() > 0.9                     # a filled rectangle has fill ratio 1
    assert np.median(fills) < 0.6
    # and masks of one bucket differ from each other (not one shape repeated)
    a, b = (irregular_mask(64, 64, (0.3, 0.4), rng=s) for s in (1, 2))
    assert (a != b).mean() > 0.1


@pytest.mark.parametrize("kwargs,match", [
    (dict(height=32, width=32, hole_range=(-0.1, 0.2)), "0 <= lo < hi <= 1"),
    (dict(height=32, width=32, hole_range=(0.1, 1.2)), "0 <= lo < hi <= 1"),
    (dict(height=32, width=32, hole_range=(0.3, 0.3)), "0 <= lo < hi <= 1"),
    (dict(height=32, width=32, hole_range=(0.4, 0.2)), "0 <= lo < hi <= 1"),
    (dict(height=32, width=32, hole_range=0.2), "pair"),
    (dict(height=32.0, width=32, hole_range=(0.1, 0.2)), "height must be an int"),
    (dict(height=32, width="32", hole_range=(0.1, 0.2)), "width must be an int"),
    (dict(height=0, width=32, hole_range=(0.1, 0.2)), ">= 1"),
    (dict(height=32, width=32, hole_range=(0.1, 0.1001)), "no whole number"),
])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        irregular_mask(**kwargs)


def test_mask_to_tensor():
    m = irregular_mask(32, 32, rng=0)
    t = mask_to_tensor(m)
    assert t.shape == (1, 32, 32) and t.dtype == torch.float32
    assert torch.equal(t[0], torch.from_numpy(m).float())
    with pytest.raises(ValueError, match="binary"):
        mask_to_tensor(m * 255)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        mask_to_tensor(m[None])


def _write_liu_folder(tmp_path):
    """A fake Liu test set: white (255) = hole, 64x64 PNGs, RGB like some copies of it, one subfolder."""
    root = tmp_path / "liu"
    (root / "sub").mkdir(parents=True)
    holes = []
    for i, frac in enumerate([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.7]):
        hole = np.zeros((64, 64), bool)
        hole.flat[: int(frac * 64 * 64)] = True          # first rows: a known hole fraction
        holes.append(hole)
        png = np.repeat((hole * 255).astype(np.uint8)[..., None], 3, axis=-1)
        Image.fromarray(png).save(root / ("sub" if i == 6 else ".") / f"{i:05d}.png")
    return root, holes


def test_liu_loader_inverts_white_holes(tmp_path):
    root, holes = _write_liu_folder(tmp_path)
    ms = LiuMaskSet(root)                                  # auto: no manifest -> Liu's convention
    assert ms.invert is True and len(ms) == 7
    for i, hole in enumerate(holes):                       # sorted paths: 00000..00005, then sub/00006
        assert np.array_equal(ms[i], (~hole).astype(np.uint8))
    assert [ms.bucket(i) for i in range(7)] == ["0-10", "10-20", "20-30", "30-40", "40-50", "50-60", None]
    assert ms.by_bucket() == {"0-10": [0], "10-20": [1], "20-30": [2], "30-40": [3], "40-50": [4],
                              "50-60": [5]}
    assert not np.array_equal(LiuMaskSet(root, invert=False)[0], ms[0])


def test_liu_loader_resizes_with_nearest(tmp_path):
    root, holes = _write_liu_folder(tmp_path)
    ms = LiuMaskSet(root, size=32)
    m = ms[2]
    assert m.shape == (32, 32) and set(np.unique(m)) == {0, 1}
    expected = np.asarray(Image.fromarray((holes[2] * 255).astype(np.uint8)).resize((32, 32), Image.NEAREST)) == 0
    assert np.array_equal(m, expected.astype(np.uint8))


def test_liu_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LiuMaskSet(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .png"):
        LiuMaskSet(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_text("not a png")
    with pytest.raises(ValueError, match="cannot be read"):
        LiuMaskSet(tmp_path / "bad")[0]
    with pytest.raises(ValueError, match="invert"):
        LiuMaskSet(tmp_path / "bad", invert="yes")


def test_our_mask_folder_roundtrip(tmp_path):
    out = write_mask_folder(tmp_path / "m", size=48, per_bucket=3, seed=0, buckets=("10-20", "50-60"),
                            progress=False)
    manifest = json.loads((out / "masks.json").read_text())
    assert manifest["white"] == "known" and manifest["size"] == 48
    for b in ("10-20", "50-60"):
        lo, hi = BUCKETS[b]
        ms = load_mask_folder(out / b)                    # manifest one level up -> white = known
        assert ms.invert is False and len(ms) == 3
        for i in range(3):
            m = ms[i]
            png = np.asarray(Image.open(out / b / f"{i:05d}.png"))
            assert np.array_equal(m, (png == 255).astype(np.uint8))
            assert lo <= hole_ratio(m) < hi
            assert hole_ratio(m) == pytest.approx(manifest["buckets"][b][i]["ratio"])
            # the same mask as generating it again from the documented seed
            again = irregular_mask(48, 48, (lo, hi), rng=np.random.default_rng([0, list(BUCKETS).index(b), i]))
            assert np.array_equal(m, again)
    # writing again with the same arguments gives byte-identical files
    out2 = write_mask_folder(tmp_path / "m2", size=48, per_bucket=3, seed=0, buckets=("10-20", "50-60"),
                             progress=False)
    assert (out / "10-20" / "00002.png").read_bytes() == (out2 / "10-20" / "00002.png").read_bytes()
    with pytest.raises(ValueError, match="Unknown bucket"):
        write_mask_folder(tmp_path / "m3", size=48, per_bucket=1, buckets=("60-70",), progress=False)
