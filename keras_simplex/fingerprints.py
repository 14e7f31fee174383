"""Fingerprints of inputs: the size and modification time of a file, or of every file in a
folder (a SavedModel, a built TFDS dataset), so that a rerun can tell whether the inputs of a
kept result changed since it was made (``pipeline``'s shards, ``experiments``' settings)."""

from __future__ import annotations

import json
import os


def path_fingerprint(path: str) -> dict[str, list[int]]:
    """``{name: [size, mtime_ns]}`` of the file at ``path`` (named ``"."``) or of every file
    under the folder ``path`` (named by their path relative to it); empty if nothing is there."""
    if os.path.isfile(path):
        return {".": _stamp(path)}
    stamps = {}
    for root, folders, files in os.walk(path):
        folders.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            stamps[os.path.relpath(full, path)] = _stamp(full)
    return stamps


def files_fingerprint(paths: list[str | None]) -> str:
    """The fingerprint of each existing local file or folder of ``paths``, by absolute path, as
    JSON: a model retrained or an input rewritten at the same path changes it."""
    return json.dumps({os.path.abspath(path): path_fingerprint(path) for path in paths if path and os.path.exists(path)},
                      sort_keys=True)


def _stamp(path: str) -> list[int]:
    status = os.stat(path)
    return [status.st_size, status.st_mtime_ns]
