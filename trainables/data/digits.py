"""scikit-learn's 8x8 digits (1797 images) with a fixed held-out test split: tiny, for tests and demos."""

from __future__ import annotations

import numpy as np

from trainables.data.raw import RawDataset

TEST_FRACTION = 0.2
# The test split never moves: every trial, seed and process sees the same 359 test images.
_TEST_SPLIT_SEED = 0


def load_digits_dataset() -> RawDataset:
    """Load the digits as ``(N, 1, 8, 8)`` uint8 images (0..16 rescaled to 0..255), 1438 train / 359 test.

    Example:
        >>> load_digits_dataset().test_images.shape
        (359, 1, 8, 8)
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(_TEST_SPLIT_SEED).permutation(len(labels))
    n_test = round(len(labels) * TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    return RawDataset("digits", images[train], labels[train], images[test], labels[test])
