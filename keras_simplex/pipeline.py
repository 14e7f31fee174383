"""Apache Beam pipelines: attribution (``keras-simplex attribute ... --beam-runner RUNNER``)
and the paper's experiments (``keras-simplex reproduce ... --beam-runner RUNNER``).

Attribution.

The input's records (FASTA records, BED windows, array rows) are counted and checked once, by
the launching process, and cut into shards of ``--shard-size`` consecutive records. Each shard
is one element of the pipeline: a worker (its ``DoFn`` loads the models once, in ``setup``)
reads only its records, explains them batch by batch with the same code as the local command
and writes them to ``<output>.shards/shard-<first record>.h5``, atomically. A shard whose file
exists is complete and is not redone, so a job that was killed or whose bundle failed is
finished by running the same command again, and a retried bundle rewrites the same file. Each
shard records the request that made it (the provenance, its records, and the size and
modification time of the model, input and genome files, and of every file of a SavedModel or a
TFDS input's dataset folder); before the pipeline starts, a shard
folder holding shards of another request (other options, models, input or ``--shard-size``) is
an error naming the difference, never a silent mix.
Then ``manifest.json`` (every shard: its file and its range of records; record ``r`` is row
``r - first`` of its shard) and the merge: the shards in record order into the single file the
local command writes (``--no-merge`` keeps only the shards). Each sequence's shuffles and noise
depend only on that sequence and ``--seed`` (``keras_simplex.seeding``), so the result does not
depend on the sharding.

Experiments. Every trial (a model x seed x study value of ``keras_simplex.experiments``: the
experiments' ``trials(config, data)``) is an element; a worker regenerates the data once
(``setup``) and computes its trials with the local runner's code, writing each trial's result
where the local runner does (``results/<experiment>/<key>.json``, atomically); finished trials
are not redone. The launcher then runs the local runner, which finds every trial done and
writes the tables, figures and report.

Paths must be on a filesystem the workers and the launcher share (local disk with the
DirectRunner, a network filesystem on a cluster): the HDF5 writer cannot write to object
stores such as GCS.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
from typing import Iterator

import numpy as np

from keras_simplex.extras import require
from keras_simplex.fingerprints import files_fingerprint

SHARD_SUFFIX = ".shards"


def shard_ranges(records: int, shard_size: int) -> list[tuple[int, int]]:
    """``[first, end)`` ranges of ``shard_size`` records covering ``records``."""
    return [(first, min(first + shard_size, records)) for first in range(0, records, shard_size)]


def shard_path(folder: str, first: int) -> str:
    return os.path.join(folder, shard_entry(first, 0)["file"])


def shard_entry(first: int, end: int) -> dict:
    """The manifest's entry of the shard of records ``[first, end)``."""
    return {"file": f"shard-{first:012d}.h5", "first_record": first, "end_record": end}


class AttributeShards:
    """The pipeline's work: ``process((first, end))`` explains records ``[first, end)`` of the
    input into their shard file (skipped when it is already complete) and yields the shard's
    manifest entry; ``run_pipeline`` runs it as a ``DoFn`` whose ``setup`` loads the models."""

    def __init__(self, args: argparse.Namespace, input_path: str, folder: str, attributes: dict) -> None:
        self.args, self.input_path, self.folder, self.attributes = args, input_path, folder, attributes
        self.job = None

    def setup(self) -> None:
        from keras_simplex import cli

        self.job = cli._attribution_job(self.args)

    def process(self, shard: tuple[int, int]) -> Iterator[dict]:
        from keras_simplex import cli
        from keras_simplex.sequence_io import AttributionWriter, open_input

        first, end = shard
        path = shard_path(self.folder, first)
        if not os.path.exists(path):  # complete when present (written atomically), of this request (checked)
            args = self.args
            batches, _ = open_input(self.input_path, args.batch_size, args.genome, self.job.length,
                                    args.input_key, args.channels_first, not args.allow_off_simplex,
                                    args.out_of_bounds, args.stranded, records=(first, end), check=False,
                                    data_dir=args.data_dir)
            with AttributionWriter(path, shard_attributes(self.attributes, first, end)) as writer:
                for names, x, columns in batches:
                    cli._MapsOutput.write_batch(writer, args.layout, names, x, cli._explain(self.job, args, x), columns)
        yield shard_entry(first, end)


def run_pipeline(elements: list, work, runner: str, beam_options: str | None, verbose: bool = False) -> None:
    """``Create(elements) | Reshuffle | ParDo(work)`` on ``runner``: ``work`` (``AttributeShards``
    or ``ComputeTrials``) becomes a ``DoFn`` that runs its ``setup`` once per worker and its
    ``process`` per element. The workers' INFO logs are off unless ``verbose``."""
    beam = require("apache_beam", "beam", "Apache Beam pipelines")
    from apache_beam.options.pipeline_options import PipelineOptions

    class WorkDoFn(beam.DoFn):
        def __init__(self, work):
            super().__init__()
            self.work = work

        def setup(self):
            self.work.setup()

        def process(self, element):
            yield from self.work.process(tuple(element))

    if not verbose:
        logging.getLogger("apache_beam").setLevel(logging.WARNING)
    quiet = [] if verbose else ["--default_sdk_harness_log_level=WARNING"]
    options = PipelineOptions([f"--runner={runner}", *quiet, *shlex.split(beam_options or "")])
    with beam.Pipeline(options=options) as pipeline:
        _ = (pipeline | "Elements" >> beam.Create(elements) | "Spread" >> beam.Reshuffle()
             | "Work" >> beam.ParDo(WorkDoFn(work)))


def attribute_on_beam(args: argparse.Namespace, input_path: str) -> None:
    """``keras-simplex attribute`` with ``--beam-runner``: shards explained by a Beam pipeline,
    then the manifest and (unless ``--no-merge``) the merged single output."""
    require("apache_beam", "beam", "attribution on Apache Beam")  # before any work
    from keras_simplex import cli
    from keras_simplex.sequence_io import open_input

    if args.format != "maps" or not args.output.endswith((".h5", ".hdf5")) or args.bigwig:
        raise ValueError("--beam-runner writes maps to an HDF5 output (.h5), without --bigwig")
    folder = args.output + SHARD_SUFFIX
    job = cli._attribution_job(args)  # the request checked, and the input's length, before the pipeline
    _, provenance = open_input(input_path, args.batch_size, args.genome, job.length, args.input_key,
                               args.channels_first, not args.allow_off_simplex, args.out_of_bounds, args.stranded,
                               data_dir=args.data_dir)
    attributes = {**cli._provenance(args, job, provenance), "layout": args.layout,
                  "request_files": files_fingerprint([*args.model, provenance.get("data_dir", input_path), args.genome])}
    shards = shard_ranges(provenance["records"], args.shard_size)
    done = check_kept_shards(folder, shards, attributes)
    os.makedirs(folder, exist_ok=True)
    cli._say(args, f"{provenance['records']} records in {len(shards)} shards of up to {args.shard_size}"
                   + (f" ({done} already done)" if done else "") + f"; running on {args.beam_runner}")
    source = input_path if input_path.startswith("tfds:") else os.path.abspath(input_path)
    work = AttributeShards(args, source, os.path.abspath(folder), attributes)
    run_pipeline(shards, work, args.beam_runner, args.beam_options, args.verbose)
    entries = [shard_entry(first, end) for first, end in shards]
    missing = [e["file"] for e in entries if not os.path.exists(os.path.join(folder, e["file"]))]
    if missing:
        raise RuntimeError(f"the pipeline ended without {len(missing)} shard(s), e.g. {missing[0]}; run the same "
                           f"command again to finish them")
    from keras_simplex.atomic import write_json

    kept = {k: _plain(v) for k, v in attributes.items() if k != "request_files"}  # the local command's attributes
    write_json(os.path.join(folder, "manifest.json"), {"records": provenance["records"], "shards": entries,
                                                       "attributes": kept})
    if args.no_merge:
        cli._say(args, f"wrote {len(shards)} shards and manifest.json to {folder}")
        return
    rows = merge_shards(folder, args.output)
    cli._say(args, f"wrote {rows} {args.method} maps ({args.layout}) to {args.output} (merged from {len(shards)} "
                   f"shards in {folder})")


def shard_attributes(attributes: dict, first: int, end: int) -> dict:
    """What a shard of records ``[first, end)`` records about the request that made it."""
    return {**attributes, "first_record": first, "end_record": end}


def check_kept_shards(folder: str, shards: list[tuple[int, int]], attributes: dict) -> int:
    """How many of ``shards`` a previous run of this request finished in ``folder``; raises
    ValueError, before any work, when the folder holds a shard of another request (other
    settings, models, input, or another ``--shard-size``), naming what differs."""
    import h5py

    if not os.path.isdir(folder):
        return 0
    wanted = {shard_entry(first, 0)["file"]: shard_attributes(attributes, first, end) for first, end in shards}
    done = 0
    for name in sorted(os.listdir(folder)):
        if not re.fullmatch(r"shard-\d{12}\.h5", name):
            continue
        with h5py.File(os.path.join(folder, name), "r") as shard:
            kept = {key: _plain(value) for key, value in shard.attrs.items()}
        span = [kept.get("first_record"), kept.get("end_record")]
        if "request_files" not in kept:
            differences = ["made by an older version, which did not record its request"]
        elif name in wanted and span == [wanted[name]["first_record"], wanted[name]["end_record"]]:
            differences = [_difference(key, kept.get(key), _plain(value))
                           for key, value in wanted[name].items() if kept.get(key) != _plain(value)]
        else:
            differences = [f"records {kept.get('first_record')}-{kept.get('end_record')}, not a shard of this run's "
                           f"ranges (another --shard-size?)"]
        if differences:
            raise ValueError(f"{folder} holds shards of another request ({name}: {'; '.join(differences[:3])}); "
                             f"delete it, or choose another --output, to run this one")
        done += 1
    return done


def _difference(key: str, there, here) -> str:
    """How a kept shard's request differs from this one in ``key``."""
    if key != "request_files":
        return f"{key} {there!r} there, {here!r} here"
    there, here = json.loads(there), json.loads(here)
    if any(not isinstance(stamp, dict) for stamp in there.values()):  # [size, mtime] per file: before 0.2.0
        return "made by an older version of keras_simplex, which fingerprinted files otherwise"
    changed = sorted(path for path in {*there, *here} if there.get(path) != here.get(path))
    return f"{', '.join(changed)} changed since the shards were made"


def merge_shards(folder: str, output: str) -> int:
    """The shards of ``folder`` (its ``manifest.json``) concatenated in record order into one
    HDF5 file at ``output``, with the attributes the local command writes; checks that every
    record is in exactly one shard. Returns the number of rows."""
    import h5py

    from keras_simplex.sequence_io import AttributionWriter

    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    entries = sorted(manifest["shards"], key=lambda e: e["first_record"])
    expected = 0
    for entry in entries:
        if entry["first_record"] != expected:
            raise ValueError(f"{folder}: records {expected}-{entry['first_record']} are in no shard")
        expected = entry["end_record"]
    if expected != manifest["records"]:
        raise ValueError(f"{folder}: the shards end at record {expected} of {manifest['records']}")
    rows, fields = 0, None
    with AttributionWriter(output, manifest["attributes"]) as writer:
        for entry in entries:
            with h5py.File(os.path.join(folder, entry["file"]), "r") as shard:
                span = (shard.attrs.get("first_record"), shard.attrs.get("end_record"))
                if span != (entry["first_record"], entry["end_record"]):
                    raise ValueError(f"{folder}: {entry['file']} holds records {span[0]}-{span[1]}, the manifest "
                                     f"{entry['first_record']}-{entry['end_record']}; delete {folder} and run again")
                fields = fields or (set(shard), entry["file"])
                if set(shard) != fields[0]:
                    raise ValueError(f"{folder}: {entry['file']} holds {sorted(shard)}, {fields[1]} {sorted(fields[0])}: "
                                     f"shards of different runs or versions; delete {folder} and run again")
                names = [n.decode() if isinstance(n, bytes) else str(n) for n in shard["names"][()]]
                arrays = {key: shard[key][()] for key in shard if key != "names"}
            writer.write(names, **arrays)
            rows += len(names)
    return rows


def _plain(value):
    """An HDF5 attribute value as JSON (numpy scalars and arrays to Python)."""
    return value.tolist() if isinstance(value, np.ndarray) else value.item() if isinstance(value, np.generic) else value


class ComputeTrials:
    """The experiments pipeline's work: ``process((experiment, key))`` computes one trial (or
    reads it, when a previous run finished it) and yields its name (a ``DoFn`` in
    ``run_pipeline``)."""

    def __init__(self, config) -> None:
        self.config, self.trials = config, None

    def setup(self) -> None:
        from keras_simplex import plotting
        from keras_simplex.experiments import TRIALS
        from keras_simplex.experiments.common import load_data

        plotting.use_file_backend()  # a worker process writes its figures to files
        data = load_data(self.config)
        self.trials = {name: trials(self.config, data) for name, trials in TRIALS.items()}

    def process(self, element: tuple[str, str]) -> Iterator[str]:
        from keras_simplex.experiments.common import cached

        experiment, key = element
        cached(self.config, experiment, key, self.trials[experiment][key])
        yield f"{experiment}/{key}"


def run_trials_on_beam(config, experiments: tuple[str, ...], runner: str, beam_options: str | None) -> int:
    """Compute the trials of ``experiments`` not done yet as a Beam pipeline; returns how many
    it ran. The report is the local runner's job, afterwards."""
    require("apache_beam", "beam", "experiments on Apache Beam")  # before any work
    from keras_simplex.experiments import TRIALS
    from keras_simplex.experiments.common import load_data, log, result_path

    data = load_data(config)
    pending = [(name, key) for name in experiments for key in TRIALS[name](config, data)
               if not os.path.exists(result_path(config, name, key))]
    log(f"{len(pending)} trials to run on {runner}")
    if pending:
        run_pipeline(pending, ComputeTrials(config), runner, beam_options)
    return len(pending)
