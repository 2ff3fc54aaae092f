"""Atomic file writes: a temporary file beside the target, then ``os.replace``; and the run folder's lock.

A job killed at any moment leaves either the old file or the new one, never half of one: every
checkpoint, cache entry, flist, metrics file and report in the kit is written through here.
:class:`RunLock` keeps a second process out of a folder a training run is writing.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "RunLockedError", "RunLock"]


@contextmanager
def atomic_path(path, suffix: str = ".tmp"):
    """Yield a temporary path in ``path``'s folder; when the block succeeds it atomically replaces ``path``.

    ``suffix`` keeps an extension for writers that read it (``torchvision.utils.save_image``). On an
    exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)       # mkstemp makes 0600; a written file gets the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


# ---------------------------------------------------------------------------------------------- run lock

class RunLockedError(RuntimeError):
    """Another live process holds the lock on a run folder."""


class RunLock:
    """An exclusive lock on a run folder, so that two processes never write into one run.

    ``with RunLock(folder):`` (or :meth:`acquire` / :meth:`release`) holds ``folder/run.lock``: an OS lock
    (``fcntl.flock``) on that file, which holds the holder's pid, host name and start time for the message
    another process gets (:class:`RunLockedError`, naming them). The operating system drops the lock when its
    process dies, however it dies, so a lock left by a dead process is simply taken over; a clean release
    also deletes the file. POSIX (Linux, macOS; elsewhere a warning and no lock); on a network file system,
    flock's guarantees are the file system's.
    """

    NAME = "run.lock"

    def __init__(self, folder):
        self.path = Path(folder) / self.NAME
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        import json
        import socket
        import time

        try:
            import fcntl
        except ImportError:                    # Windows: no flock; run unlocked rather than not at all
            import warnings

            warnings.warn(f"{self.path.parent} is not locked: fcntl.flock is not available on this platform.",
                          stacklevel=2)
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RunLockedError(f"{self.path.parent} is in use by another run: {self._holder()}. Wait for "
                                     "it to finish (or stop it), or use another run dir.") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:          # released (and deleted) by its holder in between: try again
                same = False
            if same:
                break
            os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def _holder(self) -> str:
        import json

        try:
            info = json.loads(self.path.read_text())
            return f"process {info['pid']} on {info['host']}, since {info['started']} (lock file {self.path})"
        except (OSError, ValueError, KeyError, TypeError):
            return f"a process that is still starting (lock file {self.path})"

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)               # before unlocking: a waiting process then re-creates it
        except FileNotFoundError:
            pass
        os.close(self._fd)                     # closing drops the flock
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
