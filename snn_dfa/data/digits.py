"""scikit-learn's 8 x 8 handwritten digits (1,797 images, 10 classes, pixel values 0..16)."""

from __future__ import annotations

import numpy as np

from snn_dfa.data.records import ImageSet


def load_digits() -> ImageSet:
    """The digits images as ``X`` uint8 (1797, 8, 8) with values 0..16 and ``y`` 0..9."""
    from sklearn.datasets import load_digits as sklearn_load_digits  # slow import, kept lazy

    bunch = sklearn_load_digits()
    return ImageSet(
        X=bunch.images.astype(np.uint8),
        y=bunch.target.astype(np.int64),
        class_names=tuple(str(c) for c in bunch.target_names),
        max_value=16,
        name="digits",
    )
