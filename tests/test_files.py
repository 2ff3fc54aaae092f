"""Atomic writes: a failure mid-write leaves the old file and no temporary behind. The run folder's lock."""

import os

import pytest

from inpaintkit.files import atomic_path, atomic_write_bytes, atomic_write_text


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "sub" / "report.json"
    atomic_write_text(p, "old")
    atomic_write_text(p, "new")
    assert p.read_text() == "new"
    atomic_write_bytes(p, b"\x00\x01")
    assert p.read_bytes() == b"\x00\x01"
    assert sorted(x.name for x in p.parent.iterdir()) == ["report.json"]


def test_a_failing_writer_keeps_the_old_file(tmp_path):
    p = tmp_path / "checkpoint.pt"
    p.write_text("last good")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half a checkpoint")
            raise RuntimeError("killed")
    assert p.read_text() == "last good"
    assert [x.name for x in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_suffix_is_kept_for_writers_that_read_it(tmp_path):
    with atomic_path(tmp_path / "grid.png", suffix=".tmp.png") as tmp:
        assert tmp.name.endswith(".tmp.png") and tmp.parent == tmp_path
        tmp.write_bytes(b"png")
    assert (tmp_path / "grid.png").read_bytes() == b"png"


def test_written_files_get_the_usual_permissions(tmp_path):
    import os
    umask = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "a.txt", "x")
        assert oct(p.stat().st_mode & 0o777) == oct(0o644)
    finally:
        os.umask(umask)


def test_run_lock_refuses_a_second_holder_naming_it_and_releases(tmp_path):
    import json
    import socket

    from inpaintkit.files import RunLock, RunLockedError

    with RunLock(tmp_path / "run") as lock:
        info = json.loads(lock.path.read_text())
        assert info["pid"] == os.getpid() and info["host"] == socket.gethostname()
        with pytest.raises(RunLockedError, match=f"in use by another run: process {os.getpid()} on "
                                                 f"{socket.gethostname()}"):
            RunLock(tmp_path / "run").acquire()
    assert not lock.path.exists() and not lock.held                       # released and deleted
    with RunLock(tmp_path / "run"):                                      # free again
        pass


def test_run_lock_of_a_killed_process_is_taken_over(tmp_path):
    import signal
    import subprocess
    import sys

    from inpaintkit.files import RunLock, RunLockedError

    code = ("import sys, time; from inpaintkit.files import RunLock; RunLock(sys.argv[1]).acquire(); "
            "print('locked', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"process {proc.pid} on"):
            RunLock(tmp_path).acquire()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (tmp_path / RunLock.NAME).exists()                            # left behind by the dead process
    with RunLock(tmp_path) as lock:                                      # ... and taken over
        assert f'"pid": {os.getpid()}' in lock.path.read_text()
