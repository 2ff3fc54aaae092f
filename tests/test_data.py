"""Data: image decoding edge cases, image lists (folder, flist, Places365 layout), the data set, the demo set."""

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2gray

from inpaintkit import data
from inpaintkit.data import (
    DEMO_SPLITS,
    BadImageError,
    InpaintingDataset,
    demo_dataset,
    ensure_demo_dataset,
    list_images,
    load_image,
    places_split,
    read_flist,
)
from inpaintkit.masks import hole_ratio, write_mask_folder
from inpaintkit.sketches import SketchSpec, canny_sketch

CANNY = SketchSpec(method="canny")


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path, arr, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


# ------------------------------------------------------------------------------------- load_image

def test_load_image_crop_and_resize_match_pil(tmp_path):
    arr = _rgb(40, 60)
    p = _save(tmp_path / "a.png", arr)
    full = load_image(p)
    assert full.dtype == np.float32 and full.shape == (40, 60, 3)
    assert np.array_equal(full, arr.astype(np.float32) / 255)          # size=None: uncropped, exact
    same = load_image(p, 40)                                            # centre crop only: columns 10..49
    assert np.array_equal(same, arr[:, 10:50].astype(np.float32) / 255)
    small = load_image(p, 20)
    ref = np.asarray(Image.fromarray(arr[:, 10:50]).resize((20, 20), Image.LANCZOS), np.float32) / 255
    assert small.shape == (20, 20, 3) and np.allclose(small, ref)


def test_load_image_rgba_composited_on_white(tmp_path):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200                      # red stored under alpha
    rgba[:4, :, 3] = 255                    # top half opaque, bottom half transparent
    img = load_image(_save(tmp_path / "a.png", rgba))
    assert np.allclose(img[:4], [200 / 255, 0, 0])
    assert np.allclose(img[4:], 1.0)        # transparent -> white, not the hidden red


def test_load_image_grayscale_palette_16bit(tmp_path):
    g = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    img = load_image(_save(tmp_path / "g.png", g))
    assert img.shape == (8, 8, 3) and np.allclose(img[..., 1], g / 255)
    pal = Image.fromarray(_rgb(8, 8)).convert("P")
    pal.save(tmp_path / "p.png")
    assert np.allclose(load_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")) / 255)
    g16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    img16 = load_image(tmp_path / "g16.png")
    assert np.allclose(img16[..., 0], g16 / 65535, atol=1e-6)          # full 16-bit precision kept
    assert img16.max() > 0.9                                           # not clipped to 255/65535


def test_load_image_bad_files(tmp_path):
    (tmp_path / "text.png").write_text("this is not an image")
    with pytest.raises(BadImageError, match="text.png: cannot be read"):
        load_image(tmp_path / "text.png")
    _save(tmp_path / "full.jpg", _rgb(64, 64), quality=90)
    raw = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BadImageError, match="trunc.jpg"):
        load_image(tmp_path / "trunc.jpg")
    with pytest.raises(BadImageError, match="smaller than the working size 32"):
        load_image(_save(tmp_path / "small.png", _rgb(20, 50)), 32)
    with pytest.raises(BadImageError, match="no such file"):
        load_image(tmp_path / "missing.png")
    assert issubclass(BadImageError, ValueError)
    with pytest.raises(ValueError, match="size"):
        load_image(tmp_path / "full.jpg", 0)


def png_header_only(path, width, height):
    """A PNG whose header claims width x height (8-bit RGB) with a tiny IDAT: what a decompression bomb's
    header looks like, without spending the memory to write one."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000))
                     + chunk(b"IEND", b""))
    return path


def test_load_image_refuses_huge_empty_and_elongated_images_from_the_header(tmp_path):
    from inpaintkit.limits import MAX_PIXELS

    # 200 Mpx: past Pillow's own bomb guard (2 x MAX_IMAGE_PIXELS), which raises DecompressionBombError
    with pytest.raises(BadImageError, match="decompression-bomb guard.*50 Mpx"):
        load_image(png_header_only(tmp_path / "bomb200.png", 20000, 10000), 64)
    # 100 Mpx: under Pillow's error threshold, over ours; refused before a single pixel is decoded
    with pytest.raises(BadImageError, match=r"10000x10000 = 100,000,000 px, over the limit of 50,000,000 px"):
        load_image(png_header_only(tmp_path / "big100.png", 10000, 10000))
    assert MAX_PIXELS == 50_000_000
    with pytest.raises(BadImageError, match="aspect ratio of 200:1; the limit is 64:1"):
        load_image(_save(tmp_path / "strip.png", _rgb(1, 200)))
    with pytest.raises(BadImageError, match="strip.png"):
        data.open_image(tmp_path / "strip.png")
    # 64:1 is still an image
    assert load_image(_save(tmp_path / "ok.png", _rgb(2, 128))).shape == (2, 128, 3)


def test_load_image_decodes_large_jpegs_at_a_reduced_scale(tmp_path):
    yy, xx = np.mgrid[0:1200, 0:1600]
    smooth = np.stack([xx / 1600, yy / 1200, (xx + yy) / 2800], -1) * 255          # a smooth photo-like ramp
    p = _save(tmp_path / "big.jpg", smooth.astype(np.uint8), quality=95)
    with Image.open(p) as img:
        img.draft(img.mode, (64, 64))
        assert img.size == (200, 150)                     # 1/8 scale: both sides still >= 64
    got = load_image(p, 64)
    with Image.open(p) as img:                          # full decode, crop, resize: the slow reference
        ref = np.asarray(img.convert("RGB").crop((200, 0, 1400, 1200)).resize((64, 64), Image.LANCZOS),
                         np.float32) / 255
    assert got.shape == (64, 64, 3) and np.abs(got - ref).mean() < 0.01


# ------------------------------------------------------------------------------------- image lists

def test_list_images_folder_and_flist(tmp_path):
    for rel in ("b/2.jpg", "a/1.png", "c.JPEG", "notes.txt"):
        p = tmp_path / "imgs" / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    got = list_images(tmp_path / "imgs")
    assert [p.relative_to(tmp_path / "imgs").as_posix() for p in got] == ["c.JPEG", "a/1.png", "b/2.jpg"]
    flist = tmp_path / "lists" / "x.flist"
    flist.parent.mkdir()
    flist.write_text(f"# comment\n../imgs/a/1.png\n\n{tmp_path / 'imgs/b/2.jpg'}\n")
    assert list_images(flist) == [(tmp_path / "lists" / "../imgs/a/1.png"), tmp_path / "imgs/b/2.jpg"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no image files"):
        list_images(tmp_path / "empty")


def test_one_image_file_is_a_list_of_one_and_a_binary_file_is_no_flist(tmp_path):
    photo = _save(tmp_path / "photo.png", _rgb(40, 40))
    assert list_images(photo) == [photo]
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="weights.bin is not a text .flist"):
        list_images(tmp_path / "weights.bin")


def make_fake_places(root, n_train_per_class=2, n_val=3, n_test=2, file_lists=True, size=40):
    """Places365-Standard's real layout with tiny JPEGs (see inpaintkit.data.PLACES_IMAGE_DIRS)."""
    train = []
    for cls in ("a/abbey", "a/apartment_building/outdoor", "b/bakery/shop"):
        for i in range(1, n_train_per_class + 1):
            rel = f"{cls}/{i:08d}.jpg"
            _save(root / "data_256" / rel, _rgb(size, size, i))
            train.append(f"/{rel} 0\n")
    val = [f"Places365_val_{i:08d}.jpg" for i in range(1, n_val + 1)]
    test = [f"Places365_test_{i:08d}.jpg" for i in range(1, n_test + 1)]
    for name in val:
        _save(root / "val_256" / name, _rgb(size, size, 7))
    for name in test:
        _save(root / "test_256" / name, _rgb(size, size, 8))
    if file_lists:
        (root / "places365_train_standard.txt").write_text("".join(train))
        (root / "places365_val.txt").write_text("".join(f"{n} 165\n" for n in val))
        (root / "places365_test.txt").write_text("".join(f"{n}\n" for n in test))
    return root


@pytest.mark.parametrize("file_lists", [True, False])
def test_places_layout(tmp_path, file_lists):
    root = make_fake_places(tmp_path / "places", file_lists=file_lists)
    train = places_split(root, "train")
    assert len(train) == 6 and all(p.is_file() for p in train)
    assert train[0] == root / "data_256/a/abbey/00000001.jpg"
    assert sorted(p.name for p in places_split(root, "val")) == [f"Places365_val_0000000{i}.jpg" for i in (1, 2, 3)]
    assert len(list_images(root, split="test")) == 2
    with pytest.raises(ValueError, match="Places365 root: pass split"):
        list_images(root)
    with pytest.raises(ValueError, match="choose 'train'"):
        places_split(root, "validation")


# ------------------------------------------------------------------------------------- the data set

@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    for i in range(6):
        _save(d / f"{i}.png", _rgb(40, 48, i))
    return d


def test_item_contents(folder, tmp_path):
    ds = InpaintingDataset(folder, 32, sketch=CANNY, sketch_cache_root=tmp_path / "sk", hole_range=(0.2, 0.3),
                           progress=False)
    item = ds[2]
    assert set(item) == {"image", "gray", "sketch", "mask", "path", "sketch_read", "sketch_computed"}
    assert (item["sketch_read"], item["sketch_computed"]) == (1, 0)           # precomputed at construction
    for k, c in (("image", 3), ("gray", 1), ("sketch", 1), ("mask", 1)):
        assert item[k].shape == (c, 32, 32) and item[k].dtype == torch.float32
    rgb = load_image(folder / "2.png", 32)
    assert item["path"] == str(folder / "2.png")
    assert torch.allclose(item["image"], torch.from_numpy(rgb).permute(2, 0, 1))
    assert torch.allclose(item["gray"][0], torch.from_numpy(rgb2gray(rgb)).float())
    assert torch.equal(item["sketch"][0], torch.from_numpy(canny_sketch(rgb, 2.0)))   # the full image's sketch
    m = item["mask"][0].numpy()
    assert set(np.unique(m)) == {0.0, 1.0} and 0.2 <= hole_ratio(m) < 0.3


def test_no_sketch_gives_zeros(folder):
    ds = InpaintingDataset(folder, 32, sketch=None, progress=False)
    assert torch.count_nonzero(ds[0]["sketch"]) == 0


def test_deterministic_masks(folder, tmp_path):
    kw = dict(sketch=None, deterministic_masks=True, seed=3, progress=False)
    a, b = InpaintingDataset(folder, 32, **kw), InpaintingDataset(folder, 32, **kw)
    assert torch.equal(a[1]["mask"], b[1]["mask"])
    assert torch.equal(a[1]["mask"], a[1]["mask"])                 # same index, same mask, every time
    assert not torch.equal(a[1]["mask"], a[2]["mask"])
    c = InpaintingDataset(folder, 32, **{**kw, "seed": 4})
    assert not torch.equal(a[1]["mask"], c[1]["mask"])
    r = InpaintingDataset(folder, 32, sketch=None, progress=False)  # random: a new mask per access
    assert not torch.equal(r[1]["mask"], r[1]["mask"])


def test_masks_from_folder(folder, tmp_path):
    mdir = write_mask_folder(tmp_path / "m", size=32, per_bucket=4, buckets=("30-40",), progress=False)
    ds = InpaintingDataset(folder, 32, sketch=None, masks=mdir / "30-40", deterministic_masks=True,
                           progress=False)
    png = np.asarray(Image.open(mdir / "30-40" / "00001.png")) / 255
    assert np.array_equal(ds[1]["mask"][0].numpy(), png)
    assert np.array_equal(ds[5]["mask"][0].numpy(), ds[1]["mask"][0].numpy())   # wraps around: 5 % 4
    with pytest.raises(ValueError, match="resizes to 48"):
        from inpaintkit.masks import LiuMaskSet
        InpaintingDataset(folder, 32, sketch=None, masks=LiuMaskSet(mdir, size=48), progress=False)


def test_dataloader_workers(folder, tmp_path):
    ds = InpaintingDataset(folder, 32, sketch=CANNY, sketch_cache_root=tmp_path / "sk", progress=False)
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)
    batches = list(loader)
    assert len(batches) == 2
    b = batches[0]
    assert b["image"].shape == (3, 3, 32, 32) and b["mask"].shape == (3, 1, 32, 32)
    assert b["path"] == [str(folder / f"{i}.png") for i in range(3)]
    masks = torch.cat([b["mask"] for b in batches])
    assert len({m.numpy().tobytes() for m in masks}) == 6          # the two workers draw different masks
    torch.manual_seed(0)
    again = torch.cat([b["mask"] for b in torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2)])
    assert torch.equal(masks, again)                                # a torch-seeded run repeats


def test_bad_images_are_skipped_and_listed(tmp_path, capsys):
    d = tmp_path / "mixed"
    _save(d / "good.png", _rgb(40, 40))
    rgba = np.concatenate([_rgb(40, 40, 1), np.full((40, 40, 1), 128, np.uint8)], axis=-1)
    _save(d / "rgba.png", rgba)
    Image.fromarray((np.arange(1600, dtype=np.uint16).reshape(40, 40) * 40)).save(d / "g16.png")
    _save(d / "gray.png", _rgb(40, 40)[..., 0])
    _save(d / "small.png", _rgb(20, 20))
    (d / "text.png").write_text("not an image")
    _save(d / "full.jpg", _rgb(64, 64), quality=90)
    raw = (d / "full.jpg").read_bytes()
    (d / "full.jpg").unlink()
    (d / "trunc.jpg").write_bytes(raw[: len(raw) // 2])
    for sketch in (CANNY, None):          # via the sketch pass, and via the verification pass
        ds = InpaintingDataset(d, 32, sketch=sketch, sketch_cache_root=tmp_path / "sk", progress=False)
        assert sorted(p.name for p in ds.paths) == ["g16.png", "good.png", "gray.png", "rgba.png"]
        assert sorted(p.split("/")[-1] for p, _ in ds.skipped) == ["small.png", "text.png", "trunc.jpg"]
        reasons = dict((p.split("/")[-1], why) for p, why in ds.skipped)
        assert "smaller than the working size" in reasons["small.png"]
        assert "Skipped 3" in capsys.readouterr().out
        for i in range(len(ds)):
            assert ds[i]["image"].max() > 0                         # never a silent black image


def test_file_broken_after_construction_is_skipped(folder):
    ds = InpaintingDataset(folder, 32, sketch=None, progress=False)
    (folder / "1.png").write_text("broken later")
    with pytest.warns(UserWarning, match="1.png"):
        item = ds[1]
    assert item["path"] == str(folder / "2.png")
    assert ds.skipped[-1][0] == str(folder / "1.png")


def test_dataset_bad_arguments(folder):
    with pytest.raises(ValueError, match="size"):
        InpaintingDataset(folder, 0, sketch=None)
    with pytest.raises(ValueError, match="SketchSpec"):
        InpaintingDataset(folder, 32, sketch="hed")
    with pytest.raises(ValueError, match="hole_range"):
        InpaintingDataset(folder, 32, sketch=None, hole_range=(0.5, 0.2))
    with pytest.raises(ValueError, match="No usable image"):
        InpaintingDataset(folder, 64, sketch=None, progress=False)   # all 40x48: too small


# ------------------------------------------------------------------------------------- demo set

def test_demo_photos_are_bundled_photographs():
    from skimage import data as skdata

    photos = data.demo_photos()
    assert set(photos) == {n for names in DEMO_SPLITS.values() for n in names}
    assert "grace_hopper" in photos                                  # matplotlib's sample photograph too
    for name, p in photos.items():
        assert p.ndim == 3 and p.shape[2] == 3 and p.dtype == np.uint8 and min(p.shape[:2]) >= 256, name
    split_of = [n for names in DEMO_SPLITS.values() for n in names]
    assert len(split_of) == len(set(split_of))                       # no photograph in two splits
    gray = {"camera", "coins", "brick", "gravel", "moon", "grass"}   # scikit-image's grayscale photographs:
    assert gray <= set(DEMO_SPLITS["val"]) | set(DEMO_SPLITS["test"])       # scored, never trained on
    assert DEMO_SPLITS["train"] == ("astronaut", "coffee", "motorcycle_left", "motorcycle_right")  # the weights'
    for name in gray:                                                # the gray in all three channels
        g = getattr(skdata, name)()
        assert np.array_equal(photos[name], np.stack([g, g, g], axis=2)), name


def _grid(h, w, short, patch=128, stride=96):
    """Patches of one scale by hand: the photo resized so its short side is ``short``, then a grid."""
    s = short / min(h, w)
    H, W = round(h * s), round(w * s)
    return ((H - patch) // stride + 1) * ((W - patch) // stride + 1)


def test_demo_dataset_build_split_and_reuse(tmp_path):
    folder = ensure_demo_dataset(tmp_path, patch_size=128, stride=96)
    counts = {s: len(read_flist(folder / f"{s}.flist")) for s in DEMO_SPLITS}
    # short sides 256, 384, 512 (2, 3, 4 x 128), capped at the photo's own: never upscaled
    scales = lambda h, w: sorted({min(k * 128, min(h, w)) for k in (2, 3, 4)})   # noqa: E731
    count = lambda h, w: sum(_grid(h, w, s) for s in scales(h, w))               # noqa: E731
    assert scales(300, 451) == [256, 300]                            # chelsea: 256 and its own 300
    assert scales(303, 384) == [256, 303]                            # coins
    assert counts == {"train": count(512, 512) + count(400, 600) + 2 * count(500, 741),
                      "val": count(427, 640) + 2 * count(512, 512),                          # rocket, moon, grass
                      "test": count(300, 451) + count(600, 512) + 3 * count(512, 512) + count(303, 384)}
    for s in DEMO_SPLITS:                                            # patches know their photograph, in order
        photos = [data.demo_photo_of(p) for p in read_flist(folder / f"{s}.flist")]
        assert list(dict.fromkeys(photos)) == list(DEMO_SPLITS[s])
    manifest = json.loads((folder / "splits.json").read_text())
    assert manifest == {"splits": {s: list(v) for s, v in DEMO_SPLITS.items()}, "scales": [2, 3, 4],
                        "patch_size": 128, "stride": 96}
    native = folder / "test" / "chelsea_s0300_0000_0000.png"       # the native scale is cut, not resampled
    assert np.array_equal(np.asarray(Image.open(native)), data.demo_photos()["chelsea"][:128, :128])
    mtime = (folder / "train.flist").stat().st_mtime_ns
    assert ensure_demo_dataset(tmp_path, patch_size=128, stride=96) == folder   # reused, not rebuilt
    assert (folder / "train.flist").stat().st_mtime_ns == mtime
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]       # no temporary left behind

    ds = demo_dataset("test", 32, root=tmp_path, stride=96, sketch=None, progress=False)
    assert len(ds) == counts["test"] and ds.deterministic_masks
    assert ds[0]["image"].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="Demo split"):
        demo_dataset("holdout", 32, root=tmp_path)


def _listed(folder):
    """{split: flist text} and {patch path: mtime_ns} of every patch file of a demo folder."""
    flists = {s: (folder / f"{s}.flist").read_text() for s in DEMO_SPLITS}
    files = {str(f.relative_to(folder)): f.stat().st_mtime_ns for s in DEMO_SPLITS for f in (folder / s).iterdir()}
    return flists, files


def test_demo_folder_brought_up_to_date_in_place(tmp_path, monkeypatch):
    old = {"train": ("astronaut",), "val": ("rocket",), "test": ("chelsea",)}
    new = {"train": ("astronaut",), "val": ("moon",), "test": ("chelsea", "coins")}   # rocket out, two in
    monkeypatch.setattr(data, "DEMO_SPLITS", old)
    folder = ensure_demo_dataset(tmp_path / "a", patch_size=128, stride=128)
    before_flists, before = _listed(folder)
    past = 1_000_000_000_000_000_000                                  # 2001: any rewrite would show
    for f in before:
        os.utime(folder / f, ns=(past, past))
    monkeypatch.setattr(data, "DEMO_SPLITS", new)
    assert ensure_demo_dataset(tmp_path / "a", patch_size=128, stride=128) == folder   # same folder, updated
    flists, after = _listed(folder)
    kept = [f for f in before if not f.startswith("val/rocket")]
    assert kept and all(after[f] == past for f in kept)              # unchanged photographs: not touched
    assert not [f for f in after if "rocket" in f]                   # the photograph no longer in a split: gone
    assert any(f.startswith("test/coins_") for f in after) and any(f.startswith("val/moon_") for f in after)
    assert flists["train"] == before_flists["train"]
    fresh = ensure_demo_dataset(tmp_path / "b", patch_size=128, stride=128)   # what a new build gives
    assert _listed(fresh)[0] == flists and set(_listed(fresh)[1]) == set(after)
    for f in after:                                                   # the same pixels, cut the same way
        assert np.array_equal(np.asarray(Image.open(folder / f)), np.asarray(Image.open(fresh / f))), f
    assert (folder / "splits.json").read_text() == (fresh / "splits.json").read_text()
    assert json.loads((folder / "splits.json").read_text())["splits"] == {s: list(v) for s, v in new.items()}
    assert not [f for s in DEMO_SPLITS for f in (folder / s).iterdir() if f.name.startswith(".")]  # no tmp left

    # a folder from before manifests: upgraded without touching what it already holds; an interrupted update
    # (a patch of a listed photograph missing) recuts that photograph only
    (folder / "splits.json").unlink()
    gone = next(f for f in after if f.startswith("test/coins_"))
    (folder / gone).unlink()
    for f in after:
        if f != gone:
            os.utime(folder / f, ns=(past, past))
    ensure_demo_dataset(tmp_path / "a", patch_size=128, stride=128)
    flists2, after2 = _listed(folder)
    assert flists2 == flists and set(after2) == set(after)
    assert {f for f, t in after2.items() if t != past} == {f for f in after if f.startswith("test/coins_")}
    assert json.loads((folder / "splits.json").read_text())["splits"] == {s: list(v) for s, v in new.items()}
    mtime = (folder / "splits.json").stat().st_mtime_ns
    ensure_demo_dataset(tmp_path / "a", patch_size=128, stride=128)              # up to date: nothing written
    assert (folder / "splits.json").stat().st_mtime_ns == mtime


def test_extra_photos_split_by_photograph(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(9):
        Image.fromarray(rng.integers(0, 256, (260, 300, 3), dtype=np.uint8)).save(photos / f"p{i}.png")
    (photos / "SOURCES.json").write_text("{}")                       # not an image: ignored
    # sorted by name: the 2nd, 6th, ... to test, the 4th, 12th, ... to val, the rest to train
    assert [data.demo_split_of(f"p{i}", photos) for i in range(9)] == \
        ["train", "test", "train", "val", "train", "test", "train", "train", "train"]
    assert data.demo_split_of("chelsea", photos) == "test"
    folder = ensure_demo_dataset(tmp_path / "demo", patch_size=128, stride=128, photos=photos)
    assert folder != ensure_demo_dataset(tmp_path / "demo", patch_size=128, stride=128)   # keyed by photo set
    test = {data.demo_photo_of(p) for p in read_flist(folder / "test.flist")}
    assert test == {*DEMO_SPLITS["test"], "p1", "p5"}
    assert data.demo_split_names(photos)["test"] == [*DEMO_SPLITS["test"], "p1", "p5"]
    monkeypatch.setenv("INPAINTKIT_PHOTOS", str(photos))             # what --photos sets
    assert ensure_demo_dataset(tmp_path / "demo", patch_size=128, stride=128) == folder
    with pytest.raises(ValueError, match="not a folder"):
        data.demo_photos(tmp_path / "nowhere")
