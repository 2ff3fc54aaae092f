"""Hostile input, second round (docs/bad_input.md): every case is made here on the fly -- FIFOs (``os.mkfifo``),
non-UTF-8 file names, corrupted PNG bytes, a file-size limit (``ulimit -f`` through ``resource.setrlimit``) --
and each test holds one row of the promise table.

No FIFO test can hang the suite: the kit opens files with ``O_NONBLOCK`` and checks them with ``fstat`` first;
the cases that would block in a regression run in a subprocess with a timeout.
"""

import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import textwrap
import weakref
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inpaintkit import cli, data, masks
from inpaintkit.checkpoints import CheckpointWriteError, atomic_torch_save, load_generator, previous_path
from inpaintkit.files import NotRegularFileError, check_regular_file, check_writable_dir, display_path, open_regular
from inpaintkit.images import BadImageError

from conftest import TinyData, write_photos

REPO = Path(__file__).resolve().parents[1]
LATIN1 = b"caf\xe9.png"                       # not valid UTF-8


def _env(tmp_path):
    return dict(os.environ, INPAINTKIT_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1",
                PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _cli(tmp_path, args, timeout=300, preexec_fn=None):
    return subprocess.run([sys.executable, *args], env=_env(tmp_path), capture_output=True, text=True,
                          timeout=timeout, preexec_fn=preexec_fn, cwd=tmp_path)


def _one_error_line(out, *needles):
    err = out.stderr
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert out.returncode == 2, err[-3000:]
    assert "Traceback" not in err and len(lines) == 1, err[-3000:]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


# ---------------------------------------------------------------------------------------------- regular files

def test_fifos_devices_and_folders_are_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)                              # no writer: a plain open() for reading would block forever
    with pytest.raises(NotRegularFileError, match=r"pipe.png is a named pipe \(FIFO\), not a regular file"):
        open_regular(fifo)
    with pytest.raises(NotRegularFileError, match="is a character device"):
        open_regular("/dev/zero", max_bytes=10)
    with pytest.raises(NotRegularFileError, match="is a folder"):
        check_regular_file(tmp_path)
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * 101)
    with pytest.raises(NotRegularFileError, match="101 bytes, over the limit of 100 bytes"):
        open_regular(big, max_bytes=100)
    with open_regular(big, text=True) as f:      # a regular file reads as usual, blocking mode restored
        assert f.read() == "x" * 101 and os.get_blocking(f.fileno())


def test_a_non_utf8_name_is_shown_escaped_and_refused_by_name(tmp_path):
    p = os.fsdecode(os.fsencode(str(tmp_path)) + b"/" + LATIN1)
    Path(p).write_bytes(b"x")
    assert display_path(p).endswith("caf\\xe9.png")
    with pytest.raises(NotRegularFileError, match=r"caf\\xe9.png: its name is not valid UTF-8; rename it"):
        check_regular_file(p)


FIFO_SCRIPT = textwrap.dedent(r"""
    import os, sys, warnings, json
    from pathlib import Path
    import numpy as np
    from PIL import Image
    warnings.simplefilter("ignore")
    tmp = Path(sys.argv[1])
    from inpaintkit import data, masks
    from inpaintkit.checkpoints import load_generator, read_checkpoint
    from inpaintkit.sketches import SketchSpec
    out = {}
    # a FIFO in an image folder and in a .flist: skipped with the reason, the rest of the set used
    ds = data.InpaintingDataset(tmp / "imgs", 32, sketch=SketchSpec(method="canny"),
                                sketch_cache_root=tmp / "sk", progress=False)
    out["folder"] = [len(ds), [why for _, why in ds.skipped]]
    (tmp / "list.flist").write_text("imgs/img00.png\nimgs/pipe.png\n")
    ds = data.InpaintingDataset(tmp / "list.flist", 32, sketch=None, progress=False)
    out["flist"] = [len(ds), [why for _, why in ds.skipped]]
    for name, fn in [("as_data", lambda: data.list_images(tmp / "imgs" / "pipe.png")),
                     ("as_flist", lambda: data.read_flist(tmp / "fifo.flist")),
                     ("checkpoint", lambda: read_checkpoint(tmp / "run" / "stage1" / "checkpoint.pt")),
                     ("masks_json", lambda: masks.LiuMaskSet(tmp / "masks_fifo_manifest", 32))]:
        try:
            fn(); out[name] = "no error"
        except (ValueError, OSError) as e:
            out[name] = str(e)
    m = masks.LiuMaskSet(tmp / "masks", 32)        # a FIFO named x.png among the masks: left out
    out["masks"] = len(m)
    out["photos"] = sorted(n for n in data.demo_photos(tmp / "imgs") if n.startswith(("img", "pipe")))  # FIFO: out
    print(json.dumps(out))
""")


def test_a_fifo_anywhere_is_refused_or_skipped_never_waited_on(tmp_path):
    write_photos(tmp_path / "imgs", n=3)
    os.mkfifo(tmp_path / "imgs" / "pipe.png")
    os.mkfifo(tmp_path / "fifo.flist")
    (tmp_path / "run" / "stage1").mkdir(parents=True)
    os.mkfifo(tmp_path / "run" / "stage1" / "checkpoint.pt")
    masks.write_mask_folder(tmp_path / "masks", 32, 2, buckets=["10-20"], progress=False)
    os.mkfifo(tmp_path / "masks" / "10-20" / "00009.png")
    (tmp_path / "masks_fifo_manifest").mkdir()
    shutil.copy(tmp_path / "masks" / "10-20" / "00000.png", tmp_path / "masks_fifo_manifest")
    os.mkfifo(tmp_path / "masks_fifo_manifest" / "masks.json")
    script = tmp_path / "fifo.py"
    script.write_text(FIFO_SCRIPT)
    out = _cli(tmp_path, [str(script), str(tmp_path)], timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    fifo = "is a named pipe (FIFO), not a regular file"
    assert res["folder"][0] == 3 and len(res["folder"][1]) == 1 and fifo in res["folder"][1][0]
    assert res["flist"][0] == 1 and fifo in res["flist"][1][0]
    for case in ("as_data", "as_flist", "checkpoint", "masks_json"):
        assert fifo in res[case], (case, res[case])
    assert res["masks"] == 2
    assert res["photos"] == ["img00", "img01", "img02"]


@pytest.mark.slow
def test_train_cli_with_a_fifo_as_data_ends_with_one_line(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    out = _cli(tmp_path, ["-m", "inpaintkit.train", "--stage", "1", "--profile", "smoke", "--sketch", "canny",
                          "--device", "cpu", "--no-progress", "--run-dir", str(tmp_path / "run"),
                          "--data", str(tmp_path / "pipe")], timeout=240)
    _one_error_line(out, "pipe is a named pipe (FIFO)")


# ---------------------------------------------------------------------------------------------- images

def _png(width=48, height=40, text=True):
    import io

    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("Comment", "x" * 50)
        info.add_itxt("Note", "y" * 50, zip=True)
    buf = io.BytesIO()
    rgb = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(buf, format="PNG", pnginfo=info)
    return bytearray(buf.getvalue())


@pytest.mark.parametrize("chunk", [b"IHDR", b"tEXt", b"iTXt", b"IDAT", b"IEND"])
def test_a_png_chunk_length_corrupted_to_4_gb_is_one_bad_image_error(tmp_path, chunk):
    raw = _png()
    at = raw.find(chunk) - 4
    raw[at:at + 4] = struct.pack(">I", 0xFFFFFFF0)              # ~4 GB, in a file of a few KB
    p = tmp_path / "corrupt.png"
    p.write_bytes(bytes(raw))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        out = data.load_image(p, 32)
        assert out.shape == (32, 32, 3)                           # Pillow read around it: fine too
    except BadImageError as e:
        assert "corrupt.png" in str(e)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000      # KiB: no 4 GB allocation


def test_a_memory_error_while_decoding_is_a_bad_image_error_naming_the_file(tmp_path, monkeypatch):
    p = tmp_path / "x.png"
    p.write_bytes(bytes(_png(text=False)))

    def load(self):
        raise MemoryError

    monkeypatch.setattr(Image.Image, "load", load)
    monkeypatch.setattr(Image.core, "map_buffer", None, raising=False)
    with pytest.raises(BadImageError, match="x.png: decoding it ran out of memory"):
        data.open_image(p)


def _bomb(path, width, height):
    """A PNG whose header claims width x height (a few hundred bytes): how a decompression bomb looks."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    return path


def test_a_decompression_bomb_among_the_masks_is_one_error_naming_it(tmp_path):
    masks.write_mask_folder(tmp_path / "m", 32, 3, buckets=["10-20"], progress=False)
    _bomb(tmp_path / "m" / "10-20" / "00001.png", 20000, 10000)
    s = masks.LiuMaskSet(tmp_path / "m" / "10-20", 32)
    assert s[0].shape == (32, 32)
    with pytest.raises(BadImageError, match=r"00001.png: refused by Pillow's decompression-bomb guard.*Remove or "
                                            "replace the mask file"):
        s[1]


# ---------------------------------------------------------------------------------------------- data sets

def test_a_non_utf8_file_name_is_named_and_skipped_not_the_whole_set(tmp_path, capsys):
    folder = write_photos(tmp_path / "imgs", n=3)
    shutil.copy(folder / "img00.png", os.fsencode(str(folder)) + b"/" + LATIN1)
    ds = data.InpaintingDataset(folder, 32, sketch=data.SketchSpec(method="canny"),
                                sketch_cache_root=tmp_path / "sk", progress=False)
    assert len(ds) == 3 and len(ds.skipped) == 1
    assert "caf\\xe9.png: its name is not valid UTF-8" in ds.skipped[0][1]
    assert "caf\\xe9.png" in capsys.readouterr().out                     # printed, escaped, no UnicodeEncodeError


def test_make_flist_names_and_skips_a_non_utf8_file_name(tmp_path):
    folder = write_photos(tmp_path / "imgs", n=2)
    shutil.copy(folder / "img00.png", os.fsencode(str(folder)) + b"/" + LATIN1)
    out = _cli(tmp_path, [str(REPO / "data_scripts" / "make_flist.py"), str(folder), str(tmp_path / "a.flist")],
               timeout=120)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    assert "caf\\xe9.png: its name is not valid UTF-8" in out.stderr
    assert len((tmp_path / "a.flist").read_text().splitlines()) == 2


def test_photos_are_decoded_one_at_a_time(tmp_path, monkeypatch):
    for i in range(4):
        Image.fromarray(np.full((60, 90, 3), 40 * i, np.uint8)).save(tmp_path / f"p{i}.png")
    alive = []
    real = data._photo_uint8

    def tracked(path):
        assert sum(r() is not None for r in alive) == 0, "a previous photograph is still held"
        arr = real(path)
        alive.append(weakref.ref(arr))
        return arr

    monkeypatch.setattr(data, "_photo_uint8", tracked)
    photos = data.demo_photos(tmp_path)
    assert alive == []                                             # nothing decoded by listing them
    seen = []
    for name, photo in photos.items():
        if name.startswith("p"):
            seen.append(int(photo[0, 0, 0]))
        del photo
    assert seen == [0, 40, 80, 120]
    np.testing.assert_array_equal(photos["p2"], np.full((60, 90, 3), 80, np.uint8))


# ---------------------------------------------------------------------------------------------- masks

def test_our_masks_copied_without_masks_json_are_refused_as_inverted(tmp_path):
    masks.write_mask_folder(tmp_path / "ours", 64, 6, buckets=["10-20"], progress=False)
    shutil.copytree(tmp_path / "ours" / "10-20", tmp_path / "copied")           # masks.json left behind
    with pytest.raises(ValueError, match=r"no masks.json, so it is read by Liu et al.'s rule \(white = hole\); "
                                         r"read so, the median hole ratio of 6 of its masks is 8\d%"):
        masks.LiuMaskSet(tmp_path / "copied", 64)
    (tmp_path / "copied" / "masks.json").write_text('{"white": "known"}')           # the stated fix
    s = masks.LiuMaskSet(tmp_path / "copied", 64)
    assert all(0.1 <= s.ratio(i) < 0.2 for i in range(len(s))) and s.convention.startswith("masks.json")
    # Liu's convention (white = hole) without metadata: read by the rule, accepted
    (tmp_path / "liu").mkdir()
    for i in range(4):
        known = masks.irregular_mask(64, 64, (0.2, 0.3), i)
        Image.fromarray(((1 - known) * 255).astype(np.uint8)).save(tmp_path / "liu" / f"{i:05d}.png")
    s = masks.LiuMaskSet(tmp_path / "liu", 64)
    assert s.invert and all(0.2 <= s.ratio(i) < 0.3 for i in range(4))
    (tmp_path / "liu" / "masks.json").write_text('{"white": "purple"}')
    with pytest.raises(ValueError, match='does not say which colour is the hole'):
        masks.LiuMaskSet(tmp_path / "liu", 64)


# ---------------------------------------------------------------------------------------------- checkpoints

def _trained(tmp_path, steps=3):
    from inpaintkit.config import get_profile
    from inpaintkit.train import Trainer

    t = Trainer(1, get_profile("smoke"), tmp_path, data=TinyData(), device="cpu", progress=False)
    t.fit(steps)
    return t


def _trainer(tmp_path, **kw):
    from inpaintkit.config import get_profile
    from inpaintkit.train import Trainer

    return Trainer(1, get_profile("smoke"), tmp_path, data=TinyData(), device="cpu", progress=False, **kw)


@pytest.mark.parametrize("kept", ["generator.pt", "losses.csv", "generator.prev.pt"])
def test_a_run_folder_holding_any_trained_artefact_is_not_written_over(tmp_path, kept):
    _trained(tmp_path / "a")
    (tmp_path / "b" / "stage1").mkdir(parents=True)
    shutil.copy(tmp_path / "a" / "stage1" / "generator.pt", tmp_path / "b" / "stage1" / kept)
    before = (tmp_path / "b" / "stage1" / kept).read_bytes()
    with pytest.raises(FileExistsError, match=f"holds {kept} \\(a previous run\\)"):
        _trainer(tmp_path / "b")
    with pytest.raises(FileExistsError, match="no checkpoint.pt to resume from"):
        _trainer(tmp_path / "b", resume=True)
    assert (tmp_path / "b" / "stage1" / kept).read_bytes() == before
    assert _trainer(tmp_path / "b", overwrite=True).step == 0                 # said explicitly: allowed


def _damage(path, how):
    obj = torch.load(path, weights_only=True)
    if how == "shape":
        k = next(k for k, v in obj["generator"].items() if v.ndim == 4)
        obj["generator"][k] = torch.zeros(3, 3, 3, 3)
    else:
        del obj[how]
    torch.save(obj, path)


@pytest.mark.parametrize("how", ["shape", "profile", "rng"])
def test_a_damaged_checkpoint_falls_back_to_prev_or_is_one_error(tmp_path, how, capsys):
    t = _trained(tmp_path, 3)
    t.fit(6)                                          # checkpoint.pt at 6, checkpoint.prev.pt at 3
    ckpt = tmp_path / "stage1" / "checkpoint.pt"
    _damage(ckpt, how)
    with pytest.warns(UserWarning, match="falling back to the previous one, checkpoint.prev.pt"):
        assert _trainer(tmp_path, resume=True).step == 3
    previous_path(ckpt).unlink()
    with pytest.raises(ValueError) as e:
        _trainer(tmp_path, resume=True)
    msg = str(e.value)
    assert "\n" not in msg and "checkpoint.pt" in msg
    assert {"shape": "does not fit this network", "profile": "lacks the entry profile",
            "rng": "lacks the entry rng"}[how] in msg


def test_a_generator_with_a_wrong_shape_tensor_falls_back_to_its_prev(tmp_path):
    t = _trained(tmp_path, 3)
    t.fit(6)
    gen = tmp_path / "stage1" / "generator.pt"
    _damage(gen, "shape")
    (tmp_path / "stage1" / "checkpoint.pt").unlink()
    with pytest.warns(UserWarning, match="does not fit this network.*Using .*generator.prev.pt instead"):
        g = load_generator(tmp_path, 1)
    want = torch.load(previous_path(gen), weights_only=True)["generator"]
    assert all(torch.equal(g.state_dict()[k], v) for k, v in want.items())


def test_a_failed_checkpoint_write_keeps_the_old_file_and_says_so(tmp_path, monkeypatch):
    p = tmp_path / "checkpoint.pt"
    atomic_torch_save({"step": 1}, p)

    def full(obj, f, *a, **k):
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointWriteError, match=r"checkpoint.pt failed .*the checkpoint already there, .* intact"):
        atomic_torch_save({"step": 2}, p, keep_previous=True)
    monkeypatch.undo()
    assert torch.load(p, weights_only=True) == {"step": 1} and sorted(x.name for x in tmp_path.iterdir()) == [p.name]


@pytest.mark.slow
def test_disk_full_during_a_checkpoint_save_under_ulimit_f(tmp_path):
    data_dir = write_photos(tmp_path / "img", n=10)
    args = ["-m", "inpaintkit.train", "--stage", "1", "--profile", "smoke", "--sketch", "canny", "--device", "cpu",
            "--no-progress", "--data", str(data_dir), "--run-dir", str(tmp_path / "run")]
    out = _cli(tmp_path, [*args, "--steps", "3"])
    assert out.returncode == 0, out.stderr[-2000:]
    ckpt = tmp_path / "run" / "stage1" / "checkpoint.pt"
    before = ckpt.read_bytes()
    limit = len(before) // 2                 # losses.csv, samples and config.json fit; a checkpoint does not

    def ulimit_f():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = _cli(tmp_path, [*args, "--steps", "6", "--resume"], preexec_fn=ulimit_f)
    line = _one_error_line(out, "checkpoint.pt failed", "is intact", "--resume")
    assert f"file-size limit: {limit:,} bytes" in line, line
    assert ckpt.read_bytes() == before and torch.load(ckpt, weights_only=True)["step"] == 3
    assert not list(ckpt.parent.glob(".*.tmp"))


# ---------------------------------------------------------------------------------------------- outputs

def test_output_folders_are_checked_before_the_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file is a file, not a folder"):
        check_writable_dir(tmp_path / "file", "run dir")
    with pytest.raises(NotADirectoryError, match="file is a file, not a folder"):
        check_writable_dir(tmp_path / "file" / "sub", "run dir")
    assert check_writable_dir(tmp_path / "new" / "deep").is_dir()


def test_evaluate_refuses_an_unwritable_run_dir_before_scoring(tmp_path, monkeypatch):
    from inpaintkit import evaluate as ev

    def never(*a, **k):
        raise AssertionError("scored before the output folder was checked")

    monkeypatch.setattr(ev, "score_all", never)
    monkeypatch.setattr(ev, "test_set", never)
    (tmp_path / "run").write_text("a file where the run dir should be")
    with pytest.raises(NotADirectoryError, match="run is a file, not a folder"):
        ev.evaluate(run_dir=tmp_path / "run", methods=["biharmonic"], profile="smoke", progress=False)
    (tmp_path / "ok" / "metrics.json").mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match="metrics.json is a folder"):
        ev.evaluate(run_dir=tmp_path / "ok", methods=["biharmonic"], profile="smoke", progress=False)


def test_biharmonic_is_bounded_and_evaluate_sizes_coherent_with_inpainter(tmp_path):
    from dataclasses import replace

    from inpaintkit import baselines
    from inpaintkit import evaluate as ev
    from inpaintkit.config import get_profile

    side = int(baselines.BIHARMONIC_MAX_PIXELS ** 0.5)
    big = np.zeros((side + 16, side + 16, 3))
    m = np.ones(big.shape[:2], np.uint8)
    m[:8, :8] = 0
    with pytest.raises(ValueError, match=f"biharmonic runs on at most {side}x{side} px"):
        baselines.biharmonic(big, m)                           # refused before the solver can crash
    methods, skipped = baselines.available_methods(None, None, image_size=1024)
    assert baselines.Method.BIHARMONIC not in methods and "at most 512x512" in skipped[baselines.Method.BIHARMONIC]
    with pytest.raises(ValueError, match="biharmonic runs on at most 512x512"):
        baselines.available_methods(None, ["biharmonic"], image_size=1024)
    assert baselines.Method.BIHARMONIC in baselines.available_methods(None, None, image_size=512)[0]
    with pytest.raises(ValueError, match="over the 2048x2048 px our generators run at"):
        ev.evaluate(run_dir=tmp_path, profile=replace(get_profile("smoke"), image_size=2064), progress=False)


# ---------------------------------------------------------------------------------------------- command lines

def test_command_turns_any_failure_into_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("INPAINTKIT_DEBUG", raising=False)

    @cli.command
    def main(argv=None):
        kind = argv[0]
        if kind == "oserror":
            raise OSError(28, "No space left on device", "/x/y.pt")
        if kind == "memory":
            raise MemoryError
        if kind == "ok":
            return 0
        raise RuntimeError("multi\nline")

    assert main(["ok"]) == 0
    assert main(["oserror"]) == 2
    assert capsys.readouterr().err == ("error: /x/y.pt: No space left on device. Free some space (or raise the "
                                       "file-size limit) and run again\n")
    assert main(["memory"]) == 2 and capsys.readouterr().err.startswith("error: out of memory")
    assert main(["other"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: RuntimeError: multi line (rerun with --debug")
    with pytest.raises(RuntimeError):
        main(["other", "--debug"])


def _mains():
    import importlib.util

    mods = ["inpaintkit.train", "inpaintkit.evaluate", "inpaintkit.reproduce", "inpaintkit.site"]
    out = [(m, importlib.import_module(m).main) for m in mods]
    for folder, names in (("data_scripts", ["make_flist", "make_test_masks", "make_demo_dataset",
                                            "prepare_places2", "fetch_hed_weights", "fetch_wallpaper_photos",
                                            "export_demo_weights"]),
                          ("benchmarks", ["bench_train", "bench_sketch", "bench_fill", "training_ladder",
                                          "bench_inpaint_latency"])):
        for n in names:
            spec = importlib.util.spec_from_file_location(f"_cli_{n}", REPO / folder / f"{n}.py")
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            out.append((f"{folder}/{n}.py", mod.main))
    return out


def test_every_command_line_is_wrapped_and_takes_debug():
    for name, main in _mains():
        assert getattr(main, "__wrapped__", None) is not None and main.__module__ is not None, name
        assert "add_debug_flag" in Path(main.__wrapped__.__code__.co_filename).read_text(), name


@pytest.mark.slow
def test_evaluate_cli_errors_are_one_line(tmp_path):
    (tmp_path / "runfile").write_text("x")
    out = _cli(tmp_path, ["-m", "inpaintkit.evaluate", "--run-dir", str(tmp_path / "runfile"), "--profile", "smoke",
                          "--methods", "biharmonic"], timeout=240)
    _one_error_line(out, "runfile is a file, not a folder")
    out = _cli(tmp_path, ["-m", "inpaintkit.evaluate", "--run-dir", str(tmp_path / "r"), "--profile", "smoke",
                          "--methods", "biharmonic", "--image-size", "1024"], timeout=240)
    _one_error_line(out, "biharmonic runs on at most 512x512 px")
