"""keras_simplex: simplex-corrected gradient attributions for one-hot sequence models.

Importing it changes no process-wide state (environment variables, matplotlib's backend):
the command line, the demo and the experiments, which own their process, make those choices
(``keras_simplex_cli.prepare_process``, ``plotting.use_file_backend``).
"""

from keras_simplex import methods, metrics, models, precision, regularizers, seeding, serving
from keras_simplex._fast.rewrite import set_fast_paths
from keras_simplex.attribution import (
    expected_gradients,
    gradient_angles,
    gradient_x_input,
    integrated_gradients,
    ism,
    saliency,
    smoothgrad,
    taylor_ism,
)
from keras_simplex.baselines import dinucleotide_shuffle, make_baselines, shuffle
from keras_simplex.callbacks import SimplexAngleCallback, warmup
from keras_simplex.constraints import ZeroMeanAlphabet, fold_simplex_projection
from keras_simplex.encoding import DNA, PROTEIN, RNA, one_hot_decode, one_hot_encode
from keras_simplex.ensemble import EnsembleAttribution, EnsembleExplainer
from keras_simplex.explainer import CorrectedSaliency, Explainer
from keras_simplex.geometry import diagnose_maps, fix_gauge, large_angle_fraction, project_to_simplex, simplex_angle
from keras_simplex.jit_policy import resolve_jit_compile
from keras_simplex.methods import GradientMethod, integration_rule
from keras_simplex.results import Attribution
from keras_simplex.initializers import FixedSigmaNormal, ScaledHeNormal
from keras_simplex.regularizers import SimplexAngleRegularizer, add_angle_regularizer, angle_penalty
from keras_simplex.serving import export_saved_model
from keras_simplex.training import repeated_batches, train_paper_protocol
from keras_simplex.validation import check_sequences

from keras_simplex._version import __version__

__all__ = [
    "add_angle_regularizer",
    "angle_penalty",
    "Attribution",
    "check_sequences",
    "CorrectedSaliency",
    "dinucleotide_shuffle",
    "diagnose_maps",
    "DNA",
    "expected_gradients",
    "export_saved_model",
    "fix_gauge",
    "FixedSigmaNormal",
    "fold_simplex_projection",
    "EnsembleAttribution",
    "EnsembleExplainer",
    "Explainer",
    "GradientMethod",
    "gradient_angles",
    "gradient_x_input",
    "integrated_gradients",
    "integration_rule",
    "ism",
    "large_angle_fraction",
    "make_baselines",
    "methods",
    "one_hot_decode",
    "one_hot_encode",
    "project_to_simplex",
    "PROTEIN",
    "repeated_batches",
    "resolve_jit_compile",
    "RNA",
    "saliency",
    "ScaledHeNormal",
    "set_fast_paths",
    "shuffle",
    "simplex_angle",
    "SimplexAngleCallback",
    "SimplexAngleRegularizer",
    "smoothgrad",
    "taylor_ism",
    "train_paper_protocol",
    "warmup",
    "ZeroMeanAlphabet",
]
