"""The Beam attribution pipeline against the local command, on the same sequences.

Random 200-nt sequences in a FASTA file, the paper's CNN-deep, one method; wall time of
`keras-simplex attribute` locally, and with `--beam-runner DirectRunner` with 1 and 2 worker
processes (`direct_running_mode=multi_processing`), each from a fresh process, the output
merged. Reports sequences per second, the ratio to the local command and the pipeline's
overhead per sequence. Run on demand (2 cores: the workers share them):

    python benchmarks/beam.py [--sequences 20000] [--shard-size 2000] [--method saliency]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import keras_simplex_cli  # noqa: I001

keras_simplex_cli.prepare_process()
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_simplex as ks  # noqa: E402

COMMAND = os.path.join(os.path.dirname(sys.executable), "keras-simplex")


def timed_run(arguments: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([COMMAND, "-q", *arguments], check=True)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=20000)
    parser.add_argument("--shard-size", type=int, default=2000)
    parser.add_argument("--method", default="saliency")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="beam_bench_")
    try:
        keras.utils.set_random_seed(0)
        ks.models.cnn_deep().save(os.path.join(folder, "model.keras"))
        x = np.random.default_rng(0).integers(0, 4, (args.sequences, 200))
        with open(os.path.join(folder, "seqs.fa"), "w") as f:
            for i, row in enumerate(x):
                f.write(f">s{i}\n{''.join('ACGT'[v] for v in row)}\n")
        common = ["attribute", "--model", os.path.join(folder, "model.keras"), "--input",
                  os.path.join(folder, "seqs.fa"), "--method", args.method]
        rows = {"local command": timed_run([*common, "--output", os.path.join(folder, "local.h5")])}
        for workers in (1, 2):
            output = os.path.join(folder, f"beam{workers}.h5")
            rows[f"DirectRunner, {workers} worker{'s' if workers > 1 else ''}"] = timed_run(
                [*common, "--output", output, "--beam-runner", "DirectRunner", "--shard-size", str(args.shard_size),
                 "--beam-options", f"--direct_num_workers={workers} --direct_running_mode=multi_processing"])
        local = rows["local command"]
        print(f"{args.sequences} sequences, {args.method}, CNN-deep, {os.cpu_count()} cores, shards of {args.shard_size}")
        print(f"{'run':24s} {'seconds':>8s} {'seq/s':>8s} {'vs local':>9s} {'overhead ms/seq':>16s}")
        for name, seconds in rows.items():
            print(f"{name:24s} {seconds:8.1f} {args.sequences / seconds:8.0f} {local / seconds:8.2f}x "
                  f"{1000 * (seconds - local) / args.sequences:16.3f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
