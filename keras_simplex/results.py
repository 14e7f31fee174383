"""The result record every attribution method returns."""

from __future__ import annotations

import dataclasses

import numpy as np

MAPS = ("raw", "corrected", "angles")  # the fields an engine run computes by default
OUTPUTS = MAPS + ("delta",)  # every field it can compute (``delta`` on request)


@dataclasses.dataclass(frozen=True)
class Attribution:
    """Raw and corrected maps from one pass, with the angle of the averaged gradient.

    Attributes (None when not computed):
      raw: ``(N, L, A)`` map from the raw gradients.
      corrected: ``(N, L, A)`` map computed from simplex-projected gradients.
      angles: ``(N, L)`` signed angle (degrees) between the method's averaged gradient
        (saliency, smoothed or path-averaged gradient) and the simplex.
      delta: ``(N,)`` convergence delta of methods that multiply by the input (integrated
        and expected gradients): ``f(x) - mean_b f(b) - sum(raw map)``, the quadrature error of
        the completeness property (for hypothetical maps, of ``sum(x * raw)``); asked for with
        ``outputs=(..., "delta")``. Per target: ``(N, T)``.
    """

    raw: np.ndarray | None = None
    corrected: np.ndarray | None = None
    angles: np.ndarray | None = None
    delta: np.ndarray | None = None

    def select(self, correct: bool) -> np.ndarray:
        """The corrected or the raw map."""
        selected = self.corrected if correct else self.raw
        if selected is None:
            raise ValueError(f"this Attribution holds no {'corrected' if correct else 'raw'} map")
        return selected
