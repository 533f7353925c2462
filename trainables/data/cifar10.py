"""CIFAR-10 from the standard python-pickle batches (``cifar-10-batches-py``).

Looks in ``data_dir``, else ``$LLM_SEARCH_CIFAR10_DIR``, else ``~/.cache/llm_search/cifar10``, either
directly or in a ``cifar-10-batches-py`` subdirectory. If the batches are absent and torchvision is
importable, torchvision downloads them there first (a user's machine; nothing here needs torchvision).
The batches are pickles, as the data set is distributed: only point this at files you trust.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from trainables.data.raw import RawDataset

logger = logging.getLogger(__name__)

ENV_VAR = "LLM_SEARCH_CIFAR10_DIR"
DEFAULT_DIR = Path("~/.cache/llm_search/cifar10")
BATCH_DIR_NAME = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"


def _base_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    return Path(data_dir or os.environ.get(ENV_VAR) or DEFAULT_DIR).expanduser()


def _batch_dir(base: Path) -> Path | None:
    for candidate in (base, base / BATCH_DIR_NAME):
        if (candidate / TRAIN_BATCHES[0]).is_file():
            return candidate
    return None


def _field(batch: dict[Any, Any], name: str) -> Any:
    # The official files were pickled by Python 2: keys are bytes when read with encoding="bytes".
    return batch[name.encode()] if name.encode() in batch else batch[name]


def read_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickle batch into ``(N, 3, 32, 32)`` uint8 images and int64 labels.

    Example:
        >>> images, labels = read_batch("cifar-10-batches-py/test_batch")  # doctest: +SKIP
    """
    with open(path, "rb") as handle:
        batch = pickle.load(handle, encoding="bytes")
    data = np.asarray(_field(batch, "data"), dtype=np.uint8)
    labels = np.asarray(_field(batch, "labels"), dtype=np.int64)
    # Each row holds the red, green and blue 32x32 planes one after another.
    return data.reshape(-1, 3, 32, 32), labels


def _download(base: Path) -> None:
    try:
        import torchvision
    except ImportError as exc:
        raise FileNotFoundError(
            f"CIFAR-10 batches ({', '.join(TRAIN_BATCHES)}, {TEST_BATCH}) not found in {base} or "
            f"{base / BATCH_DIR_NAME}. Download cifar-10-python.tar.gz from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html and extract it there, point the `data_dir` config "
            f"key or ${ENV_VAR} at the extracted {BATCH_DIR_NAME} directory, or install torchvision to "
            f"download it automatically."
        ) from exc
    logger.info("downloading CIFAR-10 to %s with torchvision", base)
    torchvision.datasets.CIFAR10(root=str(base), train=True, download=True)


def load_cifar10(data_dir: str | os.PathLike[str] | None = None) -> RawDataset:
    """Load the 50k/10k CIFAR-10 split as ``(N, 3, 32, 32)`` uint8 arrays.

    Args:
        data_dir: Directory holding the batches (or their ``cifar-10-batches-py`` parent).

    Returns:
        The training and test sets.

    Raises:
        FileNotFoundError: If the batches are missing and torchvision cannot download them.

    Example:
        >>> load_cifar10("~/data").train_images.shape  # doctest: +SKIP
        (50000, 3, 32, 32)
    """
    base = _base_dir(data_dir)
    directory = _batch_dir(base)
    if directory is None:
        _download(base)
        directory = _batch_dir(base)
        if directory is None:
            raise FileNotFoundError(f"torchvision finished but no CIFAR-10 batches appeared under {base}")
    parts = [read_batch(directory / name) for name in TRAIN_BATCHES]
    test_images, test_labels = read_batch(directory / TEST_BATCH)
    logger.info("loaded CIFAR-10 from %s", directory)
    return RawDataset(
        "cifar10",
        np.concatenate([images for images, _ in parts]),
        np.concatenate([labels for _, labels in parts]),
        test_images,
        test_labels,
    )
