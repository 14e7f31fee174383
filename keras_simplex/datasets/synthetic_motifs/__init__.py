"""TFDS builder of the synthetic motif dataset (registers ``synthetic_motifs`` on import)."""

from keras_simplex.datasets.synthetic_motifs.synthetic_motifs_dataset_builder import Builder, SyntheticMotifsConfig

__all__ = ["Builder", "SyntheticMotifsConfig"]
