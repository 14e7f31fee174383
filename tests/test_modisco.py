"""TF-MoDISco interoperability, checked with the real tfmodisco-lite (issue: peaks to motifs)."""

import os
import re
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import random_one_hot
from keras_simplex.datasets.motifs import CORE_MOTIF_IDS, DEFAULT_RELEASE, fetch_motifs
from keras_simplex.modisco import ModiscoWriter, best_match, read_patterns, write_meme

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "examples", "peaks_to_motifs.py")
MODISCO = os.path.join(os.path.dirname(sys.executable), "modisco")


def test_the_chain_finds_the_planted_motifs(tmp_path):
    """Train, attribute (corrected saliency, from the command line), run `modisco motifs` and
    its report, as the example does; the top patterns are the planted JASPAR motifs."""
    result = subprocess.run([sys.executable, EXAMPLE, "--quick", "--maps", "corrected", "--output-dir", tmp_path],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "report_corrected" / "motifs.html").exists()
    core = {m.name: m.pwm for m in fetch_motifs(CORE_MOTIF_IDS)}
    patterns = [p for p in read_patterns(tmp_path / "modisco_corrected.h5") if p.name.startswith("pos")]
    assert len(patterns) >= 3
    matches = [best_match(p.sequence, core) for p in patterns]
    assert all(similarity > 0.7 for _, similarity in matches[:3]), matches
    assert len({name for name, similarity in matches if similarity > 0.7}) >= 3, matches

    # The legacy HDF5 input (-i) carries the same data: modisco finds the same patterns.
    folder = tmp_path / "modisco_input_corrected"
    x = np.swapaxes(np.load(folder / "ohe.npz")["arr_0"], 1, 2)
    hypothetical = np.swapaxes(np.load(folder / "attr.npz")["arr_0"], 1, 2)
    with ModiscoWriter(str(tmp_path / "legacy.h5"), {"note": "test"}) as writer:
        writer.write([str(i) for i in range(len(x))], x, hypothetical)
    subprocess.run([MODISCO, "motifs", "-i", tmp_path / "legacy.h5", "-n", "2000", "-w", "200", "-o",
                    tmp_path / "legacy_result.h5"], check=True, capture_output=True, timeout=600)
    legacy = read_patterns(tmp_path / "legacy_result.h5")
    assert [p.seqlets for p in legacy] == [p.seqlets for p in read_patterns(tmp_path / "modisco_corrected.h5")]


def test_folder_output_is_atomic_and_checked(tmp_path):
    x = random_one_hot(3, 20, seed=1)
    path = str(tmp_path / "inputs")
    with ModiscoWriter(path, {"method": "saliency"}) as writer:
        writer.write(["a", "b", "c"], x, x - 0.25)
    before = {name: (tmp_path / "inputs" / name).read_bytes() for name in os.listdir(path)}
    with pytest.raises(RuntimeError, match="stop"):
        with ModiscoWriter(path, {"method": "other"}) as writer:
            writer.write(["a"], x[:1], x[:1])
            raise RuntimeError("stop")
    assert {name: (tmp_path / "inputs" / name).read_bytes() for name in os.listdir(path)} == before
    assert sorted(os.listdir(tmp_path)) == ["inputs"]  # no temporary left
    with pytest.raises(ValueError, match="folder"):
        ModiscoWriter(str(tmp_path / "inputs.npz"), {})
    with pytest.raises(ValueError, match="one target"):
        ModiscoWriter(str(tmp_path / "x.h5"), {}, targets=["0", "1"])
    with pytest.raises(OSError, match=f"output folder does not exist: {tmp_path / 'missing'}"):
        ModiscoWriter(str(tmp_path / "missing" / "inputs"), {})
    with pytest.raises(ValueError, match="4 letters"):
        with ModiscoWriter(str(tmp_path / "p"), {}) as writer:
            writer.write(["a"], random_one_hot(1, 20, 20), random_one_hot(1, 20, 20))


def test_legacy_h5_keeps_provenance_as_attributes(tmp_path):
    x = random_one_hot(2, 20, seed=2)
    with ModiscoWriter(str(tmp_path / "s.h5"), {"method": "saliency", "targets": [1, 2], "seed": 3}) as writer:
        writer.write(["a", "b"], x, x * 2)
    with h5py.File(tmp_path / "s.h5") as f:
        np.testing.assert_array_equal(f["input_seqs"][()], x)
        np.testing.assert_array_equal(f["hyp_scores"][()], x * 2)
        assert f.attrs["method"] == "saliency" and f.attrs["targets"] == "[1, 2]" and f.attrs["seed"] == 3


def test_meme_file_is_read_by_memelite(tmp_path):
    from memelite.io import read_meme

    core = {m.matrix_id: m.pwm for m in fetch_motifs(CORE_MOTIF_IDS)}
    write_meme(str(tmp_path / "core.meme"), core)
    read = read_meme(str(tmp_path / "core.meme"))
    assert len(read) == len(core)
    for (name, matrix), (expected_name, pwm) in zip(read.items(), core.items()):
        assert name.split()[0] == expected_name
        np.testing.assert_allclose(np.asarray(matrix).T if np.shape(matrix)[0] == 4 else matrix, pwm, atol=1e-6)
    with pytest.raises(ValueError, match="probabilities"):
        write_meme(str(tmp_path / "bad.meme"), {"x": np.ones((3, 4))})


def test_meme_nsites_are_jaspars_site_counts(tmp_path):
    """Every motif was written with nsites= 20, which MEME tools weigh pseudocounts with."""
    from pyjaspar import jaspardb

    motifs = fetch_motifs(CORE_MOTIF_IDS)
    record = jaspardb(release=DEFAULT_RELEASE).fetch_motif_by_id(CORE_MOTIF_IDS[0])
    counts = np.array([record.counts[letter] for letter in "ACGT"]).sum(axis=0)  # sites per column
    assert motifs[0].sites == round(counts.mean()) and motifs[0].reverse_complement().sites == motifs[0].sites
    names = {m.matrix_id: m.sites for m in motifs}
    write_meme(str(tmp_path / "core.meme"), {m.matrix_id: m.pwm for m in motifs}, names)
    written = re.findall(r"MOTIF (\S+)\nletter-probability matrix: alength= 4 w= \d+ nsites= (\d+)",
                         (tmp_path / "core.meme").read_text())
    assert {name: int(n) for name, n in written} == names and len(set(names.values())) > 1


def test_best_match_over_offsets_and_strands():
    core = {m.name: m.pwm for m in fetch_motifs(CORE_MOTIF_IDS)}
    sp1 = core["SP1"]
    padded = np.vstack([np.full((4, 4), 0.25), sp1, np.full((3, 4), 0.25)])  # a trimmed pattern with flanks
    assert best_match(padded, core)[0] == "SP1" and best_match(padded, core)[1] > 0.95
    name, similarity = best_match(core["YY1"][::-1, ::-1], core)  # the other strand
    assert name == "YY1" and similarity == pytest.approx(1.0)
