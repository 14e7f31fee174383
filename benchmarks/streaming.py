"""Resident memory of ``keras-simplex attribute`` streaming a large FASTA file.

Writes N random 200-nt sequences to a FASTA file, saves an (untrained) CNN-deep, runs the
command through its entry point and samples the process's resident memory (VmRSS) twice a
second. Prints RSS at each tenth of the run and the peak, for two input sizes: flat memory
means the peak does not grow with N. Run on demand (about 5 minutes for 10^6 sequences):

    python benchmarks/streaming.py [--sizes 100000 1000000] [--workdir /tmp/streaming]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def write_fasta(path: str, count: int, length: int = 200) -> None:
    rng = np.random.default_rng(0)
    letters = np.frombuffer(b"ACGT", np.uint8)
    with open(path, "w") as f:
        for begin in range(0, count, 100_000):
            block = letters[rng.integers(0, 4, (min(100_000, count - begin), length))]
            f.write("".join(f">s{begin + i}\n{row.tobytes().decode()}\n" for i, row in enumerate(block)))


def measure(command: list[str]) -> tuple[list[float], float]:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples, start = [], time.perf_counter()
    while process.poll() is None:
        try:
            samples.append(rss_mb(process.pid))
        except FileNotFoundError:
            break
        time.sleep(0.5)
    if process.returncode:
        raise SystemExit(f"command failed with exit code {process.returncode}: {' '.join(command)}")
    return samples, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workdir", default="/tmp/keras_simplex_streaming")
    parser.add_argument("--method", default="saliency")
    args = parser.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras_simplex as ks

    model_path = os.path.join(args.workdir, "cnn_deep.keras")
    ks.models.cnn_deep().save(model_path)
    command = os.path.join(os.path.dirname(sys.executable), "keras-simplex")
    print(f"keras-simplex attribute --method {args.method}, CNN-deep, 200-nt sequences, HDF5 output; RSS in MB")
    for size in args.sizes:
        fasta = os.path.join(args.workdir, f"seqs_{size}.fa")
        output = os.path.join(args.workdir, f"maps_{size}.h5")
        if not os.path.exists(fasta):
            write_fasta(fasta, size)
        samples, seconds = measure([command, "attribute", "--model", model_path, "--input", fasta,
                                    "--output", output, "--method", args.method])
        tenths = [samples[min(len(samples) - 1, int(len(samples) * q / 10))] for q in range(1, 11)]
        print(f"{size:>9,} sequences: {seconds:6.0f} s, {size / seconds:7.0f} seq/s; RSS at each tenth: "
              + " ".join(f"{v:.0f}" for v in tenths) + f"; peak {max(samples):.0f}; output "
              f"{os.path.getsize(output) / 1e9:.2f} GB")
        os.remove(output)


if __name__ == "__main__":
    main()
