"""The host-side form every data set loader returns."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class RawDataset:
    """Images as uint8 ``(N, C, H, W)`` arrays and labels as int64 ``(N,)`` arrays, train and test.

    Example:
        >>> import numpy as np
        >>> x, y = np.zeros((4, 1, 8, 8), np.uint8), np.zeros(4, np.int64)
        >>> RawDataset("toy", x, y, x, y).train_images.shape
        (4, 1, 8, 8)
    """

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    def __post_init__(self) -> None:
        for split in ("train", "test"):
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            if images.dtype != np.uint8 or images.ndim != 4:
                raise ValueError(
                    f"{self.name}: {split} images must be uint8 (N, C, H, W), got {images.dtype} {images.shape}"
                )
            if labels.shape != (images.shape[0],):
                raise ValueError(f"{self.name}: {split} labels {labels.shape} do not match {images.shape[0]} images")
