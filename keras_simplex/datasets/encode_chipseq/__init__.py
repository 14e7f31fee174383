"""TFDS builder of ENCODE ChIP-seq windows (registers ``encode_chipseq`` on import)."""

from keras_simplex.datasets.encode_chipseq.encode_chipseq_dataset_builder import Builder, EncodeChipseqConfig

__all__ = ["Builder", "EncodeChipseqConfig"]
