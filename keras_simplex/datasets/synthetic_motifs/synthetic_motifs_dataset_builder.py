"""``synthetic_motifs``: the synthetic motif dataset as a versioned TFDS dataset.

Build offline with ``keras-simplex build-dataset synthetic_motifs/original --data-dir DIR``, then ``tfds.load("synthetic_motifs/original", data_dir=DIR)`` (after
``import keras_simplex.datasets``). ``info.metadata["fingerprint"]`` records the recipe and the
builder version (``keras_simplex.datasets.provenance``).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow_datasets as tfds

from keras_simplex.datasets import provenance, synthetic


@dataclasses.dataclass
class SyntheticMotifsConfig(tfds.core.BuilderConfig):
    """A builder config holding the generation recipe (``synthetic.SyntheticConfig``)."""

    recipe: synthetic.SyntheticConfig = synthetic.ORIGINAL


class Builder(tfds.core.GeneratorBasedBuilder):
    """Synthetic billboard sequences with ground-truth PWMs and motif annotations."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release: original-code and paper-prose recipes."}
    BUILDER_CONFIGS = [
        SyntheticMotifsConfig(
            name="original",
            description="Recipe of the code that made the published dataset: 3-7 motifs, negatives "
            "from the 110-PWM pool that includes the core motifs; 20,000 x 200 nt.",
            recipe=synthetic.ORIGINAL,
        ),
        SyntheticMotifsConfig(
            name="paper",
            description="Recipe of the paper's prose: 3-5 motifs, negatives from background motifs only.",
            recipe=synthetic.PAPER,
        ),
        SyntheticMotifsConfig(
            name="tiny",
            description="The original recipe with 100 positives and 100 negatives, for smoke tests and demos.",
            recipe=dataclasses.replace(synthetic.ORIGINAL, num_positives=100, num_negatives=100),
        ),
    ]
    DEFAULT_CONFIG_NAME = "original"

    def _info(self) -> tfds.core.DatasetInfo:
        recipe = self.builder_config.recipe
        shape = (recipe.length, 4)
        return self.dataset_info_from_configs(
            description=__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "sequence": tfds.features.Tensor(shape=shape, dtype=np.float32, encoding="zlib"),
                    "label": tfds.features.ClassLabel(names=["negative", "positive"]),
                    "ground_truth": tfds.features.Tensor(shape=shape, dtype=np.float32, encoding="zlib"),
                    "motifs": tfds.features.Sequence(
                        {
                            "matrix_id": tfds.features.Text(),
                            "start": np.int32,
                            "strand": tfds.features.ClassLabel(names=["+", "-"]),
                        }
                    ),
                }
            ),
            supervised_keys=("sequence", "label"),
            homepage="https://doi.org/10.1101/2022.04.29.490102",
            citation="Majdandzic & Koo (2022); Koo & Ploenzke, Nat. Mach. Intell. 3, 258 (2021).",
            metadata=tfds.core.MetadataDict(),  # "fingerprint": what made the data (provenance)
        )

    def fingerprint(self, manual_dir: str | os.PathLike | None = None) -> dict:
        """What makes this config's data (``provenance.fingerprint``): the builder version and
        the recipe (no input files; ``manual_dir`` is not read)."""
        return provenance.fingerprint(self.builder_config, str(self.VERSION))

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        self.info.metadata["fingerprint"] = self.fingerprint()
        data = synthetic.generate(self.builder_config.recipe)
        return {split: self._generate_examples(data, indices) for split, indices in data.splits.items()}

    def _generate_examples(self, data: synthetic.SyntheticData, indices: np.ndarray):
        for i in indices:
            motifs = data.annotations(i)
            yield int(i), {
                "sequence": data.x[i],
                "label": int(data.y[i]),
                "ground_truth": data.ground_truth[i],
                "motifs": {
                    "matrix_id": [m[0] for m in motifs],
                    "start": [m[1] for m in motifs],
                    "strand": [m[2] for m in motifs],
                },
            }
