"""Speed paths: private internals that never change an answer.

- ``cpu_defaults``: whether TensorFlow's oneDNN CPU kernels are on, and a warning when they
  were left off (the command line turns them on: ``keras_simplex_cli.prepare_process``).
- ``rewrite``: the adapter the engine uses. It rewrites a functional model's inference graph
  (``folding``: batch norm folded into the layer before it; ``convolution``: ``Conv1D`` layers
  through a convolution TensorFlow can fuse with its bias and activation, whose input gradient
  is the transposed convolution, on blocks of positions where the input is narrow;
  ``epilogue``: the activation and max pooling after such a convolution computed in its call;
  ``pooling``: elsewhere, max pooling before a non-decreasing activation), checks the rewritten graph
  against the model on a probe batch, and falls back to the model as it is (one warning) on
  anything it cannot handle.
- ``windowed_ism``: in-silico mutagenesis with each mutant's activations computed only on a
  window around the mutation in the position-local layers at the start of a model, checked
  against full forward passes on a probe batch (one warning and full passes otherwise).

``keras_simplex.set_fast_paths(False)`` or ``KERAS_SIMPLEX_FAST_PATHS=0`` turns them off
everywhere; ``fast=False`` turns them off for one explainer.
"""
