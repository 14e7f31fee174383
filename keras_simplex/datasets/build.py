"""Build the package's TFDS datasets offline, without the ``tfds`` command-line tool."""

from __future__ import annotations

import argparse
import os
import sys

import tensorflow_datasets as tfds

import keras_simplex.datasets  # noqa: F401  (registers the builders)


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
    beam = {"use_beam": True} if beam_runner is not None else {}
    builder = tfds.builder(name, data_dir=os.fspath(data_dir), **beam)
    options = {}
    if manual_dir is not None:
        options["manual_dir"] = os.fspath(manual_dir)
    if beam_runner is not None:
        import apache_beam as beam

        options["beam_options"] = beam.options.pipeline_options.PipelineOptions([f"--runner={beam_runner}"])
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(**options))
    return builder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m keras_simplex.datasets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="prepare a dataset")
    build.add_argument("name", help="dataset/config, e.g. synthetic_motifs/original or encode_chipseq/ctcf")
    build.add_argument("--data-dir", required=True, help="TFDS data directory to write")
    build.add_argument("--manual-dir", help="folder of manually downloaded files (ENCODE)")
    build.add_argument("--beam-runner", help="generate with Apache Beam on this runner, e.g. DirectRunner")
    args = parser.parse_args(argv)
    try:
        builder = build_dataset(args.name, args.data_dir, args.manual_dir, args.beam_runner)
    except Exception as error:  # one-line message for the command line
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"built {builder.info.full_name} in {builder.data_dir}: "
          + ", ".join(f"{s} {v.num_examples}" for s, v in builder.info.splits.items()))
    return 0
