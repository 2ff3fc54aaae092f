"""Files the kit reads and writes: regular files only, atomic writes, writable outputs, the run folder's lock.

* Reading: every file the kit opens (images, masks and their manifest, flists, photographs, checkpoints,
  weights) goes through :func:`open_regular` (or :func:`check_regular_file`): a named pipe (FIFO), a device,
  a socket or a folder is refused with :class:`NotRegularFileError` *without blocking* (the file is opened with
  ``O_NONBLOCK`` and checked with ``fstat`` on the open descriptor, so nothing can swap it in between), and a
  file over a stated byte bound is refused before it is read. :func:`display_path` shows a file name that is
  not valid UTF-8 with its bytes escaped, so an error can name it.
* Writing: a job killed at any moment leaves either the old file or the new one, never half of one: every
  checkpoint, cache entry, flist, metrics file and report in the kit is written through :func:`atomic_path`.
  :func:`check_writable_dir` creates an output folder and proves it writable *before* the work starts.
* :class:`RunLock` keeps a second process out of a folder a training run is writing.
"""

from __future__ import annotations

import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

__all__ = ["NotRegularFileError", "display_path", "check_utf8_name", "check_regular_file", "open_regular",
           "read_regular_bytes", "check_writable_dir", "atomic_path", "atomic_write_bytes", "atomic_write_text",
           "RunLockedError", "RunLock"]


# ---------------------------------------------------------------------------------------------- reading

class NotRegularFileError(ValueError):
    """A path the kit was to read that is not a regular file: a FIFO, a device, a socket or a folder; or a file
    whose name is not valid UTF-8; or one over a stated size bound."""


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder"))


def display_path(path) -> str:
    """``path`` as printable text: bytes of a file name that are not valid UTF-8 are shown escaped (``\\xff``)."""
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def check_utf8_name(path, what: str = "file") -> None:
    """:class:`NotRegularFileError` when ``path``'s name is not valid UTF-8 (the kit writes paths into UTF-8
    flists, JSON and reports): the message shows the bytes and asks to rename the file."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        raise NotRegularFileError(f"{what} {display_path(path)}: its name is not valid UTF-8; rename it (e.g. "
                                  "`convmv -f latin1 -t utf8`) to use it.") from None


def _kind_error(path, mode: int, what: str) -> NotRegularFileError | None:
    for test, kind in _KINDS:
        if test(mode):
            return NotRegularFileError(f"{what} {display_path(path)} is {kind}, not a regular file: the kit reads "
                                       "regular files only. Give a regular file (copy the data to one).")
    if not stat.S_ISREG(mode):
        return NotRegularFileError(f"{what} {display_path(path)} is not a regular file.")
    return None


def _size_error(path, size: int, max_bytes: int | None, what: str) -> NotRegularFileError | None:
    if max_bytes is not None and size > max_bytes:
        return NotRegularFileError(f"{what} {display_path(path)} is {size:,} bytes, over the limit of "
                                   f"{max_bytes:,} bytes for such a file (inpaintkit.limits). Is it the right file?")
    return None


def check_regular_file(path, what: str = "file", max_bytes: int | None = None) -> os.stat_result:
    """``os.stat(path)`` when ``path`` is a regular file (symbolic links followed) of at most ``max_bytes``; else
    :class:`NotRegularFileError` naming what it is (FileNotFoundError when it does not exist). Never blocks."""
    check_utf8_name(path, what)
    st = os.stat(path)
    err = _kind_error(path, st.st_mode, what) or _size_error(path, st.st_size, max_bytes, what)
    if err is not None:
        raise err
    return st


def open_regular(path, what: str = "file", max_bytes: int | None = None, text: bool = False):
    """Open ``path`` for reading (binary, or UTF-8 text with ``text``) if it is a regular file of at most
    ``max_bytes`` bytes; else :class:`NotRegularFileError`. A FIFO cannot hang the caller: the file is opened
    with ``O_NONBLOCK`` (which returns at once on a FIFO without a writer) and checked with ``fstat`` on that
    descriptor before a byte is read; the flag is then cleared for ordinary reads."""
    check_utf8_name(path, what)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        err = _kind_error(path, st.st_mode, what) or _size_error(path, st.st_size, max_bytes, what)
        if err is not None:
            raise err
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, "r" if text else "rb", **({"encoding": "utf-8"} if text else {}))
    except BaseException:
        os.close(fd)
        raise
    return f


def read_regular_bytes(path, what: str = "file", max_bytes: int | None = None) -> bytes:
    """The bytes of regular file ``path`` (:func:`open_regular`): at most ``max_bytes`` are held in memory."""
    with open_regular(path, what, max_bytes) as f:
        return f.read()


# ---------------------------------------------------------------------------------------------- writing

def check_writable_dir(path, what: str = "output folder") -> Path:
    """Create folder ``path`` (and its parents) and prove it writable by creating and removing a file in it,
    *before* any work is done; else one error naming the folder and the fix (:class:`NotADirectoryError` when
    it or a parent is a file, :class:`PermissionError` when it is read-only). Returns ``Path(path)``."""
    path = Path(path)
    shown = display_path(path)
    for p in (path, *path.parents):
        if p.exists() and not p.is_dir():
            raise NotADirectoryError(f"{what} {shown}: {display_path(p)} is a file, not a folder. Give another "
                                     "folder, or move the file away.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.remove(probe)
    except PermissionError:
        raise PermissionError(f"{what} {shown} is not writable (permission denied). Give a folder you can write "
                              "to, or change its permissions.") from None
    except OSError as e:
        raise OSError(e.errno, f"{what} {shown} cannot be written ({e.strerror}). Give another folder.") from None
    return path


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
