"""Outputs that appear complete or not at all.

Every file or folder the package writes goes first to a unique temporary name beside its
target (hidden, with the host, PID namespace and process id of its writer, so concurrent runs
never share one; same folder, so the same file system), is flushed to disk, and is then renamed
onto the target in one step. Until that rename a previous result at the target is untouched: a
kill, Ctrl-C, SIGTERM, a full disk or a file-size limit leaves it byte-identical. Folders are
swapped with one atomic exchange (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two
renames), and only a folder that is empty or holds nothing but a previous output of the same
writer (``check_replaceable_folder``): a folder of the user's own files, or the current folder,
given as an output by mistake is refused, never swapped away. The next write to the same target
removes the temporaries of killed runs: at once those of this host and PID namespace whose
process is gone; those of another host or container (a cluster's shared folder), whose process
cannot be checked from here, only once nothing in them has changed for ``ABANDONED_AFTER``
seconds, so a running writer's temporary is never taken.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import re
import secrets
import shutil
import socket
import tempfile
import time
from typing import Callable, Iterator

_PARTIAL = ".partial"
_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # a full disk, a file-size limit, a quota


class OutputWriteError(OSError):
    """An output could not be written (a full disk, a file-size limit, a quota): says which
    output, not its hidden temporary or a bare error number."""

    def __init__(self, number: int, path: str, reason: str) -> None:
        super().__init__(number, reason, path)

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"
_ACTIVE: set[str] = set()  # temporaries this process is writing now
# What follows ".{stem}." in a temporary's name: "{host}_{namespace}_{pid}-{token}", or
# "{pid}-{token}" in names of versions before hosts were recorded (their owner is unknown).
_OWNER = re.compile(r"(?:(?P<host>[A-Za-z0-9-]+)_(?P<namespace>\d+)_)?(?P<pid>\d+)-[0-9a-f]+")
# A foreign temporary (of another host or PID namespace) with nothing modified for this long is
# abandoned. A live writer touches its temporary far more often: streaming writers (HDF5, bigWig)
# append batch by batch, and writers that hold everything in memory (NPZ, .keras, SavedModel,
# modisco) create their temporary only when they start writing it, and write it in minutes. A day
# also dwarfs clock skew between the nodes of a shared file system; an abandoned foreign temporary
# costs its disk space for that day at most.
ABANDONED_AFTER = 24 * 60 * 60


def _split(path: str) -> tuple[str, str, str]:
    """``(folder, stem, suffix)``; the suffix is kept so that writers that insist on an
    extension (Keras' ``.keras``, numpy's ``.npz``) accept the temporary name."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, suffix = os.path.splitext(name)
    return folder, stem, suffix


def _owner() -> tuple[str, str]:
    """``(host, PID namespace)`` of this process as temporary names carry them: the host name with
    characters other than letters, digits and ``-`` replaced by ``-`` (a long one cut to 16 and a
    digest of the whole, 24 characters), then ``-`` and the first 8 digits of the kernel's boot
    id (hosts of one name, and boots of one host, differ: a process id means nothing across
    them), and the inode of ``/proc/self/ns/pid`` (0 without one)."""
    name = socket.gethostname()
    host = re.sub(r"[^A-Za-z0-9-]", "-", name) or "-"
    if len(host) > 24:
        host = host[:16] + hashlib.sha1(name.encode()).hexdigest()[:8]
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            host += "-" + boot.read().strip().replace("-", "")[:8]
    except OSError:
        pass
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        namespace = 0
    return host, str(namespace)


def temporary_sibling(path: str) -> str:
    """A unique hidden name beside ``path``: ``.{stem}.{host}_{namespace}_{pid}-{token}.partial{suffix}``."""
    folder, stem, suffix = _split(path)
    host, namespace = _owner()
    token = f"{host}_{namespace}_{os.getpid()}-{secrets.token_hex(4)}"
    return os.path.join(folder, f".{stem}.{token}{_PARTIAL}{suffix}")


def remove_stale_temporaries(path: str) -> None:
    """Remove the temporaries of ``path`` that no writer will finish: at once those of this host and
    PID namespace whose process no longer runs; those of another host or namespace, or without one
    in their name, once ``abandoned`` (a process id means nothing outside its namespace)."""
    folder, stem, suffix = _split(path)
    prefix, ending = f".{stem}.", _PARTIAL + suffix
    try:
        names = os.listdir(folder)
    except OSError:
        return
    here = _owner()
    for name in names:
        if not (name.startswith(prefix) and name.endswith(ending)):
            continue
        owner = _OWNER.fullmatch(name[len(prefix) : len(name) - len(ending)])
        if owner is None:
            continue
        temporary = os.path.join(folder, name)
        if owner.group("host", "namespace") == here:
            stale = not _running(int(owner["pid"]))
        else:
            stale = abandoned(temporary)
        if stale:
            _remove(temporary)


def abandoned(path: str | os.PathLike) -> bool:
    """Whether nothing in ``path`` (a file, or a folder and everything in it: a file growing inside
    leaves its folder's own time behind) was modified in the last ``ABANDONED_AFTER`` seconds; False
    when that cannot be told (something in it disappears meanwhile: it is being changed)."""
    path = os.fspath(path)
    cutoff = time.time() - ABANDONED_AFTER

    def times() -> Iterator[float]:
        yield os.lstat(path).st_mtime
        for root, folders, files in os.walk(path):
            for name in folders + files:
                yield os.lstat(os.path.join(root, name)).st_mtime

    try:
        return all(modified < cutoff for modified in times())
    except OSError:
        return False


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
    """Raise ``FileExistsError`` when ``path`` is a file, or a folder that a new output (a
    folder) must not replace: the current folder (or one holding it), or a folder with an entry that ``own(name)`` does not
    recognise as part of a previous output of this kind (``what``); ``hint`` is added to the
    message. An absent path or an empty folder is fine. Writers call it before any work too."""
    path = os.path.abspath(os.fspath(path))
    if os.path.lexists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{path} is a file; the {what} is a folder: give a folder name")
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


def check_output_folder(path: str) -> None:
    """Raise ``OSError`` before any work when ``path``'s folder does not exist or is not writable."""
    from keras_simplex_cli import output_folder_problem

    problem = output_folder_problem(path)
    if problem:
        raise OSError(problem)


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
        elif os.path.isdir(temporary) and os.path.lexists(path) and not os.path.isdir(path):
            raise FileExistsError(f"{path} is a file; refusing to replace it with a folder")
        else:
            os.replace(temporary, path)
        _fsync_one(os.path.dirname(path))
    except OSError as error:
        _remove(temporary)
        if (error.errno in _FULL and not isinstance(error, OutputWriteError)  # not an inner output's, named already
                and str(error.filename or temporary).startswith(temporary)):  # of this output, not some other file
            raise OutputWriteError(error.errno, path, error.strerror or str(error)) from error
        raise
    except BaseException:
        _remove(temporary)
        raise
    finally:
        _ACTIVE.discard(temporary)


@contextlib.contextmanager
def scratch_file(suffix: str = "") -> Iterator[str]:
    """A new empty file in the system's temporary folder for the block's use (e.g. standard
    input spooled to disk), removed when the block ends, and on SIGTERM or Ctrl-C too
    (``remove_active_temporaries``)."""
    handle, path = tempfile.mkstemp(suffix=suffix)
    os.close(handle)
    _ACTIVE.add(path)
    try:
        yield path
    finally:
        _ACTIVE.discard(path)
        _remove(path)


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
