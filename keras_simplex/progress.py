"""Progress of long calls (``verbose=1``): a Keras ``Progbar`` over the sequences done."""

from __future__ import annotations

import keras


class Progress:
    """Counts sequences done out of ``total``; draws a ``keras.utils.Progbar`` when ``verbose``
    (1: a bar; 0: nothing, the default of every call)."""

    def __init__(self, total: int, verbose: int = 0) -> None:
        self.done = 0
        self.bar = keras.utils.Progbar(total, unit_name="sequence") if verbose and total else None

    def advance(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(self.done)


SILENT = Progress(0)
