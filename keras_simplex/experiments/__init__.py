"""The paper's experiments in one command: ``python -m keras_simplex.experiments``.

Sub-experiments: ``correction`` (a), ``angles`` (b), ``initialization`` (c),
``regularization`` (d), ``constraint`` (e) and ``ensemble`` (f). Each writes JSON results per trial
(``results/``), CSV tables (``tables/``), PNG figures (``figures/``) and the markdown report
``report.md`` under the output directory. Trained models are kept in ``models/``; a rerun
with the same settings skips every finished trial, one with other settings (those recorded in
``settings.json``) is refused before any training.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from typing import Callable

from keras_simplex import plotting
from keras_simplex.atomic import write_json
from keras_simplex.experiments import angles, correction, ensemble, report, studies
from keras_simplex.experiments.common import MODEL_NAMES, ReproductionConfig, load_data, log

EXPERIMENTS = {
    "correction": correction.run,
    "angles": angles.run,
    "initialization": studies.run_initialization,
    "regularization": studies.run_regularization,
    "constraint": studies.run_constraint,
    "ensemble": ensemble.run,
}
# Each experiment's trials, ``{key: compute}``: what a pipeline spreads over workers.
TRIALS = {
    "correction": correction.trials,
    "angles": angles.trials,
    "initialization": studies.initialization_trials,
    "regularization": studies.regularization_trials,
    "constraint": studies.constraint_trials,
    "ensemble": ensemble.trials,
}


def run(config: ReproductionConfig, experiments=tuple(EXPERIMENTS), command: str = "") -> dict[str, list[dict]]:
    """Run the named experiments and write ``results.json`` and the report, which keep the
    other experiments an earlier run wrote there on the same data (a run of one experiment
    once dropped them); returns the result rows of the experiments run."""
    start = time.perf_counter()
    log(f"generating {config.sequences} synthetic sequences" if config.synthetic else f"reading {config.data}")
    data = load_data(config)
    earlier = _earlier_results(config)  # read before hours of work: a bad file costs nothing then
    results = {name: EXPERIMENTS[name](config, data) for name in experiments}
    kept = {name: rows for name, rows in earlier.get("results", {}).items() if name not in results}
    commands = {**{name: earlier.get("commands", {}).get(name, "") for name in kept},
                **{name: command for name in results}}
    everything = {name: {**kept, **results}[name] for name in EXPERIMENTS if name in kept or name in results}
    write_json(config.path("results.json"), {"config": dataclasses.asdict(config), "commands": commands,
                                             "evaluated": len(data.eval_x), "results": everything})
    path = report.write_report(config, everything, time.perf_counter() - start, commands, len(data.eval_x))
    log(f"report: {path} ({(time.perf_counter() - start) / 60:.1f} min)")
    return results


def _earlier_results(config: ReproductionConfig) -> dict:
    """The ``results.json`` an earlier run wrote in the output folder if it was on the same data
    (``check_settings`` has made sure its settings are this run's), else ``{}`` (none, another
    dataset's, or a file that is not one: it is then replaced)."""
    try:
        with open(config.path("results.json"), encoding="utf-8") as f:
            earlier = json.load(f)
    except (OSError, ValueError):  # missing, unreadable, not UTF-8, not JSON
        return {}
    if not (isinstance(earlier, dict) and isinstance(earlier.get("config"), dict)
            and isinstance(earlier.get("results"), dict) and isinstance(earlier.get("commands", {}), dict)):
        return {}
    return earlier if earlier["config"].get("data") == config.data else {}


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def main(argv=None) -> int:
    defaults = ReproductionConfig()
    parser = argparse.ArgumentParser(prog="python -m keras_simplex.experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                        help=f"sub-experiments to run, from {', '.join(EXPERIMENTS)} (default: all)")
    parser.add_argument("--output-dir", default=defaults.output_dir)
    parser.add_argument("--seed", type=int, default=0, help="first training seed; trials use seed, seed + 1, ...")
    parser.add_argument("--data-seed", type=int, default=defaults.data_seed, help="seed of the synthetic data")
    parser.add_argument("--trials", type=at_least(1), default=len(defaults.seeds), help="seeds per model in (a) and (b)")
    parser.add_argument("--study-trials", type=at_least(1), default=len(defaults.study_seeds),
                        help="seeds per value in (c)-(e)")
    parser.add_argument("--epochs", type=at_least(1), default=defaults.epochs, help="at most (early stopping may end sooner)")
    parser.add_argument("--sequences", type=at_least(2), default=defaults.sequences)
    parser.add_argument("--eval-sequences", type=at_least(1), default=defaults.eval_sequences)
    parser.add_argument("--models", nargs="+", default=list(defaults.models), choices=MODEL_NAMES)
    parser.add_argument("--study-model", default=defaults.study_model, choices=MODEL_NAMES)
    parser.add_argument("--ensemble-size", type=at_least(2), default=defaults.ensemble_size,
                        help="models in the ensemble of (f) (CNN-deep-exp, first-layer widths 12-30; each is part "
                             "of the mean it is compared to, so use 5 or more)")
    parser.add_argument("--data", default="synthetic",
                        help="synthetic (default), or for (f) alone a built dataset: a TFDS name such as "
                             "encode_chipseq/ctcf (with --data-dir), an .h5 or an .npz")
    parser.add_argument("--data-dir", help="where the TFDS dataset of --data was built")
    parser.add_argument("--beam-runner", help="train and evaluate the trials as an Apache Beam pipeline on this runner "
                                              "(e.g. DirectRunner); the report is assembled at the end")
    parser.add_argument("--beam-options", help="more pipeline options, one string, e.g. "
                                               "'--direct_num_workers=2 --direct_running_mode=multi_processing'")
    args = parser.parse_args(argv)
    plotting.use_file_backend()  # this program owns the process and writes figures to files
    unknown = set(args.experiments) - set(EXPERIMENTS)
    if unknown:
        parser.error(f"unknown experiment(s) {sorted(unknown)}; choose from {', '.join(EXPERIMENTS)}")
    if args.data != "synthetic" and set(args.experiments) != {"ensemble"}:
        parser.error("--data other than synthetic goes with the ensemble experiment alone (the others score maps "
                     "against the planted motifs): run `ensemble --data ...`")
    config = dataclasses.replace(
        defaults, output_dir=args.output_dir, seeds=tuple(range(args.seed, args.seed + args.trials)),
        study_seeds=tuple(range(args.seed, args.seed + args.study_trials)), data_seed=args.data_seed,
        epochs=args.epochs, sequences=args.sequences, eval_sequences=args.eval_sequences, models=tuple(args.models),
        study_model=args.study_model, ensemble_size=args.ensemble_size, data=args.data, data_dir=args.data_dir,
    )
    command = "python -m keras_simplex.experiments " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    chosen = tuple(args.experiments) or tuple(EXPERIMENTS)
    if args.beam_runner:
        from keras_simplex.pipeline import run_trials_on_beam

        run_trials_on_beam(config, chosen, args.beam_runner, args.beam_options)
    run(config, chosen, command.strip())  # with every trial done, this reads them and writes the report
    return 0
