"""Time the synthetic dataset generation (20,000 x 200 nt by default). Run on demand:

    python benchmarks/datasets.py [--repeats 3]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_simplex.datasets import motifs, synthetic  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    start = time.perf_counter()
    motifs.core_vertebrate_motifs(synthetic.ORIGINAL.release)
    print(f"loading the JASPAR 2016 CORE vertebrate motifs: {time.perf_counter() - start:.2f} s (once per process)")
    for name, config in (("original", synthetic.ORIGINAL), ("paper", synthetic.PAPER)):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            data = synthetic.generate(config)
            times.append(time.perf_counter() - start)
        print(f"{name}: {len(data.y):,} sequences x {config.length} nt in {statistics.median(times):.2f} s "
              f"(median of {args.repeats}, {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
