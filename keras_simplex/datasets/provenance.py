"""What made a built dataset, recorded in its ``info.metadata["fingerprint"]``.

TFDS reuses a dataset already prepared in ``<data_dir>/<name>/<config>/<version>`` whatever
made it; ``build.build_dataset`` reuses one only when its fingerprint equals the current one:

* ``generation``: the builder's ``VERSION`` (bumped whenever generation changes its data);
* ``config``: the fields of the builder config that change the data, the ones its class adds
  to TFDS' ``BuilderConfig`` (not ``name``, ``description``, ...), nested dataclasses (the
  synthetic ``recipe``) flattened as ``recipe.length``, ...;
* ``inputs``: ``{path relative to the manual folder: [size in bytes, mtime in ns]}`` of each
  input file (``keras_simplex.fingerprints.path_fingerprint``).

Everything is JSON (tuples as lists), as TFDS stores the metadata.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Iterable

import tensorflow_datasets as tfds

from keras_simplex.fingerprints import path_fingerprint


def config_fields(config: tfds.core.BuilderConfig) -> dict[str, Any]:
    """The fields of ``config`` that change the data, as ``{name: JSON value}`` (nested
    dataclasses flattened: ``{"recipe.length": 200, ...}``)."""
    base = {field.name for field in dataclasses.fields(tfds.core.BuilderConfig)}
    return _flat({field.name: getattr(config, field.name) for field in dataclasses.fields(config)
                  if field.name not in base})


def input_files(folder: str | os.PathLike, paths: Iterable[str]) -> dict[str, list[int]]:
    """``{path relative to folder: [size in bytes, mtime in ns]}`` of each file of ``paths``."""
    return {os.path.relpath(path, folder): path_fingerprint(path)["."] for path in paths}


def fingerprint(config: tfds.core.BuilderConfig, generation: str, inputs: dict[str, list[int]] | None = None) -> dict:
    """The fingerprint of a build (see the module docstring), as JSON values."""
    return json.loads(json.dumps({"generation": generation, "config": config_fields(config), "inputs": inputs or {}}))


def differences(recorded: dict | None, current: dict) -> list[str]:
    """What differs between a ``recorded`` fingerprint (None: none was recorded) and the
    ``current`` one, one phrase each; empty when they are equal."""
    if not recorded:
        return ["built by an older version of keras_simplex, which recorded no fingerprint"]
    found = []
    if recorded.get("generation") != current["generation"]:
        found.append(f"built by another version of the builder ({recorded.get('generation')}, now "
                     f"{current['generation']})")
    old, new = recorded.get("config", {}), current["config"]
    for field in sorted(set(old) | set(new)):
        if old.get(field) != new.get(field):
            found.append(f"config field {field} {json.dumps(old.get(field))} -> {json.dumps(new.get(field))}")
    old, new = recorded.get("inputs", {}), current["inputs"]
    changed = [name for name in sorted(set(old) | set(new)) if old.get(name) != new.get(name)]
    if changed:
        found.append(f"input files changed ({', '.join(_change(name, old, new) for name in changed[:3])}"
                     f"{', ...' if len(changed) > 3 else ''})")
    return found


def check_reusable(builder: tfds.core.DatasetBuilder, current: dict) -> None:
    """Raise a ``ValueError`` naming what differs when the prepared ``builder``'s recorded
    fingerprint is missing or not ``current``; return when the dataset can be reused."""
    metadata = builder.info.metadata
    recorded = dict(metadata.items()).get("fingerprint") if metadata is not None else None  # .get skips TFDS' lazy load
    registered = builder.builder_config in type(builder).BUILDER_CONFIGS
    if recorded is None and registered and not current["inputs"]:
        return  # a registered config made from no input file by this builder version: its data are known
    found = differences(recorded, current)
    if found:
        raise ValueError(f"{builder.data_dir} holds a dataset built otherwise: {'; '.join(found)}; build into another "
                         f"--data-dir or delete {builder.data_dir} to rebuild it")


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for name, value in values.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            flat.update(_flat(dataclasses.asdict(value), f"{prefix}{name}."))
        elif isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{name}."))
        else:
            flat[f"{prefix}{name}"] = value
    return flat


def _change(name: str, old: dict, new: dict) -> str:
    return f"{name} {'added' if name not in old else 'removed' if name not in new else 'modified'}"
