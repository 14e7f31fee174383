"""Peaks to motifs: corrected attributions -> TF-MoDISco patterns -> an HTML report.

Title: From sequences to motifs with corrected saliency and tfmodisco-lite
Description: train a CNN on the synthetic motif data, write its raw and corrected saliency in
the form `modisco motifs` reads (with the `keras-simplex attribute --format modisco` command a
user would run), run the real TF-MoDISco, and compare the motifs it finds with the planted
JASPAR motifs.

What you will learn:
- `keras-simplex attribute --format modisco` writes `ohe.npz` / `attr.npz` (N, 4, L) with
  hypothetical contributions and provenance;
- `modisco motifs -w L` must be given the sequence length when L < 400;
- `modisco report-simple -m core.meme -l` matches the patterns to a MEME file of known motifs
  (tomtom-lite: no MEME suite needed; `modisco report` adds seqlet examples, slower);
- raw and corrected maps can be compared motif by motif.

Needs the `modisco` extra (`pip install keras_simplex[modisco]`). Run:

    python examples/peaks_to_motifs.py [--output-dir outputs/motifs] [--quick]

With real peaks, replace the first steps by
`keras-simplex attribute --model m.keras --input peaks.narrowPeak --genome hg38.fa --format modisco ...`.
"""

import argparse
import os
import shutil
import subprocess
import sys

import numpy as np

from keras_simplex.atomic import save_model, write_json
from keras_simplex.datasets.motifs import CORE_MOTIF_IDS, fetch_motifs
from keras_simplex.demo import train_demo_model
from keras_simplex.encoding import one_hot_decode
from keras_simplex.modisco import best_match, read_patterns, write_meme


def tool(name: str) -> str:
    """A command installed beside this Python (keras-simplex, modisco)."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    found = path if os.path.exists(path) else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed: pip install 'keras_simplex[modisco]'")
    return found


def run(*command) -> None:
    print("$", " ".join(map(str, command)), flush=True)
    subprocess.run(list(map(str, command)), check=True)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="outputs/motifs")
    parser.add_argument("--quick", action="store_true", help="small data and model (about a minute; for tests)")
    parser.add_argument("--sequences", type=int, default=20000, help="synthetic sequences (half positive)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--explained", type=int, default=3000, help="positive sequences given to modisco")
    parser.add_argument("--max-seqlets", type=int, default=20000, help="modisco motifs -n")
    parser.add_argument("--maps", default="corrected,raw", help="which maps to run modisco on (comma-separated)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sequences, args.epochs, args.explained, args.max_seqlets = 6000, 6, 1000, 2000
    out = args.output_dir
    os.makedirs(out, exist_ok=True)

    # 1. A model of the planted motifs (the demo's data and CNN).
    model, data, auroc = train_demo_model(args.sequences, args.epochs, verbose=0)
    print(f"test AUROC {auroc:.3f}")
    save_model(model, os.path.join(out, "model.keras"))

    # 2. The sequences to explain, as a user's FASTA file (here: positive sequences).
    positives = np.flatnonzero(data.y == 1)[: args.explained]
    with open(os.path.join(out, "sequences.fa"), "w") as handle:
        for index, sequence in zip(positives, one_hot_decode(data.x[positives])):
            handle.write(f">seq{index}\n{sequence}\n")

    # 3. Known motifs as a MEME file, for modisco's report.
    core = {f"{m.matrix_id}_{m.name}": m.pwm for m in fetch_motifs(CORE_MOTIF_IDS)}
    write_meme(os.path.join(out, "core_motifs.meme"), core)

    summary = {"test_auroc": auroc, "sequences": len(positives), "maps": {}}
    length = data.x.shape[1]
    for kind in args.maps.split(","):
        # 4. Attributions in modisco's format, from the command line.
        folder = os.path.join(out, f"modisco_input_{kind}")
        run(tool("keras-simplex"), "attribute", "--model", os.path.join(out, "model.keras"),
            "--input", os.path.join(out, "sequences.fa"), "--format", "modisco", "--map", kind, "--output", folder)
        # 5. TF-MoDISco, then its HTML report with matches to the known motifs.
        results = os.path.join(out, f"modisco_{kind}.h5")
        run(tool("modisco"), "motifs", "-s", os.path.join(folder, "ohe.npz"), "-a", os.path.join(folder, "attr.npz"),
            "-n", args.max_seqlets, "-w", length, "-o", results)
        run(tool("modisco"), "report-simple", "-i", results, "-o", os.path.join(out, f"report_{kind}"),
            "-m", os.path.join(out, "core_motifs.meme"), "-l")  # -l: tomtom-lite (memelite), no MEME suite needed
        # 6. Each pattern's closest planted motif (Pearson r of the PWMs at the best offset).
        patterns = []
        for pattern in read_patterns(results):
            name, similarity = best_match(pattern.sequence, core)
            patterns.append({"pattern": pattern.name, "seqlets": pattern.seqlets, "best_match": name,
                             "similarity": round(similarity, 3)})
        summary["maps"][kind] = patterns

    print(f"\n{'map':10s} {'pattern':26s} {'seqlets':>8s}  closest planted motif (r)")
    for kind, patterns in summary["maps"].items():
        for p in patterns:
            print(f"{kind:10s} {p['pattern']:26s} {p['seqlets']:8d}  {p['best_match']} ({p['similarity']:.2f})")
    write_json(os.path.join(out, "summary.json"), summary, indent=2)
    print("HTML reports:", ", ".join(f"{out}/report_{kind}/motifs.html" for kind in summary["maps"]))
    return summary


if __name__ == "__main__":
    main()
