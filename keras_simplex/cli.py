"""The commands of ``keras-simplex``: datasets, training, attribution, evaluation, export, the
reproduction and the demo. The command line is parsed, and the process prepared, by
``keras_simplex_cli`` (the entry point); ``run(args)`` runs a parsed command.

Exit codes: 0 success, 1 a runtime error (one-line message on stderr), 2 a usage error, 130
interrupted (Ctrl-C), 143 terminated (SIGTERM). Outputs appear complete or not at all: an
interrupted or failed command leaves a previous output at the same path as it was.
Progress goes to stderr (none with ``--quiet``), results and summaries to stdout.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import time
import traceback
from typing import Iterator

from keras_simplex_cli import DATA_FILES, METHOD_OPTIONS


def _say(args, message: str) -> None:
    """A command's summary line, on stdout (not with ``--quiet``)."""
    if not args.quiet:
        print(message, flush=True)


class _Progress:
    """Sequences done so far, on stderr: one line rewritten in place on a terminal, a line
    every 30 s otherwise (logs of batch jobs); nothing with ``--quiet``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.start, self.shown = quiet, time.perf_counter(), 0.0
        self.terminal = sys.stderr.isatty()

    def update(self, count: int) -> None:
        now = time.perf_counter()
        if self.quiet or now - self.shown < (0.5 if self.terminal else 30.0):
            return
        self.shown = now
        line = f"{count} sequences, {count / max(now - self.start, 1e-9):.0f}/s"
        print("\r" + line if self.terminal else line, end="" if self.terminal else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.terminal and self.shown and not self.quiet:
            print(file=sys.stderr, flush=True)


def _load_model(path: str):
    import zipfile

    import keras

    import keras_simplex  # noqa: F401  (registers the package's classes)

    if not os.path.exists(path):  # also for callers that skip the launcher's early check (a Beam worker)
        raise FileNotFoundError(f"model file not found: {path}")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a valid .keras file (not a zip archive: truncated or corrupt?)")
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # noqa: BLE001 - Keras raises many types for unloadable files
        raise ValueError(f"cannot load the model {path}: {one_line(error)}") from None


def cmd_build_dataset(args) -> None:
    from keras_simplex.datasets.build import prepare_dataset

    builder, reused = prepare_dataset(args.name, args.data_dir, args.manual_dir, args.beam_runner)
    sizes = ", ".join(f"{s} {v.num_examples}" for s, v in builder.info.splits.items())
    _say(args, f"reused the dataset built in {builder.data_dir} (same config, inputs and version): {sizes}" if reused
         else f"built {builder.info.full_name} in {builder.data_dir}: {sizes}")


def cmd_train(args) -> None:
    import keras
    import numpy as np

    import keras_simplex as ks
    from keras_simplex.atomic import save_model

    if not args.output.endswith(".keras"):  # checked before hours of training, not after (its folder: early_mistake)
        raise ValueError(f"--output must end with .keras, got {args.output}")
    from keras_simplex.datasets.splits import load_splits

    train, validation, test = load_splits(args.data, args.data_dir)
    keras.utils.set_random_seed(args.seed)
    builder = {"cnn_deep": ks.models.cnn_deep, "cnn_shallow": ks.models.cnn_shallow, "basset": ks.models.basset}[args.model]
    model = builder(input_length=train[0].shape[1], alphabet_size=train[0].shape[2],
                    num_outputs=1 if train[1].ndim == 1 else train[1].shape[1], first_activation=args.first_activation)
    units = model.output_shape[-1]
    target = None if units == 1 else list(range(units))  # several tasks: the gradient of their sum
    trained = (ks.add_angle_regularizer(model, args.strength, penalty=args.penalty, target=target)
               if args.strength > 0 else model)
    callbacks = [ks.SimplexAngleCallback(validation[0][:500], target=target)]
    with contextlib.redirect_stdout(sys.stderr):  # Keras' epoch lines are progress
        ks.train_paper_protocol(trained, train, validation, epochs=args.epochs, batch_size=args.batch_size,
                                seed=args.seed, callbacks=callbacks, verbose=0 if args.quiet else 2)
    if not all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.weights):
        raise RuntimeError(f"training diverged (the model's weights are not finite): nothing written to {args.output}; "
                           f"lower --strength or check the data")
    save_model(model, args.output)
    _say(args, f"saved {args.output}; {_auroc_text(test[1], model.predict(test[0], verbose=0))}")


def _auroc_text(labels, predictions) -> str:
    """The test AUROC of each output unit: ``labels (N,)`` or ``(N, T)`` against the model's
    ``predictions (N, T)``, e.g. ``"test AUROC 0.9512"`` or ``"test AUROC mean 0.91 over 3
    outputs (0.95, 0.91, 0.87)"``."""
    import numpy as np

    import keras_simplex as ks

    if isinstance(predictions, (list, tuple, dict)):
        raise ValueError("the model has several output tensors; AUROC is reported for a model with one")
    y, scores = np.reshape(labels, (len(labels), -1)), np.reshape(predictions, (len(predictions), -1))
    if y.shape[1] != scores.shape[1]:
        raise ValueError(f"the labels have {y.shape[1]} task(s) per sequence, the model {scores.shape[1]} output(s)")
    aurocs = ks.metrics.roc_auc(y.T, scores.T)
    if len(aurocs) == 1:
        return f"test AUROC {aurocs[0]:.4f}"
    return (f"test AUROC mean {np.nanmean(aurocs):.4f} over {len(aurocs)} outputs "
            f"({', '.join(f'{a:.4f}' for a in aurocs)})")


def cmd_attribute(args) -> None:
    """``keras-simplex attribute``: maps of the input's sequences (from a file, or FASTA on
    standard input, spooled to a file)."""
    if args.input == "-" and args.beam_runner:
        raise ValueError("--beam-runner reads its input again to resume: give a file, not --input - (standard input)")
    if args.input != "-":
        return _attribute(args, args.input)
    with _stdin_as_fasta() as path:  # FASTA on stdin: spooled to a file, which is read twice (checks, then maps)
        return _attribute(args, path)


@contextlib.contextmanager
def _stdin_as_fasta():
    import shutil

    from keras_simplex.atomic import scratch_file

    with scratch_file(".fa") as path:  # removed on SIGTERM and Ctrl-C too
        with open(path, "wb") as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
        yield path


def _attribute(args, input_path: str) -> None:
    import numpy as np

    from keras_simplex.sequence_io import open_input, prefetched

    if args.beam_runner:
        from keras_simplex.pipeline import attribute_on_beam

        return attribute_on_beam(args, input_path)
    output = _open_output(args)  # checked before any model is loaded
    if args.bigwig:
        _check_bigwig_request(args)
    job = _attribution_job(args)
    batches, provenance = open_input(input_path, args.batch_size, args.genome, job.length,
                                     args.input_key, args.channels_first, not args.allow_off_simplex,
                                     args.out_of_bounds, args.stranded, data_dir=args.data_dir)
    output.open(_provenance(args, job, provenance), job.engine.per_target)
    progress = _Progress(args.quiet)
    track = {"names": [], "scores": []}
    count, start = 0, time.perf_counter()
    # A pair or neither: the tracks are written to their temporaries before the maps are
    # finished, and renamed only after the maps are (the stack closes after `with output`).
    with contextlib.ExitStack() as track_renames, output:
        for names, x, columns in prefetched(batches):
            result = _explain(job, args, x)
            output.write(names, x, result, columns)
            if args.bigwig:  # per-base contributions (see _attribution_job's contributions)
                track["names"] += names
                maps = result.select(args.map == "corrected")  # (N, L, A), or (N, T, L, A) per target
                observed = x if maps.ndim == 3 else x[:, None]
                track["scores"].append(np.sum(maps if job.contributions else observed * maps, axis=-1))
            count += len(x)
            progress.update(count)
        progress.close()
        tracks = _write_tracks(args, track, job.engine.per_target, track_renames) if args.bigwig else []
    form = f"{len(args.model)}-model ensemble " if len(args.model) > 1 else ""
    edges = [f"{provenance[key]} BED windows past a chromosome start or end {word}" for key, word in
             (("windows_skipped", "skipped (--out-of-bounds pad keeps them)"), ("windows_padded", "padded with N"))
             if provenance.get(key)]
    _say(args, f"wrote {count} {form}{args.method} maps ({output.description}) to {args.output} in "
               f"{time.perf_counter() - start:.1f} s" + (f"; track {', '.join(tracks)}" if tracks else "")
               + "".join(f"; {edge}" for edge in edges))


def _attribution_job(args):
    """What ``attribute`` runs, checked and built from its options: ``method`` (a
    ``GradientMethod``, or a dict for DeepSHAP/ISM), the ``explainer`` (an ensemble's with
    several models), its first ``engine``, the ``outputs`` asked for, and ``contributions``:
    whether the maps hold each letter's actual contribution (``GradientMethod.contributions``;
    DeepSHAP but for modisco), a position's contribution being their sum over the alphabet, or
    are per letter (gradients, hypothetical contributions, ISM), a position's contribution
    being the value at the observed letter."""
    import types

    import keras_simplex as ks
    from keras_simplex.results import MAPS

    target, reduce = _target_choice(args)
    if args.delta and args.format != "maps":
        raise ValueError("--delta goes with --format maps")
    method = _reference_options(args) if args.method in REFERENCE_METHODS else _method(args)
    models = [_load_model(path) for path in args.model]
    settings = dict(reduce=reduce, logits=args.logits, max_points=args.max_points, fast=False if args.no_fast else None,
                    precision=args.precision)
    explainer = (ks.Explainer(models[0], target, **settings) if len(models) == 1
                 else ks.EnsembleExplainer(models, target, **settings))
    engine = (explainer if len(models) == 1 else explainer.explainers[0]).engine
    contributions = (method["name"] == "deep_lift_shap" and not method["hypothetical"] if isinstance(method, dict)
                     else method.contributions)
    return types.SimpleNamespace(method=method, explainer=explainer, engine=engine, contributions=contributions,
                                 outputs=MAPS + (("delta",) if args.delta else ()),
                                 length=_window_length(args, engine.sequence_length))


def _window_length(args, model_length: int | None) -> int | None:
    """The length of the sequences read (BED windows): the model's, or ``--length`` for a model
    that reads any length (another value for a fixed-length model is an error)."""
    from keras_simplex.sequence_io import is_bed

    if args.length is not None and not is_bed(args.input):
        raise ValueError("--length sets the length of BED windows; other inputs are read as they are")
    if args.stranded and not is_bed(args.input):
        raise ValueError("--stranded reverse-complements the windows of '-' strand BED intervals; other inputs are "
                         "read as they are")
    if args.length is not None and model_length is not None and args.length != model_length:
        raise ValueError(f"--length {args.length}, but the model reads sequences of {model_length}")
    if model_length is None and args.length is None and is_bed(args.input):
        raise ValueError("the model reads sequences of any length: give BED windows one with --length N")
    return model_length if model_length is not None else args.length


def _explain(job, args, x):
    """The ``Attribution`` of one batch ``x`` for the job of ``_attribution_job``."""
    import dataclasses

    if isinstance(job.method, dict):  # DeepSHAP and ISM: their own engine paths
        result = _reference_maps(job.explainer, x, job.method, not args.allow_off_simplex)
        return result if args.delta else dataclasses.replace(result, delta=None)
    return job.explainer.explain(x, job.method, outputs=job.outputs, check_simplex=not args.allow_off_simplex,
                                 average_strands=args.average_strands)


def _target_choice(args) -> tuple[object, str | None]:
    """``(target, reduce)`` from ``--target`` / ``--targets``."""
    if args.targets is None:
        return args.target, "sum"
    if args.target is not None:
        raise ValueError("give --target (one output) or --targets (several, one map each), not both")
    if args.targets == "all":
        return "all", None
    try:
        indices = [int(part) for part in args.targets.split(",")]
    except ValueError:
        raise ValueError(f"--targets takes 'all' or comma-separated output indices, got {args.targets!r}") from None
    return indices, None


def _method(args):
    """The registry's method from the command-line options (those it does not read were refused
    by ``keras_simplex_cli.early_mistake``; --seed goes with every gradient method); in
    hypothetical form for modisco (``GradientMethod.hypothetical_form``)."""
    import keras_simplex as ks

    given = {option: getattr(args, flag) for flag, option in METHOD_OPTIONS.items() if getattr(args, flag) is not None}
    accepted = ks.methods.method_options(args.method)
    method = ks.methods.method(args.method, **{k: v for k, v in given.items() if k in accepted})
    return method.hypothetical_form() if args.format == "modisco" else method


REFERENCE_METHODS = ("deep_lift_shap", "ism")


def _reference_options(args) -> dict:
    """The settings of DeepSHAP or ISM from the command line (checked before any model is
    loaded). DeepSHAP: ``--baseline`` names the references (default dinucleotide_shuffle),
    ``--baselines`` their number (20), ``--seed``; hypothetical contributions for ``--format
    modisco``. ISM: no options (its raw map is the change of the target per substitution, its
    corrected map the same mean-centred per position)."""
    if len(args.model) > 1 or args.average_strands:
        raise ValueError(f"{args.method} explains one model: not with several --model or --average-strands")
    if args.method == "ism":
        if args.delta:
            raise ValueError("--delta does not apply to ism (its maps are exact differences)")
        return {"name": "ism", "seed": None}
    if args.precision != "float32":
        raise ValueError("--precision applies to gradient methods and ism; deep_lift_shap runs the model in its own "
                         "precision")
    references = args.baseline or "dinucleotide_shuffle"
    from keras_simplex.baselines import BASELINE_NAMES

    if references not in BASELINE_NAMES:
        raise ValueError(f"unknown baseline {references!r}; choose one of {BASELINE_NAMES}")
    count = 20 if args.baselines is None else args.baselines  # >= 1: checked by the parser
    return {"name": "deep_lift_shap", "references": references, "num_references": count,
            "seed": 0 if args.seed is None else args.seed, "hypothetical": args.format == "modisco"}


def _reference_maps(explainer, x, method: dict, check_simplex: bool):
    """The ``Attribution`` of a reference method (``_reference_options``) for the batch ``x``."""
    from keras_simplex.results import Attribution

    if method["name"] == "ism":
        raw = explainer.ism(x, check_simplex=check_simplex)
        return Attribution(raw=raw, corrected=raw - raw.mean(axis=-1, keepdims=True))
    return explainer.deep_lift_shap(x, references=method["references"], seed=method["seed"],
                                    num_references=method["num_references"], hypothetical=method["hypothetical"],
                                    check_simplex=check_simplex)


def _provenance(args, job, inputs: dict) -> dict:
    """What produced the output, recorded with it: the input's provenance, the method and all
    its settings, the target(s), the models."""
    import json

    import keras_simplex as ks

    options = job.method if isinstance(job.method, dict) else job.method.options()
    engine = job.engine
    seeded = {} if options["seed"] is None else {"seed": options["seed"]}  # ISM draws nothing
    provenance = {**inputs, **seeded, "keras_simplex_version": ks.__version__, "method": args.method,
                  "method_options": json.dumps(options),
                  "target": json.dumps(engine.per_target if engine.per_target is not None
                                       else None if args.target is None else engine.target),
                  "per_target": engine.per_target is not None, "logits": bool(args.logits),
                  "precision": args.precision,
                  "models": json.dumps([os.path.abspath(path) for path in args.model]),
                  "average_strands": bool(args.average_strands), "map": args.map, "format": args.format,
                  "map_form": "contributions" if job.contributions else "per_letter"}
    if args.input == "-":
        provenance["input"] = "-"  # standard input
    return provenance


def _open_output(args):
    """The writer for ``--format`` (maps: HDF5/NPZ with every field; modisco: its inputs)."""
    if args.format == "modisco":
        if args.layout != "NLA":
            raise ValueError("--layout does not apply to --format modisco (modisco's own layouts are written)")
        return _ModiscoOutput(args.output, args.map)
    return _MapsOutput(args.output, args.layout)


class _Output:
    """An attribution output: checked when made (before any model is loaded), opened with the
    provenance and the target units once they are known, a context manager around its writer."""

    writer = None

    def __enter__(self):
        self.writer.__enter__()
        return self

    def __exit__(self, *exception):
        return self.writer.__exit__(*exception)


class _MapsOutput(_Output):
    """All fields (``x``, ``raw``, ``corrected``, ``angles``; ensembles: ``raw_dispersion``,
    ``corrected_dispersion``) in ``layout``."""

    def __init__(self, path: str, layout: str) -> None:
        if not path.endswith((".h5", ".hdf5", ".npz")):
            raise ValueError(f"--output must be .h5/.hdf5 or .npz, got {path}")
        self.path, self.layout, self.description = path, layout, layout

    def open(self, attributes: dict, targets) -> None:
        from keras_simplex.sequence_io import AttributionWriter

        self.writer = AttributionWriter(self.path, {**attributes, "layout": self.layout})

    def write(self, names, x, result, columns: dict) -> None:
        self.write_batch(self.writer, self.layout, names, x, result, columns)

    @staticmethod
    def write_batch(writer, layout: str, names, x, result, columns: dict) -> None:
        """One batch's fields, in ``layout``, and the input's per-record ``columns`` (BED:
        ``bed_line``, ``bed_name``) to an ``AttributionWriter``."""
        import numpy as np

        swap = (lambda a: np.swapaxes(a, -1, -2)) if layout == "NAL" else (lambda a: a)
        arrays = {"x": swap(x), "raw": swap(result.raw), "corrected": swap(result.corrected)}
        for name in ("angles", "delta", "raw_dispersion", "corrected_dispersion"):  # ISM has no angles
            if getattr(result, name, None) is not None:
                arrays[name] = getattr(result, name)
        writer.write(names, **arrays, **columns)


class _ModiscoOutput(_Output):
    """``modisco motifs`` inputs (``keras_simplex.modisco.ModiscoWriter``) from one map."""

    def __init__(self, path: str, map_name: str) -> None:
        from keras_simplex.modisco import check_modisco_path

        check_modisco_path(path)
        self.path, self.correct = path, map_name == "corrected"
        self.description = "modisco " + ("legacy HDF5" if path.endswith((".h5", ".hdf5")) else "folder")

    def open(self, attributes: dict, targets) -> None:
        from keras_simplex.modisco import ModiscoWriter

        names = None if targets is None else [str(t) for t in targets]
        self.writer = ModiscoWriter(self.path, attributes, names)

    def write(self, names, x, result, columns: dict) -> None:
        self.writer.write(names, x, result.select(self.correct), columns)


def _check_bigwig_request(args) -> None:
    from keras_simplex.sequence_io import is_bed

    if not is_bed(args.input):
        raise ValueError("--bigwig needs BED/narrowPeak input (genome coordinates)")
    if args.method == "ism" and args.map == "raw":
        raise ValueError("ism's raw map is 0 at every observed letter, so its track would be 0: --bigwig takes the "
                         "corrected map (the default --map)")
    from keras_simplex.extras import require
    from keras_simplex.tracks import SUFFIXES

    require("pybigtools", "tracks", "writing bigWig tracks")  # before the run, not after

    if not args.bigwig.endswith(SUFFIXES):
        raise ValueError(f"--bigwig must end with one of {', '.join(SUFFIXES)}, got {args.bigwig}")


def _write_tracks(args, track: dict, targets: tuple[int, ...] | None, renames: contextlib.ExitStack) -> list[str]:
    """The per-base contributions of every window at its genome coordinates (windows read on
    the minus strand are flipped back; overlaps by ``--bigwig-overlap``): ``--bigwig`` itself,
    or per target ``NAME.<target>.bw`` for ``--bigwig NAME.bw`` (all of them or none: each is
    written to its temporary, and the temporaries renamed when ``renames`` closes). Returns the
    paths written."""
    import numpy as np

    from keras_simplex.datasets.encode import open_genome
    from keras_simplex.tracks import SUFFIXES, window_coordinates, write_bigwigs

    chroms, starts, reverse = window_coordinates(track["names"])
    scores = np.concatenate(track["scores"])  # (N, L), or (N, T, L)
    scores[reverse] = scores[reverse][..., ::-1]
    genome = open_genome(args.genome)
    sizes = {c: len(genome[c]) for c in genome.keys()}
    if targets is None:
        paths, columns = [args.bigwig], [scores]
    else:
        suffix = next(s for s in SUFFIXES if args.bigwig.endswith(s))
        paths = [f"{args.bigwig[: -len(suffix)]}.{t}{suffix}" for t in targets]
        columns = [scores[:, index] for index in range(len(targets))]
    write_bigwigs({path: np.ascontiguousarray(values) for path, values in zip(paths, columns)}, chroms, starts, sizes,
                  overlap=args.bigwig_overlap, renames=renames)
    return paths


def cmd_evaluate(args) -> None:
    import numpy as np

    import keras_simplex as ks
    from keras_simplex.datasets.splits import load_splits, prepared_builder
    from keras_simplex.demo import angle_report, attribution_report

    if args.data.endswith((".h5", ".hdf5")):  # the original layout: ground truth when it has model_test
        from keras_simplex.datasets.h5 import import_h5

        splits = import_h5(args.data)
        if "test" not in splits:
            raise ValueError(f"{args.data} has no test split (X_test, Y_test)")
        test = splits["test"]
        x, y, truth = test["x"], test["y"], test.get("ground_truth")
    elif args.data.endswith(DATA_FILES):  # an NPZ of splits, as for train: no ground truth
        (x, y), truth = load_splits(args.data)[2], None
    else:
        import tensorflow_datasets as tfds

        test = tfds.as_numpy(prepared_builder(args.data, args.data_dir).as_dataset(split="test", batch_size=-1))
        x, y, truth = test["sequence"], test["label"], test.get("ground_truth")
    model = _load_model(args.model)
    units = 1 if len(model.output_shape) == 1 else model.output_shape[-1]  # (N,): one unit
    explainer = ks.Explainer(model, args.target if args.target is not None else None if units == 1 else 0)  # checked
    print(f"{_auroc_text(y, model.predict(x, verbose=0))} on {len(y)} sequences")
    task = 0 if explainer.engine.target is None else explainer.engine.target
    positives = np.flatnonzero(np.reshape(y, (len(y), -1))[:, task] == 1)[: args.sequences]
    if units > 1:
        print(f"maps of output {task} of {units} (--target N for another)")
    result = explainer.saliency(x[positives])
    if truth is not None:
        table = attribution_report(result.raw, result.corrected, x[positives], truth[positives])
        for name, row in table.items():
            print(f"saliency {name:9s} cosine {row['cosine']:.3f}  AUROC {row['auroc']:.3f}  AUPR {row['aupr']:.3f}")
    print(f"angles of {len(positives)} positive test sequences:",
          ", ".join(f"{k} {v:.1f}" for k, v in angle_report(result.angles).items()))


def cmd_export(args) -> None:
    import keras_simplex as ks

    try:  # the quadrature checked before the model loads, its error naming the options
        ks.methods.integrated_gradients(args.ig_baseline, args.ig_steps, args.ig_rule)
    except ValueError as error:
        raise ValueError(f"--ig-steps/--ig-rule: {error}") from None
    model = _load_model(args.model)
    ks.export_saved_model(model, args.output, target=args.target, logits=args.logits, ig_steps=args.ig_steps,
                          ig_rule=args.ig_rule, ig_baseline=args.ig_baseline,
                          require_one_hot=not args.allow_non_one_hot, fast=False if args.no_fast else None,
                          length=args.length, metadata={"model": os.path.abspath(args.model)})
    _say(args, f"exported SavedModel with signatures {', '.join(ks.serving.SIGNATURES)} to {args.output}")


def cmd_angles(args) -> None:
    import numpy as np

    from keras_simplex.geometry import DEFAULT_ANGLE_THRESHOLDS, diagnose_maps
    from keras_simplex.sequence_io import AttributionWriter, read_arrays

    batches = read_arrays(args.maps, args.key, args.batch_size, args.channels_first, check_simplex=False,
                          dtype=None)  # float64 maps stay float64
    import keras_simplex as ks

    attributes = {"keras_simplex_version": ks.__version__, "maps": os.path.abspath(args.maps),
                  "thresholds": list(DEFAULT_ANGLE_THRESHOLDS),
                  **({} if args.maps.lower().endswith(".npy") else {"key": args.key})}  # an .npy has one array
    count, sums = 0, np.zeros(1 + len(DEFAULT_ANGLE_THRESHOLDS))
    with AttributionWriter(args.output, attributes) as writer:
        for names, maps, _ in batches:
            found = diagnose_maps(maps)
            writer.write(names, **found)
            count += len(maps)
            sums += [np.abs(found["angles"]).mean(1).sum(), *found["large_angle_fraction"].sum(0)]
    mean = sums / count
    _say(args, f"{count} maps: mean |angle| {mean[0]:.1f} deg; positions above "
          f"{'/'.join(f'{t:g}' for t in DEFAULT_ANGLE_THRESHOLDS)} deg: "
          + " / ".join(f"{100 * f:.1f}%" for f in mean[1:]) + f"; written to {args.output}")


def cmd_jaspar_meme(args) -> None:
    from keras_simplex.datasets.motifs import core_vertebrate_motifs
    from keras_simplex.modisco import meme_text, write_meme

    motifs = core_vertebrate_motifs(args.release)
    pwms = {f"{m.matrix_id}_{m.name}": m.pwm for m in motifs}
    sites = {f"{m.matrix_id}_{m.name}": m.sites for m in motifs}  # JASPAR's counts, for MEME tools' pseudocounts
    if args.output == "-":
        sys.stdout.write(meme_text(pwms, sites))
        return
    write_meme(args.output, pwms, sites)
    _say(args, f"wrote {len(motifs)} JASPAR CORE vertebrate motifs ({args.release}) to {args.output}")


def cmd_reproduce(args) -> None:
    from keras_simplex.experiments import main as experiments_main

    experiments_main(args.rest)


def cmd_demo(args) -> None:
    from keras_simplex import plotting
    from keras_simplex.demo import run_demo

    plotting.use_file_backend()  # the command owns the process and writes figures to files
    run_demo(args.output_dir, args.sequences, args.epochs, args.seed, args.first_activation)


STOPPED = {signal.SIGINT: ("interrupted", 130), signal.SIGTERM: ("terminated", 143)}


def _stop(signum, frame):
    """Ctrl-C (SIGINT) or SIGTERM (as batch schedulers send): remove the temporaries this
    process is writing and exit at once with 130 or 143. Unwinding an exception through Keras
    and TensorFlow while their threads run can crash the interpreter (a KeyboardInterrupt during
    training once aborted with "free(): invalid next size"); previous outputs are untouched."""
    from keras_simplex.atomic import remove_active_temporaries

    word, code = STOPPED[signum]
    print(f"keras-simplex: {word}", file=sys.__stderr__)  # also under -q, whose stderr is set aside
    remove_active_temporaries()
    for stream in (sys.stdout, sys.stderr, sys.__stderr__):
        stream.flush()
    os._exit(code)


TALKATIVE = ("build-dataset", "demo", "reproduce")  # commands whose libraries (Keras, TFDS) print on their own


@contextlib.contextmanager
def _silenced(silent: bool) -> Iterator[None]:
    """When ``silent`` (``-q``: errors only), Python's stdout sent nowhere and its stderr kept
    aside while the block runs: shown only if the block fails otherwise than with an exception
    ``run`` reports in one line (e.g. an argument parser's usage error, a ``SystemExit``)."""
    if not silent:
        yield
        return
    error_output = io.StringIO()
    with open(os.devnull, "w") as nowhere:
        try:
            with contextlib.redirect_stdout(nowhere), contextlib.redirect_stderr(error_output):
                yield
        except SystemExit as stop:
            if stop.code not in (0, None):
                sys.stderr.write(error_output.getvalue()[-4000:])
            raise


def run(args) -> int:
    """Run the parsed command ``args`` (``keras_simplex_cli.parser``): the exit code. Errors are
    one line on stderr (``--verbose``: with the traceback); an interrupted command leaves any
    previous output as it was and no partial file (``keras_simplex.atomic``)."""
    from keras_simplex_cli import early_mistake

    mistake = early_mistake(args)  # main() checked it before TensorFlow loaded; other callers too
    if mistake:
        print(f"keras-simplex: error: {mistake}", file=sys.stderr)
        return 1
    previous = {signum: signal.signal(signum, _stop) for signum in STOPPED}
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit, writes fail with an error instead of killing us
        previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        with _silenced(args.quiet and args.command in TALKATIVE):
            COMMANDS[args.command](args)
    except KeyboardInterrupt:  # raised, not signalled (a library's own SIGINT handler, say)
        print("keras-simplex: interrupted", file=sys.stderr)
        return _exit_code(130, at_once=True)
    except Exception as error:  # one line for the user; the traceback is noise here
        if args.verbose:
            traceback.print_exc()
        print(f"keras-simplex: error: {one_line(error)}", file=sys.stderr)
        return _exit_code(1)
    finally:
        for signum, handler in previous.items():  # as they were (the command may run in a caller's process)
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(signum, handler)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``keras-simplex`` command (``keras_simplex_cli.main``)."""
    from keras_simplex_cli import main as launch

    return launch(argv)


def _exit_code(code: int, at_once: bool = False) -> int:
    """``code``; or end the process at once (after flushing stdout and stderr) when native code
    may crash while the interpreter exits: after an interruption (TensorFlow's threads may be
    mid-operation) or when an HDF5 file could not be closed (a full disk). Outputs are already
    safe then: their temporaries were removed as the exception unwound."""
    io = sys.modules.get("keras_simplex.sequence_io")
    if at_once or (io is not None and io.hdf5_left_open):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its type name when it has none)."""
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


COMMANDS = {"build-dataset": cmd_build_dataset, "train": cmd_train, "attribute": cmd_attribute,
            "evaluate": cmd_evaluate, "export": cmd_export, "angles": cmd_angles, "jaspar-meme": cmd_jaspar_meme,
            "reproduce": cmd_reproduce, "demo": cmd_demo}

if __name__ == "__main__":
    raise SystemExit(main())
