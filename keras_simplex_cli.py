"""The ``keras-simplex`` command's launcher.

It parses the command line with the standard library alone, so that ``--help``, ``--version``
and usage errors answer before TensorFlow is imported (which takes seconds). Then, as the
command owns its process, it prepares it (``prepare_process``: TensorFlow's log level and its
oneDNN CPU kernels, chosen before TensorFlow is imported, and TensorFlow's start-up log lines
kept off the terminal) and runs the command from ``keras_simplex.cli``. The package itself,
``import keras_simplex``, changes no process-wide state.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import sys
import tempfile

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
# TensorFlow's C++ log lines ("I0000 00:00:17... 123 port.cc:153] ...") and absl's notice before them.
TENSORFLOW_LOG = re.compile(r"^([IWEF]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\]|WARNING: All log messages before absl::)")
# Library warnings a command's user can do nothing about (TFDS' own deprecations; its note on a
# dataset that is not built, which the command's error then explains).
LIBRARY_NOISE = re.compile(r"is deprecated|has no dataset_info\.json")
DESCRIPTION = """Simplex-corrected attributions for Keras models of one-hot sequences: datasets, training,
attribution, evaluation, export, the paper's reproduction and the demo.
`keras-simplex COMMAND --help` explains each command's options.

Exit codes: 0 success, 1 a runtime error (one-line message on stderr), 2 a usage error, 130
interrupted (Ctrl-C), 143 terminated (SIGTERM). Outputs appear complete or not at all: an
interrupted or failed command leaves a previous output at the same path as it was."""


def prepare_process(verbose: bool = False) -> None:
    """Settings for a process that this package owns (the command line, the demo, the
    benchmarks), made before TensorFlow is imported: TensorFlow's C++ log level (2, or 0 with
    ``verbose``; a value the user set stands), its oneDNN CPU kernels on x86
    (``TF_ENABLE_ONEDNN_OPTS=1``, which TensorFlow enables by itself only on CPUs with AVX-512
    VNNI or newer, and which computed input gradients 1.9x faster on an AVX2 CPU; a value the
    user set stands), and TensorFlow imported with its start-up log lines filtered out of
    stderr (other output of that moment is passed on), and ``LIBRARY_NOISE`` out of the absl
    log."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault(ONEDNN_VARIABLE, "1")
    if verbose:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # the device probes log too
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not TENSORFLOW_LOG.match(line):
                    sys.stderr.write(line)
    import logging

    logging.getLogger("absl").addFilter(lambda record: not LIBRARY_NOISE.search(record.getMessage()))


def version() -> str:
    """The installed package's version, read without importing it."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("keras_simplex")
    except PackageNotFoundError:
        return "unknown (not installed)"


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def strength(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _verbosity(parser: argparse.ArgumentParser, default) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="print errors only (no progress, no summary)")
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="show TensorFlow's log and the traceback of an error")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="keras-simplex", description=DESCRIPTION,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    main.add_argument("--version", action="version", version=f"keras-simplex {version()}")
    _verbosity(main, False)
    common = argparse.ArgumentParser(add_help=False)
    _verbosity(common, argparse.SUPPRESS)  # also after the command name
    sub = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    p = command("build-dataset", "build a TFDS dataset offline (synthetic_motifs/..., encode_chipseq/...)")
    p.add_argument("name", help="dataset/config, e.g. synthetic_motifs/original")
    p.add_argument("--data-dir", required=True, help="TFDS data directory")
    p.add_argument("--manual-dir", help="manually downloaded files (encode_chipseq)")
    p.add_argument("--beam-runner", help="generate with Apache Beam on this runner, e.g. DirectRunner")

    p = command("train", "train a paper model, optionally with the angle regularizer")
    p.add_argument("--data", required=True,
                   help="TFDS name (with --data-dir), original-layout .h5, or .npz with x_train/y_train/x_validation/...")
    p.add_argument("--data-dir", help="TFDS data directory")
    p.add_argument("--model", default="cnn_deep", choices=["cnn_deep", "cnn_shallow", "basset"],
                   help="the architecture (default cnn_deep)")
    p.add_argument("--first-activation", default="relu", choices=["relu", "exponential"],
                   help="of the first layer (default relu)")
    p.add_argument("--strength", type=strength, default=0.0, help="angle-regularization strength (default 0: none); with several outputs "
                                                                      "(tasks) the gradient of their sum")
    p.add_argument("--penalty", default="angle_l2", choices=["angle_l2", "sine_squared"],
                   help="the regularizer's penalty (default angle_l2, the paper's)")
    p.add_argument("--epochs", type=positive_int, default=100,
                   help="at most (default 100; early stopping after 10 without a better validation AUROC)")
    p.add_argument("--batch-size", type=positive_int, default=100, help="default 100")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--output", required=True, help="where to save the trained model (.keras)")

    p = command("attribute", "raw and corrected maps and angles for sequences in a file (streamed)")
    p.add_argument("--model", required=True, action="append",
                   help="trained model (.keras); repeat for an ensemble (mean maps and their dispersion)")
    p.add_argument("--input", required=True,
                   help=".fa/.fasta ('-': FASTA on stdin), .bed/.narrowPeak (with --genome), .h5, .npz or .npy, or "
                        "tfds:NAME/CONFIG:SPLIT (a built TFDS dataset, with --data-dir)")
    p.add_argument("--genome", help="indexed genome FASTA for BED input")
    p.add_argument("--data-dir", help="TFDS data directory for tfds: input")
    p.add_argument("--input-key", default="x", help="array name in .h5/.npz input (default x)")
    p.add_argument("--out-of-bounds", default="skip", choices=["skip", "pad", "error"],
                   help="BED windows past a chromosome start or end: skip them (counted in the output), pad with N, or stop")
    p.add_argument("--length", type=positive_int, help="BED windows of this length, for a model that reads any "
                                                        "length (default: the model's input length)")
    p.add_argument("--stranded", action="store_true", help="reverse-complement the windows of '-' strand BED intervals")
    p.add_argument("--channels-first", action="store_true", help="the .h5/.npz array is (N, A, L)")
    p.add_argument("--output", required=True,
                   help="maps: .h5 (streamed) or .npz with x, raw, corrected, angles, names (BED input: bed_line, "
                        "bed_name); modisco: a folder "
                        "(ohe.npz, attr.npz) or a legacy .h5 (input_seqs, hyp_scores)")
    p.add_argument("--format", default="maps", choices=["maps", "modisco"],
                   help="modisco: what `modisco motifs` reads (-s/-a or -i), hypothetical contributions")
    p.add_argument("--map", default="corrected", choices=["corrected", "raw"],
                   help="the map written by --format modisco and --bigwig (default corrected)")
    p.add_argument("--layout", default="NLA", choices=["NLA", "NAL"], help="maps and x as (N, L, A) or (N, A, L)")
    p.add_argument("--bigwig", help="also write the per-base contribution (BED input) as a bigWig track; with "
                                    "--targets one per target, NAME.<target>.bw")
    p.add_argument("--bigwig-overlap", default="mean", choices=["mean", "max"],
                   help="bases in several windows: the mean, or the value of largest magnitude (default mean)")
    p.add_argument("--method", default="saliency", choices=METHODS)
    p.add_argument("--target", type=int, help="output index to explain (default: the single output)")
    p.add_argument("--targets", help="'all' or comma-separated output indices: one map each (a target axis); "
                                     "negative ones count from the end: --targets=-1,0")
    p.add_argument("--delta", action="store_true",
                   help="also write the convergence delta f(x) - mean f(baseline) - sum(raw map) per sequence "
                        "(integrated and expected gradients)")
    p.add_argument("--average-strands", action="store_true",
                   help="average each map with the reverse-complement strand's map")
    p.add_argument("--logits", action="store_true", help="explain the output layer's pre-activation")
    p.add_argument("--steps", type=int, help="integration steps (IG: 50, expected gradients: 20)")
    p.add_argument("--baseline", help="uniform, zeros, shuffle, dinucleotide_shuffle (IG: uniform, expected "
                                      "gradients and deep_lift_shap's references: dinucleotide_shuffle)")
    p.add_argument("--baselines", type=positive_int, help="baselines per sequence (expected gradients: 10; deep_lift_shap: 20)")
    p.add_argument("--samples", type=positive_int, help="SmoothGrad samples (25)")
    p.add_argument("--sigma", type=float, help="SmoothGrad noise (0.1)")
    p.add_argument("--allow-off-simplex", action="store_true", help="accept positions that are not probability vectors")
    p.add_argument("--batch-size", type=positive_int, default=1024, help="sequences read and attributed at a time")
    p.add_argument("--max-points", type=int, default=None, help="model evaluations per compiled call (default: the engine's)")
    p.add_argument("--seed", type=int, help="seed of shuffles and noise (0)")
    p.add_argument("--no-fast", action="store_true",
                   help="attribute the model as it is, without the speed rewrites (nor ISM on windows)")
    p.add_argument("--precision", choices=("float32", "bfloat16"), default="float32",
                   help="the model's passes in bfloat16 for gradient methods and ISM (faster on GPUs and CPUs with AMX, "
                        "slower on other CPUs; maps differ from float32's: see docs/performance.md)")
    p.add_argument("--beam-runner", help="run on Apache Beam with this runner (DirectRunner, DataflowRunner, "
                                         "FlinkRunner, SparkRunner): shards of --shard-size records, a manifest "
                                         "and the merged output (docs/scale.md)")
    p.add_argument("--beam-options", help="more pipeline options, one string, e.g. '--direct_num_workers=2 "
                                          "--direct_running_mode=multi_processing'")
    p.add_argument("--shard-size", type=positive_int, default=10000, help="records per shard with --beam-runner")
    p.add_argument("--no-merge", action="store_true",
                   help="with --beam-runner: keep the shards and their manifest, do not merge them")

    p = command("evaluate", "classification AUROC and, with ground truth, map quality before/after correction")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True,
                   help="TFDS name (with --data-dir; e.g. synthetic_motifs/original: with ground truth, the maps are "
                        "scored too), original-layout .h5, or .npz with x_test/y_test (as for train)")
    p.add_argument("--data-dir")
    p.add_argument("--sequences", type=positive_int, default=500, help="positive test sequences to attribute")
    p.add_argument("--target", type=int, help="the output whose maps are scored, for a model with several "
                                               "(default 0); AUROC is reported for every output")

    p = command("export", "SavedModel for TF Serving with attribution signatures")
    p.add_argument("--model", required=True)
    p.add_argument("--output", required=True, help="export directory, e.g. serving/mymodel/1")
    p.add_argument("--target", type=int, help="the output unit the maps explain (needed for a model with several)")
    p.add_argument("--logits", action="store_true", help="explain the output layer's pre-activation")
    p.add_argument("--ig-steps", type=int, default=20,
                   help="integrated-gradients steps, fixed at export (default 20; attribute's default is 50)")
    p.add_argument("--ig-rule", default="trapezoid", choices=["trapezoid", "riemann_left", "riemann_right",
                                                               "riemann_midpoint", "gauss_legendre"],
                   help="integrated-gradients quadrature (default trapezoid)")
    p.add_argument("--ig-baseline", default="uniform", choices=["uniform", "zeros"],
                   help="integrated-gradients baseline (default uniform: 1/A at every position)")
    p.add_argument("--length", type=positive_int,
                   help="the signatures' sequence length, for a model that reads any length")
    p.add_argument("--allow-non-one-hot", action="store_true",
                   help="accept any position on the simplex (e.g. N encoded as 0.25), not only one-hot ones")
    p.add_argument("--no-fast", action="store_true", help="export the model as it is, without the speed rewrites")

    p = command("angles", "angles to the simplex and corrected maps of gradient maps made by any tool")
    p.add_argument("--maps", required=True, help=".npz, .npy or .h5 with (N, L, A) gradient maps (hypothetical/"
                                                 "saliency, not gradient x input)")
    p.add_argument("--key", default="arr_0", help="array name in .npz/.h5 (default arr_0, numpy's for np.savez)")
    p.add_argument("--channels-first", action="store_true", help="the maps are (N, A, L), e.g. from PyTorch tools")
    p.add_argument("--output", required=True, help=".h5 (streamed) or .npz with angles, corrected, "
                                                   "large_angle_fraction, names")
    p.add_argument("--batch-size", type=positive_int, default=4096)

    p = command("jaspar-meme", "JASPAR CORE vertebrate motifs as a MEME file (offline), e.g. for `modisco report -m`")
    p.add_argument("--release", default="JASPAR2024", help="JASPAR release (2014-2026; default JASPAR2024)")
    p.add_argument("--output", required=True, help="MEME file to write ('-': standard output)")

    p = command("reproduce", "the paper's experiments (arguments as python -m keras_simplex.experiments; "
                             "reproduce -h lists them)")
    p.set_defaults(rest=[])  # every argument but -q/-v, for the experiments' own parser (reproduce_arguments)

    p = command("demo", "train a small model on synthetic data and show the correction (the main job)")
    p.add_argument("--output-dir", default="outputs/demo")
    p.add_argument("--sequences", type=positive_int, default=20000, help="synthetic sequences (half positive)")
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--first-activation", default="exponential", choices=["exponential", "relu"])
    return main


METHODS = ("saliency", "gradient_x_input", "integrated_gradients", "smoothgrad", "expected_gradients",  # the registry's
           "deep_lift_shap", "ism")  # and the reference methods
METHOD_OPTIONS = {"steps": "steps", "baseline": "baseline", "baselines": "num_baselines", "samples": "samples",
                  "sigma": "sigma", "seed": "seed"}  # attribute's method flags -> the registry's options
FLAGS_READ = {  # by each method: its options in the registry (keras_simplex.methods; a test compares), and --seed
    "saliency": ("seed",),
    "gradient_x_input": ("seed",),
    "integrated_gradients": ("steps", "baseline", "baselines", "seed"),
    "smoothgrad": ("samples", "sigma", "seed"),
    "expected_gradients": ("steps", "baseline", "baselines", "seed"),
    "deep_lift_shap": ("baseline", "baselines", "seed"),
    "ism": (),
}
DATA_FILES = (".h5", ".hdf5", ".npz")  # train's and evaluate's --data as a file (else a TFDS name)


def early_mistake(args: argparse.Namespace) -> str | None:
    """A mistake seen from the command line and the file system alone, so reported before
    TensorFlow is imported (seconds): a file (or ``--manual-dir`` folder) the command reads that
    does not exist, an output whose folder is missing or not writable, or a method option the
    attribution method does not read."""
    for kind, path in _files_read(args):
        if not os.path.exists(path):
            return f"{kind} file not found: {path}"
    if args.command == "build-dataset" and args.manual_dir is not None and not os.path.isdir(args.manual_dir):
        if os.path.exists(args.manual_dir):
            return f"--manual-dir is a file, not a folder: {args.manual_dir}"
        return f"manual folder not found: {args.manual_dir}"
    for path, made, kind in _outputs_written(args):
        problem = output_folder_problem(path, made, kind)
        if problem:
            return problem
    if args.command == "attribute":
        unused = [flag for flag in METHOD_OPTIONS if getattr(args, flag) is not None and flag not in FLAGS_READ[args.method]]
        if unused:
            return f"--{', --'.join(unused)} does not apply to {args.method}"
    return None


def _files_read(args: argparse.Namespace):
    """``(kind, path)`` of the files a command reads."""
    if args.command in ("attribute", "evaluate", "export"):
        yield from (("model", path) for path in (args.model if isinstance(args.model, list) else [args.model]))
    if args.command == "attribute":
        if args.input != "-" and not args.input.startswith("tfds:"):  # standard input; a built TFDS split
            yield "input", args.input
        if args.genome:
            yield "genome", args.genome
    if args.command in ("train", "evaluate") and args.data.endswith(DATA_FILES):
        yield "data", args.data
    if args.command == "angles":
        yield "maps", args.maps


def _outputs_written(args: argparse.Namespace):
    """``(path, made, kind)`` of the outputs a command writes; ``made``: the command creates
    missing folders above it; ``kind``: ``"file"`` or ``"folder"``."""
    if args.command == "attribute":
        modisco_folder = args.format == "modisco" and not args.output.endswith((".h5", ".hdf5"))
        yield args.output, False, "folder" if modisco_folder else "file"
    if args.command in ("train", "angles") or (args.command == "jaspar-meme" and args.output != "-"):
        yield args.output, False, "file"
    if args.command == "attribute" and args.bigwig:
        yield args.bigwig, False, "file"
    if args.command == "export":
        yield args.output, True, "folder"
    if args.command == "demo":
        yield os.path.join(args.output_dir, "results.json"), True, "file"


def output_folder_problem(path: str, made: bool = False, kind: str | None = None) -> str | None:
    """Why ``path`` cannot be written, or None: its folder does not exist (when ``made``, the
    folders the command creates are missing: the nearest existing one above is the folder), is
    not a folder, or is not writable; or ``path`` exists as the other ``kind`` (``"file"`` or
    ``"folder"``) of output, which would be found only when the result is renamed into place."""
    if kind == "file" and os.path.isdir(path):
        return f"{path} is a folder; this output is a file: give a file name"
    if kind == "folder" and os.path.lexists(path) and not os.path.isdir(path):
        return f"{path} is a file; this output is a folder: give a folder name"
    folder = os.path.dirname(os.path.abspath(path))
    while made and not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.exists(folder):
        return f"output folder does not exist: {folder}"
    if not os.path.isdir(folder):
        return f"output folder is not a folder: {folder}"
    if not os.access(folder, os.W_OK):
        return f"output folder is not writable: {folder}"
    return None


VERBOSITY = ("-q", "--quiet", "-v", "--verbose")


def _verbosity_option(token: str) -> bool:
    """Whether ``token`` is ``-q``/``-v`` or (as argparse allows) an abbreviation of ``--quiet``/``--verbose``."""
    return token in VERBOSITY or (len(token) > 2 and token.startswith("--")
                                  and any(name.startswith(token) for name in VERBOSITY[1::2]))


def reproduce_arguments(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``(argv for the launcher's parser, the rest)``: for ``reproduce``, every argument after
    it but ``-q``/``-v`` goes to the experiments' parser as it is (options before experiment
    names and ``-h`` included; argparse's REMAINDER drops leading options); otherwise
    ``(argv, None)``."""
    for i, token in enumerate(argv):
        if token == "reproduce":
            after = argv[i + 1:]
            return ([*argv[:i + 1], *(a for a in after if _verbosity_option(a))],
                    [a for a in after if not _verbosity_option(a)])
        if not _verbosity_option(token):  # the command comes after the global options only
            break
    return argv, None


def main(argv: list[str] | None = None) -> int:
    """Run one command (see ``DESCRIPTION`` for the exit codes)."""
    argv, rest = reproduce_arguments(list(sys.argv[1:] if argv is None else argv))
    args = parser().parse_args(argv)
    if rest is not None:
        args.rest = rest
    mistake = early_mistake(args)
    if mistake:
        print(f"keras-simplex: error: {mistake}", file=sys.stderr)
        return 1
    try:
        prepare_process(args.verbose)
        from keras_simplex import cli
    except KeyboardInterrupt:  # Ctrl-C while TensorFlow loads: nothing is written yet
        print("keras-simplex: interrupted", file=sys.stderr)
        return 130
    return cli.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
