"""Build the package's TFDS datasets offline, without the ``tfds`` command-line tool."""

from __future__ import annotations

import glob
import os
import shutil

import tensorflow_datasets as tfds

import keras_simplex.datasets  # noqa: F401  (registers the builders; checks that the extra is installed)
from keras_simplex.atomic import abandoned
from keras_simplex.extras import require


def build_dataset(
    name: str,
    data_dir: str | os.PathLike,
    manual_dir: str | os.PathLike | None = None,
    beam_runner: str | None = None,
) -> tfds.core.DatasetBuilder:
    """Prepare dataset ``name`` (e.g. ``"synthetic_motifs/original"``) in ``data_dir``.

    Args:
      name: ``dataset/config`` of a registered builder.
      data_dir: where TFDS writes the dataset.
      manual_dir: folder of manually downloaded files (ENCODE builder).
      beam_runner: generate with Apache Beam on this runner (e.g. ``"DirectRunner"``), for
        builders that support it (``encode_chipseq``); needs the ``beam`` extra.
    """
    check_dataset_name(name)
    beam = {"use_beam": True} if beam_runner is not None else {}
    builder = tfds.builder(name, data_dir=os.fspath(data_dir), **beam)
    options = {}
    if manual_dir is not None:
        options["manual_dir"] = os.fspath(manual_dir)
    if beam_runner is not None:
        beam = require("apache_beam", "beam", "building a dataset on Apache Beam")
        options["beam_options"] = beam.options.pipeline_options.PipelineOptions([f"--runner={beam_runner}"])
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(**options))
    remove_incomplete_builds(builder.data_dir)
    return builder


def check_dataset_name(name: str) -> None:
    """Raise a one-line error naming the valid choices when ``name`` (``dataset/config``) names
    a config that its builder does not have (TFDS' own message lists them on later lines, which a
    one-line error drops). Unknown datasets are left to TFDS' error."""
    dataset, _, config = name.partition("/")
    try:
        builder_class = tfds.builder_cls(dataset)
    except Exception:  # noqa: BLE001 - TFDS raises its own not-found errors
        return
    configs = [choice.name for choice in builder_class.BUILDER_CONFIGS]
    if config and configs and config not in configs:
        raise ValueError(f"{dataset} has no config {config!r}; choose one of: {', '.join(configs)} (as {dataset}/CONFIG)")


def remove_incomplete_builds(data_dir: str | os.PathLike) -> list[str]:
    """Remove the ``incomplete.*`` folders that killed builds of this dataset version left
    beside ``data_dir`` (TFDS prepares into one and renames it when done). TFDS names them
    ``incomplete.<6 random letters/digits>_<version>``, without the builder's process, so only
    ``abandoned`` ones are removed: a concurrent build's (on any host) is left to finish. Returns
    the removed folders."""
    folder, version = os.path.split(os.path.normpath(os.fspath(data_dir)))
    leftovers = sorted(glob.glob(os.path.join(glob.escape(folder), f"incomplete.*_{glob.escape(version)}")))
    removed = [leftover for leftover in leftovers if abandoned(leftover)]
    for leftover in removed:
        shutil.rmtree(leftover, ignore_errors=True)
    return removed
