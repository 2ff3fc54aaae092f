"""What every command line of the kit does with a failure: one ``error: ...`` line, exit code 2.

Each ``main(argv)`` (``python -m inpaintkit.train``, ``evaluate``, ``reproduce``, ``site``, the scripts in
``data_scripts/`` and ``benchmarks/``) is wrapped by :func:`command` and its parser gets :func:`add_debug_flag`::

    @command
    def main(argv=None) -> int:
        ap = argparse.ArgumentParser(...)
        add_debug_flag(ap)
        ...

Any exception that escapes ``main`` is printed as **one** line on stderr, ``error: <message>``, and ``main``
returns 2. The kit's own errors already name the file and the fix; for others (an OSError of the operating
system, a MemoryError) the line names the file and errno where Python knows them, and says to rerun with
``--debug`` for the traceback. With ``--debug`` (or ``INPAINTKIT_DEBUG=1``) the exception propagates with its
traceback. Ctrl-C prints ``error: interrupted`` and returns 130; ``SystemExit`` (argparse's usage errors,
``--help``) passes through unchanged.
"""

from __future__ import annotations

import errno as _errno
import functools
import os
import sys

from .files import display_path

__all__ = ["DEBUG_FLAG", "add_debug_flag", "error_line", "command"]

DEBUG_FLAG = "--debug"


def add_debug_flag(parser) -> None:
    """Add ``--debug`` (show the traceback of a failure instead of one ``error:`` line) to an argparse parser."""
    parser.add_argument(DEBUG_FLAG, action="store_true",
                        help="on a failure, show the full traceback instead of one 'error:' line")


def error_line(e: BaseException) -> str:
    """The one line ``error: ...`` for exception ``e``: its message with newlines folded; for an OSError
    without one of the kit's messages, the file and the reason; for anything unexpected, its type and the
    advice to rerun with --debug."""
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        where = display_path(e.filename) + (f" -> {display_path(e.filename2)}" if e.filename2 else "")
        msg = f"{where}: {e.strerror}"
        if e.errno in (_errno.ENOSPC, _errno.EDQUOT, _errno.EFBIG):
            msg += ". Free some space (or raise the file-size limit) and run again"
        elif e.errno in (_errno.EACCES, _errno.EPERM, _errno.EROFS):
            msg += ". Give a path you can read and write, or change its permissions"
    elif isinstance(e, MemoryError):
        msg = ("out of memory (MemoryError). Give smaller inputs (a smaller --image-size, fewer or smaller "
               "images) or run on a machine with more memory; rerun with --debug for where it happened")
    else:
        msg = str(e).strip() or type(e).__name__
        ours = type(e).__module__.startswith("inpaintkit") or type(e) in (ValueError, FileNotFoundError,
                                                                          FileExistsError, NotADirectoryError)
        if not ours:
            msg = f"{type(e).__name__}: {msg} (rerun with {DEBUG_FLAG} for the traceback)"
    msg = " ".join(msg.split())                      # one line, whatever the message held
    return "error: " + msg.encode("utf-8", "backslashreplace").decode("utf-8")


def command(main):
    """Wrap a command line's ``main(argv=None) -> int``: a failure becomes one ``error:`` line and exit code 2
    (see the module docstring); ``--debug`` in ``argv`` (or ``INPAINTKIT_DEBUG=1``) keeps the traceback."""

    @functools.wraps(main)
    def wrapper(argv=None):
        args = sys.argv[1:] if argv is None else list(argv)
        debug = DEBUG_FLAG in args or os.environ.get("INPAINTKIT_DEBUG", "") not in ("", "0")
        try:
            return main(argv)
        except SystemExit:
            raise
        except KeyboardInterrupt:
            if debug:
                raise
            print("error: interrupted", file=sys.stderr, flush=True)
            return 130
        except Exception as e:
            if debug:
                raise
            print(error_line(e), file=sys.stderr, flush=True)
            return 2

    return wrapper
