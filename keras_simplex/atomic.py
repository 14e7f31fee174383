"""Outputs that appear complete or not at all.

Every file or folder the package writes goes first to a unique temporary name beside its
target (hidden, with the process id, so concurrent runs never share one; same folder, so the
same file system), is flushed to disk, and is then renamed onto the target in one step. Until
that rename a previous result at the target is untouched: a kill, Ctrl-C, SIGTERM, a full disk
or a file-size limit leaves it byte-identical. Folders are swapped with one atomic exchange
(``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames), and only a folder that is
empty or holds nothing but a previous output of the same writer (``check_replaceable_folder``):
a folder of the user's own files, or the current folder, given as an output by mistake is
refused, never swapped away. Temporaries of runs that were killed (their process is gone) are
removed by the next write to the same target.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import secrets
import shutil
from typing import Callable, Iterator

_PARTIAL = ".partial"
_ACTIVE: set[str] = set()  # temporaries this process is writing now


def _split(path: str) -> tuple[str, str, str]:
    """``(folder, stem, suffix)``; the suffix is kept so that writers that insist on an
    extension (Keras' ``.keras``, numpy's ``.npz``) accept the temporary name."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, suffix = os.path.splitext(name)
    return folder, stem, suffix


def temporary_sibling(path: str) -> str:
    """A unique hidden name beside ``path``: ``.{stem}.{pid}-{token}.partial{suffix}``."""
    folder, stem, suffix = _split(path)
    return os.path.join(folder, f".{stem}.{os.getpid()}-{secrets.token_hex(4)}{_PARTIAL}{suffix}")


def remove_stale_temporaries(path: str) -> None:
    """Remove the temporaries of ``path`` left by processes that no longer run."""
    folder, stem, suffix = _split(path)
    prefix = f".{stem}."
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(_PARTIAL + suffix)):
            continue
        owner = name[len(prefix) :].split("-", 1)[0]
        if owner.isdigit() and not _running(int(owner)):
            _remove(os.path.join(folder, name))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _fsync(path: str) -> None:
    """Flush a file, or every file of a folder, and the folder entries, to disk."""
    if os.path.isdir(path):
        for root, _, files in os.walk(path):
            for name in files:
                _fsync_one(os.path.join(root, name))
            _fsync_one(root)
    else:
        _fsync_one(path)


def _fsync_one(path: str) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _exchange(first: str, second: str) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2``); False if unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not on this file system
        return False
    raise OSError(errno, os.strerror(errno), second)


def check_replaceable_folder(path: str | os.PathLike, own: Callable[[str], bool] = lambda name: False,
                             what: str = "output", hint: str = "") -> None:
    """Raise ``FileExistsError`` when ``path`` is a folder that a new output must not replace:
    the current folder (or one holding it), or a folder with an entry that ``own(name)`` does not
    recognise as part of a previous output of this kind (``what``); ``hint`` is added to the
    message. An absent path or an empty folder is fine. Writers call it before any work too."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.isdir(path) or os.path.islink(path):
        return
    here = os.getcwd()
    if here == path or here.startswith(path.rstrip(os.sep) + os.sep):
        raise FileExistsError(f"{path} is the current folder or holds it; write the {what} to a new folder")
    foreign = sorted(name for name in os.listdir(path) if not own(name))
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise FileExistsError(f"{path} exists and holds what is not a previous {what} ({shown}); refusing to replace "
                              f"it: give a new or empty folder{hint}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, own: Callable[[str], bool] = lambda name: False,
                  what: str = "output", hint: str = "") -> Iterator[str]:
    """Write a file or folder at ``path`` atomically.

    Yields the temporary path to write to (a file or a folder, as the writer likes; nothing
    exists there yet). When the block ends normally the result is flushed and renamed onto
    ``path`` (a folder replaces a previous folder in one exchange, if
    ``check_replaceable_folder(path, own, what, hint)`` allows). On any exception, KeyboardInterrupt
    and SystemExit included, the temporary is removed and the exception propagates; the
    previous ``path`` is left as it was.
    """
    path = os.path.abspath(os.fspath(path))
    remove_stale_temporaries(path)
    temporary = temporary_sibling(path)
    _ACTIVE.add(temporary)
    try:
        yield temporary
        if not os.path.exists(temporary):
            raise RuntimeError(f"nothing was written for {path}")
        _fsync(temporary)
        if os.path.isdir(temporary) and os.path.isdir(path) and not os.path.islink(path):
            check_replaceable_folder(path, own, what, hint)
            if _exchange(temporary, path):
                _remove(temporary)  # now the previous folder
            else:
                aside = temporary_sibling(path)
                os.rename(path, aside)
                os.rename(temporary, path)
                _remove(aside)
        elif os.path.isdir(path) and not os.path.islink(path):
            raise IsADirectoryError(f"{path} is a folder; refusing to replace it with a file")
        else:
            os.replace(temporary, path)
        _fsync_one(os.path.dirname(path))
    except BaseException:
        _remove(temporary)
        raise
    finally:
        _ACTIVE.discard(temporary)


def remove_active_temporaries() -> None:
    """Remove the temporaries this process is writing (before an immediate exit on a signal);
    the targets keep their previous contents."""
    for temporary in list(_ACTIVE):
        _remove(temporary)


def save_model(model, path: str | os.PathLike) -> None:
    """``model.save(path)`` (a ``.keras`` file), atomically."""
    with atomic_output(path) as temporary:
        model.save(temporary)


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_output(path) as temporary, open(temporary, "w") as handle:
        handle.write(text)


def write_json(path: str | os.PathLike, value, indent: int = 1) -> None:
    """Write ``value`` as JSON to ``path`` atomically."""
    import json

    write_text(path, json.dumps(value, indent=indent))
