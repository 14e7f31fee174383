"""Build the package's TFDS datasets offline, without the ``tfds`` command-line tool."""

from __future__ import annotations

import glob
import os
import shutil

import tensorflow_datasets as tfds

import keras_simplex.datasets  # noqa: F401  (registers the builders; checks that the extra is installed)
from keras_simplex.atomic import abandoned
from keras_simplex.datasets import provenance
from keras_simplex.extras import require


def build_dataset(
    name: str,
    data_dir: str | os.PathLike,
    manual_dir: str | os.PathLike | None = None,
    beam_runner: str | None = None,
    config: tfds.core.BuilderConfig | None = None,
) -> tfds.core.DatasetBuilder:
    """Prepare dataset ``name`` (e.g. ``"synthetic_motifs/original"``) in ``data_dir``, or reuse
    the one prepared there from the same config, inputs and builder version.

    Args:
      name: ``dataset/config`` of a registered builder; or the dataset alone with ``config``.
      data_dir: where TFDS writes the dataset.
      manual_dir: folder of manually downloaded files (ENCODE builder; default
        ``<data_dir>/downloads/manual``).
      beam_runner: generate with Apache Beam on this runner (e.g. ``"DirectRunner"``), for
        builders that support it (``encode_chipseq``); needs the ``beam`` extra.
      config: a custom builder config, e.g. ``EncodeChipseqConfig(name="holdout",
        test_chromosomes=("chr8",))`` with ``name="encode_chipseq"``; load the built dataset as
        ``"encode_chipseq/holdout"`` (``tfds.builder``, ``splits.load_splits``, the commands).

    A dataset already prepared there is reused when its recorded fingerprint
    (``provenance``) equals the current one; otherwise (other config fields, input files
    changed, or built by an older version) a ``ValueError`` names the difference before any
    work.
    """
    return prepare_dataset(name, data_dir, manual_dir, beam_runner, config)[0]


def prepare_dataset(
    name: str,
    data_dir: str | os.PathLike,
    manual_dir: str | os.PathLike | None = None,
    beam_runner: str | None = None,
    config: tfds.core.BuilderConfig | None = None,
) -> tuple[tfds.core.DatasetBuilder, bool]:
    """``build_dataset``'s builder, and whether the dataset was reused (True) or built."""
    options: dict = {"use_beam": True} if beam_runner is not None else {}
    if config is None:
        check_dataset_name(name)
    elif "/" in name:
        raise ValueError(f"with config=, name is the dataset alone (e.g. {name.partition('/')[0]!r}), got {name!r}")
    else:
        options["config"] = config
    builder = tfds.builder(name, data_dir=os.fspath(data_dir), **options)
    if manual_dir is None:
        manual_dir = builder.data_dir_root / "downloads" / "manual"  # TFDS' default
    current = builder.fingerprint(os.fspath(manual_dir)) if hasattr(builder, "fingerprint") else None
    if builder.is_prepared() and current is not None:
        provenance.check_reusable(builder, current)
        return builder, True
    download = {"manual_dir": os.fspath(manual_dir)}
    if beam_runner is not None:
        beam = require("apache_beam", "beam", "building a dataset on Apache Beam")
        download["beam_options"] = beam.options.pipeline_options.PipelineOptions([f"--runner={beam_runner}"])
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(**download))
    remove_incomplete_builds(builder.data_dir)
    return builder, False


def check_dataset_name(name: str, data_dir: str | os.PathLike | None = None) -> None:
    """Raise a one-line error naming the valid choices when ``name`` (``dataset/config``) names
    a config that its builder does not have (TFDS' own message lists them on later lines, which a
    one-line error drops); with ``data_dir``, the error adds that no custom config of that name
    is built there. Unknown datasets are left to TFDS' error."""
    dataset, _, config = name.partition("/")
    try:
        builder_class = tfds.builder_cls(dataset)
    except Exception:  # noqa: BLE001 - TFDS raises its own not-found errors
        return
    configs = [choice.name for choice in builder_class.BUILDER_CONFIGS]
    if config and configs and config not in configs:
        built = "" if data_dir is None else f" (nor a custom config of that name built in {os.fspath(data_dir)})"
        raise ValueError(f"{dataset} has no config {config!r}{built}; choose one of: {', '.join(configs)} (as "
                         f"{dataset}/CONFIG)")


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
