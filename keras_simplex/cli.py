"""The ``keras-simplex`` command: datasets, training, attribution, evaluation, export, the
reproduction and the demo. ``keras-simplex COMMAND --help`` explains each option.

Exit codes: 0 success, 1 a runtime error (one-line message on stderr), 2 a usage error, 130
interrupted (Ctrl-C), 143 terminated (SIGTERM). Outputs appear complete or not at all: an
interrupted or failed command leaves a previous output at the same path as it was.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

METHODS = ("saliency", "gradient_x_input", "integrated_gradients", "smoothgrad", "expected_gradients")  # = the registry's
METHOD_OPTIONS = {"steps": "steps", "baseline": "baseline", "baselines": "num_baselines", "samples": "samples",
                  "sigma": "sigma", "seed": "seed"}  # command-line option -> registry option


def _load_model(path: str):
    import zipfile

    import keras

    import keras_simplex  # noqa: F401  (registers the package's classes)

    if not os.path.exists(path):
        raise FileNotFoundError(f"model file not found: {path}")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a valid .keras file (not a zip archive: truncated or corrupt?)")
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # noqa: BLE001 - Keras raises many types for unloadable files
        raise ValueError(f"cannot load the model {path}: {one_line(error)}") from None


def _training_arrays(source: str, data_dir: str | None):
    """``(train, validation, test)`` pairs from a TFDS name, an original-layout HDF5 file or an
    NPZ with ``x_train, y_train, x_validation, ...``."""
    import numpy as np

    if source.endswith((".h5", ".hdf5")):
        from keras_simplex.datasets.h5 import import_h5

        splits = import_h5(source)
        return tuple((splits[s]["x"], splits[s]["y"]) for s in ("train", "validation", "test"))
    if source.endswith(".npz"):
        if not os.path.exists(source):
            raise FileNotFoundError(f"data file not found: {source}")
        with np.load(source) as f:
            return tuple((f[f"x_{s}"], f[f"y_{s}"]) for s in ("train", "validation", "test"))
    import tensorflow_datasets as tfds

    import keras_simplex.datasets  # noqa: F401

    builder = tfds.builder(source, data_dir=data_dir)
    if not builder.is_prepared():
        raise ValueError(f"dataset {source} is not built in {builder.data_dir}; run keras-simplex build-dataset first")
    return tuple(tfds.as_numpy(builder.as_dataset(split=s, batch_size=-1, as_supervised=True)) for s in ("train", "validation", "test"))


def cmd_build_dataset(args) -> None:
    from keras_simplex.datasets.build import build_dataset

    builder = build_dataset(args.name, args.data_dir, args.manual_dir, args.beam_runner)
    print(f"built {builder.info.full_name} in {builder.data_dir}: "
          + ", ".join(f"{s} {v.num_examples}" for s, v in builder.info.splits.items()))


def cmd_train(args) -> None:
    import keras

    import keras_simplex as ks
    from keras_simplex.atomic import save_model
    from keras_simplex.sequence_io import check_output_folder

    if not args.output.endswith(".keras"):  # checked before hours of training, not after
        raise ValueError(f"--output must end with .keras, got {args.output}")
    check_output_folder(args.output)
    train, validation, test = _training_arrays(args.data, args.data_dir)
    keras.utils.set_random_seed(args.seed)
    builder = {"cnn_deep": ks.models.cnn_deep, "cnn_shallow": ks.models.cnn_shallow, "basset": ks.models.basset}[args.model]
    model = builder(input_length=train[0].shape[1], alphabet_size=train[0].shape[2],
                    num_outputs=1 if train[1].ndim == 1 else train[1].shape[1], first_activation=args.first_activation)
    trained = ks.add_angle_regularizer(model, args.strength, penalty=args.penalty) if args.strength > 0 else model
    callbacks = [ks.SimplexAngleCallback(validation[0][:500])]
    ks.train_paper_protocol(trained, train, validation, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                            callbacks=callbacks, verbose=2)
    save_model(model, args.output)
    auroc = ks.metrics.roc_auc(test[1], model.predict(test[0], verbose=0)[:, 0]) if model.output_shape[-1] == 1 else None
    print(f"saved {args.output}" + (f"; test AUROC {auroc:.4f}" if auroc is not None else ""))


def cmd_attribute(args) -> None:
    import keras

    import keras_simplex as ks
    from keras_simplex.sequence_io import AttributionWriter, open_input, prefetched

    writer = AttributionWriter(args.output, args.layout, {"method": args.method, "model": os.path.abspath(args.model)})
    model = _load_model(args.model)
    explainer = ks.Explainer(model, args.target, logits=args.logits, max_points=args.max_points, fast=False if args.no_fast else None)
    given = {option: getattr(args, flag) for flag, option in METHOD_OPTIONS.items() if getattr(args, flag) is not None}
    unused = sorted(flag for flag, option in METHOD_OPTIONS.items()  # --seed goes with every method
                    if option in given and option not in ks.methods.method_options(args.method) and flag != "seed")
    given = {option: value for option, value in given.items() if option in ks.methods.method_options(args.method)}
    if unused:
        raise ValueError(f"--{', --'.join(unused)} does not apply to {args.method}")
    method = ks.methods.method(args.method, **given)  # options checked before any input is read
    engine = explainer.engine
    batches, provenance = open_input(args.input, args.batch_size, args.genome, engine.sequence_length, args.input_key,
                                     args.channels_first, not args.allow_off_simplex, args.out_of_bounds, args.stranded)
    writer.attributes.update(provenance)
    batches = prefetched(batches)
    progress = keras.utils.Progbar(None, unit_name="sequence")
    count, start = 0, time.perf_counter()
    with writer:
        for names, x in batches:
            result = explainer.explain(x, method, check_simplex=not args.allow_off_simplex)
            writer.write(names, x=x, raw=result.raw, corrected=result.corrected, angles=result.angles)
            count += len(x)
            progress.update(count)
    print(f"\nwrote {count} {args.method} maps ({args.layout}) to {args.output} in {time.perf_counter() - start:.1f} s")


def cmd_evaluate(args) -> None:
    import numpy as np
    import tensorflow_datasets as tfds

    import keras_simplex as ks
    from keras_simplex.demo import angle_report, attribution_report

    model = _load_model(args.model)
    builder = tfds.builder(args.data, data_dir=args.data_dir)
    test = tfds.as_numpy(builder.as_dataset(split="test", batch_size=-1))
    x, y = test["sequence"], test["label"]
    print(f"test AUROC {ks.metrics.roc_auc(y, model.predict(x, verbose=0)[:, 0]):.4f} on {len(y)} sequences")
    if "ground_truth" in test:
        positives = np.flatnonzero(y == 1)[: args.sequences]
        result = ks.Explainer(model).saliency(x[positives])
        table = attribution_report(result.raw, result.corrected, x[positives], test["ground_truth"][positives])
        for name, row in table.items():
            print(f"saliency {name:9s} cosine {row['cosine']:.3f}  AUROC {row['auroc']:.3f}  AUPR {row['aupr']:.3f}")
        print("angles:", ", ".join(f"{k} {v:.1f}" for k, v in angle_report(result.angles).items()))


def cmd_export(args) -> None:
    import keras_simplex as ks

    model = _load_model(args.model)
    ks.export_saved_model(model, args.output, target=args.target, logits=args.logits, ig_steps=args.ig_steps,
                          ig_baseline=args.ig_baseline, require_one_hot=not args.allow_non_one_hot,
                          fast=False if args.no_fast else None)
    print(f"exported SavedModel with signatures {', '.join(ks.serving.SIGNATURES)} to {args.output}")


def cmd_reproduce(args) -> None:
    from keras_simplex.experiments import main as experiments_main

    experiments_main(args.rest)


def cmd_demo(args) -> None:
    from keras_simplex import plotting
    from keras_simplex.demo import run_demo

    plotting.use_file_backend()  # the command owns the process and writes figures to files
    run_demo(args.output_dir, args.sequences, args.epochs, args.seed)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="keras-simplex", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("build-dataset", help="build a TFDS dataset offline (synthetic_motifs/..., encode_chipseq/...)")
    p.add_argument("name", help="dataset/config, e.g. synthetic_motifs/original")
    p.add_argument("--data-dir", required=True, help="TFDS data directory")
    p.add_argument("--manual-dir", help="manually downloaded files (encode_chipseq)")
    p.add_argument("--beam-runner", help="generate with Apache Beam on this runner, e.g. DirectRunner")
    p.set_defaults(run=cmd_build_dataset)

    p = sub.add_parser("train", help="train a paper model, optionally with the angle regularizer")
    p.add_argument("--data", required=True, help="TFDS name (with --data-dir), original-layout .h5, or .npz with x_train/y_train/x_validation/...")
    p.add_argument("--data-dir", help="TFDS data directory")
    p.add_argument("--model", default="cnn_deep", choices=["cnn_deep", "cnn_shallow", "basset"])
    p.add_argument("--first-activation", default="relu", choices=["relu", "exponential"])
    p.add_argument("--strength", type=float, default=0.0, help="angle-regularization strength (0: none)")
    p.add_argument("--penalty", default="angle_l2", choices=["angle_l2", "sine_squared"])
    p.add_argument("--epochs", type=positive_int, default=100)
    p.add_argument("--batch-size", type=positive_int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", required=True, help="where to save the trained model (.keras)")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("attribute", help="raw and corrected maps and angles for sequences in a file (streamed)")
    p.add_argument("--model", required=True, help="trained model (.keras)")
    p.add_argument("--input", required=True, help=".fa/.fasta, .bed/.narrowPeak (with --genome), .h5 or .npz")
    p.add_argument("--genome", help="indexed genome FASTA for BED input")
    p.add_argument("--input-key", default="x", help="array name in .h5/.npz input (default x)")
    p.add_argument("--out-of-bounds", default="skip", choices=["skip", "pad", "error"],
                   help="BED windows past a chromosome end: skip them (counted in the output), pad with N, or stop")
    p.add_argument("--stranded", action="store_true", help="reverse-complement the windows of '-' strand BED intervals")
    p.add_argument("--channels-first", action="store_true", help="the .h5/.npz array is (N, A, L)")
    p.add_argument("--output", required=True, help=".h5 (streamed) or .npz with x, raw, corrected, angles, names")
    p.add_argument("--layout", default="NLA", choices=["NLA", "NAL"], help="NAL = (N, A, L), tfmodisco-lite's layout")
    p.add_argument("--method", default="saliency", choices=METHODS)
    p.add_argument("--target", type=int, help="output index to explain (default: the single output)")
    p.add_argument("--logits", action="store_true", help="explain the output layer's pre-activation")
    p.add_argument("--steps", type=int, help="integration steps (IG: 50, expected gradients: 20)")
    p.add_argument("--baseline", help="uniform, zeros, shuffle, dinucleotide_shuffle (IG: uniform, expected "
                                      "gradients: dinucleotide_shuffle)")
    p.add_argument("--baselines", type=int, help="baselines per sequence (expected gradients: 10)")
    p.add_argument("--samples", type=int, help="SmoothGrad samples (25)")
    p.add_argument("--sigma", type=float, help="SmoothGrad noise (0.1)")
    p.add_argument("--allow-off-simplex", action="store_true", help="accept positions that are not probability vectors")
    p.add_argument("--batch-size", type=positive_int, default=1024, help="sequences read and attributed at a time")
    p.add_argument("--max-points", type=int, default=None, help="model evaluations per compiled call (default: the engine's)")
    p.add_argument("--seed", type=int, help="seed of shuffles and noise (0)")
    p.add_argument("--no-fast", action="store_true", help="attribute the model as it is, without the speed rewrites")
    p.set_defaults(run=cmd_attribute)

    p = sub.add_parser("evaluate", help="classification AUROC and, with ground truth, map quality before/after correction")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True, help="TFDS name, e.g. synthetic_motifs/original")
    p.add_argument("--data-dir")
    p.add_argument("--sequences", type=int, default=500, help="positive test sequences to attribute")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("export", help="SavedModel for TF Serving with attribution signatures")
    p.add_argument("--model", required=True)
    p.add_argument("--output", required=True, help="export directory, e.g. serving/mymodel/1")
    p.add_argument("--target", type=int)
    p.add_argument("--logits", action="store_true")
    p.add_argument("--ig-steps", type=int, default=20)
    p.add_argument("--ig-baseline", default="uniform", choices=["uniform", "zeros"])
    p.add_argument("--allow-non-one-hot", action="store_true",
                   help="accept any position on the simplex (e.g. N encoded as 0.25), not only one-hot ones")
    p.add_argument("--no-fast", action="store_true", help="export the model as it is, without the speed rewrites")
    p.set_defaults(run=cmd_export)

    p = sub.add_parser("reproduce", help="the paper's experiments (arguments as python -m keras_simplex.experiments)")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(run=cmd_reproduce)

    p = sub.add_parser("demo", help="train a small model on synthetic data and show the correction (the main job)")
    p.add_argument("--output-dir", default="outputs/demo")
    p.add_argument("--sequences", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_demo)
    return main


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (as batch schedulers send)."""


def _terminate(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit codes: 0 done, 1 error (one line on stderr), 2 usage error,
    130 interrupted (Ctrl-C), 143 terminated (SIGTERM); an interrupted command leaves any
    previous output as it was and no partial file (``keras_simplex.atomic``)."""
    args = parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit, writes fail with an error instead of killing us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        args.run(args)
    except KeyboardInterrupt:
        print("keras-simplex: interrupted", file=sys.stderr)
        return _exit_code(130, at_once=True)
    except Terminated:
        print("keras-simplex: terminated", file=sys.stderr)
        return _exit_code(143, at_once=True)
    except Exception as error:  # one line for the user; the traceback is noise here
        print(f"keras-simplex: error: {one_line(error)}", file=sys.stderr)
        return _exit_code(1)
    return 0


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


if __name__ == "__main__":
    raise SystemExit(main())
