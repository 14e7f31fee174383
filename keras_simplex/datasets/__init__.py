"""Datasets: JASPAR motifs, the synthetic motif dataset and ENCODE ChIP-seq as TFDS builders.

Importing this package registers the TFDS builders ``synthetic_motifs`` and
``encode_chipseq``.
"""

from keras_simplex.extras import require

require("tensorflow_datasets", "datasets", "the datasets")
from keras_simplex.datasets import encode_chipseq, synthetic_motifs  # noqa: E402, F401  (register the builders)
