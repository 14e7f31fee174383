import numpy as np
import pytest

from keras_simplex.datasets import motifs, synthetic

# The original code's 50 background TFs (seed-22 draw), as recorded from a regeneration.
ORIGINAL_BACKGROUND = (
    "MA0909.1 MA0004.1 MA0006.1 MA0913.1 MA0663.1 MA0664.1 MA0667.1 MA0668.1 MA0038.1 MA0046.2 "
    "MA0682.1 MA0050.2 MA0057.1 MA0063.1 MA0693.1 MA0697.1 MA0701.1 MA0080.4 MA0083.3 MA0084.1 "
    "MA0724.1 MA0103.2 MA0124.2 MA0749.1 MA0752.1 MA0754.1 MA0142.1 MA0143.3 MA0757.1 MA0763.1 "
    "MA0765.1 MA0160.1 MA0161.1 MA0163.1 MA0164.1 MA0461.2 MA0464.2 MA0786.1 MA0471.1 MA0482.1 "
    "MA0489.1 MA0492.1 MA0498.2 MA0823.1 MA0507.1 MA0830.1 MA0513.1 MA0512.2 MA0838.1 MA0593.1"
).split()


def test_core_motifs_from_jaspar_2016():
    core = motifs.fetch_motifs(motifs.CORE_MOTIF_IDS)
    assert [m.name for m in core] == ["SP1", "Gabpa", "CEBPB", "MAX", "YY1"]
    assert [m.width for m in core] == [11, 11, 10, 10, 12]
    for m in core:
        np.testing.assert_allclose(m.pwm.sum(axis=1), 1.0)
        assert (m.pwm >= 0).all()


def test_reverse_complement_is_exact():
    (sp1,) = motifs.fetch_motifs(["MA0079.3"])
    rc = sp1.reverse_complement()
    assert rc.strand == "-"
    complement = [3, 2, 1, 0]  # A<->T, C<->G in ACGT order
    for i in range(sp1.width):
        for a in range(4):
            assert rc.pwm[i, a] == sp1.pwm[sp1.width - 1 - i, complement[a]]
    np.testing.assert_array_equal(rc.reverse_complement().pwm, sp1.pwm)


def test_original_background_selection_and_release_choice():
    assert len(motifs.core_vertebrate_motifs("JASPAR2016")) == 519
    assert [m.matrix_id for m in synthetic.original_background_motifs()] == ORIGINAL_BACKGROUND
    # Other releases are selectable; base IDs give that release's latest version.
    (latest,) = motifs.fetch_motifs(["MA0079"], release="JASPAR2024")
    assert latest.matrix_id.startswith("MA0079.") and latest.matrix_id != "MA0079.3"
    with pytest.raises(ValueError, match="not in JASPAR2016"):
        motifs.fetch_motifs(["MA9999.9"])
