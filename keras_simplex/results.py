"""The result record every attribution method returns."""

from __future__ import annotations

import dataclasses

import numpy as np

MAPS = ("raw", "corrected", "angles")  # the fields an engine run can compute


@dataclasses.dataclass(frozen=True)
class Attribution:
    """Raw and corrected maps from one pass, with the angle of the averaged gradient.

    Attributes (None when not computed):
      raw: ``(N, L, A)`` map from the raw gradients.
      corrected: ``(N, L, A)`` map computed from simplex-projected gradients.
      angles: ``(N, L)`` signed angle (degrees) between the method's averaged gradient
        (saliency, smoothed or path-averaged gradient) and the simplex.
    """

    raw: np.ndarray | None = None
    corrected: np.ndarray | None = None
    angles: np.ndarray | None = None

    def select(self, correct: bool) -> np.ndarray:
        """The corrected or the raw map."""
        selected = self.corrected if correct else self.raw
        if selected is None:
            raise ValueError(f"this Attribution holds no {'corrected' if correct else 'raw'} map")
        return selected
